package schemas

import (
	"time"
)

// The rows' Avro bodies are written by hand rather than through hamba's
// reflection: every row of every window is encoded, and hamba's generic
// encoder cost several times what the schemas need. The writers below
// follow the .avsc files field by field and write exactly hamba's bytes
// (TestAppendMatchesHamba holds them to it, with hamba as the oracle), so
// readers, the golden files and the registry see no difference.

// avroBlockLength is how many map entries or array items go in one block,
// as hamba writes them (its default block length).
const avroBlockLength = 100

// appendLong appends v as an Avro long (zig-zag varint).
func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// appendString appends an Avro string: its length, then its bytes.
func appendString(dst []byte, s string) []byte {
	return append(appendLong(dst, int64(len(s))), s...)
}

// The nullable fields are unions ["null", T]: branch 0 (byte 0x00) is
// null, branch 1 (byte 0x02) is followed by the value.
const (
	unionNull  = 0x00
	unionValue = 0x02
)

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, unionNull)
	}
	return appendString(append(dst, unionValue), *s)
}

// appendOptTime writes a timestamp-millis, truncated toward the past.
func appendOptTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, unionNull)
	}
	return appendLong(append(dst, unionValue), t.Unix()*1e3+int64(t.Nanosecond()/1e6))
}

func appendOptInt(dst []byte, v *int32) []byte {
	if v == nil {
		return append(dst, unionNull)
	}
	return appendLong(append(dst, unionValue), int64(*v))
}

func appendOptBool(dst []byte, v *bool) []byte {
	switch {
	case v == nil:
		return append(dst, unionNull)
	case *v:
		return append(dst, unionValue, 1)
	}
	return append(dst, unionValue, 0)
}

func appendOptDecimal(dst []byte, d *Decimal) []byte {
	if d == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	// Avro bytes: the length, then the big-endian two's complement, which
	// is at most 8 bytes long.
	var b [8]byte
	v := d.appendAvroBytes(b[:0])
	return append(appendLong(dst, int64(len(v))), v...)
}

// appendOptMap writes a map<string, string> in blocks, entries in Go map
// iteration order, as hamba does.
func appendOptMap(dst []byte, m map[string]string) []byte {
	if m == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	left := len(m)
	inBlock := 0
	for k, v := range m {
		if inBlock == 0 {
			dst = appendLong(dst, int64(min(left, avroBlockLength)))
		}
		dst = appendString(appendString(dst, k), v)
		left--
		if inBlock++; inBlock == avroBlockLength {
			inBlock = 0
		}
	}
	return append(dst, 0)
}

// appendOptUnitInfos writes an array of AdministrativeUnitInfo records.
func appendOptUnitInfos(dst []byte, units []AdministrativeUnitInfo) []byte {
	if units == nil {
		return append(dst, unionNull)
	}
	dst = append(dst, unionValue)
	for i := 0; i < len(units); i += avroBlockLength {
		block := units[i:min(i+avroBlockLength, len(units))]
		dst = appendLong(dst, int64(len(block)))
		for _, u := range block {
			dst = appendOptString(dst, u.ID)
		}
	}
	return append(dst, 0)
}

// appendDirectRouting writes r in the field order of
// DirectRoutingLogRow.avsc, or of DirectRoutingLogRow.beta.avsc with beta.
func appendDirectRouting(dst []byte, r *DirectRoutingLogRow, beta bool) []byte {
	dst = appendString(dst, r.ID)
	dst = appendString(dst, r.CorrelationID)
	dst = appendOptString(dst, r.UserID)
	dst = appendOptString(dst, r.UserPrincipalName)
	dst = appendOptString(dst, r.UserDisplayName)
	dst = appendOptTime(dst, r.StartDateTime)
	dst = appendOptTime(dst, r.InviteDateTime)
	dst = appendOptTime(dst, r.FailureDateTime)
	dst = appendOptTime(dst, r.EndDateTime)
	dst = appendOptInt(dst, r.Duration)
	dst = appendOptString(dst, r.CallType)
	dst = appendOptBool(dst, r.SuccessfulCall)
	dst = appendOptString(dst, r.CallerNumber)
	dst = appendOptString(dst, r.CalleeNumber)
	dst = appendOptString(dst, r.MediaPathLocation)
	dst = appendOptString(dst, r.SignalingLocation)
	dst = appendOptInt(dst, r.FinalSipCode)
	dst = appendOptInt(dst, r.CallEndSubReason)
	dst = appendOptString(dst, r.FinalSipCodePhrase)
	dst = appendOptString(dst, r.TrunkFullyQualifiedDomainName)
	dst = appendOptBool(dst, r.MediaBypassEnabled)
	if beta {
		dst = appendOptString(dst, r.UserCountryCode)
		dst = appendOptString(dst, r.OtherPartyCountryCode)
		dst = appendOptString(dst, r.TransferorCorrelationID)
		dst = appendOptUnitInfos(dst, r.AdministrativeUnitInfos)
	}
	return appendOptMap(dst, r.AdditionalProperties)
}

// appendPstn writes r in the field order of PstnCallLogRow.avsc, or of
// PstnCallLogRow.beta.avsc with beta.
func appendPstn(dst []byte, r *PstnCallLogRow, beta bool) []byte {
	dst = appendString(dst, r.ID)
	dst = appendOptString(dst, r.CallID)
	dst = appendOptString(dst, r.UserID)
	dst = appendOptString(dst, r.UserPrincipalName)
	dst = appendOptString(dst, r.UserDisplayName)
	dst = appendOptTime(dst, r.StartDateTime)
	dst = appendOptTime(dst, r.EndDateTime)
	dst = appendOptInt(dst, r.Duration)
	dst = appendOptDecimal(dst, r.Charge)
	dst = appendOptString(dst, r.CallType)
	dst = appendOptString(dst, r.Currency)
	dst = appendOptString(dst, r.CalleeNumber)
	dst = appendOptString(dst, r.UsageCountryCode)
	dst = appendOptString(dst, r.TenantCountryCode)
	dst = appendOptDecimal(dst, r.ConnectionCharge)
	dst = appendOptString(dst, r.CallerNumber)
	dst = appendOptString(dst, r.DestinationContext)
	dst = appendOptString(dst, r.DestinationName)
	dst = appendOptString(dst, r.ConferenceID)
	dst = appendOptString(dst, r.LicenseCapability)
	dst = appendOptString(dst, r.InventoryType)
	dst = appendOptString(dst, r.Operator)
	dst = appendOptString(dst, r.CallDurationSource)
	if beta {
		dst = appendOptString(dst, r.OtherPartyCountryCode)
		dst = appendOptString(dst, r.ClientLocalIPv4Address)
		dst = appendOptString(dst, r.ClientLocalIPv6Address)
		dst = appendOptString(dst, r.ClientPublicIPv4Address)
		dst = appendOptString(dst, r.ClientPublicIPv6Address)
		dst = appendOptUnitInfos(dst, r.AdministrativeUnitInfos)
	}
	return appendOptMap(dst, r.AdditionalProperties)
}
