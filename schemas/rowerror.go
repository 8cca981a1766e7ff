package schemas

import "fmt"

// RowError reports a Graph row that cannot be turned into a row type
// (one of the generated row types). Callers branch on it with errors.As to send the raw
// row to a dead-letter topic that names the offending field.
type RowError struct {
	// Field is the Graph property name at fault, or "" when the row as a
	// whole is unusable (malformed JSON, not an object).
	Field string
	// Reason says what was wrong, e.g. "want integer, got string".
	Reason string
}

// Error formats the error as `row field "duration": want integer, got
// string`, or `row: <reason>` when no single field is at fault.
func (e *RowError) Error() string {
	if e.Field == "" {
		return "row: " + e.Reason
	}
	return fmt.Sprintf("row field %q: %s", e.Field, e.Reason)
}
