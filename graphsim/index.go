package graphsim

// This file maps times to row indices and decides visibility. Every row's
// start lies in its own slot, so start times grow with the index and the
// rows of a window are found by division, never by scanning.

const (
	nsSecond = int64(1e9)
	nsMinute = 60 * nsSecond
	nsMilli  = int64(1e6)
	nsTick   = int64(100) // .NET DateTimeOffset resolution: 7 fractional digits

	blockShift = 12
	blockSize  = 1 << blockShift
	blockMask  = blockSize - 1
)

// slotStartResult is a row's start time and the fractional digits (0, 3 or
// 7) it is printed with; the time is always exact at that precision so the
// JSON and the ground truth agree.
type slotStartResult struct {
	ns     int64
	digits int
}

// floorDiv divides rounding toward minus infinity, as times before 1970 are
// negative.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ceilTo rounds t up to a multiple of unit.
func ceilTo(t, unit int64) int64 {
	return -floorDiv(-t, unit) * unit
}

// slotBounds returns row i's slot [lo, hi), the last slot clipped to End.
func (s *Server) slotBounds(i int) (lo, hi int64) {
	lo = s.t0 + int64(i)*s.step
	hi = lo + s.step
	if hi > s.end {
		hi = s.end
	}
	return lo, hi
}

// countRows counts the slots that can hold a row: a slot cut short by End
// may contain no representable (100ns) instant.
func (s *Server) countRows() int {
	n := floorDiv(s.end-s.t0+s.step-1, s.step)
	if n > 0 {
		lo, _ := s.slotBounds(int(n - 1))
		if ceilTo(lo, nsTick) >= s.end {
			n--
		}
	}
	return int(n)
}

// slotStart computes row i's start time. A slot containing a whole minute
// puts its row exactly on it, so clients' minute-aligned window boundaries
// always have a row sitting on them; other rows land at a hashed position,
// rounded to the precision the row will be printed with.
func (s *Server) slotStart(i int) slotStartResult {
	lo, hi := s.slotBounds(i)
	h := s.h(i, tagPrec)
	digits := 7
	switch h % 20 {
	case 0, 1, 2:
		digits = 0
	case 3, 4, 5, 6, 7, 8, 9, 10, 11:
		digits = 3
	}
	if m := ceilTo(lo, nsMinute); m < hi {
		return slotStartResult{m, digits}
	}
	pos := s.h(i, tagPos)
	for ; ; digits = nextDigits(digits) {
		unit := unitFor(digits)
		c := ceilTo(lo, unit)
		if c < hi || digits == 7 {
			count := uint64((hi-1-c)/unit) + 1
			return slotStartResult{c + int64(pos%count)*unit, digits}
		}
	}
}

func nextDigits(d int) int {
	if d == 0 {
		return 3
	}
	return 7
}

func unitFor(digits int) int64 {
	switch digits {
	case 0:
		return nsSecond
	case 3:
		return nsMilli
	}
	return nsTick
}

// firstAtOrAfter returns the index of the first row whose start is >= t, or
// Len() if there is none. Only the row in t's own slot needs looking at.
func (s *Server) firstAtOrAfter(t int64) int {
	if t <= s.t0 {
		return 0
	}
	if t >= s.end {
		return s.n
	}
	k := floorDiv(t-s.t0, s.step)
	if k >= int64(s.n) {
		return s.n
	}
	if s.slotStart(int(k)).ns >= t {
		return int(k)
	}
	return int(k) + 1
}

