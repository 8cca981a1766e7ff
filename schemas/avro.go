package schemas

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
)

// avroAPI is private so that registrations or cache entries made by other
// packages on avro.DefaultConfig cannot change this package's encoding.
//
// DisableBlockSizeHeader: by default hamba writes every map block as a
// negative count followed by its byte size. That is valid Avro, but not
// every decoder supports it and it makes the bytes depend on a hamba
// default; plain counts are the form every implementation reads.
var avroAPI = avro.Config{DisableBlockSizeHeader: true}.Freeze()

// avroRow is the shape hamba encodes, for the v1.0 and the beta schema
// alike: hamba writes the fields a schema names and ignores the others. It
// differs from DirectRoutingLogRow only in its slice and map fields: hamba
// v2.31 resolves a nullable union by pointer (nil → null) or by a registered
// type name, and a map or slice has neither, so Marshal fails ("unable to
// resolve type") and Unmarshal rejects the field. A pointer works.
type avroRow struct {
	ID                            string                    `avro:"id"`
	CorrelationID                 string                    `avro:"correlationId"`
	UserID                        *string                   `avro:"userId"`
	UserPrincipalName             *string                   `avro:"userPrincipalName"`
	UserDisplayName               *string                   `avro:"userDisplayName"`
	StartDateTime                 *time.Time                `avro:"startDateTime"`
	InviteDateTime                *time.Time                `avro:"inviteDateTime"`
	FailureDateTime               *time.Time                `avro:"failureDateTime"`
	EndDateTime                   *time.Time                `avro:"endDateTime"`
	Duration                      *int32                    `avro:"duration"`
	CallType                      *string                   `avro:"callType"`
	SuccessfulCall                *bool                     `avro:"successfulCall"`
	CallerNumber                  *string                   `avro:"callerNumber"`
	CalleeNumber                  *string                   `avro:"calleeNumber"`
	MediaPathLocation             *string                   `avro:"mediaPathLocation"`
	SignalingLocation             *string                   `avro:"signalingLocation"`
	FinalSipCode                  *int32                    `avro:"finalSipCode"`
	CallEndSubReason              *int32                    `avro:"callEndSubReason"`
	FinalSipCodePhrase            *string                   `avro:"finalSipCodePhrase"`
	TrunkFullyQualifiedDomainName *string                   `avro:"trunkFullyQualifiedDomainName"`
	MediaBypassEnabled            *bool                     `avro:"mediaBypassEnabled"`
	UserCountryCode               *string                   `avro:"userCountryCode"`
	OtherPartyCountryCode         *string                   `avro:"otherPartyCountryCode"`
	TransferorCorrelationID       *string                   `avro:"transferorCorrelationId"`
	AdministrativeUnitInfos       *[]AdministrativeUnitInfo `avro:"administrativeUnitInfos"`
	AdditionalProperties          *map[string]string        `avro:"additionalProperties"`
}

var decodePool = sync.Pool{New: func() any {
	return avro.NewReader(nil, 0, avro.WithReaderConfig(avroAPI))
}}

// AppendAvro appends the Avro binary encoding of r (schema
// DirectRoutingSchema, the v1.0 one; no framing such as a schema-registry
// header) to dst and returns the extended slice. Timestamps are truncated to
// milliseconds (toward the past). AdditionalProperties entries are written
// in Go map iteration order, as hamba does, so the bytes of a row with two
// or more entries vary between calls while decoding to the same row; compare
// decoded rows, not bytes. A row with a beta-only field set is an error
// rather than a silent loss of that field: use AppendAvroBeta. AppendAvro is
// safe for concurrent use.
func (r *DirectRoutingLogRow) AppendAvro(dst []byte) ([]byte, error) {
	if name := r.betaFieldSet(); name != "" {
		return dst, fmt.Errorf("encode avro row: beta-only property %s is set; encode with AppendAvroBeta", name)
	}
	return r.appendAvro(dst, directRoutingSchema)
}

// AppendAvroBeta is AppendAvro with DirectRoutingBetaSchema, which also
// carries the beta-only properties.
func (r *DirectRoutingLogRow) AppendAvroBeta(dst []byte) ([]byte, error) {
	return r.appendAvro(dst, directRoutingBetaSchema)
}

// betaFieldSet names a beta-only property that r holds, or returns "".
func (r *DirectRoutingLogRow) betaFieldSet() string {
	switch {
	case r.UserCountryCode != nil:
		return "userCountryCode"
	case r.OtherPartyCountryCode != nil:
		return "otherPartyCountryCode"
	case r.TransferorCorrelationID != nil:
		return "transferorCorrelationId"
	case r.AdministrativeUnitInfos != nil:
		return "administrativeUnitInfos"
	}
	return ""
}

