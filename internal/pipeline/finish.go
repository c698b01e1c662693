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
	coverage := s.coverage(ctx, j, d)
	err = s.transition(ctx, j, ev, ci.Guards{}, func(j *ci.Job) {
		j.ExitCode = exitCode
		if coverage != nil {
			j.Coverage = coverage
		}
		if j.Status == ci.StatusFailed {
			j.FailureReason = reason
			if exitCode != nil && slices.Contains(d.AllowFailureExitCodes, *exitCode) {
				j.AllowFailure = true
			}
		}
	})
	if err != nil {
		return err
	}
	return s.afterFinish(ctx, j, d)
}

// Drop fails a job for a server-side reason (timeouts, stuck jobs).
func (s *Service) Drop(ctx context.Context, j *ci.Job, reason string) error {
	d, err := Definition(j)
	if err != nil {
		return err
	}
	if err := s.transition(ctx, j, ci.EventDrop, ci.Guards{}, func(j *ci.Job) {
		if j.Status == ci.StatusFailed {
			j.FailureReason = reason
		}
	}); err != nil {
		return err
	}
	return s.afterFinish(ctx, j, d)
}

// coverage parses the job's coverage from its live log, so the value is
// stored together with the final status.
func (s *Service) coverage(ctx context.Context, j *ci.Job, d *ciconfig.Job) *float64 {
	if d.Coverage == "" {
		return nil
	}
	trace, err := s.store.ReadTrace(ctx, j.ID)
	if err != nil {
		return nil
	}
	if c, ok := parseCoverage(d.Coverage, trace); ok {
		return &c
	}
	return nil
}

// afterFinish archives the log, retries automatically when retry: allows
// it, and processes the pipeline.
func (s *Service) afterFinish(ctx context.Context, j *ci.Job, d *ciconfig.Job) error {
	if _, err := s.ArchiveTrace(ctx, j); err != nil {
		s.log.Warn("archive trace", "job", j.ID, "err", err)
	}
	if j.Status == ci.StatusFailed && shouldAutoRetry(d, j) {
		clone := s.clone(j, j.UserID)
		clone.JobVariables = j.JobVariables
		if err := s.store.InsertJobs(ctx, []*ci.Job{clone}, []string{j.Name}); err != nil {
			return err
		}
		return s.afterRevive(ctx, j.PipelineID, clone.ID)
	}
	return s.processCoalesced(ctx, j.PipelineID)
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
	key := fmt.Sprintf("traces/%d/%d/job.log", j.ProjectID, j.ID)
	size, err := s.blobs.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		return data, err
	}
	old, err := s.store.ReplaceArtifact(ctx, &ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: "trace",
		FileFormat: "raw", Filename: "job.log", Size: size, BlobKey: key})
	if err != nil {
		return data, err
	}
	for _, k := range old {
		if k != key {
			s.deleteBlobs(ctx, []string{k})
		}
	}
	return data, s.store.DeleteTrace(ctx, j.ID)
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
