package pipeline

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantryci/gantry/internal/blob"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// SweepConfig sets the background periods.
type SweepConfig struct {
	// Interval between sweeps.
	Interval time.Duration
	// RunningStale fails running jobs whose runner went silent this long
	// (GitLab: 1 h).
	RunningStale time.Duration
	// PendingStale fails pending jobs nobody took this long (GitLab: 1 day).
	PendingStale time.Duration
	// Owner names this process for the cluster-wide sweep lease.
	Owner string
}

// withDefaults fills in GitLab's periods where cfg leaves them zero.
func (cfg SweepConfig) withDefaults() SweepConfig {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.RunningStale <= 0 {
		cfg.RunningStale = time.Hour
	}
	if cfg.PendingStale <= 0 {
		cfg.PendingStale = 24 * time.Hour
	}
	return cfg
}

// Sweep runs background work until ctx ends: pipelines whose processing a
// dead coordinator left unfinished, delayed jobs that are due, jobs past
// their timeout, stuck jobs, and expired artifacts. A lease in the
// store makes one coordinator of a cluster do it at a time.
func (s *Service) Sweep(ctx context.Context, cfg SweepConfig) {
	cfg = cfg.withDefaults()
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		ok, err := s.store.TryLock(ctx, "sweeper", cfg.Owner, s.Now().Add(3*cfg.Interval))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sweep lease", "err", err)
		}
		if ok {
			s.SweepOnce(ctx, cfg)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepOnce does one round of background work. Each task is timed and
// its errors counted for the metrics (Observer.BackgroundRun).
func (s *Service) SweepOnce(ctx context.Context, cfg SweepConfig) {
	cfg = cfg.withDefaults()
	now := s.Now()
	// Processing owed for longer than a sweep interval: the coordinator
	// that changed a job died before processing its pipeline (normally
	// that takes milliseconds). One batch per sweep, since a pipeline
	// whose processing fails stays dirty and must not hold the sweep in a
	// loop.
	s.sweepTask("recover_pipelines", func(logErr func(string, error)) {
		dirty, err := s.store.DirtyPipelines(ctx, now.Add(-cfg.Interval), 500)
		logErr("sweep dirty pipelines", err)
		for _, id := range dirty {
			s.log.Info("processing a pipeline left unprocessed", "pipeline", id)
			if err := s.recoverPipeline(ctx, id, now); err != nil {
				logErr("recover pipeline", fmt.Errorf("pipeline %d: %w", id, err))
			}
		}
	})
	// Pushes recorded but still owed their pipelines: the coordinator
	// that accepted them died before creating them.
	s.sweepTask("push_pipelines", func(logErr func(string, error)) {
		logErr("push pipelines", s.CreatePushPipelines(ctx, 0))
	})
	// Delayed jobs whose time has come.
	s.sweepTask("enqueue_scheduled", func(logErr func(string, error)) {
		due, err := s.store.JobsToSweep(ctx, store.SweepFilter{Statuses: []ci.Status{ci.StatusScheduled}, ScheduledBefore: &now})
		logErr("sweep scheduled", err)
		for _, j := range due {
			err := s.transition(ctx, j, ci.EventEnqueueScheduled, ci.Guards{ScheduledAt: j.ScheduledAt, Now: now.Add(time.Millisecond),
				HasResourceGroup: j.ResourceGroup != ""}, nil)
			if err == nil {
				logErr("process", s.Process(ctx, j.PipelineID))
			}
		}
	})
	// Running jobs past their timeout, or whose runner went silent.
	s.sweepTask("drop_stuck_running", func(logErr func(string, error)) {
		running, err := s.store.JobsToSweep(ctx, store.SweepFilter{Statuses: []ci.Status{ci.StatusRunning, ci.StatusCanceling}})
		logErr("sweep running", err)
		for _, j := range running {
			switch {
			case j.Timeout > 0 && j.StartedAt != nil && now.Sub(*j.StartedAt) > time.Duration(j.Timeout)*time.Second+time.Minute:
				logErr("drop timed out job", s.dropQuiet(ctx, j, ci.FailureJobExecutionTimeout))
			case now.Sub(j.UpdatedAt) > cfg.RunningStale:
				logErr("drop stuck job", s.dropQuiet(ctx, j, ci.FailureStuckOrTimeout))
			}
		}
	})
	s.sweepTask("drop_stuck_pending", func(logErr func(string, error)) {
		stale := now.Add(-cfg.PendingStale)
		pending, err := s.store.JobsToSweep(ctx, store.SweepFilter{Statuses: []ci.Status{ci.StatusPending}, UpdatedBefore: &stale})
		logErr("sweep pending", err)
		for _, j := range pending {
			logErr("drop stuck pending job", s.dropQuiet(ctx, j, "stuck_pending_with_matching_runners"))
		}
	})
	s.removeStaleUploads(ctx, now)
	// Expired artifacts.
	s.sweepTask("expire_artifacts", func(logErr func(string, error)) {
		arts, err := s.store.ExpiredArtifacts(ctx, now, 500)
		logErr("sweep artifacts", err)
		for _, a := range arts {
			if a.FileType == "trace" {
				continue
			}
			s.deleteBlobs(ctx, []string{a.BlobKey})
			logErr("delete artifact", s.store.DeleteArtifactByID(ctx, a.ID))
		}
	})
}

// sweepTask runs one task of the sweep with an error logger that also
// counts, and reports the run to the observer.
func (s *Service) sweepTask(task string, fn func(logErr func(string, error))) {
	start, errs := time.Now(), 0
	fn(func(what string, err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			errs++
		}
		s.logErr(what, err)
	})
	s.obs.BackgroundRun(task, time.Since(start), errs)
}

