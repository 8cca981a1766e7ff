package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// check runs every readiness check and returns one line per check, and
// whether all passed.
func (r *readiness) check(ctx context.Context) ([]string, bool) {
	r.mu.Lock()
	tokens, kafka, walks := r.tokens, r.kafka, slices.Clone(r.walks)
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
	switch {
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
	if len(walks) == 0 {
		report("walk", fmt.Errorf("not started yet"))
	}
	for _, wv := range walks {
		name := "walk " + wv.source
		if wv.walker.Load() == nil {
			report(name, fmt.Errorf("not started yet"))
			continue
		}
		report(name, errors.Join(r.failing(wv), r.stuck(wv)))
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

// readyTimeout bounds one /readyz answer; kubelet's default probe timeout
// is 1 s, so deployments set timeoutSeconds above this.
const readyTimeout = 4 * time.Second

func (r *readiness) handleReady(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
	defer cancel()
	lines, ok := r.check(ctx)
	body := strings.Join(lines, "\n") + "\n"
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
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(body))
}

// handleHealth is liveness: the process answers. Nothing else belongs here:
// a failing liveness probe restarts the pod, which fixes neither Graph nor
// Kafka, and a restart would abandon the window in flight.
func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// opsServer serves /metrics, /healthz and /readyz on one listener.
type opsServer struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// startOps listens on addr and serves until close. The caller owns the
// server and must call close.
func startOps(addr string, pprof bool, m *metrics, r *readiness, log *slog.Logger) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics and health (METRICS_ADDR): %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", handleHealth)
	mux.HandleFunc("GET /readyz", r.handleReady)
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
	}
	s := &opsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after close
	}()
	log.Info("serving metrics and health", "addr", s.addr, "paths", "/metrics /healthz /readyz")
	return s, nil
}

// close stops the server, letting answers in progress finish for a moment.
func (s *opsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
