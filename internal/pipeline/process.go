package pipeline

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/store"
)

// Definition decodes a job's compiled definition.
func Definition(j *ci.Job) (*ciconfig.Job, error) {
	var d ciconfig.Job
	if len(j.Definition) == 0 {
		return &d, nil
	}
	if err := json.Unmarshal(j.Definition, &d); err != nil {
		return nil, fmt.Errorf("job %d definition: %w", j.ID, err)
	}
	return &d, nil
}

// procJob turns a stored job into processing input.
func (s *Service) procJob(j *ci.Job) ci.ProcJob {
	p := ci.ProcJob{
		ID: j.ID, Name: j.Name, Kind: j.Kind, StageIdx: j.StageIdx, Status: j.Status, When: j.When,
		AllowFailure: j.AllowFailure, Retried: j.Retried, HasResourceGroup: j.ResourceGroup != "",
		EnqueueImmediately: j.EnqueueImmediately,
	}
	sc := s.scheduling(j)
	p.Needs, p.StartIn = sc.needs, sc.startIn
	return p
}

// sched is what processing reads from a job's definition.
type sched struct {
	needs   []ci.Need
	startIn *time.Duration
}

// schedCache keeps decoded scheduling data by job id: definitions never
// change (a retry is a new job), and processing otherwise decodes every
// job's JSON on every pass of every finished job.
type schedCache struct {
	sync.Mutex
	m map[int64]sched
}

const schedCacheMax = 50000

func (s *Service) scheduling(j *ci.Job) sched {
	c := &s.sched
	c.Lock()
	sc, ok := c.m[j.ID]
	c.Unlock()
	if ok && j.ID != 0 {
		return sc
	}
	if d, err := Definition(j); err == nil {
		sc = schedOf(d)
	}
	if len(j.Definition) > 0 {
		s.rememberSched(j.ID, sc)
	}
	return sc
}

// schedOf is what processing needs of a job's definition.
func schedOf(d *ciconfig.Job) sched {
	var sc sched
	if d.Needs != nil {
		sc.needs = make([]ci.Need, 0, len(d.Needs))
		for _, n := range d.Needs {
			sc.needs = append(sc.needs, ci.Need{Name: n.Job, Optional: n.Optional})
		}
	}
	if d.StartIn != "" {
		if dur, err := ciconfig.ParseDuration(d.StartIn); err == nil {
			sc.startIn = &dur
		}
	}
	return sc
}

// rememberSched caches a stored job's scheduling data.
func (s *Service) rememberSched(id int64, sc sched) {
	if id == 0 {
		return
	}
	c := &s.sched
	c.Lock()
	if c.m == nil || len(c.m) >= schedCacheMax {
		c.m = map[int64]sched{}
	}
	c.m[id] = sc
	c.Unlock()
}

// maxPasses bounds processing rounds; each round can only move jobs forward,
// so a handful always suffices.
const maxPasses = 20

// Process advances a pipeline: jobs leave created as their predecessors
// complete, bridges trigger downstream pipelines, and the pipeline's status
// follows its jobs (and a dependent parent bridge follows the pipeline).
//
// The pipeline's processing mark (ci.Pipeline.Dirty) is cleared only when
// all of that is done, so a coordinator dying half-way leaves the mark for
// the sweeper to find. It is cleared at the value read before the jobs of
// the last, complete, processing round: a job changed since then bumped it.
func (s *Service) Process(ctx context.Context, pipelineID int64) error {
	return s.process(ctx, pipelineID, nil)
}

// snapshot is a pipeline with its jobs as they were just written.
type snapshot struct {
	p    *ci.Pipeline
	jobs []*ci.Job
}

