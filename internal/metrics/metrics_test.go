package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/httpx"
)

func testSources() Sources {
	return Sources{
		Jobs: func(context.Context) (int, int, error) { return 3, 2, nil },
		Runners: func(context.Context) ([]RunnerContact, error) {
			return []RunnerContact{{ID: 7, Type: "project_type", ContactedAt: time.Unix(1700000000, 0)}, {ID: 8, Type: "instance_type"}}, nil
		},
		Parked: func() int64 { return 4 },
	}
}

// TestHotPathsDoNotAllocate keeps recording a request, a long poll and a
// pick-up free of allocations once a series exists: label values are
// resolved in advance, not built per call.
func TestHotPathsDoNotAllocate(t *testing.T) {
	m := New(testSources())
	info := &httpx.RequestInfo{Transfer: httpx.TransferTraceIn}
	for name, fn := range map[string]func(){
		"request":   func() { m.ObserveRequest("PATCH", "/api/v4/jobs/{id}/trace", 202, time.Millisecond, 100, 0, info) },
		"long poll": func() { m.JobRequest(OutcomeTimeout) },
		"pick-up":   func() { m.JobPickedUp("instance_type", true, time.Second) },
		"tx":        func() { m.Transaction(time.Microsecond, time.Millisecond, true) },
	} {
		fn()
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

// TestScrape checks the exposition: store-backed gauges, a runner never
// seen left out, and the runtime and process collectors.
func TestScrape(t *testing.T) {
	t.Parallel()
	m := New(testSources())
	m.ObserveRequest("GET", "/api/v4/projects/{id}", 200, time.Millisecond, 0, 10, &httpx.RequestInfo{})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"gantry_jobs_pending 3\n",
		"gantry_jobs_running 2\n",
		"gantry_runner_requests_parked 4\n",
		`gantry_runner_last_contact_timestamp_seconds{runner_id="7",runner_type="project_type"} 1.7e+09`,
		`gantry_http_requests_total{method="GET",route="/api/v4/projects/{id}",status="200"} 1`,
		"gantry_metrics_store_scrape_failed 0\n",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(body, `runner_id="8"`) {
		t.Error("a runner that never made contact has a last-contact sample")
	}
}

// BenchmarkScrape is the cost of one /metrics answer with a few hundred
// HTTP series (go test -bench Scrape ./internal/metrics).
func BenchmarkScrape(b *testing.B) {
	m := New(testSources())
	for i := range 100 {
		for _, st := range []int{200, 404} {
			m.ObserveRequest("GET", "/api/v4/route"+strings.Repeat("x", i), st, time.Millisecond, 0, 0, &httpx.RequestInfo{})
		}
	}
	h := m.Handler()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		_, _ = io.Copy(io.Discard, rec.Body)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkObserveRequest is the per-request cost of the HTTP metrics.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(testSources())
	info := &httpx.RequestInfo{}
	for b.Loop() {
		m.ObserveRequest("POST", "/api/v4/jobs/request", 201, time.Millisecond, 100, 1000, info)
	}
}
