package pipeline

import (
	"fmt"
	"io"
	"time"

	"github.com/callstream/callstream/checkpoint"
)

// What checkpoint show and reset make of a saved state, computed apart from
// the printing so that the figures are the same in text and JSON.

// CheckpointSummary is what checkpoint show says about one source's
// state; it is also its JSON form.
type CheckpointSummary struct {
	Source    string     `json:"source"`
	Watermark *time.Time `json:"watermark"`
	// Windows are the completed windows remembered for rescans.
	Windows     int        `json:"rememberedWindows"`
	IDs         int        `json:"rememberedIds"`
	OldestFrom  *time.Time `json:"oldestWindowFrom,omitempty"`
	NewestTo    *time.Time `json:"newestWindowTo,omitempty"`
	InFlight    *Window    `json:"inFlight,omitempty"`
	InFlightIDs int        `json:"inFlightIds,omitempty"`
	// Invalid says why run refuses this state (it claims progress beyond
	// now), or is empty.
	Invalid string `json:"invalid,omitempty"`
}

// Window is a window of a summary: [From, To).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Summarize describes source's state st as of now.
func Summarize(source string, st checkpoint.State, now time.Time) CheckpointSummary {
	s := CheckpointSummary{Source: source}
	if err := st.CheckTime(now); err != nil {
		s.Invalid = err.Error()
	}
	if !st.Watermark.IsZero() {
		wm := st.Watermark
		s.Watermark = &wm
	}
	for _, w := range st.Windows {
		if w.To.After(st.Watermark) {
			// Ids of a window that failed midway: acknowledged rows a retry
			// will skip.
			s.InFlight = &Window{From: w.From, To: w.To}
			s.InFlightIDs += len(w.IDs)
			continue
		}
		if s.OldestFrom == nil {
			from := w.From
			s.OldestFrom = &from
		}
		to := w.To
		s.NewestTo = &to
		s.Windows++
		s.IDs += len(w.IDs)
	}
	return s
}

// WriteText writes the summary as `callstream checkpoint show` prints it,
// where being where the state is kept.
func (s CheckpointSummary) WriteText(w io.Writer, where string, now time.Time) error {
	fmt.Fprintf(w, "checkpoint %s\nsource     %s\n", where, s.Source)
	if s.Watermark == nil {
		fmt.Fprintln(w, "watermark  none: nothing published yet; run starts at START_TIME")
	} else if age := now.Sub(*s.Watermark); age >= 0 {
		fmt.Fprintf(w, "watermark  %s (%s ago): every call that started before it is in Kafka\n",
			fmtTime(*s.Watermark), age.Round(time.Second))
	} else if -age <= checkpoint.ClockSkew {
		// Never a negative age: ahead by less than the skew allowance is
		// another machine's clock, and said so.
		fmt.Fprintf(w, "watermark  %s (%s ahead of this machine's clock, within the %s allowed for clock skew)\n",
			fmtTime(*s.Watermark), (-age).Round(time.Second), checkpoint.ClockSkew)
	} else {
		fmt.Fprintf(w, "watermark  %s: IN THE FUTURE, invalid\n", fmtTime(*s.Watermark))
	}
	if s.Windows > 0 {
		fmt.Fprintf(w, "rescans    %d windows remembered in [%s, %s), %d row ids kept to skip rows published already\n",
			s.Windows, fmtTime(*s.OldestFrom), fmtTime(*s.NewestTo), s.IDs)
	} else {
		fmt.Fprintln(w, "rescans    no window remembered")
	}
	if s.InFlight != nil {
		fmt.Fprintf(w, "in flight  [%s, %s) failed midway; %d acknowledged row ids will be skipped when it is read again\n",
			fmtTime(s.InFlight.From), fmtTime(s.InFlight.To), s.InFlightIDs)
	}
	if s.Invalid != "" {
		_, err := fmt.Fprintf(w, "INVALID    %s;\n           run refuses it: repair with callstream checkpoint reset --source %s --to TIME --yes,\n"+
			"           TIME the last call start time known to be in Kafka\n", s.Invalid, s.Source)
		return err
	}
	return nil
}

// ResetPlan is what a reset will do, computed before anything changes.
type ResetPlan struct {
	From, To time.Time // old watermark (zero if none) and new one
	// Snapped: the time asked fell inside a remembered window and was
	// moved to its start, so that the window keeps its rescans.
	Snapped   bool
	Asked     time.Time
	Forward   bool // the watermark moves forward: calls are skipped for good
	Forgotten int  // windows forgotten
	IDs       int  // row ids forgotten: those rows will be published again
	Next      checkpoint.State
}

// PlanReset computes the state after moving the watermark of st to t.
func PlanReset(st checkpoint.State, t time.Time) ResetPlan {
	p := ResetPlan{From: st.Watermark, To: t, Asked: t}
	for _, w := range st.Windows {
		if w.From.Before(t) && w.To.After(t) {
			p.To, p.Snapped = w.From, true
		}
	}
	p.Forward = st.Watermark.IsZero() || p.To.After(st.Watermark)
	p.Next.Watermark = p.To
	for _, w := range st.Windows {
		// Forgotten: windows the new watermark puts ahead, and the ids of
		// a window in flight (a reset makes its partial read meaningless).
		if w.To.After(p.To) || w.To.After(st.Watermark) {
			p.Forgotten++
			p.IDs += len(w.IDs)
			continue
		}
		p.Next.Windows = append(p.Next.Windows, w)
	}
	return p
}
