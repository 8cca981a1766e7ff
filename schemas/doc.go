// Package schemas owns the Avro schemas for the rows of Microsoft Graph's
// call-log functions — directRoutingLogRow (getDirectRoutingCalls) and
// pstnCallLogRow (getPstnCalls), each in a v1.0 and a beta form, and the
// beta-only smsLogRow (getSmsLog), pstnBlockedUsersLogRow
// (getPstnBlockedUsersLog) and pstnOnlineMeetingDialoutReport
// (getPstnOnlineMeetingDialoutReport, an aggregate: see Codec.Aggregate) —
// the Go row types that mirror them, and the conversions Graph JSON → row
// and row ⇄ Avro binary.
//
// The schema text is the contract with downstream consumers; the Go types,
// the JSON parsers and the Avro codecs all follow it, and tests pin them to
// it. The beta schemas keep the v1.0 record names and add the beta-only
// properties as optional fields, so they are compatible evolutions of the
// v1.0 ones. For picks the codec for a (source, API version) pair.
//
// Every schema ends with tenantId, ["null", "string"] default null: the
// Microsoft Entra tenant the row was read from. Graph's rows do not carry
// it, so it is callstream's, not a Graph property: parsers never set it (a
// row property of that name is kept in additionalProperties), and a codec
// writes the tenant it was given with Codec.WithTenant ("" is null). It
// was added last, so the schemas registered before it and these are
// compatible both ways (testdata/history).
//
// # Call records
//
// Teams call records (the call-records source, CallRecord.avsc) are nested:
// record → sessions → segments (caller and callee endpoints, failureInfo,
// media → streams), with organizer/participants (identitySets) and
// organizer_v2/participants_v2. Their codec (callrecord.go) is hand-written
// and driven by the parsed schema; Codec.Records reports it. The rules
// below apply at every level, plus: every nested record has its own
// additionalProperties; the polymorphic endpoint and userAgent are one
// record each holding every subtype's properties, with the @odata.type
// annotation in odataType; ISO 8601 durations are longs of microseconds,
// the original text kept in that level's additionalProperties when the
// number loses digits (past the microsecond) or cannot hold it (years,
// months); Graph enums are strings; a collection is null when Graph omits
// it or sends null and empty when it sends []; errors name the property by
// its path (sessions[3].segments[0].media[0].streams[1].averageJitter).
// Encode returns VersionedID(id, version) as the dedup id and the record
// id as the key; Decode returns a map[string]any.
//
// # Generated codecs
//
// Each source's row type and its description are generated (go generate;
// the *_gen.go files) from its .avsc files and its entry in the sources
// registry (package sources), which names what a schema cannot say: the
// properties that identify a row and the record key; the Go names follow
// from the entry by rule (see schemas/internal/codegen). The description is data: a
// table of the fields in schema order, each with its kind and the version
// that added it. The logic lives once, in hand-written code driven by the
// tables (record.go: parsing, writing; avroread.go: reading), over the
// primitives of this package (parse.go, append.go, decimal.go,
// datetime.go), which hold every rule.
//
// # Parsing rules
//
// Every Parse*Row function (and Codec.Encode) reads one element of the
// "value" array of a Graph response by the same rules:
//   - null or absent properties become nil; "" stays a non-nil empty string.
//   - Required (non-union) string properties, such as id, must be present,
//     non-null and non-empty.
//   - DateTimeOffsets are RFC 3339 with any number of fractional digits and
//     "Z" or a ±HH:MM offset; they are stored in UTC at full precision.
//     Graph's placeholder 0001-01-01T00:00:00Z (in any fraction or offset
//     form) becomes nil.
//   - Int32 properties must be JSON integer literals within int32: 5.5, 5.0,
//     5e0 and "5" are rejected, as they mean Graph changed the type.
//   - Decimal properties (charges) must be JSON numbers (or null) that
//     decimal(18,6) holds exactly; more fractional or integer digits are a
//     *RowError naming the property, never a rounded value.
//   - Properties the schema of the version does not define, including
//     @odata.* annotations and, under v1.0, the beta-only properties, are
//     kept in AdditionalProperties as compacted raw JSON.
//   - Property names are matched exactly ("ID" is not "id"), and a repeated
//     name is an error rather than last-wins, since either copy could be
//     the real one.
//   - Invalid UTF-8 inside strings is replaced with U+FFFD, as
//     encoding/json does, because Avro strings must be UTF-8 — except in the
//     properties that identify the row (the dedup id and the record key:
//     the registry's IDProperty and KeyProperty, or an aggregate's
//     GroupBy), where invalid UTF-8 (raw, or an unpaired surrogate escape
//     like \udcff) is a *RowError, since the repair could turn one row's
//     id into another's.
//   - Errors name the property and the kind of problem, never its value:
//     they end up in logs and dead-letter headers, and values are personal
//     data (user principal names, phone numbers).
//
// Every failure is a *RowError naming the property at fault, or with an
// empty Field when the row is not valid JSON or not an object; malformed
// JSON is reported even when an earlier property also had a bad value. The
// strings in a parsed row share one copy of the input, so the input may be
// reused at once, while keeping any one string alive keeps that copy alive.
package schemas
