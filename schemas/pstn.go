package schemas

import (
	"fmt"
	"time"

	"github.com/hamba/avro/v2"
)

// PstnCallLogRow is one PSTN call (Calling Plan, Operator Connect or audio
// conferencing) as returned by Microsoft Graph getPstnCalls, shaped like the
// PstnCallLogRow Avro record. A nil pointer means the property was null or
// absent.
//
// Timestamps follow DirectRoutingLogRow's rules: full precision after
// parsing, milliseconds after an Avro round trip. Charges are Decimals, so
// they survive the round trip exactly.
//
// Encode and decode rows with AppendAvro / AppendAvroBeta and
// DecodePstnCallRow / DecodePstnCallRowBeta, not with avro.Marshal (see
// DirectRoutingLogRow for why).
type PstnCallLogRow struct {
	ID                 string     `avro:"id"`
	CallID             *string    `avro:"callId"`
	UserID             *string    `avro:"userId"`
	UserPrincipalName  *string    `avro:"userPrincipalName"`
	UserDisplayName    *string    `avro:"userDisplayName"`
	StartDateTime      *time.Time `avro:"startDateTime"`
	EndDateTime        *time.Time `avro:"endDateTime"`
	Duration           *int32     `avro:"duration"`
	Charge             *Decimal   `avro:"charge"`
	CallType           *string    `avro:"callType"`
	Currency           *string    `avro:"currency"`
	CalleeNumber       *string    `avro:"calleeNumber"`
	UsageCountryCode   *string    `avro:"usageCountryCode"`
	TenantCountryCode  *string    `avro:"tenantCountryCode"`
	ConnectionCharge   *Decimal   `avro:"connectionCharge"`
	CallerNumber       *string    `avro:"callerNumber"`
	DestinationContext *string    `avro:"destinationContext"`
	DestinationName    *string    `avro:"destinationName"`
	ConferenceID       *string    `avro:"conferenceId"`
	LicenseCapability  *string    `avro:"licenseCapability"`
	InventoryType      *string    `avro:"inventoryType"`
	Operator           *string    `avro:"operator"`
	// CallDurationSource is "microsoft" or "operator" today. Graph declares
	// an enum, but this stays an open string (see the schema doc).
	CallDurationSource *string `avro:"callDurationSource"`

	// The beta-only properties, set only by ParsePstnCallRowBeta and
	// encoded only by AppendAvroBeta.
	OtherPartyCountryCode   *string                  `avro:"otherPartyCountryCode"`
	ClientLocalIPv4Address  *string                  `avro:"clientLocalIpV4Address"`
	ClientLocalIPv6Address  *string                  `avro:"clientLocalIpV6Address"`
	ClientPublicIPv4Address *string                  `avro:"clientPublicIpV4Address"`
	ClientPublicIPv6Address *string                  `avro:"clientPublicIpV6Address"`
	AdministrativeUnitInfos []AdministrativeUnitInfo `avro:"administrativeUnitInfos"`

	// AdditionalProperties holds the properties Graph sent that the schema
	// does not define, as for DirectRoutingLogRow.
	AdditionalProperties map[string]string `avro:"additionalProperties"`
}

// Key returns the Kafka record key for the row: callId when Graph sent a
// non-empty one, else id. PSTN rows have no correlationId; callId is what
// groups the rows of one call (it is not unique, which a key need not be),
// so they land on one partition in order. id, always present and unique,
// keeps the key from ever being empty.
func (r *PstnCallLogRow) Key() string {
	if r.CallID != nil && *r.CallID != "" {
		return *r.CallID
	}
	return r.ID
}

// Indexes of the PSTN schema fields, in schema order; they index the
// duplicate-key bit set.
const (
	pstnID = iota
	pstnCallID
	pstnUserID
	pstnUserPrincipalName
	pstnUserDisplayName
	pstnStartDateTime
	pstnEndDateTime
	pstnDuration
	pstnCharge
	pstnCallType
	pstnCurrency
	pstnCalleeNumber
	pstnUsageCountryCode
	pstnTenantCountryCode
	pstnConnectionCharge
	pstnCallerNumber
	pstnDestinationContext
	pstnDestinationName
	pstnConferenceID
	pstnLicenseCapability
	pstnInventoryType
	pstnOperator
	pstnCallDurationSource

	// Beta only.
	pstnOtherPartyCountryCode
	pstnClientLocalIPv4Address
	pstnClientLocalIPv6Address
	pstnClientPublicIPv4Address
	pstnClientPublicIPv6Address
	pstnAdministrativeUnitInfos
)