func (r *DirectRoutingLogRow) appendAvro(dst []byte, schema avro.Schema) ([]byte, error) {
	return appendDirectRouting(dst, r, schema == directRoutingBetaSchema), nil
}

// DecodeDirectRoutingRow decodes one Avro binary DirectRoutingLogRow written
// with DirectRoutingSchema (as by AppendAvro, without framing) into row,
// replacing its contents. Timestamps come back in UTC at millisecond
// precision. data must hold exactly one record: truncated input and
// trailing bytes are errors, where hamba's own Unmarshal would accept both.
// Strings over 1 MiB are rejected (hamba's default guard against corrupt
// length prefixes).
func DecodeDirectRoutingRow(data []byte, row *DirectRoutingLogRow) error {
	return decodeDirectRouting(data, directRoutingSchema, row)
}

// DecodeDirectRoutingRowBeta is DecodeDirectRoutingRow for a record written
// with DirectRoutingBetaSchema (as by AppendAvroBeta).
func DecodeDirectRoutingRowBeta(data []byte, row *DirectRoutingLogRow) error {
	return decodeDirectRouting(data, directRoutingBetaSchema, row)
}

func decodeDirectRouting(data []byte, schema avro.Schema, row *DirectRoutingLogRow) error {
	// Decode into a fresh value: hamba writes through non-nil pointers and
	// merges into non-nil maps, which would alias or mix in the old row.
	var a avroRow
	if err := decodeExact(data, schema, &a); err != nil {
		return err
	}
	*row = DirectRoutingLogRow{
		ID:                            a.ID,
		CorrelationID:                 a.CorrelationID,
		UserID:                        a.UserID,
		UserPrincipalName:             a.UserPrincipalName,
		UserDisplayName:               a.UserDisplayName,
		StartDateTime:                 a.StartDateTime,
		InviteDateTime:                a.InviteDateTime,
		FailureDateTime:               a.FailureDateTime,
		EndDateTime:                   a.EndDateTime,
		Duration:                      a.Duration,
		CallType:                      a.CallType,
		SuccessfulCall:                a.SuccessfulCall,
		CallerNumber:                  a.CallerNumber,
		CalleeNumber:                  a.CalleeNumber,
		MediaPathLocation:             a.MediaPathLocation,
		SignalingLocation:             a.SignalingLocation,
		FinalSipCode:                  a.FinalSipCode,
		CallEndSubReason:              a.CallEndSubReason,
		FinalSipCodePhrase:            a.FinalSipCodePhrase,
		TrunkFullyQualifiedDomainName: a.TrunkFullyQualifiedDomainName,
		MediaBypassEnabled:            a.MediaBypassEnabled,
		UserCountryCode:               a.UserCountryCode,
		OtherPartyCountryCode:         a.OtherPartyCountryCode,
		TransferorCorrelationID:       a.TransferorCorrelationID,
	}
	if a.AdministrativeUnitInfos != nil {
		row.AdministrativeUnitInfos = *a.AdministrativeUnitInfos
		if row.AdministrativeUnitInfos == nil {
			// hamba leaves an empty array as a nil slice; [] is not null.
			row.AdministrativeUnitInfos = []AdministrativeUnitInfo{}
		}
	}
	if a.AdditionalProperties != nil {
		row.AdditionalProperties = *a.AdditionalProperties
	}
	return nil
}

// decodeExact decodes exactly one record of schema from data into v, a
// pointer to a fresh mirror struct, with a pooled reader.
func decodeExact(data []byte, schema avro.Schema, v any) error {
	rd := decodePool.Get().(*avro.Reader)
	rd.Reset(data)
	rd.Error = nil // Reset leaves the error of an earlier failed decode
	rd.ReadVal(schema, v)
	err := rd.Error
	if err == nil {
		// Peek sets io.EOF exactly when every byte was consumed.
		rd.Peek()
		if !errors.Is(rd.Error, io.EOF) {
			err = errors.New("trailing bytes after record")
		}
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// hamba's Unmarshal would report a record cut at a field boundary
		// as success, because it treats io.EOF as a clean end; it is not.
		err = fmt.Errorf("truncated record: %w", err)
	}
	rd.Reset(nil)
	rd.Error = nil
	decodePool.Put(rd)
	if err != nil {
		return fmt.Errorf("decode avro row: %w", err)
	}
	return nil
}
