package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/callstream/callstream/fetch"
)

// readiness decides /readyz: a Graph token can be had, Kafka answers, and
// the walk is not stuck. The pieces arrive one by one as run wires them;
// until each is there, the process is not ready and says what it waits for.
type readiness struct {
	walkCfg WalkConfig
	// stall is how long a due window may wait, with nothing completing,
	// before the walk counts as stuck: READY_STALL_FACTOR × POLL_INTERVAL.
	stall time.Duration
	// maxFailures is MAX_WINDOW_FAILURES: from this many windows failed in
	// a row, the walk keeps retrying but is not ready.
	maxFailures int
	now         func() time.Time
	log         *slog.Logger

	mu     sync.Mutex
	tokens fetch.TokenSource
	kafka  *kgo.Client
	walks  []*walkView
	// fleet, in a fleet, adds its notes (tenants down, buckets owned) and
	// replaces the one-tenant token check.
	fleet func(ctx context.Context, r *readiness, report func(string, error), note func(string))
	// ready is the previous verdict (nil before the first), so that a
	// change is logged once rather than on every probe.
	ready *bool
}

func newReadiness(cfg Config, log *slog.Logger) *readiness {
	return &readiness{
		walkCfg:     cfg.Walk,
		stall:       time.Duration(cfg.Ops.ReadyStallFactor) * cfg.Walk.PollInterval,
		maxFailures: cfg.Walk.MaxFailures,
		now:         time.Now,
		log:         log,
	}
}

func (r *readiness) setTokens(t fetch.TokenSource) { r.mu.Lock(); r.tokens = t; r.mu.Unlock() }
func (r *readiness) setKafka(c *kgo.Client)        { r.mu.Lock(); r.kafka = c; r.mu.Unlock() }
func (r *readiness) addWalk(v *walkView)           { r.mu.Lock(); r.walks = append(r.walks, v); r.mu.Unlock() }

// removeWalk forgets a fleet's lane that stopped.
func (r *readiness) removeWalk(v *walkView) {
	r.mu.Lock()
	r.walks = slices.DeleteFunc(r.walks, func(w *walkView) bool { return w == v })
	r.mu.Unlock()
}

// setFleet makes the checks a fleet's.
func (r *readiness) setFleet(f func(context.Context, *readiness, func(string, error), func(string))) {
	r.mu.Lock()
	r.fleet = f
	r.mu.Unlock()
}

// check runs every readiness check and returns one line per check, and
// whether all passed.
func (r *readiness) check(ctx context.Context) ([]string, bool) {
	r.mu.Lock()
	tokens, kafka, walks, fleet := r.tokens, r.kafka, slices.Clone(r.walks), r.fleet
	r.mu.Unlock()

	var lines []string
	ok := true
	report := func(name string, err error) {
		if err != nil {
			ok = false
			lines = append(lines, "FAIL "+name+": "+err.Error())
			return
		}
		lines = append(lines, "ok   "+name)
	}
	note := func(line string) { lines = append(lines, "note "+line) }
	switch {
	case fleet != nil:
		// Each tenant has its own token; fleet notes the tenants down.
		fleet(ctx, r, report, note)
	case tokens == nil:
		report("graph token", fmt.Errorf("not set up yet"))
	default:
		_, err := tokens.Token(ctx)
		report("graph token", err)
	}
	switch {
	case kafka == nil:
		report("kafka", fmt.Errorf("not connected yet"))
	default:
		report("kafka", kafka.Ping(ctx))
	}
	if len(walks) == 0 && fleet == nil {
		report("walk", fmt.Errorf("not started yet"))
	}
	for _, wv := range walks {
		name := "walk " + wv.source
		if wv.tenant != "" {
			name += " of tenant " + wv.tenant
			if why, _ := wv.down(); why != "" {
				continue // noted as a tenant down
			}
		}
		if wv.walker.Load() == nil {
			report(name, fmt.Errorf("not started yet"))
			continue
		}
		err := errors.Join(r.failing(wv), r.stuck(wv))
		if wv.tenant != "" && err == nil {
			continue // a fleet lists its lanes only when they fail
		}
		report(name, err)
	}
	return lines, ok
}

// failing reports a walk whose windows keep failing: it retries for ever
// in continuous mode, so the probe is where an operator learns why. The
// error is redacted: /readyz is served without authentication.
func (r *readiness) failing(v *walkView) error {
	n, err := v.walker.Load().Failing()
	if n == 0 || n < r.maxFailures || err == nil {
		return nil
	}
	return fmt.Errorf("%d windows failed in a row (MAX_WINDOW_FAILURES=%d); retrying; last error: %s",
		n, r.maxFailures, redactError(err.Error()))
}

// stuck reports a walk that is behind and not moving: a window has been due
// for longer than the stall limit and no window or rescan completed within
// it. A walk that is merely behind (catching up, or backfilling) completes
// windows and stays ready; an idle walk has nothing due and stays ready.
func (r *readiness) stuck(v *walkView) error {
	w := v.walker.Load()
	now := r.now()
	from := w.Watermark()
	if from.IsZero() {
		from = v.start
	}
	to := from.Add(r.walkCfg.Window)
	if end := r.walkCfg.End; !end.IsZero() {
		if !from.Before(end) {
			return nil // walked to END_TIME: nothing will be due again
		}
		if to.After(end) {
			to = end
		}
	}
	dueAt := to.Add(r.walkCfg.SettleDelay)
	overdue := now.Sub(dueAt)
	if overdue <= r.stall {
		return nil
	}
	last := w.LastProgress()
	if last.IsZero() {
		last = v.began
	}
	idle := now.Sub(last)
	if idle <= r.stall {
		return nil
	}
	return fmt.Errorf("window [%s, %s) has been due for %s and no window or rescan completed for %s (limit %s = READY_STALL_FACTOR × POLL_INTERVAL)",
		fmtTime(from), fmtTime(to), overdue.Round(time.Second), idle.Round(time.Second), r.stall)
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// report runs check and logs a change of verdict once rather than on
// every probe.
func (r *readiness) report(ctx context.Context) ([]string, bool) {
	lines, ok := r.check(ctx)
	r.mu.Lock()
	changed := r.ready == nil || *r.ready != ok
	r.ready = &ok
	r.mu.Unlock()
	if changed {
		if ok {
			r.log.Info("ready")
		} else {
			r.log.Warn("not ready", "checks", strings.Join(lines, "; "))
		}
	}
	return lines, ok
}
