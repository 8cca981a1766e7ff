package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	app "github.com/callstream/callstream/pipeline"
)

// The metrics and health endpoints of run: /metrics, /healthz and /readyz
// on METRICS_ADDR. What they report is the pipeline's; serving it is the
// process's.

// readyTimeout bounds one /readyz answer; kubelet's default probe timeout
// is 1 s, so deployments set timeoutSeconds above this.
const readyTimeout = 4 * time.Second

// handleReady is readiness: the pipeline's checks, one line each, with
// 503 when one fails.
func handleReady(p *app.Pipeline) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
		defer cancel()
		lines, ok := p.Ready(ctx)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(strings.Join(lines, "\n") + "\n"))
	}
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

// startOps listens on addr and serves p's metrics and readiness until
// close. The caller owns the server and must call close.
func startOps(addr string, pprof bool, p *app.Pipeline, log *slog.Logger) (*opsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics and health (METRICS_ADDR): %w", err)
	}
	mux := http.NewServeMux()
	reg := p.Registry()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", handleHealth)
	mux.HandleFunc("GET /readyz", handleReady(p))
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
