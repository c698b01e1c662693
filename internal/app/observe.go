package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/metrics"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlstore"
)

// newMetrics builds the registry with its store-backed gauges: pending and
// running are COUNTs on the indexed status column at scrape time, so they
// are the database's numbers (right across coordinators and restarts) and
// cost nothing between scrapes.
func newMetrics(db store.Store, parked func() int64) *metrics.Metrics {
	builds := func(s ci.Status) store.JobFilter {
		return store.JobFilter{Kind: store.BuildsOnly, Statuses: []ci.Status{s}}
	}
	return metrics.New(metrics.Sources{
		Jobs: func(ctx context.Context) (int, int, error) {
			p, err := db.CountJobs(ctx, builds(ci.StatusPending))
			if err != nil {
				return 0, 0, err
			}
			r, err := db.CountJobs(ctx, builds(ci.StatusRunning))
			return p, r, err
		},
		Runners: func(ctx context.Context) ([]metrics.RunnerContact, error) {
			rs, err := db.ListRunners(ctx, store.RunnerFilter{})
			if err != nil {
				return nil, err
			}
			out := make([]metrics.RunnerContact, 0, len(rs))
			for _, r := range rs {
				c := metrics.RunnerContact{ID: r.ID, Type: r.RunnerType}
				if r.ContactedAt != nil {
					c.ContactedAt = *r.ContactedAt
				}
				out = append(out, c)
			}
			return out, nil
		},
		Parked: parked,
	})
}

// storeHooks records transactions and job changes: the metrics (when on)
// and the job lifecycle log lines.
func storeHooks(m *metrics.Metrics, log *slog.Logger) sqlstore.Hooks {
	h := sqlstore.Hooks{JobMoved: jobLifecycle(m, log)}
	if m != nil {
		h.Transaction = m.Transaction
	}
	return h
}

// jobLifecycle logs a job's life (created, queued, picked up, finished)
// and counts finished jobs. The store calls it once per committed change,
// on the coordinator that made it.
func jobLifecycle(m *metrics.Metrics, log *slog.Logger) func(j *ci.Job, from ci.Status) {
	return func(j *ci.Job, from ci.Status) {
		attrs := []any{"job_id", j.ID, "pipeline_id", j.PipelineID, "project_id", j.ProjectID, "job_name", j.Name}
		switch {
		case from == "":
			log.Info("job created", append(attrs, "status", string(j.Status))...)
			if j.Status == ci.StatusPending {
				log.Info("job queued", attrs...)
			}
		case j.Status == ci.StatusPending:
			log.Info("job queued", append(attrs, "from", string(from))...)
		case from == ci.StatusPending && j.Status == ci.StatusRunning:
			attrs = append(attrs, "runner_id", j.RunnerID)
			if j.QueuedAt != nil && j.StartedAt != nil {
				attrs = append(attrs, "queued_ms", j.StartedAt.Sub(*j.QueuedAt).Milliseconds())
			}
			log.Info("job picked up", attrs...)
		case j.Status.Complete():
			attrs = append(attrs, "status", string(j.Status))
			if j.FailureReason != "" {
				attrs = append(attrs, "failure_reason", j.FailureReason)
			}
			if j.RunnerID != 0 {
				attrs = append(attrs, "runner_id", j.RunnerID)
			}
			if j.StartedAt != nil && j.FinishedAt != nil {
				attrs = append(attrs, "duration_ms", j.FinishedAt.Sub(*j.StartedAt).Milliseconds())
			}
			log.Info("job finished", attrs...)
			if m != nil {
				m.JobFinished(string(j.Status), j.FailureReason)
			}
		}
	}
}

// requestObserver is m as the request observer, nil when metrics are off
// (never a typed nil).
func requestObserver(m *metrics.Metrics) httpx.RequestObserver {
	if m == nil {
		return nil
	}
	return m
}

// serveMetrics serves /metrics, and nothing else, on its own listener; the
// API listener never serves it. The metrics are unauthenticated, as
// GitLab's exporters are, so the listener should stay on loopback or a
// private network (GitLab restricts its own /-/metrics to
// monitoring.ip_whitelist, loopback by default).
func serveMetrics(ln net.Listener, m *metrics.Metrics, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	addr := ln.Addr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Warn("metrics listener is not on loopback: /metrics has no authentication", "listen", addr)
		}
	}
	log.Info("metrics serving", "listen", addr, "path", "/metrics")
	return hs
}
