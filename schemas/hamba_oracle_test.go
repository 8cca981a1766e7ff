package schemas

// hamba's own encoder, through the mirror structs, is the oracle the
// hand-written writers of append.go are held to.

import (
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"
)

// encodeScratch is what one AppendAvro call needs, pooled so that encoding
// does not allocate: the value hamba encodes escapes to the heap.
type encodeScratch struct {
	row   avroRow
	props map[string]string
	units []AdministrativeUnitInfo
}

// maxPooledBuffer keeps one giant row from pinning a large writer buffer in
// the pool for the life of the process.
const maxPooledBuffer = 64 << 10

var (
	encodePool = sync.Pool{New: func() any { return new(encodeScratch) }}
	writerPool = sync.Pool{New: func() any {
		return avro.NewWriter(nil, 1024, avro.WithWriterConfig(avroAPI))
	}}
)

func (r *DirectRoutingLogRow) appendAvroHamba(dst []byte, schema avro.Schema) ([]byte, error) {
	sc := encodePool.Get().(*encodeScratch)
	sc.row = avroRow{
		ID:                            r.ID,
		CorrelationID:                 r.CorrelationID,
		UserID:                        r.UserID,
		UserPrincipalName:             r.UserPrincipalName,
		UserDisplayName:               r.UserDisplayName,
		StartDateTime:                 r.StartDateTime,
		InviteDateTime:                r.InviteDateTime,
		FailureDateTime:               r.FailureDateTime,
		EndDateTime:                   r.EndDateTime,
		Duration:                      r.Duration,
		CallType:                      r.CallType,
		SuccessfulCall:                r.SuccessfulCall,
		CallerNumber:                  r.CallerNumber,
		CalleeNumber:                  r.CalleeNumber,
		MediaPathLocation:             r.MediaPathLocation,
		SignalingLocation:             r.SignalingLocation,
		FinalSipCode:                  r.FinalSipCode,
		CallEndSubReason:              r.CallEndSubReason,
		FinalSipCodePhrase:            r.FinalSipCodePhrase,
		TrunkFullyQualifiedDomainName: r.TrunkFullyQualifiedDomainName,
		MediaBypassEnabled:            r.MediaBypassEnabled,
		UserCountryCode:               r.UserCountryCode,
		OtherPartyCountryCode:         r.OtherPartyCountryCode,
		TransferorCorrelationID:       r.TransferorCorrelationID,
	}
	if r.AdministrativeUnitInfos != nil {
		sc.units = r.AdministrativeUnitInfos
		sc.row.AdministrativeUnitInfos = &sc.units
	}
	if r.AdditionalProperties != nil {
		sc.props = r.AdditionalProperties
		sc.row.AdditionalProperties = &sc.props
	}
	dst, err := appendEncoded(dst, schema, &sc.row)

	// Drop references to the caller's row before pooling.
	*sc = encodeScratch{}
	encodePool.Put(sc)
	return dst, err
}

// appendEncoded writes v (a pointer to a mirror struct) with schema and
// appends the bytes to dst, with a pooled writer.
func appendEncoded(dst []byte, schema avro.Schema, v any) ([]byte, error) {
	w := writerPool.Get().(*avro.Writer)
	w.Reset(nil)
	w.Error = nil // Reset leaves the error of an earlier failed encode
	w.WriteVal(schema, v)
	err := w.Error
	if err == nil {
		dst = append(dst, w.Buffer()...)
	}
	if w.Buffered() <= maxPooledBuffer {
		w.Error = nil
		writerPool.Put(w)
	}
	if err != nil {
		return dst, fmt.Errorf("encode avro row: %w", err)
	}
	return dst, nil
}

type pstnScratch struct {
	row          avroPstnRow
	props        map[string]string
	units        []AdministrativeUnitInfo
	charge, conn [8]byte
}

var pstnPool = sync.Pool{New: func() any { return new(pstnScratch) }}

func (r *PstnCallLogRow) appendAvroHamba(dst []byte, schema avro.Schema) ([]byte, error) {
	sc := pstnPool.Get().(*pstnScratch)
	sc.row = avroPstnRow{
		ID:                      r.ID,
		CallID:                  r.CallID,
		UserID:                  r.UserID,
		UserPrincipalName:       r.UserPrincipalName,
		UserDisplayName:         r.UserDisplayName,
		StartDateTime:           r.StartDateTime,
		EndDateTime:             r.EndDateTime,
		Duration:                r.Duration,
		CallType:                r.CallType,
		Currency:                r.Currency,
		CalleeNumber:            r.CalleeNumber,
		UsageCountryCode:        r.UsageCountryCode,
		TenantCountryCode:       r.TenantCountryCode,
		CallerNumber:            r.CallerNumber,
		DestinationContext:      r.DestinationContext,
		DestinationName:         r.DestinationName,
		ConferenceID:            r.ConferenceID,
		LicenseCapability:       r.LicenseCapability,
		InventoryType:           r.InventoryType,
		Operator:                r.Operator,
		CallDurationSource:      r.CallDurationSource,
		OtherPartyCountryCode:   r.OtherPartyCountryCode,
		ClientLocalIPv4Address:  r.ClientLocalIPv4Address,
		ClientLocalIPv6Address:  r.ClientLocalIPv6Address,
		ClientPublicIPv4Address: r.ClientPublicIPv4Address,
		ClientPublicIPv6Address: r.ClientPublicIPv6Address,
	}
	if r.Charge != nil {
		sc.row.Charge = r.Charge.appendAvroBytes(sc.charge[:0])
	}
	if r.ConnectionCharge != nil {
		sc.row.ConnectionCharge = r.ConnectionCharge.appendAvroBytes(sc.conn[:0])
	}
	if r.AdministrativeUnitInfos != nil {
		sc.units = r.AdministrativeUnitInfos
		sc.row.AdministrativeUnitInfos = &sc.units
	}
	if r.AdditionalProperties != nil {
		sc.props = r.AdditionalProperties
		sc.row.AdditionalProperties = &sc.props
	}
	dst, err := appendEncoded(dst, schema, &sc.row)

	sc.row, sc.props, sc.units = avroPstnRow{}, nil, nil
	pstnPool.Put(sc)
	return dst, err
}
