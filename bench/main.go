// Command bench measures Gantry: Jobs API reads at growing data sizes next
// to a ceiling (a bare net/http server sending the same bytes), job pick-up
// and long-poll wake-up over the runner protocol, log ingest, pipeline
// creation, memory and start-up time. It seeds SQLite databases through the
// storage layer, runs a real `gantry serve` subprocess on each, drives it
// over loopback HTTP only, and writes bench/results/<timestamp>.json and
// latest.md. See docs/performance.md.
//
//	go run ./bench                          # everything, up to 1,000,000 jobs
//	go run ./bench -jobs 100000 -parts seed,reads
//	go run ./bench -cpuprofile /tmp/prof    # also CPU profiles per phase
//	bash scripts/with-postgres.sh go run ./bench -database "$GANTRY_TEST_DATABASE_URL" -coordinators 2
//	go run ./bench -compare a.json,b.json   # side-by-side table of earlier runs
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Jobs       int64
	Sizes      []int64
	Parts      map[string]bool
	Work       string
	Out        string
	Reuse      bool
	RootToken  string
	ReadConc   int
	ReadN      int
	ReadDur    time.Duration
	Warm       int
	Repeat     int
	Pipelines  int
	PipeConc   int
	Runners    int
	PickupJobs int
	WakeN      int
	Ingest     []int
	Chunk      int
	IngestDur  time.Duration
	IngestTick time.Duration
	ProfileDir string
	ReadyRuns  int
	// Database is a postgres:// URL: data sets go to schemas of that
	// database instead of SQLite files. Coordinators > 1 needs it.
	Database     string
	Coordinators int
	// MetricsJobs and MetricsRepeat size the metrics overhead part.
	MetricsJobs   int
	MetricsRepeat int
	// Web UI part: viewers of running jobs, their PATCH interval and how
	// long they stream; the size of the large log whose tail is shown.
	Viewers     int
	ViewerTick  time.Duration
	ViewerDur   time.Duration
	TailLogSize int64
}

// pg reports whether the run targets PostgreSQL.
func (c *config) pg() bool { return c.Database != "" }

func (c *config) profilePath(phase string) string {
	if c.ProfileDir == "" {
		return ""
	}
	return filepath.Join(c.ProfileDir, phase+".pprof")
}

