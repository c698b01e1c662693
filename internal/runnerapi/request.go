package runnerapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store"
)

// jobTokenLen is the random part of a glcbt- job token.
const jobTokenLen = 32

// maxBadPayloads bounds how many jobs one request drops because their
// payload could not be built before it gives up and answers 204.
const maxBadPayloads = 5

// requestJob is POST /jobs/request: a job as 201, or 204 after the
// long poll found none.
func (a *API) requestJob(w http.ResponseWriter, r *http.Request) error {
	p, err := httpx.ParseParams(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rn, err := a.runnerByToken(ctx, runnerToken(r, p))
	if err != nil {
		return err
	}
	// 14.10 sends no system_id: its manager is the one with an empty id.
	managerID, err := a.recordContact(ctx, r, rn, p.Str("system_id"), parseInfo(p), false)
	if err != nil {
		return err
	}
	if rn.Paused {
		a.cfg.Observer.JobRequest("no_job")
		_, value := a.waiter()
		w.Header().Set("X-GitLab-Last-Update", value)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}

	deadline := time.NewTimer(a.cfg.LongPoll)
	defer deadline.Stop()
	bad := 0
	for {
		// Take the wake channel before looking, so a job that turns pending
		// while we look still wakes us afterwards.
		wake, value := a.waiter()
		payload, err := a.claim(ctx, rn, managerID)
		switch {
		case err == nil && payload != nil:
			a.cfg.Observer.JobRequest("job")
			httpx.WriteJSON(w, http.StatusCreated, payload)
			return nil
		case errors.Is(err, errBadPayload) && bad < maxBadPayloads:
			// That job was dropped; look for the next one at once.
			bad++
			continue
		case err != nil && !errors.Is(err, errBadPayload):
			if ctx.Err() != nil {
				return nil // the runner went away; nobody to answer
			}
			return err
		}
		a.parked.Add(1)
		select {
		case <-wake:
			a.parked.Add(-1)
			continue
		case <-deadline.C:
		case <-ctx.Done():
			a.parked.Add(-1)
			return nil
		}
		a.parked.Add(-1)
		a.cfg.Observer.JobRequest("timeout")
		w.Header().Set("X-GitLab-Last-Update", value)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// errBadPayload means a job was claimed but its payload could not be built;
// the job has been dropped.
var errBadPayload = errors.New("job payload could not be built")

// claim hands the runner the oldest job it may take and builds its payload.
// It returns nil, nil when there is none.
func (a *API) claim(ctx context.Context, rn *ci.Runner, managerID int64) (*runnerproto.Job, error) {
	select {
	case a.claimSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	token := auth.NewToken(auth.PrefixJob, jobTokenLen)
	cc := newClaimCache(a.store)
	j, err := a.eng.ClaimJob(ctx, store.Claim{
		Runner: rn, ManagerID: managerID, Now: a.now(), TokenDigest: auth.Digest(token),
		Match:        func(j *ci.Job) bool { return cc.match(ctx, rn, j) },
		UntaggedOnly: len(rn.Tags) == 0,
		Timeout:      func(j *ci.Job) int { return cc.timeout(ctx, rn, j) },
	})
	<-a.claimSem
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	if j.QueuedAt != nil && j.StartedAt != nil {
		a.cfg.Observer.JobPickedUp(rn.RunnerType, len(j.Tags) > 0, j.StartedAt.Sub(*j.QueuedAt))
	}
	payload, err := a.buildPayload(ctx, j, rn, token, cc)
	if err != nil {
		// GitLab drops a job it cannot present as scheduler_failure; the
		// alternative, leaving it running, would wait an hour for the
		// stuck-job sweep.
		a.log.Error("build job payload", "job", j.ID, "err", err)
		if derr := a.eng.Drop(context.WithoutCancel(ctx), j, ci.FailureScheduler); derr != nil {
			a.log.Error("drop job", "job", j.ID, "err", derr)
		}
		return nil, errBadPayload
	}
	return payload, nil
}

// claimCache memoises lookups made while matching candidates of one claim.
type claimCache struct {
	st        store.Store
	pipelines map[int64]*ci.Pipeline
	projects  map[int64]*ci.Project
}

func newClaimCache(st store.Store) *claimCache {
	return &claimCache{st: st, pipelines: map[int64]*ci.Pipeline{}, projects: map[int64]*ci.Project{}}
}

func (c *claimCache) pipeline(ctx context.Context, id int64) (*ci.Pipeline, error) {
	if p, ok := c.pipelines[id]; ok {
		return p, nil
	}
	p, err := c.st.PipelineByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("pipeline %d: %w", id, err)
	}
	c.pipelines[id] = p
	return p, nil
}

func (c *claimCache) project(ctx context.Context, id int64) (*ci.Project, error) {
	if p, ok := c.projects[id]; ok {
		return p, nil
	}
	p, err := c.st.ProjectByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("project %d: %w", id, err)
	}
	c.projects[id] = p
	return p, nil
}

// match applies the rules not expressed in SQL (ci.Runner.Matches); the
// pipeline is read only for a ref_protected runner.
func (c *claimCache) match(ctx context.Context, rn *ci.Runner, j *ci.Job) bool {
	return rn.Matches(j, func() bool {
		p, err := c.pipeline(ctx, j.PipelineID)
		return err == nil && p.Protected
	})
}

// timeout is the effective job timeout: the job's own timeout even above
// the project's, else the project's, capped by the runner's maximum
// (ci.Runner.EffectiveTimeout).
func (c *claimCache) timeout(ctx context.Context, rn *ci.Runner, j *ci.Job) int {
	base := 0
	if d, err := pipeline.Definition(j); err == nil && d.Timeout > 0 {
		base = d.Timeout
	} else if p, err := c.project(ctx, j.ProjectID); err == nil {
		base = p.BuildTimeout
	}
	return rn.EffectiveTimeout(base)
}
