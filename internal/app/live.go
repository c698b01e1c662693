package app

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/web"
)

// publishingStore is the store every part of this coordinator writes
// through: after each committed job, log or pipeline write it tells the web
// hub, so open pages re-read what changed. It is the one place such
// changes are published; the runner protocol's trace PATCH arrives here as
// AppendTrace, the engine's transitions as job and pipeline updates.
type publishingStore struct {
	store.Store
	hub *web.Hub
}

func (s publishingStore) job(j *ci.Job) {
	s.hub.Publish(web.Change{ProjectID: j.ProjectID, PipelineID: j.PipelineID, JobID: j.ID})
}

func (s publishingStore) AppendTrace(ctx context.Context, jobID, offset int64, data []byte, limit int64) (int64, error) {
	n, err := s.Store.AppendTrace(ctx, jobID, offset, data, limit)
	if err == nil && len(data) > 0 {
		s.hub.Publish(web.Change{JobID: jobID})
	}
	return n, err
}

func (s publishingStore) UpdateJob(ctx context.Context, j *ci.Job, expect ci.Status) error {
	err := s.Store.UpdateJob(ctx, j, expect)
	if err == nil {
		s.job(j)
	}
	return err
}

func (s publishingStore) FinishJob(ctx context.Context, j *ci.Job, expect ci.Status, trace *ci.Artifact) ([]string, error) {
	keys, err := s.Store.FinishJob(ctx, j, expect, trace)
	if err == nil {
		s.job(j)
	}
	return keys, err
}

func (s publishingStore) UpdateJobIfResourceFree(ctx context.Context, j *ci.Job, expect ci.Status) error {
	err := s.Store.UpdateJobIfResourceFree(ctx, j, expect)
	if err == nil {
		s.job(j)
	}
	return err
}

func (s publishingStore) UpdateJobs(ctx context.Context, updates []store.JobUpdate) ([]int64, error) {
	stale, err := s.Store.UpdateJobs(ctx, updates)
	if err == nil {
		for _, u := range updates {
			s.job(u.Job)
		}
	}
	return stale, err
}

func (s publishingStore) InsertJobs(ctx context.Context, jobs []*ci.Job, retried []string) error {
	err := s.Store.InsertJobs(ctx, jobs, retried)
	if err == nil {
		for _, j := range jobs {
			s.job(j)
		}
	}
	return err
}

func (s publishingStore) ClaimJob(ctx context.Context, c store.Claim) (*ci.Job, error) {
	j, err := s.Store.ClaimJob(ctx, c)
	if err == nil {
		s.job(j)
	}
	return j, err
}

func (s publishingStore) CreatePipeline(ctx context.Context, p *ci.Pipeline, jobs []*ci.Job) error {
	err := s.Store.CreatePipeline(ctx, p, jobs)
	if err == nil {
		s.hub.Publish(web.Change{ProjectID: p.ProjectID, PipelineID: p.ID})
	}
	return err
}

func (s publishingStore) UpdatePipeline(ctx context.Context, p *ci.Pipeline) error {
	err := s.Store.UpdatePipeline(ctx, p)
	if err == nil {
		s.hub.Publish(web.Change{ProjectID: p.ProjectID, PipelineID: p.ID})
	}
	return err
}
