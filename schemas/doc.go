// Package schemas owns the Avro schemas for the rows of Microsoft Graph's
// call-log functions — directRoutingLogRow (getDirectRoutingCalls) and
// pstnCallLogRow (getPstnCalls), each in a v1.0 and a beta form — the Go row
// types that mirror them, and the conversions Graph JSON → row and
// row ⇄ Avro binary.
//
// The schema text is the contract with downstream consumers; the Go types,
// the JSON parsers and the Avro codecs all follow it, and tests pin them to
// it. The beta schemas keep the v1.0 record names and add the beta-only
// properties as optional fields, so they are compatible evolutions of the
// v1.0 ones. For picks the codec for a (source, API version) pair.
package schemas