// indexRange returns the index range of rows whose start is in [from, to).
func (s *Server) indexRange(from, to int64) (lo, hi int) {
	lo, hi = s.firstAtOrAfter(from), s.firstAtOrAfter(to)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// isLate reports whether row i is one of the LateFraction rows.
func (s *Server) isLate(i int) bool {
	if s.lateAll {
		return true
	}
	return s.lateThresh != 0 && s.h(i, tagLate) < s.lateThresh
}

// delay returns how long after its start row i becomes visible.
func (s *Server) delay(i int) int64 {
	if s.isLate(i) {
		return s.dLate
	}
	return s.dNormal
}

// delayBounds returns the smallest and largest delay any row can have.
func (s *Server) delayBounds() (dMin, dMax int64) {
	switch {
	case s.lateAll:
		return s.dLate, s.dLate
	case s.lateThresh == 0:
		return s.dNormal, s.dNormal
	}
	return min(s.dNormal, s.dLate), max(s.dNormal, s.dLate)
}

// visPlan splits a query's index range [lo, hi) by visibility at one instant:
// [lo, zA) is all visible (old enough for either delay), [zA, zB) is the zone
// where only rows with the shorter delay are visible, and [zB, hi) is not
// visible yet.
type visPlan struct {
	lo, zA, zB  int
	lateVisible bool // in the zone, late rows are the visible ones
}

func (s *Server) plan(lo, hi int, now int64) visPlan {
	dMin, dMax := s.delayBounds()
	// A row is visible when start+delay <= now, i.e. start <= now-delay,
	// i.e. its index is below the first row starting after now-delay.
	z1 := s.firstAtOrAfter(satAdd(satAdd(now, -dMax), 1))
	z2 := s.firstAtOrAfter(satAdd(satAdd(now, -dMin), 1))
	clamp := func(v int) int { return min(max(v, lo), hi) }
	return visPlan{lo: lo, zA: clamp(z1), zB: clamp(z2), lateVisible: s.dLate < s.dNormal}
}

// total returns how many rows of the plan are visible.
func (p visPlan) total(s *Server) int {
	return (p.zA - p.lo) + s.zoneVisible(p.zA, p.zB, p.lateVisible)
}

// zoneVisible counts the visible rows in zone indices [a, b).
func (s *Server) zoneVisible(a, b int, lateVisible bool) int {
	if a >= b {
		return 0
	}
	late := s.countLate(a, b)
	if lateVisible {
		return late
	}
	return b - a - late
}

// countLate counts late rows in [a, b), using per-block counts so a zone of
// millions of rows costs thousands of steps after the first request.
func (s *Server) countLate(a, b int) int {
	switch {
	case a >= b || (!s.lateAll && s.lateThresh == 0):
		return 0
	case s.lateAll:
		return b - a
	}
	c := 0
	for ; a < b && a&blockMask != 0; a++ {
		if s.isLate(a) {
			c++
		}
	}
	for ; a+blockSize <= b; a += blockSize {
		c += s.lateInBlock(a >> blockShift)
	}
	for ; a < b; a++ {
		if s.isLate(a) {
			c++
		}
	}
	return c
}

// lateInBlock returns the number of late rows in block blk, memoised: it
// depends only on the seed, never on the clock.
func (s *Server) lateInBlock(blk int) int {
	s.blockMu.Lock()
	c, ok := s.lateBlocks[blk]
	s.blockMu.Unlock()
	if ok {
		return c
	}
	base := blk << blockShift
	for i := base; i < base+blockSize; i++ {
		if s.isLate(i) {
			c++
		}
	}
	s.blockMu.Lock()
	s.lateBlocks[blk] = c
	s.blockMu.Unlock()
	return c
}

// zoneSeek returns the index of the k-th (0-based) visible row in zone
// indices [a, b), or b if the zone has no more than k visible rows.
func (s *Server) zoneSeek(a, b, k int, lateVisible bool) int {
	for ; a < b && a&blockMask != 0; a++ {
		if s.isLate(a) == lateVisible {
			if k == 0 {
				return a
			}
			k--
		}
	}
	for ; a+blockSize <= b; a += blockSize {
		c := s.lateInBlock(a >> blockShift)
		if !lateVisible {
			c = blockSize - c
		}
		if k < c {
			break
		}
		k -= c
	}
	for ; a < b; a++ {
		if s.isLate(a) == lateVisible {
			if k == 0 {
				return a
			}
			k--
		}
	}
	return b
}

// pageIndices appends to dst the indices of the visible rows at positions
// [skip, skip+size) of the plan's visible sequence.
func (s *Server) pageIndices(dst []int, p visPlan, skip, size int) []int {
	var i int
	if prefix := p.zA - p.lo; skip < prefix {
		for i = p.lo + skip; i < p.zA && len(dst) < size; i++ {
			dst = append(dst, i)
		}
	} else {
		i = s.zoneSeek(p.zA, p.zB, skip-prefix, p.lateVisible)
	}
	for ; i < p.zB && len(dst) < size; i++ {
		if s.isLate(i) == p.lateVisible {
			dst = append(dst, i)
		}
	}
	return dst
}