// staleUploadAge is how long a blob's temporary file may go unwritten
// before the sweeper takes it for the remains of a write a crash cut off.
// Uploads stream, so a live one touches its file far more often.
const staleUploadAge = time.Hour

// removeStaleUploads deletes such remains, at most once per
// staleUploadAge per coordinator (it walks the whole blob tree), the
// first time at start.
func (s *Service) removeStaleUploads(ctx context.Context, now time.Time) {
	c, ok := s.blobs.(blob.TempCleaner)
	if !ok {
		return
	}
	last := s.lastTempSweep.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < staleUploadAge {
		return
	}
	s.lastTempSweep.Store(now.UnixNano())
	s.sweepTask("remove_stale_uploads", func(logErr func(string, error)) {
		n, err := c.RemoveStaleTemp(ctx, now.Add(-staleUploadAge))
		logErr("remove stale uploads", err)
		if n > 0 {
			s.log.Info("removed temporary files of uploads a crash cut off", "files", n)
		}
	})
}

// bridgeTriggerGrace is how long a bridge may stay pending without a
// downstream pipeline before the sweeper triggers it: the processing that
// made it pending triggers it at once, unless its coordinator died.
const bridgeTriggerGrace = time.Minute

// recoverPipeline finishes what a dead coordinator left undone on a
// pipeline: its processing, and bridges it made pending but never
// triggered.
func (s *Service) recoverPipeline(ctx context.Context, id int64, now time.Time) error {
	jobs, err := s.store.PipelineJobs(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	for _, b := range jobs {
		if b.Kind == ci.KindBridge && b.Status == ci.StatusPending && b.DownstreamPipelineID == 0 &&
			now.Sub(b.UpdatedAt) > bridgeTriggerGrace {
			if err := s.triggerDownstream(ctx, b); err != nil {
				return err
			}
		}
	}
	if err := s.Process(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func (s *Service) dropQuiet(ctx context.Context, j *ci.Job, reason string) error {
	err := s.Drop(ctx, j, reason)
	if isStale(err) || errors.Is(err, ci.ErrInvalidTransition) {
		return nil
	}
	return err
}

func (s *Service) logErr(what string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn(what, "err", err)
	}
}
