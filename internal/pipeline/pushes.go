package pipeline

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

// A push becomes pipelines in two steps, as in GitLab, where the
// post-receive hook only enqueues a PostReceive job and
// Git::ProcessRefChangesService creates the pipelines later:
//
//  1. RecordPush, before git's answer reaches the client, stores the ref
//     updates that get pipelines (at most ci.PushPipelineLimit per push)
//     with the push options, in one transaction: a push is acknowledged
//     only once its pipelines are owed durably.
//  2. CreatePushPipelines, after the answer (and again on start and by the
//     sweeper, for what a crash left behind), creates one pipeline per
//     recorded change; the store deletes the change in the transaction
//     that inserts its pipeline, so a crash neither loses nor doubles one.

// RefUpdate is one ref a push changed; OldSHA is zeros for a created ref,
// NewSHA zeros for a deleted one.
type RefUpdate struct {
	Ref, OldSHA, NewSHA string
}

// RefsWritten creates the pipelines of refs written through the API (a
// branch or tag created), as GitLab's Branches::CreateService and
// Tags::CreateService run the push services: recorded like a push, then
// created at once. The ref exists either way; a failure is logged, and what
// is recorded the sweeper creates later.
func (s *Service) RefsWritten(ctx context.Context, projectID, userID int64, updates []RefUpdate) {
	if err := s.RecordPush(ctx, projectID, userID, updates, nil); err != nil {
		s.log.Error("ref written: record", "project", projectID, "err", err)
		return
	}
	if err := s.CreatePushPipelines(ctx, projectID); err != nil {
		s.log.Error("ref written: pipelines", "project", projectID, "err", err)
	}
}

// RecordPush records the updates of one push (in push order) that create
// pipelines. The rest are accepted without one and logged, as GitLab's
// ProcessRefChangesService#warn_if_over_process_limit does.
func (s *Service) RecordPush(ctx context.Context, projectID, userID int64, updates []RefUpdate, options []string) error {
	changes := make([]ci.RefChange, len(updates))
	for i, u := range updates {
		changes[i] = ci.RefChange{Ref: u.Ref, Create: gitrepo.IsZeroSHA(u.OldSHA), Delete: gitrepo.IsZeroSHA(u.NewSHA)}
	}
	create, omitted := ci.PushPipelineRefs(changes)
	if len(omitted) > 0 {
		refs := make([]string, len(omitted))
		for i, k := range omitted {
			refs[i] = updates[k].Ref
		}
		s.log.Info("Some pipelines may not have been created because ref count exceeded limit", "project", projectID,
			"ref_limit", ci.PushPipelineLimit, "total_ref_count", len(updates), "possible_omitted_refs", refs)
	}
	rows := make([]*store.RefChange, 0, len(create))
	for _, k := range create {
		u := updates[k]
		rows = append(rows, &store.RefChange{ProjectID: projectID, UserID: userID, Ref: u.Ref, OldSHA: u.OldSHA,
			NewSHA: u.NewSHA, PushOptions: options})
	}
	return s.store.AddRefChanges(ctx, rows)
}

// pushLocks serialise the creation of one project's push pipelines within
// this process, so that pipelines come in push order and two callers do
// not compile the same change; across coordinators the store's delete of
// the change decides.
type pushLocks struct {
	m [16]sync.Mutex
}

func (l *pushLocks) of(projectID int64) *sync.Mutex {
	h := fnv.New32a()
	fmt.Fprint(h, projectID)
	return &l.m[h.Sum32()%uint32(len(l.m))]
}

// refChangeBatch is how many recorded changes one round reads.
const refChangeBatch = 100

// CreatePushPipelines creates the pipelines owed to recorded ref changes
// of one project, or of every project when projectID is 0 (on start and
// from the sweeper), oldest first. A change whose pipeline cannot be
// created for a lasting reason (a configuration error is a failed
// pipeline; a missing commit or project is none) is dropped; one that
// failed for another reason (the database) stays for the next sweep.
func (s *Service) CreatePushPipelines(ctx context.Context, projectID int64) error {
	if s.cfg.HoldPushPipelines {
		return nil
	}
	if projectID != 0 {
		return s.createProjectPushPipelines(ctx, projectID)
	}
	changes, err := s.store.RefChanges(ctx, 0, 0)
	if err != nil {
		return err
	}
	var errs []error
	seen := map[int64]bool{}
	for _, c := range changes {
		if !seen[c.ProjectID] {
			seen[c.ProjectID] = true
			errs = append(errs, s.createProjectPushPipelines(ctx, c.ProjectID))
		}
	}
	return errors.Join(errs...)
}

// createProjectPushPipelines works through one project's recorded changes
// under the project's push lock, reading them inside it, so that callers in
// this process never compile the same change twice.
func (s *Service) createProjectPushPipelines(ctx context.Context, projectID int64) error {
	mu := s.pushLocks.of(projectID)
	mu.Lock()
	defer mu.Unlock()
	failed := map[int64]bool{}
	var errs []error
	for {
		changes, err := s.store.RefChanges(ctx, projectID, refChangeBatch)
		if err != nil {
			return err
		}
		progress := false
		for _, c := range changes {
			if failed[c.ID] {
				continue
			}
			progress = true
			if err := s.createPushPipeline(ctx, c); err != nil {
				failed[c.ID] = true
				errs = append(errs, fmt.Errorf("ref change %d (%s): %w", c.ID, c.Ref, err))
			}
		}
		if !progress || len(changes) < refChangeBatch {
			return errors.Join(errs...)
		}
	}
}

// createPushPipeline creates the pipeline of one recorded ref change.
func (s *Service) createPushPipeline(ctx context.Context, c *store.RefChange) error {
	p, err := s.store.ProjectByID(ctx, c.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return s.dropRefChange(ctx, c)
	}
	if err != nil {
		return err
	}
	ref, tag := "", false
	if b, ok := strings.CutPrefix(c.Ref, "refs/heads/"); ok {
		ref = b
	} else if tg, ok := strings.CutPrefix(c.Ref, "refs/tags/"); ok {
		ref, tag = tg, true
	} else {
		return s.dropRefChange(ctx, c)
	}
	po := ParsePushOptions(c.PushOptions)
	pl, err := s.Create(ctx, CreateRequest{Project: p, Ref: ref, Tag: tag, RefKnown: true, SHA: c.NewSHA,
		BeforeSHA: c.OldSHA, Source: "push", UserID: c.UserID, SaveOnErrors: true, SkipCI: po.Skip,
		Variables: po.Variables, Inputs: po.Inputs, RefChangeID: c.ID})
	var ce *ci.Error
	switch {
	case errors.Is(err, store.ErrConflict):
		// Another coordinator (or an earlier attempt) created it.
		return nil
	case errors.As(err, &ce):
		s.log.Warn("push: no pipeline", "project", p.FullPath(), "ref", ref, "err", err)
		return s.dropRefChange(ctx, c)
	case err != nil:
		return err
	case pl == nil:
		// No configuration, or workflow:rules filtered the pipeline out.
		return s.dropRefChange(ctx, c)
	}
	s.log.Info("pipeline created", "project", p.FullPath(), "ref", ref, "pipeline", pl.ID, "status", pl.Status)
	return nil
}

// dropRefChange forgets a change that gets no pipeline.
func (s *Service) dropRefChange(ctx context.Context, c *store.RefChange) error {
	if err := s.store.DeleteRefChange(ctx, c.ID); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}