// process is Process; with first, the first processing pass works on that
// snapshot instead of reading the pipeline back. A new pipeline's rows are
// exactly what its creator wrote, and if anything moved them since, the
// compare-and-set writes of the pass notice and the next pass reads.
func (s *Service) process(ctx context.Context, pipelineID int64, first *snapshot) error {
	start := time.Now()
	defer func() { s.obs.PipelineProcessed(time.Since(start)) }()
	for range maxPasses {
		unlock := s.lock(pipelineID)
		p, seen, jobs, triggered, err := s.processLocked(ctx, pipelineID, first)
		first = nil
		unlock()
		if err != nil {
			return err
		}
		if len(triggered) > 0 {
			// Downstream pipelines are created outside the lock: creating
			// and processing them takes other pipelines' locks.
			for _, b := range triggered {
				if err := s.triggerDownstream(ctx, b); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.resourceGroups(ctx, p.ProjectID, jobs); err != nil {
			return err
		}
		// A dependent bridge follows its finished downstream pipeline. Not
		// only when this call finished it: the call that did may have died
		// before getting here.
		if p.ParentJobID != 0 && p.Status.Complete() {
			if err := s.updateSourceBridge(ctx, p); err != nil {
				return err
			}
		}
		if seen > 0 {
			return s.store.ClearPipelineDirty(ctx, pipelineID, seen)
		}
		return nil
	}
	return fmt.Errorf("pipeline %d: processing did not settle", pipelineID)
}

// processLocked runs processing passes until nothing moves, then sets the
// pipeline status. It returns the pipeline, its processing mark as read
// first, its jobs, and the bridges that became pending, for triggering
// (then without pipeline and jobs).
func (s *Service) processLocked(ctx context.Context, pipelineID int64, first *snapshot) (*ci.Pipeline, int64, []*ci.Job, []*ci.Job, error) {
	dirty := int64(-1)
	var p *ci.Pipeline
	var jobs []*ci.Job
	reuse := false
	for pass := 0; pass < maxPasses; pass++ {
		if !reuse {
			var err error
			if p, jobs, err = s.readPipeline(ctx, pipelineID, first); err != nil {
				return nil, 0, nil, nil, err
			}
		}
		first, reuse = nil, false
		if dirty < 0 {
			dirty = p.Dirty
		}
		byID := make(map[int64]*ci.Job, len(jobs))
		procs := make([]ci.ProcJob, 0, len(jobs))
		for _, j := range jobs {
			byID[j.ID] = j
			procs = append(procs, s.procJob(j))
		}
		now := s.Now()
		changes := ci.Process(procs, now)
		retry := false
		var triggered []*ci.Job
		updates := make([]store.JobUpdate, 0, len(changes))
		for _, ch := range changes {
			j := byID[ch.ID]
			if j.Status != ch.From {
				retry = true
				continue
			}
			j.Apply(ch.To, now) // decided by ci.Process through the machine
			if ch.ScheduledAt != nil {
				j.ScheduledAt = ch.ScheduledAt
			}
			if j.EnqueueImmediately && ch.To != ci.StatusSkipped {
				j.EnqueueImmediately = false
			}
			updates = append(updates, store.JobUpdate{Job: j, Expect: ch.From})
		}
		// One transaction for the whole pass: a pipeline of 50 jobs moving
		// at once is one commit, not fifty.
		stale, err := s.store.UpdateJobs(ctx, updates)
		if err != nil {
			return nil, 0, nil, nil, err
		}
		retry = retry || len(stale) > 0
		for _, u := range updates {
			if u.Job.Kind == ci.KindBridge && u.Job.Status == ci.StatusPending && !slices.Contains(stale, u.Job.ID) {
				triggered = append(triggered, u.Job)
			}
		}
		if len(triggered) > 0 {
			return nil, dirty, nil, triggered, nil
		}
		if len(changes) > 0 || retry {
			// Another pass lets jobs unblocked by this one move. When every
			// write held, the rows are what this pass read and wrote, so
			// the next pass works on them instead of reading them again
			// (as the first pass of a new pipeline does; a job moved by
			// another writer since bumps the processing mark, which then
			// outlives this run).
			reuse = !retry
			continue
		}
		if err := s.updatePipelineStatus(ctx, p, jobs); isStale(err) {
			continue
		} else if err != nil {
			return nil, 0, nil, nil, err
		}
		return p, dirty, jobs, nil, nil
	}
	return nil, 0, nil, nil, fmt.Errorf("pipeline %d: processing did not settle", pipelineID)
}

// readPipeline reads a pipeline and its jobs for a processing pass, or
// takes them from first.
func (s *Service) readPipeline(ctx context.Context, pipelineID int64, first *snapshot) (*ci.Pipeline, []*ci.Job, error) {
	if first != nil {
		p := *first.p
		jobs := make([]*ci.Job, len(first.jobs))
		for i, j := range first.jobs {
			c := *j
			jobs[i] = &c
		}
		return &p, jobs, nil
	}
	// The pipeline is read before its jobs: if another coordinator moves
	// a job after this read, it also rewrites the pipeline, and the
	// compare-and-set below notices instead of storing a status computed
	// from older jobs.
	p, err := s.store.PipelineByID(ctx, pipelineID)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := s.store.PipelineJobs(ctx, pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return p, jobs, nil
}

// updatePipelineStatus sets the pipeline's status from its latest jobs.
func (s *Service) updatePipelineStatus(ctx context.Context, p *ci.Pipeline, jobs []*ci.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	procs := make([]ci.ProcJob, 0, len(jobs))
	for _, j := range jobs {
		procs = append(procs, s.procJob(j))
	}
	composite, warnings := ci.PipelineStatus(procs)
	next := ci.NextPipelineStatus(p.Status, composite)
	if next == p.Status && warnings == p.Warnings {
		return nil
	}
	now := s.Now()
	if next == ci.StatusRunning && p.StartedAt == nil {
		p.StartedAt = &now
	}
	switch next {
	case ci.StatusSuccess, ci.StatusFailed, ci.StatusCanceled, ci.StatusSkipped:
		p.FinishedAt = &now
	default:
		if next.Active() || next == ci.StatusCreated {
			p.FinishedAt = nil
		}
	}
	p.Status, p.Warnings = next, warnings
	return s.store.UpdatePipeline(ctx, p)
}

// triggerDownstream creates the pipeline a bridge asks for and moves the
// bridge on: success at once without a strategy, running while a depended-on
// downstream runs, failed when creation fails.
func (s *Service) triggerDownstream(ctx context.Context, b *ci.Job) error {
	if b.DownstreamPipelineID != 0 {
		return nil
	}
	parent, err := s.store.PipelineByID(ctx, b.PipelineID)
	if err != nil {
		return err
	}
	d, err := Definition(b)
	if err != nil {
		return err
	}
	fail := func(reason string) error {
		return s.moveBridge(ctx, b, ci.StatusFailed, func(b *ci.Job) { b.FailureReason = reason })
	}
	if d.Trigger == nil {
		return fail("invalid_bridge_trigger")
	}
	depth, err := s.depth(ctx, parent)
	if err != nil {
		return err
	}
	if d.Trigger.Project == "" && depth >= s.cfg.MaxDepth {
		return fail("reached_max_descendant_pipelines_depth")
	}
	project, err := s.store.ProjectByID(ctx, b.ProjectID)
	if err != nil {
		return err
	}
	req := CreateRequest{
		Project: project, Ref: parent.Ref, Tag: parent.Tag, RefKnown: true, SHA: parent.SHA,
		BeforeSHA: parent.BeforeSHA, Source: "parent_pipeline", UserID: b.UserID, SaveOnErrors: true,
		ParentPipeline: parent, ParentJob: b,
	}
	var vars []ci.Variable
	if d.Trigger.ForwardYAMLVariables {
		// The trigger job's variables are expanded in its own scope before
		// they reach the downstream pipeline (Ci::Bridge's
		// downstream_yaml_variables), so PARENT_PIPELINE_ID: $CI_PIPELINE_ID
		// names the parent. Variables unknown here stay as written.
		scope := map[string]string{"CI_PIPELINE_ID": strconv.FormatInt(parent.ID, 10),
			"CI_PIPELINE_IID": strconv.FormatInt(parent.IID, 10), "CI_COMMIT_SHA": parent.SHA,
			"CI_COMMIT_REF_NAME": parent.Ref, "CI_PROJECT_ID": strconv.FormatInt(parent.ProjectID, 10),
			"CI_JOB_ID": strconv.FormatInt(b.ID, 10), "CI_JOB_NAME": b.Name}
		for _, v := range d.YAMLVariables {
			if _, ok := scope[v.Key]; !ok && !v.Raw {
				scope[v.Key] = v.Value
			}
		}
		for _, v := range d.Variables {
			val := v.Value
			if !v.Raw {
				val = ciconfig.ExpandExisting(val, scope)
			}
			vars = append(vars, ci.Variable{Key: v.Key, Value: val, Raw: v.Raw})
		}
	}
	if d.Trigger.ForwardPipelineVariables {
		vars = append(vars, parent.Variables...)
	}
	req.Variables = vars
	// trigger:inputs are the inputs of a multi-project downstream
	// pipeline's own configuration (a child pipeline's files take theirs
	// with trigger:include:inputs).
	if len(d.Trigger.Inputs) > 0 && d.Trigger.Project != "" {
		var in map[string]any
		if err := json.Unmarshal(d.Trigger.Inputs, &in); err != nil {
			return fail("downstream_pipeline_creation_failed")
		}
		req.Inputs = ciconfig.NormalizeInputs(in)
	}
	if d.Trigger.Project != "" {
		ns, path, ok := splitPath(d.Trigger.Project)
		if !ok {
			return fail("downstream_bridge_project_not_found")
		}
		target, err := s.store.ProjectByPath(ctx, ns, path)
		if err != nil {
			return fail("downstream_bridge_project_not_found")
		}
		if target.ID == project.ID {
			return fail("invalid_bridge_trigger")
		}
		req.Project, req.Source, req.RefKnown, req.SHA, req.BeforeSHA = target, "pipeline", false, "", ""
		req.Ref, req.Tag = d.Trigger.Branch, false
		if req.Ref == "" {
			req.Ref = target.DefaultBranch
		}
	} else {
		content, err := childConfig(d.Trigger)
		if err != nil {
			return fail("downstream_pipeline_creation_failed")
		}
		req.ConfigContent = content
	}
	down, err := s.Create(ctx, req)
	if err != nil || down == nil {
		if err != nil {
			s.log.Info("downstream pipeline not created", "bridge", b.ID, "err", err)
		}
		return fail("downstream_pipeline_creation_failed")
	}
	to := ci.StatusRunning
	if st, ok := ci.BridgeStatusFromDownstream(ci.Strategy(d.Trigger.Strategy), down.Status); ok {
		to = st
	}
	if down.YAMLErrors != "" {
		// A pipeline saved with configuration errors was not created
		// successfully: the bridge fails whatever its strategy
		// (Ci::CreateDownstreamPipelineService#update_bridge_status!).
		to = ci.StatusFailed
	}
	return s.moveBridge(ctx, b, to, func(b *ci.Job) {
		b.DownstreamPipelineID = down.ID
		if b.Status == ci.StatusFailed {
			b.FailureReason = ci.FailureDownstreamPipelineCreation
		}
	})
}

// childConfig composes a child pipeline's configuration from
// trigger:include: local files, then the other kinds (project, remote,
// component, template) as written, then an artifact of a parent job; the
// compiler resolves them all as a child pipeline's includes.
func childConfig(t *ciconfig.Trigger) ([]byte, error) {
	inc := make([]any, 0, len(t.Include)+len(t.IncludeOther)+1)
	for _, f := range t.Include {
		inc = append(inc, map[string]string{"local": f})
	}
	for _, o := range t.IncludeOther {
		var m map[string]any
		if err := json.Unmarshal([]byte(o), &m); err != nil {
			return nil, fmt.Errorf("trigger include %s: %w", o, err)
		}
		inc = append(inc, m)
	}
	if t.IncludeArtifact != "" {
		inc = append(inc, map[string]string{"artifact": t.IncludeArtifact, "job": t.IncludeJob})
	}
	if len(inc) == 0 {
		return nil, fmt.Errorf("trigger without include")
	}
	return json.Marshal(map[string]any{"include": inc})
}

// maxArtifactInclude is Gitlab::Ci::ArtifactFileReader::MAX_ARCHIVE_SIZE.
const maxArtifactInclude = 5 << 20

// readParentArtifact reads trigger:include:artifact files from the archive
// of the parent pipeline's latest job of that name
// (Ci::Pipeline#find_job_with_archive_artifacts, Gitlab::Ci::ArtifactFileReader).
func (s *Service) readParentArtifact(ctx context.Context, parent *ci.Pipeline) func(job, path string) ([]byte, error) {
	return func(job, path string) ([]byte, error) {
		jobs, err := s.store.PipelineJobs(ctx, parent.ID)
		if err != nil {
			return nil, err
		}
		var ids []int64
		for _, j := range jobs {
			if j.Name == job && !j.Retried && j.Kind == ci.KindBuild {
				ids = append(ids, j.ID)
			}
		}
		arts, err := s.store.ArtifactsByJobIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		var archive *ci.Artifact
		for _, id := range ids {
			if a := ci.LiveArchive(arts[id], s.Now()); a != nil {
				archive = a
			}
		}
		if archive == nil {
			return nil, ciconfig.ErrArtifactJobNotFound
		}
		tooLarge := fmt.Errorf("Artifacts archive for job `%s` is too large: max 5 MB", job)
		if archive.Size > maxArtifactInclude {
			return nil, tooLarge
		}
		f, err := s.blobs.Open(ctx, archive.BlobKey)
		if err != nil {
			return nil, ciconfig.ErrArtifactJobNotFound
		}
		defer f.Close()
		zr, err := zip.NewReader(f, f.Size())
		if err != nil {
			return nil, fmt.Errorf("Job `%s` has missing artifacts metadata and cannot be extracted!", job)
		}
		for _, e := range zr.File {
			if strings.TrimSuffix(e.Name, "/") != path {
				continue
			}
			if e.FileInfo().IsDir() {
				return nil, fmt.Errorf("Path `%s` was expected to be a file but it was a directory!", path)
			}
			if e.UncompressedSize64 > maxArtifactInclude {
				return nil, tooLarge
			}
			rc, err := e.Open()
			if err != nil {
				return nil, fmt.Errorf("open %s in the archive of %s: %w", path, job, err)
			}
			defer rc.Close()
			return io.ReadAll(io.LimitReader(rc, maxArtifactInclude))
		}
		return nil, fmt.Errorf("Path `%s` does not exist inside the `%s` artifacts archive!", path, job)
	}
}

// depth counts the ancestors of a pipeline.
func (s *Service) depth(ctx context.Context, p *ci.Pipeline) (int, error) {
	_, d, err := s.ancestry(ctx, p)
	return d, err
}

// ancestry follows a child pipeline up to its root pipeline and counts the
// steps (a pipeline that is no child is its own root).
func (s *Service) ancestry(ctx context.Context, p *ci.Pipeline) (*ci.Pipeline, int, error) {
	d := 0
	for p.ParentPipelineID != 0 && p.Source == "parent_pipeline" {
		parent, err := s.store.PipelineByID(ctx, p.ParentPipelineID)
		if err != nil {
			return nil, 0, err
		}
		p = parent
		d++
	}
	return p, d, nil
}

// updateSourceBridge lets a dependent bridge follow its finished downstream
// pipeline, then reprocesses the parent.
func (s *Service) updateSourceBridge(ctx context.Context, down *ci.Pipeline) error {
	b, err := s.store.JobByID(ctx, down.ParentJobID)
	if err != nil {
		return err
	}
	d, err := Definition(b)
	if err != nil || d.Trigger == nil {
		return err
	}
	strategy := ci.Strategy(d.Trigger.Strategy)
	if strategy == ci.StrategyNone {
		return nil
	}
	to, ok := ci.BridgeStatusFromDownstream(strategy, down.Status)
	if !ok || to == b.Status {
		return nil
	}
	if err := s.moveBridge(ctx, b, to, func(b *ci.Job) {
		if b.Status == ci.StatusFailed {
			b.FailureReason = ci.FailureUnknown
		}
	}); err != nil {
		return err
	}
	return s.Process(ctx, b.PipelineID)
}

func splitPath(full string) (string, string, bool) {
	for i := len(full) - 1; i > 0; i-- {
		if full[i] == '/' {
			return full[:i], full[i+1:], i < len(full)-1
		}
	}
	return "", "", false
}
