package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/testkit"

	"github.com/callstream/callstream/graphsim"
)

// hostileRun walks one simulated hour into a file checkpoint, then points
// GRAPH_BASE_URL at h and runs `run --once` over the hours after it. It
// returns the exit code, the output, the peak RSS in KiB and whether the
// checkpoint's watermark is still where the first run left it.
func hostileRun(t *testing.T, h *graphsim.Hostile, extra env) (code int, out string, maxRSS int64, cpSame bool) {
	t.Helper()
	end := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	start := end.Add(-time.Hour)
	p := newPipeline(t, graphsim.Config{Seed: 12, Start: start, End: end.Add(2 * time.Hour), RowsPerHour: 100, PageSize: 50})
	p.env["CHECKPOINT_STORE"] = "file"
	p.env["END_TIME"] = end.Format(time.RFC3339)
	if code := launch(t, p.env, nil, "run", "--once").Wait(t, time.Minute); code != 0 {
		t.Fatal("the first run, against the simulator, failed")
	}
	before := watermarkOf(t, p.env)
	if len(h.Rows) == 0 {
		// Valid rows of the hours walked, so that a page is refused for
		// what the test is about and not for its rows.
		for _, r := range p.sim.Rows(end, end.Add(time.Hour))[:2] {
			h.Rows = append(h.Rows, json.RawMessage(r.JSON))
		}
	}
	graphURL := testkit.Serve(t, h)
	p.env["GRAPH_BASE_URL"] = graphURL
	p.env["END_TIME"] = end.Add(2 * time.Hour).Format(time.RFC3339)
	p.env["GRAPH_MAX_ATTEMPTS"] = "1"
	for k, v := range extra {
		p.env[k] = v
	}
	run := launch(t, p.env, nil, "run", "--once")
	peak := testkit.WatchPeakRSS(run.Cmd.Process.Pid)
	code = run.Wait(t, 30*time.Second)
	maxRSS = peak()
	after := watermarkOf(t, p.env)
	out = run.Out.String()
	if strings.Contains(out, p.env["GRAPH_ACCESS_TOKEN"]) {
		t.Fatalf("the output carries the token:\n%s", out)
	}
	return code, out, maxRSS, before.Equal(after) && before.Equal(end)
}

// watermarkOf reads the checkpoint's watermark with `checkpoint show`.
func watermarkOf(t *testing.T, e env) time.Time {
	t.Helper()
	show := launch(t, e, nil, "checkpoint", "show", "--json")
	if code := show.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("checkpoint show: exit %d\n%s", code, show.Out)
	}
	var got struct{ Watermark time.Time }
	if err := json.Unmarshal([]byte(show.Out.String()), &got); err != nil {
		t.Fatalf("%v:\n%s", err, show.Out)
	}
	return got.Watermark
}

// TestBinaryRedirectIsNotFollowed guards DESIGN.md invariant 4, "the
// bearer token is sent only to the configured Graph host", and invariant
// 3, "the checkpoint never runs ahead of Kafka": a Graph host answering
// 302 to the same host on another port makes the run fail naming the
// redirect; the other port receives no request at all, and the checkpoint
// does not move (the foreign {"value":[]} is never taken for the window).
func TestBinaryRedirectIsNotFollowed(t *testing.T) {
	target := &graphsim.Hostile{Behaviour: graphsim.HostileEmpty}
	tsrv := httptest.NewServer(target)
	t.Cleanup(tsrv.Close)
	code, out, _, same := hostileRun(t, &graphsim.Hostile{Behaviour: graphsim.HostileRedirect, Location: tsrv.URL + "/v1.0/x"}, nil)
	if code == 0 || !strings.Contains(out, "302") || !strings.Contains(out, "not followed") {
		t.Fatalf("exit %d; want non-zero naming the redirect:\n%s", code, out)
	}
	if n := len(target.Requests()); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
	if !same {
		t.Fatal("the checkpoint moved")
	}
}

// TestBinaryGzipBombIsCut guards DESIGN.md invariant 9, "every input is
// bounded": a page that inflates to 512 MiB ends the run with an error
// naming GRAPH_MAX_PAGE_BYTES, and the process stays far below the page's
// size (the issue measured 1.87 GB before the cap).
func TestBinaryGzipBombIsCut(t *testing.T) {
	code, out, rss, same := hostileRun(t, &graphsim.Hostile{Behaviour: graphsim.HostileGzipBomb, Size: 512 << 20},
		env{"GRAPH_MAX_PAGE_BYTES": "8388608"})
	if code == 0 || !strings.Contains(out, "GRAPH_MAX_PAGE_BYTES") {
		t.Fatalf("exit %d; want non-zero naming GRAPH_MAX_PAGE_BYTES:\n%s", code, out)
	}
	if rss == 0 {
		t.Fatal("no peak RSS was read while the process ran")
	}
	if rss > 200<<20 {
		t.Fatalf("peak RSS %d MiB for an 8 MiB page cap", rss>>20)
	}
	if !same {
		t.Fatal("the checkpoint moved")
	}
	t.Logf("peak RSS %d MiB", rss>>20)
}

// TestBinaryEndlessNextLinkEnds guards DESIGN.md invariant 9, "every input
// is bounded": a nextLink pointing to itself ends the run at once with an
// error saying so, and a chain of ever-new links ends at
// GRAPH_MAX_PAGES_PER_WINDOW, telling the user to lower WINDOW (the
// walker may read the next window ahead, so up to twice the cap).
func TestBinaryEndlessNextLinkEnds(t *testing.T) {
	self := &graphsim.Hostile{Behaviour: graphsim.HostileSelfLink}
	code, out, _, same := hostileRun(t, self, nil)
	if code == 0 || !strings.Contains(out, "nextLink repeats") || len(self.Requests()) > 3 || !same {
		t.Fatalf("self link: exit %d after %d requests, checkpoint unchanged %v:\n%s", code, len(self.Requests()), same, out)
	}
	fresh := &graphsim.Hostile{Behaviour: graphsim.HostileSelfLink, NewLinks: true}
	code, out, _, same = hostileRun(t, fresh, env{"GRAPH_MAX_PAGES_PER_WINDOW": "25"})
	if code == 0 || !strings.Contains(out, "GRAPH_MAX_PAGES_PER_WINDOW") || !strings.Contains(out, "lower WINDOW") || len(fresh.Requests()) < 25 || len(fresh.Requests()) > 2*25 || !same {
		t.Fatalf("new links: exit %d after %d requests, checkpoint unchanged %v:\n%s", code, len(fresh.Requests()), same, out)
	}
}
