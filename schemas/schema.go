package schemas

import (
	_ "embed"
	"fmt"

	"github.com/hamba/avro/v2"
)

// DirectRoutingSchemaName is the full name of the Avro record, as used for
// schema-registry subjects and record-name strategies. The v1.0 and the
// beta schema share it: the beta one is an evolution of the same record.
const DirectRoutingSchemaName = "microsoft.graph.callRecords.DirectRoutingLogRow"

// PstnSchemaName is the full name of the PSTN Avro record, shared by its
// v1.0 and beta schemas.
const PstnSchemaName = "microsoft.graph.callRecords.PstnCallLogRow"

var (
	//go:embed DirectRoutingLogRow.avsc
	directRoutingSchemaText string
	//go:embed DirectRoutingLogRow.beta.avsc
	directRoutingBetaSchemaText string
	//go:embed PstnCallLogRow.avsc
	pstnSchemaText string
	//go:embed PstnCallLogRow.beta.avsc
	pstnBetaSchemaText string
)

// The schemas are parsed at init so that a broken embedded file fails every
// test and binary immediately rather than the first produced record.
var (
	directRoutingSchema     = mustParseSchema("DirectRoutingLogRow.avsc", directRoutingSchemaText)
	directRoutingBetaSchema = mustParseSchema("DirectRoutingLogRow.beta.avsc", directRoutingBetaSchemaText)
	pstnSchema              = mustParseSchema("PstnCallLogRow.avsc", pstnSchemaText)
	pstnBetaSchema          = mustParseSchema("PstnCallLogRow.beta.avsc", pstnBetaSchemaText)
)

// mustParseSchema parses text into a private cache: avro.Parse would register
// the record's name in hamba's process-wide cache, where another parse of a
// same-named schema (the beta form, or a newer registry version) would
// collide with it.
func mustParseSchema(file, text string) avro.Schema {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		panic(fmt.Sprintf("schemas: parse embedded %s: %v", file, err))
	}
	return s
}

// DirectRoutingSchemaText returns the v1.0 Avro schema (.avsc JSON) for
// DirectRoutingLogRow exactly as embedded, e.g. for registering it with a
// schema registry.
func DirectRoutingSchemaText() string { return directRoutingSchemaText }

// DirectRoutingSchema returns the parsed v1.0 Avro schema for
// DirectRoutingLogRow. The value is shared; callers must not modify it.
func DirectRoutingSchema() avro.Schema { return directRoutingSchema }

// DirectRoutingBetaSchemaText returns the beta Avro schema for
// DirectRoutingLogRow: the v1.0 fields plus the beta-only ones, optional.
func DirectRoutingBetaSchemaText() string { return directRoutingBetaSchemaText }

// DirectRoutingBetaSchema returns the parsed beta Avro schema for
// DirectRoutingLogRow. The value is shared; callers must not modify it.
func DirectRoutingBetaSchema() avro.Schema { return directRoutingBetaSchema }

// PstnSchemaText returns the v1.0 Avro schema for PstnCallLogRow exactly as
// embedded.
func PstnSchemaText() string { return pstnSchemaText }

// PstnSchema returns the parsed v1.0 Avro schema for PstnCallLogRow. The
// value is shared; callers must not modify it.
func PstnSchema() avro.Schema { return pstnSchema }

// PstnBetaSchemaText returns the beta Avro schema for PstnCallLogRow: the
// v1.0 fields plus the beta-only ones, optional.
func PstnBetaSchemaText() string { return pstnBetaSchemaText }

// PstnBetaSchema returns the parsed beta Avro schema for PstnCallLogRow.
// The value is shared; callers must not modify it.
func PstnBetaSchema() avro.Schema { return pstnBetaSchema }
