package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// readScenario is one Jobs API read.
type readScenario struct {
	Name string
	Path string // request URI
}

func keysetCursor(id int64) string {
	b, _ := json.Marshal(map[string]string{"id": strconv.FormatInt(id, 10), "_kd": "n"})
	return base64.RawURLEncoding.EncodeToString(b)
}

func readScenarios(si *seedInfo) []readScenario {
	p := fmt.Sprintf("/api/v4/projects/%d", si.ProjectID)
	return []readScenario{
		{"list 100 jobs, first page", p + "/jobs?per_page=100"},
		{"list 100 jobs, deep page (keyset)", p + "/jobs?per_page=100&pagination=keyset&cursor=" + keysetCursor(si.KeysetCursor)},
		{"list 100 jobs, deep page (offset)", p + fmt.Sprintf("/jobs?per_page=100&page=%d", si.OffsetPage)},
		{"list, scope[]=failed&scope[]=canceled", p + "/jobs?per_page=100&scope[]=failed&scope[]=canceled"},
		{"list, scope[]=pending&scope[]=running", p + "/jobs?per_page=100&scope[]=pending&scope[]=running"},
		{"one job", p + fmt.Sprintf("/jobs/%d", si.MidJobID)},
		{"a pipeline's jobs", p + fmt.Sprintf("/pipelines/%d/jobs?per_page=100", si.MidPipeline)},
		{"trace 1 MB (archived)", p + fmt.Sprintf("/jobs/%d/trace", si.TraceJobID)},
		{"trace 1 MB (live)", p + fmt.Sprintf("/jobs/%d/trace", si.LiveJobID)},
	}
}

// ceilingEntry is one canned answer of the ceiling server.
type ceilingEntry struct {
	Path        string `json:"path"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

// serveCeiling is the ceiling: the least a Go HTTP server can do to answer
// the same requests, the same bytes from memory (runs as a subprocess of
// the bench, like gantry, so both compete with the load generator alike).
func serveCeiling(file, addr string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var es []ceilingEntry
	if err := json.Unmarshal(b, &es); err != nil {
		return err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	return http.ListenAndServe(addr, newCeilingHandler(es))
}

// newCeilingHandler answers each entry's path with its bytes.
func newCeilingHandler(es []ceilingEntry) http.Handler {
	m := map[string]ceilingEntry{}
	for _, e := range es {
		m[e.Path] = e
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, ok := m[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", e.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(e.Body)))
		_, _ = w.Write(e.Body)
	})
}

// startCeiling runs this binary as the ceiling server for entries.
func startCeiling(ctx context.Context, work string, es []ceilingEntry) (string, func(), error) {
	file := filepath.Join(work, "ceiling.json")
	b, err := json.Marshal(es)
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return "", nil, err
	}
	addr, err := freePort()
	if err != nil {
		return "", nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-serve-ceiling", file, "-listen", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url := "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/-/none")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 2500 {
			stop()
			return "", nil, fmt.Errorf("ceiling server did not start")
		}
		time.Sleep(2 * time.Millisecond)
	}
	return url, stop, nil
}

// readRow is one read figure at one data size.
type readRow struct {
	Jobs      int64   `json:"jobs"`
	Scenario  string  `json:"scenario"`
	Path      string  `json:"path"`
	BodyBytes int     `json:"body_bytes"`
	Gantry    stats   `json:"gantry"`
	Ceiling   stats   `json:"ceiling"`
	Ratio     float64 `json:"ratio_to_ceiling"`
	// Slow requests (over 0.5 s) are measured with one connection, a few
	// times; their req/s is not comparable with the others.
	Slow bool `json:"slow,omitempty"`
}

// runReads measures every scenario on g and on the ceiling.
func runReads(ctx context.Context, cfg *config, g cluster, si *seedInfo) ([]readRow, float64, error) {
	client := newClient(cfg.ReadConc)
	hdr := map[string]string{"PRIVATE-TOKEN": cfg.RootToken}
	scs := readScenarios(si)
	// The answers every later one is checked against. A server just
	// started on seeded data may still be processing the seeded running
	// pipelines (the sweeper's first pass), which changes the pending and
	// running lists: capture until two captures a sweep interval apart
	// agree.
	var es []ceilingEntry
	slow := map[string]bool{}
	for try := 0; ; try++ {
		prev := es
		es = nil
		for _, sc := range scs {
			t0 := time.Now()
			st, h, body, err := fetch(ctx, client, "GET", g[0].URL+sc.Path, hdr, nil)
			if time.Since(t0) > 500*time.Millisecond {
				slow[sc.Path] = true // measured with one connection and few requests
			}
			if err != nil {
				return nil, 0, err
			}
			if st != 200 {
				return nil, 0, fmt.Errorf("GET %s: %d %s", sc.Path, st, body)
			}
			es = append(es, ceilingEntry{Path: sc.Path, ContentType: h.Get("Content-Type"), Body: body})
		}
		if sameLengths(prev, es) || try == 5 {
			break
		}
		time.Sleep(6 * time.Second) // the server's sweep interval is 5 s
	}
	curl, stop, err := startCeiling(ctx, cfg.Work, es)
	if err != nil {
		return nil, 0, err
	}
	defer stop()
	rss := sampleRSS(g.pids()...)
	g.cpuProfile(cfg.profilePath(fmt.Sprintf("reads-%d", si.Jobs)))
	glb, clb := newBalancer(g.urls()...), newBalancer(curl)
	var rows []readRow
	for i, sc := range scs {
		row := readRow{Jobs: si.Jobs, Scenario: sc.Name, Path: sc.Path, BodyBytes: len(es[i].Body)}
		c, n, warm := cfg.ReadConc, cfg.ReadN, cfg.Warm
		if slow[sc.Path] {
			c, n, warm = 1, 3, 0
			row.Slow = true
		}
		for r := range cfg.Repeat {
			gs, err := readLoad(ctx, client, glb, sc.Path, cfg.RootToken, c, n, cfg.ReadDur, warm, len(es[i].Body))
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", sc.Name, err)
			}
			cs, err := readLoad(ctx, client, clb, sc.Path, cfg.RootToken, cfg.ReadConc, cfg.ReadN, cfg.ReadDur, cfg.Warm, len(es[i].Body))
			if err != nil {
				return nil, 0, fmt.Errorf("ceiling %s: %w", sc.Name, err)
			}
			// Best of the repeats: other work on the machine only slows.
			if r == 0 || gs.PerSecond > row.Gantry.PerSecond {
				row.Gantry = gs
			}
			if r == 0 || cs.PerSecond > row.Ceiling.PerSecond {
				row.Ceiling = cs
			}
		}
		if row.Ceiling.PerSecond > 0 {
			row.Ratio = row.Gantry.PerSecond / row.Ceiling.PerSecond
		}
		logf("  %-40s %8.0f/s p50 %7.2f ms p99 %7.2f ms | ceiling %8.0f/s | %5.1f%%", sc.Name, row.Gantry.PerSecond,
			row.Gantry.P50ms, row.Gantry.P99ms, row.Ceiling.PerSecond, 100*row.Ratio)
		rows = append(rows, row)
	}
	g.cpuProfile("")
	return rows, rss.stop(), nil
}

// sameLengths tells whether two captures of the scenarios' answers have
// the same sizes (what the load checks each answer against).
func sameLengths(a, b []ceilingEntry) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if len(a[i].Body) != len(b[i].Body) {
			return false
		}
	}
	return true
}
