package api

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// jobSet batch-loads what job entities embed, so a page of 100 jobs costs a
// handful of queries, not hundreds.
type jobSet struct {
	project   *ci.Project
	users     map[int64]*ci.User
	pipelines map[int64]*ci.Pipeline
	commits   map[string]*store.Commit
	runners   map[int64]*ci.Runner
	managers  map[int64]*ci.RunnerManager
	artifacts map[int64][]*ci.Artifact
	now       time.Time
}

func (s *Server) loadJobSet(ctx context.Context, p *ci.Project, jobs []*ci.Job) (*jobSet, error) {
	set := &jobSet{project: p, now: s.now()}
	var userIDs, pipeIDs, runnerIDs, managerIDs, jobIDs []int64
	for _, j := range jobs {
		if j.UserID != 0 {
			userIDs = append(userIDs, j.UserID)
		}
		pipeIDs = append(pipeIDs, j.PipelineID)
		if j.DownstreamPipelineID != 0 {
			pipeIDs = append(pipeIDs, j.DownstreamPipelineID)
		}
		if j.RunnerID != 0 {
			runnerIDs = append(runnerIDs, j.RunnerID)
		}
		if j.RunnerManagerID != 0 {
			managerIDs = append(managerIDs, j.RunnerManagerID)
		}
		jobIDs = append(jobIDs, j.ID)
	}
	var err error
	if set.users, err = s.store.UsersByIDs(ctx, uniq(userIDs)); err != nil {
		return nil, err
	}
	if set.pipelines, err = s.store.PipelinesByIDs(ctx, uniq(pipeIDs)); err != nil {
		return nil, err
	}
	var shas []string
	seen := map[string]bool{}
	for _, pl := range set.pipelines {
		if !seen[pl.SHA] && pl.ProjectID == p.ID {
			seen[pl.SHA] = true
			shas = append(shas, pl.SHA)
		}
	}
	if set.commits, err = s.eng.CommitRows(ctx, p.ID, shas); err != nil {
		return nil, err
	}
	if set.runners, err = s.store.RunnersByIDs(ctx, uniq(runnerIDs)); err != nil {
		return nil, err
	}
	if set.managers, err = s.store.RunnerManagersByIDs(ctx, uniq(managerIDs)); err != nil {
		return nil, err
	}
	if set.artifacts, err = s.store.ArtifactsByJobIDs(ctx, jobIDs); err != nil {
		return nil, err
	}
	return set, nil
}

func uniq(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) jobBasic(set *jobSet, j *ci.Job) JobBasic {
	p := set.project
	jb := JobBasic{
		ID: j.ID, Status: string(j.Status), Stage: j.Stage, Name: j.Name, Ref: j.Ref, Tag: j.Tag,
		Coverage: fp(j.Coverage), AllowFailure: j.AllowFailure, CreatedAt: Time{j.CreatedAt},
		StartedAt: tp(j.StartedAt), FinishedAt: tp(j.FinishedAt), ErasedAt: tp(j.ErasedAt),
		Duration:       fp(ci.Duration(j.StartedAt, j.FinishedAt, set.now)),
		QueuedDuration: fp(ci.QueuedDuration(j.QueuedAt, j.StartedAt, j.FinishedAt, set.now)),
		User:           s.user(set.users[j.UserID]),
		WebURL:         s.url(p.FullPath(), "-", "jobs", fmt.Sprint(j.ID)),
		Project:        JobProject{CIJobTokenScopeEnabled: p.JobTokenScopeEnabled},
	}
	if pl := set.pipelines[j.PipelineID]; pl != nil {
		jb.Pipeline = s.pipelineBasic(p, pl)
		jb.Commit = s.commit(p, set.commits[pl.SHA])
	}
	if j.Status == ci.StatusFailed {
		reason := j.FailureReason
		if reason == "" {
			reason = ci.FailureUnknown
		}
		jb.FailureReason = &reason
	}
	return jb
}

func (s *Server) job(set *jobSet, j *ci.Job) *Job {
	out := &Job{JobBasic: s.jobBasic(set, j), Artifacts: []JobArtifact{}, ArtifactsExpireAt: tp(j.ArtifactsExpireAt),
		Archived: j.Archived, TagList: j.Tags}
	if out.TagList == nil {
		out.TagList = []string{}
	}
	arts := set.artifacts[j.ID]
	if a := ci.LiveArchive(arts, set.now); a != nil {
		out.ArtifactsFile = &ArtifactFile{Filename: a.Filename, Size: a.Size}
	}
	for _, a := range arts {
		out.Artifacts = append(out.Artifacts, JobArtifact{FileType: a.FileType, Size: a.Size, Filename: a.Filename, FileFormat: a.FileFormat})
	}
	if r := set.runners[j.RunnerID]; r != nil {
		out.Runner = s.runner(r, nil, j.Status.Executing())
	}
	if j.Kind == ci.KindBuild {
		out.RunnerManager = []byte("null")
		if m := set.managers[j.RunnerManagerID]; m != nil {
			out.RunnerManager = appendRunnerManager(make([]byte, 0, 512), s.runnerManager(m, j.Status.Executing()))
		}
	} else {
		out.TagList = []string{"bridge"}
	}
	return out
}

func (s *Server) bridge(set *jobSet, j *ci.Job) *Bridge {
	b := &Bridge{JobBasic: s.jobBasic(set, j)}
	if pl := set.pipelines[j.DownstreamPipelineID]; pl != nil {
		proj := set.project
		if pl.ProjectID != proj.ID {
			if other, err := s.store.ProjectByID(context.Background(), pl.ProjectID); err == nil {
				proj = other
			}
		}
		b.DownstreamPipeline = s.pipelineBasic(proj, pl)
	}
	return b
}

func (s *Server) runner(r *ci.Runner, creator *ci.User, busy bool) *Runner {
	status, online := r.Status(s.now())
	out := &Runner{ID: r.ID, Description: r.Description, Active: !r.Paused, Paused: r.Paused,
		IsShared: r.RunnerType == ci.RunnerInstance, RunnerType: r.RunnerType, Online: online,
		CreatedAt: Time{r.CreatedAt}, Status: status, JobExecutionStatus: "idle"}
	if busy {
		out.JobExecutionStatus = "active"
	}
	if creator != nil {
		ub := s.userBasic(creator)
		out.CreatedBy = &ub
	}
	return out
}

func (s *Server) runnerManager(m *ci.RunnerManager, busy bool) *RunnerManager {
	out := &RunnerManager{ID: m.ID, SystemID: m.SystemID, Version: m.Version, Revision: m.Revision,
		Platform: m.Platform, Architecture: m.Architecture, CreatedAt: Time{m.CreatedAt},
		ContactedAt: tp(m.ContactedAt), Status: m.Status(s.now()), JobExecutionStatus: "idle"}
	if m.IPAddress != "" {
		ip := m.IPAddress
		out.IPAddress = &ip
	}
	if busy {
		out.JobExecutionStatus = "active"
	}
	return out
}