// pstnFieldIndex maps a Graph property name to its PSTN field index, or -1;
// see fieldIndex.
func pstnFieldIndex(name string, beta bool) int {
	switch name {
	case "id":
		return pstnID
	case "callId":
		return pstnCallID
	case "userId":
		return pstnUserID
	case "userPrincipalName":
		return pstnUserPrincipalName
	case "userDisplayName":
		return pstnUserDisplayName
	case "startDateTime":
		return pstnStartDateTime
	case "endDateTime":
		return pstnEndDateTime
	case "duration":
		return pstnDuration
	case "charge":
		return pstnCharge
	case "callType":
		return pstnCallType
	case "currency":
		return pstnCurrency
	case "calleeNumber":
		return pstnCalleeNumber
	case "usageCountryCode":
		return pstnUsageCountryCode
	case "tenantCountryCode":
		return pstnTenantCountryCode
	case "connectionCharge":
		return pstnConnectionCharge
	case "callerNumber":
		return pstnCallerNumber
	case "destinationContext":
		return pstnDestinationContext
	case "destinationName":
		return pstnDestinationName
	case "conferenceId":
		return pstnConferenceID
	case "licenseCapability":
		return pstnLicenseCapability
	case "inventoryType":
		return pstnInventoryType
	case "operator":
		return pstnOperator
	case "callDurationSource":
		return pstnCallDurationSource
	}
	if beta {
		switch name {
		case "otherPartyCountryCode":
			return pstnOtherPartyCountryCode
		case "clientLocalIpV4Address":
			return pstnClientLocalIPv4Address
		case "clientLocalIpV6Address":
			return pstnClientLocalIPv6Address
		case "clientPublicIpV4Address":
			return pstnClientPublicIPv4Address
		case "clientPublicIpV6Address":
			return pstnClientPublicIPv6Address
		case "administrativeUnitInfos":
			return pstnAdministrativeUnitInfos
		}
	}
	return -1
}

// pstnStore backs the pointer fields of one parsed PSTN row (see rowStore).
type pstnStore struct {
	strs  [22]string
	times [2]time.Time
	ints  [1]int32
	decs  [2]Decimal
}

// ParsePstnCallRow parses one element of the "value" array of a Graph v1.0
// getPstnCalls response into row, with ParseDirectRoutingRow's rules, and:
//   - id must be a non-empty string; callId is optional (Key falls back to
//     id without it). Both identify the row (dedup id, record key), so
//     invalid UTF-8 in either is a *RowError, never repaired to U+FFFD.
//   - charge and connectionCharge must be JSON numbers (or null) that
//     decimal(18,6) holds exactly; more fractional or integer digits are a
//     *RowError naming the property, never a rounded value.
//   - callDurationSource is kept as whatever string Graph sent.
//
// Every failure is a *RowError, as for ParseDirectRoutingRow.
func ParsePstnCallRow(raw []byte, row *PstnCallLogRow) error {
	return parsePstn(raw, row, false)
}

// ParsePstnCallRowBeta is ParsePstnCallRow for a row of the beta endpoint:
// the beta-only properties (otherPartyCountryCode, the four client IP
// addresses, administrativeUnitInfos) fill their fields instead of
// AdditionalProperties. Encode the row with AppendAvroBeta.
func ParsePstnCallRowBeta(raw []byte, row *PstnCallLogRow) error {
	return parsePstn(raw, row, true)
}

func parsePstn(raw []byte, row *PstnCallLogRow, beta bool) error {
	*row = PstnCallLogRow{}
	if rerr := parsePstnRow(rowInput{raw: raw}, row, new(pstnStore), beta); rerr != nil {
		*row = PstnCallLogRow{}
		return rerr
	}
	return nil
}

