package pipeline

import (
	"errors"

	"github.com/callstream/callstream/producer"
)

// StartupError marks the failures of a misfit environment — a schema the
// registry refuses, topics missing or configured against their role — as
// configuration errors (exit code 2): retrying will not help, a person must.
func StartupError(err error) error {
	var se *producer.SchemaError
	var te *producer.TopicError
	if errors.As(err, &se) || errors.As(err, &te) {
		return &ConfigError{Problems: []string{err.Error()}}
	}
	return err
}
