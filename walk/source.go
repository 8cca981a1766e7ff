package walk

import (
	"fmt"
	"unsafe"

	"github.com/callstream/callstream/fetch"
	"github.com/callstream/callstream/internal/jsonscan"
	"github.com/callstream/callstream/schemas"
	"github.com/callstream/callstream/sources"
)

// For returns the Source that reads src's Graph function in API version
// version and encodes its rows with that version's schema. A sources.Log
// is walked by time windows, a sources.Aggregate by UTC days (see
// aggregate.go), a sources.Records by time windows of whole records, new
// per version (records.go); any other kind is refused rather than walked
// as one.
func For(src sources.Source, version string) (Source, error) {
	if src.Kind != sources.Log && src.Kind != sources.Aggregate && src.Kind != sources.Records {
		return Source{}, fmt.Errorf("walk: source %s is a %v source, which the walker does not read", src.Name, src.Kind)
	}
	if !src.Offers(version) {
		return Source{}, fmt.Errorf("walk: source %s is not offered in Graph API version %q (want one of %v)", src.Name, version, src.Versions)
	}
	codec, err := schemas.For(src.Name, version)
	if err != nil {
		return Source{}, fmt.Errorf("walk: source %s: %w", src.Name, err)
	}
	if codec.Aggregate() != (src.Kind == sources.Aggregate) || codec.Records() != (src.Kind == sources.Records) {
		// The codec's key and the walk's dedup must agree on what a row is.
		return Source{}, fmt.Errorf("walk: source %s is a %v source but its codec says aggregate=%t, records=%t",
			src.Name, src.Kind, codec.Aggregate(), codec.Records())
	}
	return CodecSource(fetch.FunctionOf(src), codec), nil
}

// CodecSource adapts a schemas.Codec (any source, any API version) to a
// Source reading fn; an aggregate codec's Source is walked as one. Its
// records name the codec's tenant (schemas.Codec.WithTenant), unless
// WithTenant or Config.TenantID names another.
func CodecSource(fn fetch.Function, c *schemas.Codec) Source {
	return Source{
		Name:      c.Source(),
		Function:  fn,
		Aggregate: c.Aggregate(),
		Records:   c.Records(),
		Encode:    encodeWith(c),
		codec:     c,
	}
}

func encodeWith(c *schemas.Codec) func(raw []byte, scan []jsonscan.Member, dst []byte) (Encoded, error) {
	return func(raw []byte, scan []jsonscan.Member, dst []byte) (Encoded, error) {
		id, key, out, err := c.EncodeScanned(raw, scan, dst)
		if err != nil {
			return Encoded{}, err
		}
		return Encoded{ID: id, Key: keyBytes(key), Value: out}, nil
	}
}

// WithTenant returns s with every record it encodes naming tenantID, the
// Microsoft Entra tenant (directory) id the rows are read from, in its
// tenantId field; "" writes null. Graph's rows do not say which tenant
// they belong to, so the walk of one tenant's source stamps it. Only a
// Source made from a codec (For, CodecSource) can: for any other, a
// tenant is an error rather than records that silently name none.
func (s Source) WithTenant(tenantID string) (Source, error) {
	if s.codec == nil {
		if tenantID == "" {
			return s, nil
		}
		return s, fmt.Errorf("source %s has no schemas codec to stamp tenant %s with", s.Name, tenantID)
	}
	s.codec = s.codec.WithTenant(tenantID)
	s.Encode = encodeWith(s.codec)
	return s, nil
}

// TenantID returns the tenant id s's records name, or "" for none.
func (s Source) TenantID() string {
	if s.codec == nil {
		return ""
	}
	return s.codec.TenantID()
}

// tenantLen is the length of the tenantId field every value s encodes
// ends with, or 0 when s is not made from a codec.
func (s Source) tenantLen() int {
	if s.codec == nil {
		return 0
	}
	return len(schemas.TenantSuffix(s.codec.TenantID()))
}

// keyBytes views the record key without copying it (the walker copies it
// out of the row before the row's buffer is reused); the Kafka client only
// reads record keys. An empty key stays a non-nil empty slice, which Kafka
// tells apart from a null key.
func keyBytes(key string) []byte {
	if key == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(key), len(key))
}