// parsePstnRow is parseRow for a PSTN row.
func parsePstnRow(in rowInput, row *PstnCallLogRow, st *pstnStore, beta bool) *RowError {
	p := pstnParser{row: row, st: st, beta: beta}
	rerr := walkObject(in, p.property)
	if rerr == nil && p.seen&(1<<pstnID) == 0 {
		rerr = &RowError{Field: "id", Reason: "required property is missing"}
	}
	return rerr
}

// pstnParser stores the properties of one PSTN row.
type pstnParser struct {
	row  *PstnCallLogRow
	st   *pstnStore
	seen uint32
	beta bool
}

func (p *pstnParser) property(name, val string, plain bool) *RowError {
	idx := pstnFieldIndex(name, p.beta)
	if idx < 0 {
		return addUnknown(&p.row.AdditionalProperties, name, val)
	}
	if p.seen&(1<<idx) != 0 {
		return &RowError{Field: name, Reason: "duplicate property"}
	}
	p.seen |= 1 << idx
	return p.setField(idx, name, val, plain)
}

func (p *pstnParser) setField(idx int, name, val string, plain bool) *RowError {
	row, st := p.row, p.st
	var rerr *RowError
	switch idx {
	case pstnID:
		row.ID, rerr = requiredString(name, val, plain)
	case pstnCallID:
		row.CallID, rerr = optKeyString(&st.strs[0], name, val, plain)
	case pstnUserID:
		row.UserID, rerr = optString(&st.strs[1], name, val, plain)
	case pstnUserPrincipalName:
		row.UserPrincipalName, rerr = optString(&st.strs[2], name, val, plain)
	case pstnUserDisplayName:
		row.UserDisplayName, rerr = optString(&st.strs[3], name, val, plain)
	case pstnStartDateTime:
		row.StartDateTime, rerr = optTime(&st.times[0], name, val, plain)
	case pstnEndDateTime:
		row.EndDateTime, rerr = optTime(&st.times[1], name, val, plain)
	case pstnDuration:
		row.Duration, rerr = optInt(&st.ints[0], name, val)
	case pstnCharge:
		row.Charge, rerr = optDecimal(&st.decs[0], name, val)
	case pstnCallType:
		row.CallType, rerr = optString(&st.strs[4], name, val, plain)
	case pstnCurrency:
		row.Currency, rerr = optString(&st.strs[5], name, val, plain)
	case pstnCalleeNumber:
		row.CalleeNumber, rerr = optString(&st.strs[6], name, val, plain)
	case pstnUsageCountryCode:
		row.UsageCountryCode, rerr = optString(&st.strs[7], name, val, plain)
	case pstnTenantCountryCode:
		row.TenantCountryCode, rerr = optString(&st.strs[8], name, val, plain)
	case pstnConnectionCharge:
		row.ConnectionCharge, rerr = optDecimal(&st.decs[1], name, val)
	case pstnCallerNumber:
		row.CallerNumber, rerr = optString(&st.strs[9], name, val, plain)
	case pstnDestinationContext:
		row.DestinationContext, rerr = optString(&st.strs[10], name, val, plain)
	case pstnDestinationName:
		row.DestinationName, rerr = optString(&st.strs[11], name, val, plain)
	case pstnConferenceID:
		row.ConferenceID, rerr = optString(&st.strs[12], name, val, plain)
	case pstnLicenseCapability:
		row.LicenseCapability, rerr = optString(&st.strs[13], name, val, plain)
	case pstnInventoryType:
		row.InventoryType, rerr = optString(&st.strs[14], name, val, plain)
	case pstnOperator:
		row.Operator, rerr = optString(&st.strs[15], name, val, plain)
	case pstnCallDurationSource:
		row.CallDurationSource, rerr = optString(&st.strs[16], name, val, plain)
	case pstnOtherPartyCountryCode:
		row.OtherPartyCountryCode, rerr = optString(&st.strs[17], name, val, plain)
	case pstnClientLocalIPv4Address:
		row.ClientLocalIPv4Address, rerr = optString(&st.strs[18], name, val, plain)
	case pstnClientLocalIPv6Address:
		row.ClientLocalIPv6Address, rerr = optString(&st.strs[19], name, val, plain)
	case pstnClientPublicIPv4Address:
		row.ClientPublicIPv4Address, rerr = optString(&st.strs[20], name, val, plain)
	case pstnClientPublicIPv6Address:
		row.ClientPublicIPv6Address, rerr = optString(&st.strs[21], name, val, plain)
	case pstnAdministrativeUnitInfos:
		row.AdministrativeUnitInfos, rerr = optUnitInfos(&row.AdditionalProperties, name, val)
	default:
		panic(fmt.Sprintf("schemas: no setter for PSTN field index %d", idx))
	}
	return rerr
}

