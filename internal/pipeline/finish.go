package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/store"
)

// Finish records a runner's final state for a job: success, or failed with
// a reason and exit code. A canceling job ends canceled either way.
func (s *Service) Finish(ctx context.Context, j *ci.Job, success bool, reason string, exitCode *int) error {
	d, err := Definition(j)
	if err != nil {
		return err
	}
	ev := ci.EventDrop
	if success {
		ev = ci.EventSuccess
	}
	if reason == "" && !success {
		reason = ci.FailureScript
	}
	return s.finalize(ctx, j, d, ev, func(j *ci.Job, trace []byte) {
		j.ExitCode = exitCode
		if d.Coverage != "" {
			if c, ok := parseCoverage(d.Coverage, trace); ok {
				j.Coverage = &c
			}
		}
		if j.Status == ci.StatusFailed {
			j.FailureReason = reason
			if exitCode != nil && slices.Contains(d.AllowFailureExitCodes, *exitCode) {
				j.AllowFailure = true
			}
		}
	})
}

// Drop fails a job for a server-side reason (timeouts, stuck jobs).
func (s *Service) Drop(ctx context.Context, j *ci.Job, reason string) error {
	d, err := Definition(j)
	if err != nil {
		return err
	}
	return s.finalize(ctx, j, d, ci.EventDrop, func(j *ci.Job, _ []byte) {
		if j.Status == ci.StatusFailed {
			j.FailureReason = reason
		}
	})
}

// finalize fires ev, which ends the job, and stores the final state
// together with the archived log (job.log, written to the blob store
// first), then retries automatically when retry: allows it and processes
// the pipeline. mutate sees the job after the transition and its log.
func (s *Service) finalize(ctx context.Context, j *ci.Job, d *ciconfig.Job, ev ci.Event, mutate func(*ci.Job, []byte)) error {
	now := s.Now()
	saved := *j
	from, err := j.Fire(ev, ci.Guards{Now: now})
	if err != nil {
		return err
	}
	trace, err := s.store.ReadTrace(ctx, j.ID)
	if err != nil {
		// The final state matters more than the log: the live log stays
		// readable and is archived by a later cancel or erase.
		s.log.Warn("read trace", "job", j.ID, "err", err)
		trace = nil
	}
	var art *ci.Artifact
	if len(trace) > 0 {
		if art, err = s.putTrace(ctx, j, trace); err != nil {
			s.log.Warn("archive trace", "job", j.ID, "err", err)
		}
	}
	mutate(j, trace)
	replaced, err := s.store.FinishJob(ctx, j, from, art)
	if err != nil {
		*j = saved
		return err
	}
	s.deleteReplaced(ctx, replaced, art)
	retry := j.Status == ci.StatusFailed && shouldAutoRetry(d, j)
	if err := s.cancelOnJobFailure(ctx, j, retry); err != nil {
		return err
	}
	if retry {
		clone := s.clone(j, j.UserID, true)
		clone.JobVariables = j.JobVariables
		if err := s.store.InsertJobs(ctx, []*ci.Job{clone}, []string{j.Name}); err != nil {
			return err
		}
		return s.afterRevive(ctx, j.PipelineID, clone.ID)
	}
	return s.processCoalesced(ctx, j.PipelineID)
}

// cancelOnJobFailure cancels the rest of the pipeline of a job that just
// failed, when the pipeline's workflow:auto_cancel:on_job_failure is all
// (Ci::Pipeline#cancel_async_on_job_failure; GitLab cancels the whole
// pipeline with Ci::CancelPipelineService, downstream pipelines included).
func (s *Service) cancelOnJobFailure(ctx context.Context, j *ci.Job, autoRetried bool) error {
	if j.Status != ci.StatusFailed {
		return nil
	}
	p, err := s.store.PipelineByID(ctx, j.PipelineID)
	if err != nil {
		return err
	}
	if !ci.CancelsPipelineOnFailure(p, j, autoRetried) {
		return nil
	}
	s.log.Info("auto-canceling pipeline on job failure", "pipeline", p.ID, "job", j.ID)
	_, err = s.CancelPipeline(ctx, p.ID)
	return err
}

