package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// metricsRun is one pick-up run of the metrics overhead part.
type metricsRun struct {
	// Mode is "off" (no --metrics-listen), "on" (metrics recorded, never
	// scraped) or "scraped" (GET /metrics every second during pick-up).
	Mode       string  `json:"mode"`
	Jobs       int     `json:"jobs"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"jobs_per_second"`
	RequestP50 float64 `json:"request_p50_ms"`
	RequestP99 float64 `json:"request_p99_ms"`
	SuccessP99 float64 `json:"put_success_p99_ms"`
	// ServerCPUPerJob is the coordinator's CPU time per job picked up, run
	// and finished, in milliseconds (user + system, from /proc).
	ServerCPUPerJob float64 `json:"server_cpu_ms_per_job"`
	Errors          int     `json:"errors"`
	Scrapes         stats   `json:"scrapes"`
	ScrapeBytes     int     `json:"scrape_bytes,omitempty"`
}

// metricsResult compares pick-up with metrics off, on, and on and scraped.
type metricsResult struct {
	Runners int          `json:"runners"`
	Runs    []metricsRun `json:"runs"`
}

// metricsModes are the modes of the metrics part, in run order.
var metricsModes = []string{"off", "on", "scraped"}

// runMetricsOverhead runs pick-up of cfg.MetricsJobs jobs on an empty data
// set once per mode (cfg.MetricsRepeat rounds, modes interleaved so that a
// change in the machine's other load hits every mode alike).
func runMetricsOverhead(ctx context.Context, cfg *config, bin, serverLog string, emptyData func() error) (*metricsResult, error) {
	out := &metricsResult{Runners: cfg.Runners}
	for round := range max(1, cfg.MetricsRepeat) {
		for _, mode := range metricsModes {
			if err := emptyData(); err != nil {
				return nil, err
			}
			dir, db := dataDir(cfg, 0), ""
			if cfg.pg() {
				var err error
				if db, err = schemaURL(cfg.Database, schemaName(0)); err != nil {
					return nil, err
				}
			}
			var extra []string
			metricsURL := ""
			if mode != "off" {
				addr, err := freePort()
				if err != nil {
					return nil, err
				}
				extra, metricsURL = []string{"--metrics-listen", addr}, "http://"+addr+"/metrics"
			}
			if db != "" {
				extra = append(extra, "--database", db)
			}
			g, err := startGantry(ctx, bin, dir, cfg.RootToken, serverLog, false, extra...)
			if err != nil {
				return nil, err
			}
			r, err := metricsPickup(ctx, cfg, cluster{g}, metricsURL, mode == "scraped", fmt.Sprintf("bench-metrics-%s-%d", mode, round))
			g.stop()
			if err != nil {
				return nil, err
			}
			r.Mode = mode
			out.Runs = append(out.Runs, r)
			logf("  metrics %-7s %d jobs in %.1f s: %.0f jobs/s; request p50 %.1f p99 %.1f ms; %.2f ms server CPU per job; %d scrapes p50 %.1f ms",
				mode, r.Jobs, r.Seconds, r.PerSecond, r.RequestP50, r.RequestP99, r.ServerCPUPerJob, r.Scrapes.N, r.Scrapes.P50ms)
		}
	}
	return out, nil
}

// metricsPickup sets up a project, creates the pending jobs and has the
// runners take them, scraping metricsURL every second when scrape is set.
func metricsPickup(ctx context.Context, cfg *config, g cluster, metricsURL string, scrape bool, name string) (metricsRun, error) {
	a := &api{lb: newBalancer(g.urls()...), token: cfg.RootToken, client: newClient(64)}
	pid, err := setupCIProject(ctx, a, cfg.Work, name)
	if err != nil {
		return metricsRun{}, err
	}
	rs, err := registerRunners(ctx, a, cfg.Runners, newClient(cfg.Runners+16))
	if err != nil {
		return metricsRun{}, err
	}
	_, ids, err := createPipelines(ctx, a, pid, "main", (cfg.MetricsJobs+49)/50, cfg.PipeConc, 10*time.Minute)
	if err != nil {
		return metricsRun{}, err
	}
	var scrapes latencies
	var scrapeBytes int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if scrape {
		client := &http.Client{Timeout: 10 * time.Second}
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				t0 := time.Now()
				st, _, body, err := fetch(ctx, client, "GET", metricsURL, nil, nil)
				if err == nil && st == 200 {
					scrapes.add(time.Since(t0))
					scrapeBytes = len(body)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
	}
	cpu0 := cpuSeconds(g[0].Pid)
	pr, err := pickup(ctx, rs, 50*len(ids))
	cpu := cpuSeconds(g[0].Pid) - cpu0
	close(stop)
	wg.Wait()
	if err != nil {
		return metricsRun{}, err
	}
	r := metricsRun{Jobs: pr.Jobs, Seconds: pr.Seconds, PerSecond: pr.PerSecond, RequestP50: pr.Request.P50ms,
		RequestP99: pr.Request.P99ms, SuccessP99: pr.Success.P99ms, Errors: pr.Errors,
		Scrapes: scrapes.stats(time.Duration(pr.Seconds*float64(time.Second)), 0), ScrapeBytes: scrapeBytes}
	if pr.Jobs > 0 {
		r.ServerCPUPerJob = 1000 * cpu / float64(pr.Jobs)
	}
	return r, nil
}