// avroPstnRow is the shape hamba encodes for both PSTN schemas; see avroRow.
//
// Charges are the decimal's raw bytes (big-endian two's complement of the
// unscaled value), converted by this package, rather than the *big.Rat
// hamba maps to the decimal logical type: hamba v2.31 decodes a nullable
// decimal into a *big.Rat by writing a pointer over the Rat's first word,
// which loses the value and corrupts memory. hamba leaves a []byte alone
// whatever the logical type, and nil is null.
type avroPstnRow struct {
	ID                      string                    `avro:"id"`
	CallID                  *string                   `avro:"callId"`
	UserID                  *string                   `avro:"userId"`
	UserPrincipalName       *string                   `avro:"userPrincipalName"`
	UserDisplayName         *string                   `avro:"userDisplayName"`
	StartDateTime           *time.Time                `avro:"startDateTime"`
	EndDateTime             *time.Time                `avro:"endDateTime"`
	Duration                *int32                    `avro:"duration"`
	Charge                  []byte                    `avro:"charge"`
	CallType                *string                   `avro:"callType"`
	Currency                *string                   `avro:"currency"`
	CalleeNumber            *string                   `avro:"calleeNumber"`
	UsageCountryCode        *string                   `avro:"usageCountryCode"`
	TenantCountryCode       *string                   `avro:"tenantCountryCode"`
	ConnectionCharge        []byte                    `avro:"connectionCharge"`
	CallerNumber            *string                   `avro:"callerNumber"`
	DestinationContext      *string                   `avro:"destinationContext"`
	DestinationName         *string                   `avro:"destinationName"`
	ConferenceID            *string                   `avro:"conferenceId"`
	LicenseCapability       *string                   `avro:"licenseCapability"`
	InventoryType           *string                   `avro:"inventoryType"`
	Operator                *string                   `avro:"operator"`
	CallDurationSource      *string                   `avro:"callDurationSource"`
	OtherPartyCountryCode   *string                   `avro:"otherPartyCountryCode"`
	ClientLocalIPv4Address  *string                   `avro:"clientLocalIpV4Address"`
	ClientLocalIPv6Address  *string                   `avro:"clientLocalIpV6Address"`
	ClientPublicIPv4Address *string                   `avro:"clientPublicIpV4Address"`
	ClientPublicIPv6Address *string                   `avro:"clientPublicIpV6Address"`
	AdministrativeUnitInfos *[]AdministrativeUnitInfo `avro:"administrativeUnitInfos"`
	AdditionalProperties    *map[string]string        `avro:"additionalProperties"`
}

// AppendAvro appends the Avro binary encoding of r with PstnSchema (v1.0)
// to dst, like DirectRoutingLogRow.AppendAvro: timestamps truncated to
// milliseconds, no framing, an error if a beta-only field is set. Charges
// are written exactly. It is safe for concurrent use.
func (r *PstnCallLogRow) AppendAvro(dst []byte) ([]byte, error) {
	if name := r.betaFieldSet(); name != "" {
		return dst, fmt.Errorf("encode avro row: beta-only property %s is set; encode with AppendAvroBeta", name)
	}
	return r.appendAvro(dst, pstnSchema)
}