var allParts = []string{"seed", "reads", "pipelines", "pickup", "wake", "ingest", "footprint", "metrics", "web"}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func main() {
	var cfg config
	var sizes, parts, ingestKs string
	ceiling := flag.String("serve-ceiling", "", "internal: serve the ceiling answers in this file")
	listen := flag.String("listen", "", "internal: ceiling listen address")
	flag.Int64Var(&cfg.Jobs, "jobs", 1_000_000, "jobs in the largest data set")
	flag.StringVar(&sizes, "sizes", "", "data sizes for reads, comma separated (default 10000,100000,<jobs>)")
	huge := flag.Bool("10m", false, "also seed and read a 10M-job data set (opt-in: ~9 GB of SQLite or ~12 GB of PostgreSQL, ~5–12 min to seed on 2 cores)")
	flag.StringVar(&parts, "parts", strings.Join(allParts, ","), "parts to run: "+strings.Join(allParts, ","))
	flag.StringVar(&cfg.Work, "work", filepath.Join(os.TempDir(), "gantry-bench"), "work directory (seeded data, binaries, logs)")
	flag.StringVar(&cfg.Out, "out", "", "results directory (default <module>/bench/results)")
	flag.BoolVar(&cfg.Reuse, "reuse", false, "reuse data seeded by an earlier run in -work (skips seeding)")
	flag.IntVar(&cfg.ReadConc, "c", 8, "concurrent connections of the read load")
	flag.IntVar(&cfg.ReadN, "n", 20000, "at most this many requests per read measurement")
	flag.DurationVar(&cfg.ReadDur, "d", 3*time.Second, "at most this long per read measurement")
	flag.IntVar(&cfg.Warm, "warm", 50, "unmeasured requests before each read measurement")
	flag.IntVar(&cfg.Repeat, "repeat", 2, "repeat each read measurement, keep the best (other load on the machine only slows)")
	flag.IntVar(&cfg.Pipelines, "pipelines", 200, "pipelines of 50 jobs to create in the pipeline creation part")
	flag.IntVar(&cfg.PipeConc, "pipeline-c", 4, "concurrent API callers creating pipelines")
	flag.IntVar(&cfg.Runners, "runners", 50, "concurrent runner clients")
	flag.IntVar(&cfg.PickupJobs, "pickup-jobs", 10000, "pending jobs to pick up, run and finish")
	flag.IntVar(&cfg.WakeN, "wake", 100, "long-poll wake-up samples")
	flag.StringVar(&ingestKs, "ingest", "100,1000", "concurrent running jobs streaming logs, comma separated")
	flag.IntVar(&cfg.Chunk, "chunk", 4096, "bytes per trace PATCH")
	flag.DurationVar(&cfg.IngestDur, "ingest-d", 10*time.Second, "how long each ingest run streams")
	flag.DurationVar(&cfg.IngestTick, "ingest-interval", time.Second, "per-job PATCH interval of the paced ingest run (0: skip it)")
	flag.StringVar(&cfg.ProfileDir, "cpuprofile", "", "directory for per-phase CPU profiles (runs bench/gantryprof instead of cmd/gantry)")
	flag.IntVar(&cfg.ReadyRuns, "ready-runs", 3, "starts on the largest data set to time readiness")
	flag.StringVar(&cfg.Database, "database", "", "postgres:// URL: seed and serve PostgreSQL (one schema bench_<jobs> per size, dropped and recreated) instead of SQLite")
	flag.IntVar(&cfg.Coordinators, "coordinators", 1, "gantry serve processes sharing the database and data dir (>1 needs -database); requests go round robin")
	flag.IntVar(&cfg.MetricsJobs, "metrics-jobs", 2000, "jobs picked up per run of the metrics part (metrics off, on, scraped every second)")
	flag.IntVar(&cfg.MetricsRepeat, "metrics-repeat", 1, "rounds of the metrics part (its three modes interleaved)")
	flag.IntVar(&cfg.Viewers, "viewers", 100, "web part: running jobs, each watched by one log event stream")
	flag.DurationVar(&cfg.ViewerTick, "viewer-interval", time.Second, "web part: per-job PATCH interval while watched")
	flag.DurationVar(&cfg.ViewerDur, "viewer-d", 10*time.Second, "web part: how long the watched jobs stream")
	flag.Int64Var(&cfg.TailLogSize, "tail-log", 100_000_000, "web part: bytes of the large log whose tail the job page shows")
	compare := flag.String("compare", "", "print a side-by-side markdown table of these result files (comma separated, optionally LABEL=FILE) and exit")
	flag.Parse()
	if *compare != "" {
		if err := printComparison(os.Stdout, strings.Split(*compare, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.Coordinators < 1 || (cfg.Coordinators > 1 && cfg.Database == "") {
		fmt.Fprintln(os.Stderr, "-coordinators N > 1 needs -database postgres://… (SQLite serves one coordinator)")
		os.Exit(2)
	}
	if cfg.Database != "" {
		if _, err := schemaURL(cfg.Database, "x"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if *ceiling != "" {
		if err := serveCeiling(*ceiling, *listen); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	cfg.RootToken = "glpat-bench-root-token-000000"
	cfg.Parts = map[string]bool{}
	for _, p := range strings.Split(parts, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allParts, p) {
			fmt.Fprintf(os.Stderr, "unknown part %q (have %s)\n", p, strings.Join(allParts, ","))
			os.Exit(2)
		}
		cfg.Parts[p] = true
	}
	if sizes == "" {
		for _, s := range []int64{10_000, 100_000} {
			if s < cfg.Jobs {
				cfg.Sizes = append(cfg.Sizes, s)
			}
		}
		cfg.Sizes = append(cfg.Sizes, cfg.Jobs)
	} else {
		for _, s := range strings.Split(sizes, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || n < 100 {
				fmt.Fprintf(os.Stderr, "bad size %q\n", s)
				os.Exit(2)
			}
			cfg.Sizes = append(cfg.Sizes, n)
		}
	}
	if *huge && !slices.Contains(cfg.Sizes, 10_000_000) {
		cfg.Sizes = append(cfg.Sizes, 10_000_000)
	}
	slices.Sort(cfg.Sizes)
	cfg.Jobs = cfg.Sizes[len(cfg.Sizes)-1]
	for _, s := range strings.Split(ingestKs, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n > 0 {
			cfg.Ingest = append(cfg.Ingest, n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// moduleRoot finds the directory of go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the bench inside the gantry module")
	}
	return filepath.Dir(mod), nil
}

func run(ctx context.Context, cfg *config) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join(root, "bench", "results")
	}
	if err := os.MkdirAll(cfg.Work, 0o755); err != nil {
		return err
	}
	if cfg.ProfileDir != "" {
		if cfg.ProfileDir, err = filepath.Abs(cfg.ProfileDir); err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	res := newResults(cfg)
	res.Database, res.Coordinators = "sqlite", cfg.Coordinators
	if cfg.pg() {
		res.Database = "postgres"
		if v := pgVersion(ctx, cfg.Database); v != "" {
			res.Database += " " + v
		}
	}
	logf("machine: %s, %d cores; load average %s; %s, %d coordinator(s)", res.Machine.CPU, res.Machine.Cores, res.Machine.LoadAvg,
		res.Database, cfg.Coordinators)
	logf("building gantry")
	bin, err := buildBinaries(root, cfg.Work, cfg.ProfileDir != "")
	if err != nil {
		return err
	}
	serverLog := filepath.Join(cfg.Work, "gantry.log")
	// start runs the coordinators on the data set of n jobs (0: empty).
	start := func(n int64) (cluster, error) {
		dir, db := dataDir(cfg, n), ""
		if cfg.pg() {
			var err error
			if db, err = schemaURL(cfg.Database, schemaName(n)); err != nil {
				return nil, err
			}
		}
		return startCluster(ctx, cfg.Coordinators, bin, dir, db, cfg.RootToken, serverLog, cfg.ProfileDir != "")
	}
	// emptyData makes the empty data set (dir, and schema on PostgreSQL).
	emptyData := func() error {
		_ = os.RemoveAll(dataDir(cfg, 0))
		if cfg.pg() {
			return resetSchema(ctx, cfg.Database, schemaName(0))
		}
		return nil
	}

	// Footprint of an empty server.
	if cfg.Parts["footprint"] {
		if err := emptyData(); err != nil {
			return err
		}
		g, err := start(0)
		if err != nil {
			return err
		}
		time.Sleep(time.Second)
		res.Footprint.IdleRSSMB = rssMB(g[0].Pid)
		res.Footprint.ReadyEmptyMs = ms(g.readyIn())
		g.stop()
		logf("empty server: ready in %.0f ms, idle RSS %.1f MB", res.Footprint.ReadyEmptyMs, res.Footprint.IdleRSSMB)
	}

	// Seed every size.
	seeds := map[int64]*seedInfo{}
	for _, n := range cfg.Sizes {
		dir := seedDir(cfg, n)
		if cfg.Reuse || !cfg.Parts["seed"] {
			if si, err := loadSeedInfo(dir); err == nil && (!cfg.pg() || schemaSeeded(ctx, cfg.Database, schemaName(n))) {
				seeds[n] = si
				res.Seeds = append(res.Seeds, si)
				logf("reusing %d jobs in %s", n, dir)
				continue
			}
			if !cfg.Parts["seed"] && !cfg.Reuse {
				continue
			}
		}
		o := seedOpts{Jobs: n, RootToken: cfg.RootToken, Dir: dir}
		if cfg.pg() {
			if err := resetSchema(ctx, cfg.Database, schemaName(n)); err != nil {
				return err
			}
			if o.Database, err = schemaURL(cfg.Database, schemaName(n)); err != nil {
				return err
			}
			logf("seeding %d jobs into PostgreSQL schema %s (blobs in %s)", n, schemaName(n), dir)
		} else {
			logf("seeding %d jobs into %s", n, dir)
		}
		si, err := seed(ctx, o)
		if err != nil {
			return fmt.Errorf("seed %d: %w", n, err)
		}
		if err := saveSeedInfo(dir, si); err != nil {
			return err
		}
		seeds[n] = si
		res.Seeds = append(res.Seeds, si)
		logf("  %d jobs, %d pipelines, %d artifacts in %.1f s (%.0f jobs/s), %.0f MB on disk", si.Jobs, si.Pipelines,
			si.Artifacts, si.Seconds, si.JobsPerSec, float64(si.DBBytes)/(1<<20))
		if si.AnalyzeSecs > 0 {
			logf("  VACUUM (ANALYZE) %.1f s", si.AnalyzeSecs)
		}
	}

	largest := cfg.Sizes[len(cfg.Sizes)-1]
	var big cluster
	defer func() { big.stop() }()
	for _, n := range cfg.Sizes {
		si := seeds[n]
		if si == nil || !(cfg.Parts["reads"] || cfg.Parts["web"] || (n == largest && cfg.Parts["footprint"])) {
			continue
		}
		if n == largest && cfg.Parts["footprint"] {
			var readies []float64
			for range max(0, cfg.ReadyRuns-1) {
				g, err := start(n)
				if err != nil {
					return err
				}
				readies = append(readies, ms(g.readyIn()))
				g.stop()
			}
			g, err := start(n)
			if err != nil {
				return err
			}
			readies = append(readies, ms(g.readyIn()))
			slices.Sort(readies)
			res.Footprint.ReadyJobs = n
			res.Footprint.ReadyMs = readies
			time.Sleep(time.Second)
			res.Footprint.DataRSSMB = rssMB(g[0].Pid)
			logf("%d jobs: ready in %v ms, RSS after start %.1f MB", n, readies, res.Footprint.DataRSSMB)
			big = g
		}
		g := big
		if n != largest || g == nil {
			if g, err = start(n); err != nil {
				return err
			}
		}
		if cfg.Parts["reads"] {
			logf("reads at %d jobs (%d connections, best of %d)", n, cfg.ReadConc, cfg.Repeat)
			rows, peak, err := runReads(ctx, cfg, g, si)
			if err != nil {
				g.stop()
				return err
			}
			res.Reads = append(res.Reads, rows...)
			res.Footprint.ReadsPeakRSSMB = max(res.Footprint.ReadsPeakRSSMB, peak)
			res.Footprint.ReadsRSSJobs = n
		}
		if cfg.Parts["web"] {
			logf("web pages at %d jobs (time to first byte, one connection)", n)
			rows, err := runWebReads(ctx, cfg, g, si)
			if err != nil {
				g.stop()
				return err
			}
			res.Web = append(res.Web, rows...)
		}
		if n == largest {
			big = g
		} else {
			g.stop()
		}
	}

	writes := cfg.Parts["pipelines"] || cfg.Parts["pickup"] || cfg.Parts["wake"] || cfg.Parts["ingest"] || cfg.Parts["web"]
	if writes {
		if big == nil {
			n := largest
			if seeds[largest] == nil {
				if n = 0; !cfg.Parts["footprint"] {
					if err := emptyData(); err != nil {
						return err
					}
				}
			}
			if big, err = start(n); err != nil {
				return err
			}
		}
		if err := runWrites(ctx, cfg, big, res); err != nil {
			return err
		}
	}
	if big != nil {
		res.Footprint.EndRSSMB = rssMBs(big.pids())
		for _, pid := range big.pids() {
			res.Footprint.PeakHWMMB += float64(procStatus(pid, "VmHWM")) / 1024
		}
	}
	big.stop()
	big = nil
	if cfg.Parts["metrics"] {
		logf("metrics overhead: pick-up of %d jobs by %d runners with metrics off, on, and scraped every second", cfg.MetricsJobs, cfg.Runners)
		mr, err := runMetricsOverhead(ctx, cfg, bin, serverLog, emptyData)
		if err != nil {
			return err
		}
		res.Metrics = mr
	}
	return res.write(cfg)
}

// seedDir is the data dir of the data set with n jobs: gantry.db and blobs
// on SQLite, blobs only on PostgreSQL (its rows are in schema bench_<n>).
func seedDir(cfg *config, n int64) string {
	if cfg.pg() {
		return filepath.Join(cfg.Work, fmt.Sprintf("pg-seed-%d", n))
	}
	return filepath.Join(cfg.Work, fmt.Sprintf("seed-%d", n))
}

// dataDir is seedDir, or the empty data set's dir for n = 0.
func dataDir(cfg *config, n int64) string {
	if n == 0 {
		if cfg.pg() {
			return filepath.Join(cfg.Work, "pg-empty")
		}
		return filepath.Join(cfg.Work, "empty")
	}
	return seedDir(cfg, n)
}

func saveSeedInfo(dir string, si *seedInfo) error {
	b, err := json.MarshalIndent(si, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "seed.json"), b, 0o644)
}

func loadSeedInfo(dir string) (*seedInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, "seed.json"))
	if err != nil {
		return nil, err
	}
	var si seedInfo
	return &si, json.Unmarshal(b, &si)
}

// runWrites runs pipeline creation, pick-up, wake-up and ingest on g.
func runWrites(ctx context.Context, cfg *config, g cluster, res *results) error {
	a := &api{lb: newBalancer(g.urls()...), token: cfg.RootToken, client: newClient(64)}
	name := fmt.Sprintf("bench-ci-%d", time.Now().Unix())
	logf("write phases on %s: project %s pushed with git", strings.Join(g.urls(), ", "), name)
	pid, err := setupCIProject(ctx, a, cfg.Work, name)
	if err != nil {
		return err
	}
	runnerHTTP := newClient(cfg.Runners + 16)
	rs, err := registerRunners(ctx, a, cfg.Runners, runnerHTTP)
	if err != nil {
		return err
	}
	pending := 0
	if cfg.Parts["pipelines"] {
		logf("pipeline creation: %d pipelines of 50 jobs, %d callers", cfg.Pipelines, cfg.PipeConc)
		rss := sampleRSS(g.pids()...)
		g.cpuProfile(cfg.profilePath("pipelines"))
		cpu0 := g.cpuSeconds()
		st, ids, err := createPipelines(ctx, a, pid, "main", cfg.Pipelines, cfg.PipeConc, 5*time.Minute)
		cpu := g.cpuSeconds() - cpu0
		g.cpuProfile("")
		res.Footprint.WritesPeakRSSMB = max(res.Footprint.WritesPeakRSSMB, rss.stop())
		if err != nil {
			return err
		}
		pending += 50 * len(ids)
		res.Pipelines = &pipelineResult{Pipelines: len(ids), JobsEach: 50, Concurrency: cfg.PipeConc, Latency: st, PerSecond: st.PerSecond}
		if len(ids) > 0 {
			res.Pipelines.CPUms = 1000 * cpu / float64(len(ids))
		}
		logf("  %.1f pipelines/s (%.0f jobs/s), p50 %.1f ms p99 %.1f ms, server CPU %.2f ms per pipeline", st.PerSecond, st.PerSecond*50,
			st.P50ms, st.P99ms, res.Pipelines.CPUms)
	}
	if cfg.Parts["pickup"] {
		if need := cfg.PickupJobs - pending; need > 0 {
			logf("creating %d more pipelines for pick-up", (need+49)/50)
			_, ids, err := createPipelines(ctx, a, pid, "main", (need+49)/50, cfg.PipeConc, 10*time.Minute)
			if err != nil {
				return err
			}
			pending += 50 * len(ids)
		}
		logf("pick-up: %d pending jobs, %d runners", pending, len(rs))
		rss := sampleRSS(g.pids()...)
		g.cpuProfile(cfg.profilePath("pickup"))
		cpu0 := g.cpuSeconds()
		pr, err := pickup(ctx, rs, pending)
		cpu := g.cpuSeconds() - cpu0
		g.cpuProfile("")
		res.Footprint.WritesPeakRSSMB = max(res.Footprint.WritesPeakRSSMB, rss.stop())
		if err != nil {
			return err
		}
		pending -= pr.Jobs
		if pr.Jobs > 0 {
			pr.CPUms = 1000 * cpu / float64(pr.Jobs)
		}
		res.Pickup = &pr
		logf("  %d jobs in %.1f s: %.0f jobs/s; request p50 %.1f p99 %.1f ms; final PUT p99 %.1f ms; errors %d; server CPU %.2f ms per job", pr.Jobs, pr.Seconds,
			pr.PerSecond, pr.Request.P50ms, pr.Request.P99ms, pr.Success.P99ms, pr.Errors, pr.CPUms)
	}
	if cfg.Parts["wake"] && pending <= 0 {
		n := min(10, len(rs))
		logf("long-poll wake-up: %d parked runners, %d samples", n, cfg.WakeN)
		g.cpuProfile(cfg.profilePath("wake"))
		wr, err := wake(ctx, a, rs[:n], pid, cfg.WakeN)
		g.cpuProfile("")
		if err != nil {
			return err
		}
		res.Wake = &wr
		logf("  trigger→job p50 %.1f ms p99 %.1f ms (play call p50 %.1f ms)", wr.Wake.P50ms, wr.Wake.P99ms, wr.Play.P50ms)
	} else if cfg.Parts["wake"] {
		logf("skipping wake-up: %d untaken pending jobs would answer the long polls at once", pending)
	}
	if cfg.Parts["web"] {
		logf("live log: %d running jobs watched through %s, one line each every %v, for %v", cfg.Viewers, g[0].URL, cfg.ViewerTick, cfg.ViewerDur)
		lr, err := liveLatency(ctx, a, rs, g, pid, cfg.Viewers, cfg.ViewerTick, cfg.ViewerDur)
		if err != nil {
			return err
		}
		res.Live = &lr
		logf("  PATCH acknowledged → event: p50 %.1f ms p99 %.1f ms max %.1f ms; %d lines, %d missed", lr.Latency.P50ms,
			lr.Latency.P99ms, lr.Latency.Maxms, lr.Latency.N, lr.Missed)
		logf("large log: %d bytes into a running job, then its page and tail", cfg.TailLogSize)
		tr, err := tailLatency(ctx, a, rs, g, pid, cfg.TailLogSize)
		if err != nil {
			return err
		}
		res.Tail = &tr
		logf("  job page TTFB p50 %.1f ms; tail request p50 %.1f ms; together p50 %.1f ms max %.1f ms", tr.Page.P50ms,
			tr.Tail.P50ms, tr.Total.P50ms, tr.Total.Maxms)
	}
	if cfg.Parts["ingest"] {
		for _, k := range cfg.Ingest {
			modes := []time.Duration{0}
			if cfg.IngestTick > 0 {
				modes = append(modes, cfg.IngestTick)
			}
			for _, tick := range modes {
				logf("log ingest: %d running jobs, %d-byte PATCHes, interval %v, %v", k, cfg.Chunk, tick, cfg.IngestDur)
				rss := sampleRSS(g.pids()...)
				g.cpuProfile(cfg.profilePath(fmt.Sprintf("ingest-%d-%s", k, map[bool]string{true: "max", false: "paced"}[tick == 0])))
				ir, err := ingest(ctx, a, rs, pid, k, cfg.Chunk, tick, cfg.IngestDur, g.cpuSeconds)
				g.cpuProfile("")
				peak := rss.stop()
				res.Footprint.WritesPeakRSSMB = max(res.Footprint.WritesPeakRSSMB, peak)
				if err != nil {
					return err
				}
				res.Ingest = append(res.Ingest, ir)
				logf("  %.2f MB/s, %d PATCHes p50 %.1f ms p99 %.1f ms; read back %d logs: %d mismatched, %d bytes lost; peak RSS %.0f MB; server CPU %.3f ms per PATCH",
					ir.MBps, ir.Patch.N, ir.Patch.P50ms, ir.Patch.P99ms, ir.Verified, ir.Mismatched, ir.LostBytes, peak, ir.CPUms)
			}
		}
	}
	return nil
}
