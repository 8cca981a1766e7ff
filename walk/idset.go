package walk

// idSet is the set of row ids the walker remembers. Graph's ids are GUIDs,
// so those are kept as 16 bytes instead of a 36-byte string plus its header
// (and without keeping alive the row text the string was cut from). The
// mapping is exact, never a hash: only the canonical lowercase form is
// packed, every other spelling stays a string, so two different ids can
// never share an entry and no row is ever dropped by a collision.
type idSet struct {
	guids map[[16]byte]struct{}
	other map[string]struct{}
}

// newIDSet returns an empty set with room for about n GUIDs.
func newIDSet(n int) *idSet {
	return &idSet{guids: make(map[[16]byte]struct{}, n), other: make(map[string]struct{})}
}

// idKey is an id as the set stores it, packed once per row however many
// sets it is looked up in.
type idKey struct {
	guid   [16]byte
	packed bool
	str    string
}

func keyOf(id string) idKey {
	g, ok := packGUID(id)
	if ok {
		return idKey{guid: g, packed: true}
	}
	return idKey{str: id}
}

func (s *idSet) has(id string) bool { return s.hasKey(keyOf(id)) }

func (s *idSet) add(id string) { s.addKey(keyOf(id)) }

func (s *idSet) hasKey(k idKey) bool {
	var found bool
	if k.packed {
		_, found = s.guids[k.guid]
	} else {
		_, found = s.other[k.str]
	}
	return found
}

func (s *idSet) addKey(k idKey) {
	if k.packed {
		s.guids[k.guid] = struct{}{}
	} else {
		s.other[k.str] = struct{}{}
	}
}

func (s *idSet) remove(id string) {
	if g, ok := packGUID(id); ok {
		delete(s.guids, g)
		return
	}
	delete(s.other, id)
}

func (s *idSet) len() int { return len(s.guids) + len(s.other) }

// packGUID packs a GUID written as 8-4-4-4-12 lowercase hex digits. Any
// other text, uppercase hex included, is refused, which keeps the packing
// one-to-one.
func packGUID(s string) (g [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	// Every row's id goes through here, on every read and rescan: a table
	// lookup per digit, with one check of all of them at the end.
	var bad byte
	for j, i := range guidDigits {
		hi, lo := lowerHex[s[i]], lowerHex[s[i+1]]
		bad |= hi | lo
		g[j] = hi<<4 | lo&0x0f
	}
	return g, bad&0xf0 == 0
}

// guidDigits are the offsets of the 16 digit pairs of a GUID's text.
var guidDigits = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// lowerHex maps '0'-'9' and 'a'-'f' to their value and every other byte to
// 0xff.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()
