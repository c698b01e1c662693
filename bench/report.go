package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryGB  int    `json:"memory_gb"`
	GoVersion string `json:"go_version"`
	LoadAvg   string `json:"load_average_at_start"`
}

type footprint struct {
	IdleRSSMB       float64   `json:"idle_rss_mb"`        // empty database, 1 s after ready
	ReadyEmptyMs    float64   `json:"ready_empty_ms"`     // start → 200 on /-/readiness, empty
	ReadyJobs       int64     `json:"ready_jobs"`         // jobs in the database of ReadyMs
	ReadyMs         []float64 `json:"ready_ms"`           // sorted, one per start
	DataRSSMB       float64   `json:"data_rss_mb"`        // largest database, 1 s after ready
	ReadsRSSJobs    int64     `json:"reads_rss_jobs"`     // largest size read
	ReadsPeakRSSMB  float64   `json:"reads_peak_rss_mb"`  // peak during reads
	WritesPeakRSSMB float64   `json:"writes_peak_rss_mb"` // peak during pipelines/pick-up/ingest
	EndRSSMB        float64   `json:"end_rss_mb"`
	PeakHWMMB       float64   `json:"peak_hwm_mb"` // VmHWM of the long-lived server
}

type target struct {
	What     string `json:"what"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

type results struct {
	Timestamp string   `json:"timestamp"`
	Args      []string `json:"args"`
	Machine   machine  `json:"machine"`
	// Database is "sqlite" or "postgres <version>"; Coordinators the
	// number of gantry serve processes sharing it.
	Database     string          `json:"database,omitempty"`
	Coordinators int             `json:"coordinators,omitempty"`
	Seeds        []*seedInfo     `json:"seeds,omitempty"`
	Reads        []readRow       `json:"reads,omitempty"`
	Pipelines    *pipelineResult `json:"pipelines,omitempty"`
	Pickup       *pickupResult   `json:"pickup,omitempty"`
	Wake         *wakeResult     `json:"wake,omitempty"`
	Ingest       []ingestResult  `json:"ingest,omitempty"`
	Metrics      *metricsResult  `json:"metrics,omitempty"`
	Web          []webRow        `json:"web,omitempty"`
	Live         *liveResult     `json:"live,omitempty"`
	Tail         *tailResult     `json:"tail,omitempty"`
	Footprint    footprint       `json:"footprint"`
	Targets      []target        `json:"targets"`
}

func newResults(cfg *config) *results {
	r := &results{Timestamp: time.Now().UTC().Format("20060102T150405Z"), Args: os.Args[1:]}
	r.Machine.Cores = runtime.NumCPU()
	r.Machine.GoVersion = runtime.Version()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				r.Machine.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			r.Machine.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		r.Machine.MemoryGB = int((kb + 512*1024) / (1024 * 1024))
	}
	return r
}

func (r *results) read(jobs int64, scenario string) *readRow {
	for i := range r.Reads {
		if r.Reads[i].Jobs == jobs && r.Reads[i].Scenario == scenario {
			return &r.Reads[i]
		}
	}
	return nil
}

// targets judges the first targets.
func (r *results) judge() {
	var sizes []int64
	for _, row := range r.Reads {
		if len(sizes) == 0 || sizes[len(sizes)-1] != row.Jobs {
			sizes = append(sizes, row.Jobs)
		}
	}
	if len(sizes) > 0 {
		big, small := sizes[len(sizes)-1], sizes[0]
		// The list target is "< 20 ms at 1M, flat 10k → 10M": judge
		// the absolute figure at every size from 1M up (or the largest, on a
		// smaller run) and the growth from the smallest to the largest.
		var judged []int64
		for _, n := range sizes {
			if n >= 1_000_000 {
				judged = append(judged, n)
			}
		}
		if len(judged) == 0 {
			judged = []int64{big}
		}
		for _, sc := range []string{"list 100 jobs, first page", "list 100 jobs, deep page (keyset)"} {
			for _, n := range judged {
				if b := r.read(n, sc); b != nil {
					r.Targets = append(r.Targets, target{What: fmt.Sprintf("%s at %s jobs, p99", sc, human(n)), Target: "< 20 ms",
						Measured: fmt.Sprintf("%.1f ms", b.Gantry.P99ms), Met: b.Gantry.P99ms < 20})
				}
			}
			b, s := r.read(big, sc), r.read(small, sc)
			if b == nil || s == nil {
				continue
			}
			growth := b.Gantry.P99ms / s.Gantry.P99ms
			r.Targets = append(r.Targets, target{What: fmt.Sprintf("%s, p99 %s → %s jobs", sc, human(small), human(big)), Target: "flat (≤ 1.5×)",
				Measured: fmt.Sprintf("%.1f → %.1f ms (%.2f×)", s.Gantry.P99ms, b.Gantry.P99ms, growth), Met: growth <= 1.5})
		}
		for _, n := range sizes {
			if b := r.read(n, "one job"); b != nil {
				r.Targets = append(r.Targets, target{What: fmt.Sprintf("one job at %s jobs, share of the ceiling", human(n)), Target: "≥ 30%",
					Measured: fmt.Sprintf("%.1f%% (%.0f of %.0f req/s)", 100*b.Ratio, b.Gantry.PerSecond, b.Ceiling.PerSecond), Met: b.Ratio >= 0.30})
			}
		}
	}
	if p := r.Pickup; p != nil {
		r.Targets = append(r.Targets, target{What: fmt.Sprintf("pick-up, %d runners", p.Runners), Target: "≥ 2,000 jobs/s",
			Measured: fmt.Sprintf("%.0f jobs/s", p.PerSecond), Met: p.PerSecond >= 2000})
	}
	if w := r.Wake; w != nil {
		r.Targets = append(r.Targets, target{What: "long-poll wake-up p99", Target: "< 50 ms",
			Measured: fmt.Sprintf("%.1f ms", w.Wake.P99ms), Met: w.Wake.P99ms < 50})
	}
	for _, in := range r.Ingest {
		if in.Jobs < 1000 {
			continue
		}
		mode := "as fast as possible"
		if in.IntervalMs > 0 {
			mode = fmt.Sprintf("every %d ms per job", in.IntervalMs)
		}
		r.Targets = append(r.Targets, target{What: fmt.Sprintf("log ingest, %d jobs (%s): p99 PATCH, nothing lost", in.Jobs, mode),
			Target: "< 100 ms, 0 lost", Measured: fmt.Sprintf("%.1f ms, %d of %d logs differ", in.Patch.P99ms, in.Mismatched, in.Verified),
			Met: in.Patch.P99ms < 100 && in.Mismatched == 0 && in.PatchErrors == 0})
	}
	if l := r.Live; l != nil {
		r.Targets = append(r.Targets, target{What: fmt.Sprintf("log line, acknowledged PATCH → browser event, %d viewers, p99", l.Viewers),
			Target: "< 1 s", Measured: fmt.Sprintf("%.1f ms, %d of %d lines missed", l.Latency.P99ms, l.Missed, l.Latency.N+l.Missed),
			Met: l.Latency.P99ms < 1000 && l.Missed == 0})
	}
	if p := r.Pipelines; p != nil {
		r.Targets = append(r.Targets, target{What: "pipeline creation (50 jobs each)", Target: "≥ 200 pipelines/s",
			Measured: fmt.Sprintf("%.1f pipelines/s", p.PerSecond), Met: p.PerSecond >= 200})
	}
	if f := r.Footprint; f.IdleRSSMB > 0 {
		r.Targets = append(r.Targets, target{What: "idle RSS (empty database)", Target: "< 40 MB",
			Measured: fmt.Sprintf("%.1f MB", f.IdleRSSMB), Met: f.IdleRSSMB < 40})
	}
	if f := r.Footprint; f.WritesPeakRSSMB > 0 {
		r.Targets = append(r.Targets, target{What: "peak RSS under write load (pipelines, pick-up, ingest)", Target: "< 100 MB",
			Measured: fmt.Sprintf("%.1f MB", f.WritesPeakRSSMB), Met: f.WritesPeakRSSMB < 100})
	}
	if f := r.Footprint; len(f.ReadyMs) > 0 {
		med := f.ReadyMs[len(f.ReadyMs)/2]
		r.Targets = append(r.Targets, target{What: fmt.Sprintf("ready with %s jobs (median of %d starts)", human(f.ReadyJobs), len(f.ReadyMs)),
			Target: "< 300 ms", Measured: fmt.Sprintf("%.0f ms", med), Met: med < 300})
	}
}

func human(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func yes(b bool) string {
	if b {
		return "✅ met"
	}
	return "❌ missed"
}

// markdown renders the results as the tables of docs/performance.md.
func (r *results) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("Run %s on %s, %d cores, %d GB, %s; load average at start %s.\n\n", r.Timestamp, r.Machine.CPU, r.Machine.Cores,
		r.Machine.MemoryGB, r.Machine.GoVersion, r.Machine.LoadAvg)
	if r.Database != "" {
		p("Database: %s, %d coordinator(s).\n\n", r.Database, max(1, r.Coordinators))
	}
	p("`go run ./bench %s`\n\n", strings.Join(r.Args, " "))
	if len(r.Targets) > 0 {
		p("### Targets\n\n| what | target | measured | |\n|---|---|---|---|\n")
		for _, t := range r.Targets {
			p("| %s | %s | %s | %s |\n", t.What, t.Target, t.Measured, yes(t.Met))
		}
		p("\n")
	}
	if len(r.Seeds) > 0 {
		p("### Seeding (storage layer, bulk inserts)\n\n| jobs | pipelines | artifacts | seconds | jobs/s | database |\n|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Seeds {
			p("| %s | %d | %d | %.1f | %.0f | %.0f MB |\n", human(s.Jobs), s.Pipelines, s.Artifacts, s.Seconds, s.JobsPerSec, float64(s.DBBytes)/(1<<20))
		}
		p("\n")
	}
	if len(r.Reads) > 0 {
		p("### Jobs API reads (loopback HTTP; ceiling = bare net/http serving the same bytes from memory)\n\n")
		p("| jobs | request | bytes | req/s | p50 ms | p99 ms | ceiling req/s | ceiling p99 ms | of ceiling |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, x := range r.Reads {
			if x.Slow {
				x.Scenario += " ¹"
			}
			p("| %s | %s | %d | %.0f | %.2f | %.2f | %.0f | %.2f | %.1f%% |\n", human(x.Jobs), x.Scenario, x.BodyBytes, x.Gantry.PerSecond,
				x.Gantry.P50ms, x.Gantry.P99ms, x.Ceiling.PerSecond, x.Ceiling.P99ms, 100*x.Ratio)
		}
		p("\n¹ over 0.5 s a request: measured with one connection (gantry and ceiling alike), so its req/s and ratio are not comparable.\n\n")
	}
	if r.Pipelines != nil || r.Pickup != nil || r.Wake != nil || len(r.Ingest) > 0 {
		p("### Writes (on the largest database)\n\n| what | figure | latency p50 / p99 ms | notes |\n|---|---:|---|---|\n")
		if x := r.Pipelines; x != nil {
			p("| pipeline creation, POST /projects/:id/pipeline, %d callers | %.1f pipelines/s (%.0f jobs/s) | %.1f / %.1f | %d pipelines of %d jobs, %d errors; server CPU %.2f ms per pipeline |\n",
				x.Concurrency, x.PerSecond, x.PerSecond*float64(x.JobsEach), x.Latency.P50ms, x.Latency.P99ms, x.Pipelines, x.JobsEach, x.Latency.Errors, x.CPUms)
		}
		if x := r.Pickup; x != nil {
			p("| job pick-up, %d runners (request → running → trace → success) | %.0f jobs/s | request %.1f / %.1f; running %.1f / %.1f; trace %.1f / %.1f; success %.1f / %.1f | %d jobs in %.1f s, %d errors; server CPU %.2f ms per job |\n",
				x.Runners, x.PerSecond, x.Request.P50ms, x.Request.P99ms, x.Running.P50ms, x.Running.P99ms, x.Trace.P50ms, x.Trace.P99ms,
				x.Success.P50ms, x.Success.P99ms, x.Jobs, x.Seconds, x.Errors, x.CPUms)
		}
		if x := r.Wake; x != nil {
			p("| long-poll wake-up (play a manual job → a parked runner has it) | %d samples | %.1f / %.1f | %d parked runners; the play call alone: %.1f / %.1f |\n",
				x.Samples, x.Wake.P50ms, x.Wake.P99ms, x.Parked, x.Play.P50ms, x.Play.P99ms)
		}
		for _, x := range r.Ingest {
			mode := "as fast as possible"
			if x.IntervalMs > 0 {
				mode = fmt.Sprintf("one PATCH per job every %d ms", x.IntervalMs)
			}
			p("| log ingest, %d running jobs, %d B PATCHes, %s | %.2f MB/s | %.1f / %.1f | %d PATCHes in %.0f s, %d errors; read back %d logs: %d differ, %d bytes lost; server CPU %.3f ms per PATCH |\n",
				x.Jobs, x.ChunkBytes, mode, x.MBps, x.Patch.P50ms, x.Patch.P99ms, x.Patch.N, x.Seconds, x.PatchErrors, x.Verified, x.Mismatched, x.LostBytes, x.CPUms)
		}
		p("\n")
	}
	if m := r.Metrics; m != nil {
		p("### Metrics overhead (job pick-up on an empty database, %d runners)\n\n", m.Runners)
		p("| metrics | jobs | jobs/s | request p50 / p99 ms | final PUT p99 ms | server CPU ms/job | scrapes (p50 / p99 ms, bytes) | errors |\n|---|---:|---:|---|---:|---:|---|---:|\n")
		for _, x := range m.Runs {
			sc := "-"
			if x.Scrapes.N > 0 {
				sc = fmt.Sprintf("%d (%.1f / %.1f, %d B)", x.Scrapes.N, x.Scrapes.P50ms, x.Scrapes.P99ms, x.ScrapeBytes)
			}
			p("| %s | %d | %.0f | %.1f / %.1f | %.1f | %.2f | %s | %d |\n", x.Mode, x.Jobs, x.PerSecond, x.RequestP50, x.RequestP99,
				x.SuccessP99, x.ServerCPUPerJob, sc, x.Errors)
		}
		p("\noff: no --metrics-listen; on: metrics recorded, never scraped; scraped: GET /metrics every second during pick-up.\n\n")
	}
	if len(r.Web) > 0 || r.Live != nil || r.Tail != nil {
		p("### Web UI\n\n| what | p50 ms | p99 ms | notes |\n|---|---:|---:|---|\n")
		for _, x := range r.Web {
			p("| %s, %s jobs, time to first byte | %.1f | %.1f | `%s`, %d requests, one connection |\n", x.Page, human(x.Jobs), x.TTFB.P50ms, x.TTFB.P99ms, x.Path, x.TTFB.N)
		}
		if x := r.Live; x != nil {
			where := "viewers and PATCHes on one coordinator"
			if x.CrossCoordinator {
				where = "viewers on one coordinator, PATCHes round robin over all"
			}
			p("| log line, acknowledged PATCH → its event on the job's log stream, %d viewers | %.1f | %.1f | one line per job every %d ms for %.0f s, %d lines, %d missed, max %.1f ms; %s |\n",
				x.Viewers, x.Latency.P50ms, x.Latency.P99ms, x.IntervalMs, x.Seconds, x.Latency.N, x.Missed, x.Latency.Maxms, where)
		}
		if x := r.Tail; x != nil {
			p("| tail of a %.0f MB running log: job page (first byte) | %.1f | %.1f | |\n", float64(x.LogBytes)/1e6, x.Page.P50ms, x.Page.P99ms)
			p("| … then the page's tail request (`/log?tail=1000`, whole answer) | %.1f | %.1f | |\n", x.Tail.P50ms, x.Tail.P99ms)
			p("| … both: time to show the tail | %.1f | %.1f | %d samples |\n", x.Total.P50ms, x.Total.P99ms, x.Total.N)
		}
		p("\n")
	}
	f := r.Footprint
	p("### Footprint\n\n| what | value |\n|---|---:|\n")
	if f.IdleRSSMB > 0 {
		p("| RSS idle, empty database | %.1f MB |\n| ready, empty database | %.0f ms |\n", f.IdleRSSMB, f.ReadyEmptyMs)
	}
	if len(f.ReadyMs) > 0 {
		p("| ready with %s jobs (each start, warm page cache) | %s ms |\n", human(f.ReadyJobs), joinF(f.ReadyMs))
		p("| RSS 1 s after start with %s jobs | %.1f MB |\n", human(f.ReadyJobs), f.DataRSSMB)
	}
	if f.ReadsPeakRSSMB > 0 {
		p("| RSS peak under read load, %s jobs | %.1f MB |\n", human(f.ReadsRSSJobs), f.ReadsPeakRSSMB)
	}
	if f.WritesPeakRSSMB > 0 {
		p("| RSS peak under write load (pipelines, pick-up, ingest) | %.1f MB |\n", f.WritesPeakRSSMB)
	}
	if f.PeakHWMMB > 0 {
		p("| VmHWM of the long-lived server / RSS at the end | %.1f / %.1f MB |\n", f.PeakHWMMB, f.EndRSSMB)
	}
	return b.String()
}

func joinF(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, ", ")
}

func (r *results) write(cfg *config) error {
	r.judge()
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	jf := filepath.Join(cfg.Out, r.Timestamp+".json")
	if err := os.WriteFile(jf, b, 0o644); err != nil {
		return err
	}
	md := r.markdown()
	if err := os.WriteFile(filepath.Join(cfg.Out, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println(md)
	logf("wrote %s and %s", jf, filepath.Join(cfg.Out, "latest.md"))
	return nil
}
