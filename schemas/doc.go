// Package schemas owns the Avro schema for Microsoft Graph directRoutingLogRow
// (the rows of getDirectRoutingCalls), the Go row type that mirrors it, and the
// conversions Graph JSON → row and row ⇄ Avro binary.
//
// The schema text is the contract with downstream consumers; the Go type,
// the JSON parser and the Avro codec all follow it, and tests pin them to it.
package schemas
