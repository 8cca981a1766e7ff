package schemas

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// mustParseSchema parses text into a private cache: avro.Parse would register
// the record's name in hamba's process-wide cache, where another parse of a
// same-named schema (the beta form, or a newer registry version) would
// collide with it. The generated files call it at init for every embedded
// schema.
func mustParseSchema(file, text string) avro.Schema {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		panic(fmt.Sprintf("schemas: parse embedded %s: %v", file, err))
	}
	return s
}
