package schemas

import (
	_ "embed"
	"fmt"

	"github.com/hamba/avro/v2"
)

// DirectRoutingSchemaName is the full name of the Avro record, as used for
// schema-registry subjects and record-name strategies.
const DirectRoutingSchemaName = "microsoft.graph.callRecords.DirectRoutingLogRow"

//go:embed DirectRoutingLogRow.avsc
var directRoutingSchemaText string

// directRoutingSchema is parsed at init so that a broken embedded file fails
// every test and binary immediately rather than the first produced record.
var directRoutingSchema = mustParseSchema(directRoutingSchemaText)

// mustParseSchema parses text into a private cache: avro.Parse would register
// the record's name in hamba's process-wide cache, where another parse of a
// same-named schema (say, a newer registry version) could collide with it.
func mustParseSchema(text string) avro.Schema {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		panic(fmt.Sprintf("schemas: parse embedded DirectRoutingLogRow.avsc: %v", err))
	}
	return s
}

// DirectRoutingSchemaText returns the Avro schema (.avsc JSON) for
// DirectRoutingLogRow exactly as embedded, e.g. for registering it with a
// schema registry.
func DirectRoutingSchemaText() string { return directRoutingSchemaText }

// DirectRoutingSchema returns the parsed Avro schema for DirectRoutingLogRow.
// The value is shared; callers must not modify it.
func DirectRoutingSchema() avro.Schema { return directRoutingSchema }
