// Package checkpoint persists how far each source's walk has got: the
// watermark below which every window is published, and the row ids
// published from the windows that may still be re-read for late rows.
//
// Two stores, one per delivery guarantee: FileStore is a Saver, written
// after the rows a state describes are acknowledged (at-least-once);
// KafkaStore is a Stager, written as records in the same Kafka transaction
// as those rows (exactly-once). Neither runs ahead of Kafka by itself: the
// walker saves or stages a state only with everything it claims.
package checkpoint

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// State is one source's progress.
type State struct {
	// Watermark is the end of the last window that was published whole;
	// every call that started before it and was visible when its window was
	// read is in Kafka. Zero means nothing has been published yet.
	Watermark time.Time
	// Windows are the windows still inside the rescan horizon, oldest
	// first, with the ids published from each. Older windows are dropped:
	// they will not be read again, so their ids need not be remembered.
	Windows []Window
}

// Window is a half-open range [From, To) of call start times that was read.
type Window struct {
	From, To time.Time
	// ReadAt is when the latest complete read of the window began. A rescan
	// is due when the window reaches an age it had not reached at ReadAt.
	ReadAt time.Time
	// IDs are the row ids published from this window, in no special order.
	IDs []string
}

// Validate reports a state that cannot have been written by a walker.
func (s State) Validate() error {
	for i, w := range s.Windows {
		if !w.From.Before(w.To) {
			return fmt.Errorf("window %d: from %s is not before to %s", i, w.From, w.To)
		}
		if i > 0 && w.From.Before(s.Windows[i-1].To) {
			return fmt.Errorf("window %d: [%s, %s) overlaps or precedes the window before it", i, w.From, w.To)
		}
	}
	return nil
}

// ClockSkew is how far beyond this machine's clock a saved instant may lie
// and still be trusted: the clocks of the machines that saved and that load
// a checkpoint can disagree by a little, never by more than minutes.
const ClockSkew = 5 * time.Minute

// FutureError reports a state that claims progress beyond now: a watermark,
// or a remembered window's end, later than now plus ClockSkew. A walker
// never writes one (Invariant 1: the checkpoint never runs ahead of Kafka —
// nor of time), so it came from a bad reset, a hand edit or a wrong clock;
// trusting it would skip every call up to it silently.
type FutureError struct {
	// What names the instant: "watermark" or "window [from, to)".
	What string
	// At is the instant in the future.
	At time.Time
	// Now is the clock it was compared with.
	Now time.Time
}

func (e *FutureError) Error() string {
	return fmt.Sprintf("%s %s is in the future (now %s, clock skew allowed %s): every call before it would be skipped silently",
		e.What, e.At.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339), ClockSkew)
}

// CheckTime reports, as a *FutureError, a state that claims progress beyond
// now (plus ClockSkew). It is the one place that decides whether a saved
// state is ahead of time: the walker calls it before trusting a loaded state
// (either store), and the checkpoint commands and check call it too. The
// stores themselves do not, so that such a state can still be shown and
// reset.
func (s State) CheckTime(now time.Time) error {
	limit := now.Add(ClockSkew)
	if s.Watermark.After(limit) {
		return &FutureError{What: "watermark", At: s.Watermark, Now: now}
	}
	for _, w := range s.Windows {
		if w.To.After(limit) {
			return &FutureError{What: fmt.Sprintf("remembered window [%s, %s)",
				w.From.UTC().Format(time.RFC3339), w.To.UTC().Format(time.RFC3339)), At: w.To, Now: now}
		}
	}
	return nil
}

// Clone returns a deep copy, so a caller can keep mutating its state while a
// saved copy is being written.
func (s State) Clone() State {
	c := State{Watermark: s.Watermark, Windows: make([]Window, len(s.Windows))}
	for i, w := range s.Windows {
		w.IDs = slices.Clone(w.IDs)
		c.Windows[i] = w
	}
	return c
}

// Upsert records a completed read of w: it replaces the window with the same
// range or inserts it in order.
func (s *State) Upsert(w Window) {
	i := sort.Search(len(s.Windows), func(i int) bool { return !s.Windows[i].From.Before(w.From) })
	if i < len(s.Windows) && s.Windows[i].From.Equal(w.From) && s.Windows[i].To.Equal(w.To) {
		s.Windows[i] = w
		return
	}
	s.Windows = append(s.Windows, Window{})
	copy(s.Windows[i+1:], s.Windows[i:])
	s.Windows[i] = w
}

// Evict drops windows that ended before cutoff.
func (s *State) Evict(cutoff time.Time) {
	n := 0
	for _, w := range s.Windows {
		if !w.To.Before(cutoff) {
			s.Windows[n] = w
			n++
		}
	}
	clear(s.Windows[n:])
	s.Windows = s.Windows[:n]
}

// Loader reads State per source. Both stores implement it; read-only
// commands (show, plan, check) need nothing more.
type Loader interface {
	// Load returns the saved state of source; a source never saved yields
	// the zero State and a nil error. A state that cannot be read back is
	// an error, never a silent reset: a reset would republish history.
	Load(ctx context.Context, source string) (State, error)
}

// Saver is a store written on its own, after the rows a state describes
// are acknowledged: at-least-once, since a crash between the
// acknowledgement and the save publishes those rows again. FileStore
// implements it. Implementations are safe for concurrent use by different
// sources.
type Saver interface {
	Loader
	// Save durably replaces the state of source. When Save returns nil the
	// state survives a crash of the process or the machine.
	Save(ctx context.Context, source string, st State) error
}

// Stager is a store written inside the producer's Kafka transaction, as
// records committed together with the rows they describe: exactly-once.
// KafkaStore implements it; it has no Save, since a state written outside
// a transaction could claim rows that were never committed.
// Implementations are safe for concurrent use by different sources.
type Stager interface {
	Loader
	// Stage returns the records that turn the persisted state of source
	// into st, to be produced in the transaction that carries st's rows.
	// Load must have been called first.
	Stage(source string, st State) ([]*kgo.Record, error)
	// Committed records that the last Stage of source is committed. After
	// a failed transaction call Load instead, to re-read the truth.
	Committed(source string)
}

// CorruptError is returned when a saved checkpoint exists but cannot be
// trusted. It is never handled by starting over.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint %s is corrupt: %s (fix or move the file; callstream will not guess)", e.Path, e.Reason)
}