// AppendAvroBeta is AppendAvro with PstnBetaSchema, which also carries the
// beta-only properties.
func (r *PstnCallLogRow) AppendAvroBeta(dst []byte) ([]byte, error) {
	return r.appendAvro(dst, pstnBetaSchema)
}

func (r *PstnCallLogRow) betaFieldSet() string {
	switch {
	case r.OtherPartyCountryCode != nil:
		return "otherPartyCountryCode"
	case r.ClientLocalIPv4Address != nil:
		return "clientLocalIpV4Address"
	case r.ClientLocalIPv6Address != nil:
		return "clientLocalIpV6Address"
	case r.ClientPublicIPv4Address != nil:
		return "clientPublicIpV4Address"
	case r.ClientPublicIPv6Address != nil:
		return "clientPublicIpV6Address"
	case r.AdministrativeUnitInfos != nil:
		return "administrativeUnitInfos"
	}
	return ""
}

func (r *PstnCallLogRow) appendAvro(dst []byte, schema avro.Schema) ([]byte, error) {
	return appendPstn(dst, r, schema == pstnBetaSchema), nil
}

// DecodePstnCallRow decodes one Avro binary PstnCallLogRow written with
// PstnSchema (as by AppendAvro) into row, replacing its contents, with
// DecodeDirectRoutingRow's strictness. Charges come back exactly.
func DecodePstnCallRow(data []byte, row *PstnCallLogRow) error {
	return decodePstn(data, pstnSchema, row)
}

// DecodePstnCallRowBeta is DecodePstnCallRow for a record written with
// PstnBetaSchema (as by AppendAvroBeta).
func DecodePstnCallRowBeta(data []byte, row *PstnCallLogRow) error {
	return decodePstn(data, pstnBetaSchema, row)
}

func decodePstn(data []byte, schema avro.Schema, row *PstnCallLogRow) error {
	var a avroPstnRow
	if err := decodeExact(data, schema, &a); err != nil {
		return err
	}
	out := PstnCallLogRow{
		ID:                      a.ID,
		CallID:                  a.CallID,
		UserID:                  a.UserID,
		UserPrincipalName:       a.UserPrincipalName,
		UserDisplayName:         a.UserDisplayName,
		StartDateTime:           a.StartDateTime,
		EndDateTime:             a.EndDateTime,
		Duration:                a.Duration,
		CallType:                a.CallType,
		Currency:                a.Currency,
		CalleeNumber:            a.CalleeNumber,
		UsageCountryCode:        a.UsageCountryCode,
		TenantCountryCode:       a.TenantCountryCode,
		CallerNumber:            a.CallerNumber,
		DestinationContext:      a.DestinationContext,
		DestinationName:         a.DestinationName,
		ConferenceID:            a.ConferenceID,
		LicenseCapability:       a.LicenseCapability,
		InventoryType:           a.InventoryType,
		Operator:                a.Operator,
		CallDurationSource:      a.CallDurationSource,
		OtherPartyCountryCode:   a.OtherPartyCountryCode,
		ClientLocalIPv4Address:  a.ClientLocalIPv4Address,
		ClientLocalIPv6Address:  a.ClientLocalIPv6Address,
		ClientPublicIPv4Address: a.ClientPublicIPv4Address,
		ClientPublicIPv6Address: a.ClientPublicIPv6Address,
	}
	for _, c := range [...]struct {
		name string
		in   []byte
		out  **Decimal
	}{{"charge", a.Charge, &out.Charge}, {"connectionCharge", a.ConnectionCharge, &out.ConnectionCharge}} {
		if c.in == nil {
			continue
		}
		d, err := decimalFromAvroBytes(c.in)
		if err != nil {
			return fmt.Errorf("decode avro row: %s: %w", c.name, err)
		}
		*c.out = &d
	}
	if a.AdministrativeUnitInfos != nil {
		out.AdministrativeUnitInfos = *a.AdministrativeUnitInfos
		if out.AdministrativeUnitInfos == nil {
			out.AdministrativeUnitInfos = []AdministrativeUnitInfo{}
		}
	}
	if a.AdditionalProperties != nil {
		out.AdditionalProperties = *a.AdditionalProperties
	}
	*row = out
	return nil
}