// shouldAutoRetry is Build#retry_on_reason_or_always? with retry: max.
func shouldAutoRetry(d *ciconfig.Job, j *ci.Job) bool {
	if d.Retry == nil || j.RetryCount >= d.Retry.Max {
		return false
	}
	if len(d.Retry.ExitCodes) > 0 {
		if j.ExitCode == nil || !slices.Contains(d.Retry.ExitCodes, *j.ExitCode) {
			return false
		}
	}
	if len(d.Retry.When) == 0 || slices.Contains(d.Retry.When, "always") {
		return true
	}
	// retry:when values are failure reason names.
	return slices.Contains(d.Retry.When, j.FailureReason)
}

// ArchiveTrace moves a finished job's live log into its trace artifact
// (job.log) and returns the log.
func (s *Service) ArchiveTrace(ctx context.Context, j *ci.Job) ([]byte, error) {
	data, err := s.store.ReadTrace(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return data, nil
	}
	art, err := s.putTrace(ctx, j, data)
	if err != nil {
		return data, err
	}
	replaced, err := s.store.ReplaceArtifact(ctx, art)
	if err != nil {
		return data, err
	}
	s.deleteReplaced(ctx, replaced, art)
	return data, s.store.DeleteTrace(ctx, j.ID)
}

// putTrace writes a job's log to the blob store as its job.log artifact,
// to be recorded in the database.
func (s *Service) putTrace(ctx context.Context, j *ci.Job, data []byte) (*ci.Artifact, error) {
	key := fmt.Sprintf("traces/%d/%d/job.log", j.ProjectID, j.ID)
	size, err := s.blobs.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return &ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "trace", FileFormat: "raw",
		Filename: "job.log", Size: size, BlobKey: key}, nil
}

// deleteReplaced removes the blobs of replaced artifacts, except the one
// just written under the same key.
func (s *Service) deleteReplaced(ctx context.Context, keys []string, kept *ci.Artifact) {
	for _, k := range keys {
		if kept == nil || k != kept.BlobKey {
			s.deleteBlobs(ctx, []string{k})
		}
	}
}

// parseCoverage finds the last match of the coverage regex in the log and
// reads the first number in it, as GitLab does.
func parseCoverage(pattern string, trace []byte) (float64, bool) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, false
	}
	matches := re.FindAll(trace, -1)
	if len(matches) == 0 {
		return 0, false
	}
	num := regexp.MustCompile(`\d+(\.\d+)?`).Find(matches[len(matches)-1])
	if num == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	return f, err == nil
}

// ErrNotRunning means a runner report came for a job no longer executing.
var ErrNotRunning = errors.New("job is not running")

// ClaimJob hands a runner the oldest pending build it may take, then
// processes the job's pipeline if the start can change it: in GitLab any
// job transition triggers processing, so the pipeline of a job that starts
// becomes running. The store records the claim as the status machine's run
// transition in one atomic statement (or transaction) that also marks the
// pipeline when it is not running yet (ci.StartNeedsProcessing), so a
// coordinator dying before processing leaves the mark for the sweeper.
func (s *Service) ClaimJob(ctx context.Context, c store.Claim) (*ci.Job, error) {
	j, err := s.store.ClaimJob(ctx, c)
	if err != nil {
		return nil, err
	}
	// The job is the runner's from here on, whatever happens to its request.
	ctx = context.WithoutCancel(ctx)
	p, err := s.store.PipelineByID(ctx, j.PipelineID)
	if err == nil && !ci.StartNeedsProcessing(p.Status) {
		// Running already: nothing to process. (Had the claim met it
		// not running and marked it, the processing that made it running
		// since leaves the mark to the sweeper.)
		return j, nil
	}
	if err := s.processCoalesced(ctx, j.PipelineID); err != nil {
		s.log.Warn("process pipeline after claim", "pipeline", j.PipelineID, "job", j.ID, "err", err)
	}
	return j, nil
}
