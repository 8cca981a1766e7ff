package pipeline

import (
	"net"
	"strings"
)

// RawOps holds the settings of the metrics and health endpoints. The
// binary serves nothing unless METRICS_ADDR is set, so that tools and tests
// running it side by side never fight over a port; the container image sets
// it to :8080.
type RawOps struct {
	MetricsAddr      string `env:"METRICS_ADDR"`
	ReadyStallFactor string `env:"READY_STALL_FACTOR, default=3"`
	Pprof            string `env:"METRICS_PPROF, default=false"`
}

// OpsConfig is where /metrics, /healthz and /readyz are served and what
// readiness demands.
type OpsConfig struct {
	// MetricsAddr is the listen address of run; "" serves nothing.
	MetricsAddr string
	// ReadyStallFactor: /readyz fails once a due window has waited more than
	// this many POLL_INTERVALs with no window or rescan completing.
	ReadyStallFactor int
	// Pprof serves Go's profiles under /debug/pprof/ beside /metrics.
	Pprof bool
}

func (r RawOps) parse(p *problems) OpsConfig {
	var c OpsConfig
	switch addr := strings.TrimSpace(r.MetricsAddr); addr {
	case "off", "":
	default:
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			p.add("METRICS_ADDR %q: want host:port or :port (such as :8080), or off", r.MetricsAddr)
		} else {
			c.MetricsAddr = addr
		}
	}
	c.ReadyStallFactor = parsePositiveInt(p, "READY_STALL_FACTOR", r.ReadyStallFactor)
	c.Pprof = parseBool(p, "METRICS_PPROF", r.Pprof)
	if c.Pprof && c.MetricsAddr == "" {
		p.add("METRICS_PPROF=true serves profiles on the METRICS_ADDR listener: set METRICS_ADDR too")
	}
	return c
}
