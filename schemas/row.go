package schemas

import (
	"fmt"
	"time"
)

// DirectRoutingLogRow is one Direct Routing call as returned by Microsoft
// Graph getDirectRoutingCalls, shaped like the DirectRoutingLogRow Avro
// record. A nil pointer means the property was null or absent.
//
// Timestamps are UTC. After ParseDirectRoutingRow they keep Graph's full
// precision (up to 100 ns); the Avro encoding is timestamp-millis, so
// AppendAvro truncates them to the millisecond (toward the past) and a
// decoded row holds the truncated values.
//
// The avro tags name the schema fields, but encode and decode rows only with
// AppendAvro / AppendAvroBeta and DecodeDirectRoutingRow /
// DecodeDirectRoutingRowBeta: hamba/avro v2.31 cannot map a plain
// map[string]string or slice onto a nullable union, so passing this type to
// avro.Marshal or avro.Unmarshal fails with an error.
type DirectRoutingLogRow struct {
	ID                            string     `avro:"id"`
	CorrelationID                 string     `avro:"correlationId"`
	UserID                        *string    `avro:"userId"`
	UserPrincipalName             *string    `avro:"userPrincipalName"`
	UserDisplayName               *string    `avro:"userDisplayName"`
	StartDateTime                 *time.Time `avro:"startDateTime"`
	InviteDateTime                *time.Time `avro:"inviteDateTime"`
	FailureDateTime               *time.Time `avro:"failureDateTime"`
	EndDateTime                   *time.Time `avro:"endDateTime"`
	Duration                      *int32     `avro:"duration"`
	CallType                      *string    `avro:"callType"`
	SuccessfulCall                *bool      `avro:"successfulCall"`
	CallerNumber                  *string    `avro:"callerNumber"`
	CalleeNumber                  *string    `avro:"calleeNumber"`
	MediaPathLocation             *string    `avro:"mediaPathLocation"`
	SignalingLocation             *string    `avro:"signalingLocation"`
	FinalSipCode                  *int32     `avro:"finalSipCode"`
	CallEndSubReason              *int32     `avro:"callEndSubReason"`
	FinalSipCodePhrase            *string    `avro:"finalSipCodePhrase"`
	TrunkFullyQualifiedDomainName *string    `avro:"trunkFullyQualifiedDomainName"`
	MediaBypassEnabled            *bool      `avro:"mediaBypassEnabled"`

	// The beta-only properties. They are set only by
	// ParseDirectRoutingRowBeta and encoded only by AppendAvroBeta; under
	// v1.0 Graph does not send them, and if it starts to they land in
	// AdditionalProperties like any other property v1.0 does not define.
	UserCountryCode         *string                  `avro:"userCountryCode"`
	OtherPartyCountryCode   *string                  `avro:"otherPartyCountryCode"`
	TransferorCorrelationID *string                  `avro:"transferorCorrelationId"`
	AdministrativeUnitInfos []AdministrativeUnitInfo `avro:"administrativeUnitInfos"`

	// AdditionalProperties holds the row properties Graph sent that the
	// schema does not define, including @odata.* annotations: property name
	// → the value's raw JSON text (compacted), e.g. "\"bar\"", "12" or
	// "{\"a\":1}". Keeping them means a field Graph adds later reaches
	// consumers instead of being dropped. Nil encodes as Avro null.
	AdditionalProperties map[string]string `avro:"additionalProperties"`
}

// RowError reports a Graph row that cannot be turned into a row type
// (DirectRoutingLogRow or PstnCallLogRow). Callers branch on it with errors.As to send the raw
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
