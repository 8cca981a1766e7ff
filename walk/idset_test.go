package walk

import (
	"encoding/hex"
	"testing"
)

func TestIDSetIsExact(t *testing.T) {
	s := newIDSet(0)
	ids := []string{
		"0b2e7a4c-93f1-4d2e-8a6b-1c3d5e7f9a0b",
		"0B2E7A4C-93F1-4D2E-8A6B-1C3D5E7F9A0B", // another id, not the same GUID
		"0b2e7a4c93f14d2e8a6b1c3d5e7f9a0b",
		"dlq:0b2e7a4c93f14d2e8a6b1c3d5e7f9a0b",
		"not-a-guid",
		"",
	}
	for i, id := range ids {
		if s.has(id) {
			t.Fatalf("%q present before it was added", id)
		}
		s.add(id)
		if !s.has(id) || s.len() != i+1 {
			t.Fatalf("after adding %q: has %v len %d, want true %d", id, s.has(id), s.len(), i+1)
		}
	}
	for i, id := range ids {
		s.remove(id)
		if s.has(id) || s.len() != len(ids)-i-1 {
			t.Fatalf("after removing %q: has %v len %d", id, s.has(id), s.len())
		}
	}
	if g, ok := packGUID(ids[0]); !ok || g[0] != 0x0b || g[15] != 0x0b {
		t.Fatalf("packGUID(%q) = %x, %v", ids[0], g, ok)
	}
}

// FuzzPackGUID checks that packGUID accepts exactly the canonical
// lowercase spelling of a GUID and packs it one-to-one: formatting the 16
// bytes gives back the text.
func FuzzPackGUID(f *testing.F) {
	for _, s := range []string{
		"0b2e7a4c-93f1-4d2e-8a6b-1c3d5e7f9a0b", "0B2E7A4C-93F1-4D2E-8A6B-1C3D5E7F9A0B",
		"0b2e7a4c-93f1-4d2e-8a6b-1c3d5e7f9a0g", "0b2e7a4c+93f1-4d2e-8a6b-1c3d5e7f9a0b",
		"0b2e7a4c-93f1-4d2e-8a6b-1c3d5e7f9a0", "ffffffff-ffff-ffff-ffff-ffffffffffff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, ok := packGUID(s)
		canonical := len(s) == 36
		for i := 0; i < len(s) && canonical; i++ {
			c := s[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				canonical = c == '-'
			} else {
				canonical = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
			}
		}
		if ok != canonical {
			t.Fatalf("packGUID(%q) ok = %v, canonical = %v", s, ok, canonical)
		}
		if ok {
			h := hex.EncodeToString(g[:])
			if back := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]; back != s {
				t.Fatalf("packGUID(%q) = %x, which formats as %q", s, g, back)
			}
		}
	})
}
