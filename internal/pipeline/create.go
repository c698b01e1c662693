package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

var ciSkipRe = regexp.MustCompile(`(?i)\[(ci[ _-]skip|skip[ _-]ci)\]`)

// ZeroSHA is git's all-zero object name (no previous commit).
const ZeroSHA = "0000000000000000000000000000000000000000"

// CreateRequest describes a pipeline to create.
type CreateRequest struct {
	Project *ci.Project
	// Ref is a branch or tag name; Tag says which (resolved when RefKnown is false).
	Ref      string
	Tag      bool
	RefKnown bool
	// SHA is the commit; empty resolves Ref.
	SHA       string
	BeforeSHA string
	Source    string
	UserID    int64
	Variables []ci.Variable
	// SaveOnErrors persists a failed pipeline for config errors (pushes);
	// without it config errors are returned (API create).
	SaveOnErrors bool
	// Parent links a downstream pipeline to its bridge.
	ParentPipeline *ci.Pipeline
	ParentJob      *ci.Job
	// Role, when set (pipelines created through the API), is the caller's
	// role: a protected ref then needs the right to push or merge to it
	// (create, for a tag), as GitLab's Chain::Validate::Abilities wants.
	Role ci.AccessLevel
	// ConfigContent overrides the file read from the commit (child
	// pipelines compose their config from trigger:include).
	ConfigContent []byte
	// Inputs are pipeline inputs for the config's spec:inputs (API
	// `inputs`, push option ci.input).
	Inputs map[string]any
	// SkipCI is the push option ci.skip: the pipeline is recorded as
	// skipped, as [ci skip] in the commit message does.
	SkipCI bool
	// ScheduleID links a pipeline to the pipeline schedule that made it;
	// ScheduleDescription is that schedule's description
	// (CI_PIPELINE_SCHEDULE_DESCRIPTION).
	ScheduleID          int64
	ScheduleDescription string
	// RefChangeID is the recorded push ref change the pipeline answers
	// (store.RefChange); the store takes it in the pipeline's own
	// transaction, and Create fails with store.ErrConflict when it is
	// gone (its pipeline exists already).
	RefChangeID int64
}

// ConfigError is a configuration problem: API create answers 400 with
// {"message": {"base": [...]}}.
func ConfigError(msgs ...string) *ci.Error {
	return &ci.Error{Code: ci.EBadRequest, Message: strings.Join(msgs, ", "), Body: map[string][]string{"base": msgs}}
}

// Create makes a pipeline for a commit and starts processing it.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*ci.Pipeline, error) {
	start := time.Now()
	p, err := s.create(ctx, req)
	if p != nil && p.ID != 0 {
		s.obs.PipelineCreated(p.Source, time.Since(start))
	}
	return p, err
}

func (s *Service) create(ctx context.Context, req CreateRequest) (*ci.Pipeline, error) {
	if req.Project.Archived {
		// An archived project may not create_pipeline (ProjectPolicy's
		// archived rule, answered by Chain::Validate::Abilities).
		return nil, ConfigError("Insufficient permissions to create a new pipeline")
	}
	repo := s.Repo(req.Project.ID)
	if _, err := os.Stat(repo.Dir); err != nil {
		// No repository yet: nothing was ever pushed.
		return nil, ConfigError("Reference not found")
	}
	if !req.RefKnown {
		if req.Ref == "" {
			req.Ref = req.Project.DefaultBranch
		}
		if req.SHA == "" {
			// The common case, a branch: one git call both finds it and
			// resolves it. A miss takes the full path below.
			if sha, err := repo.ResolveRef(ctx, "refs/heads/"+req.Ref); err == nil {
				req.SHA, req.RefKnown = sha, true
			}
		}
	}
	if !req.RefKnown {
		branch, err := repo.BranchExists(ctx, req.Ref)
		if err != nil {
			return nil, fmt.Errorf("ref %s: %w", req.Ref, err)
		}
		if !branch {
			tag, err := repo.TagExists(ctx, req.Ref)
			if err != nil {
				return nil, fmt.Errorf("ref %s: %w", req.Ref, err)
			}
			if !tag {
				return nil, ConfigError("Reference not found")
			}
			req.Tag = true
		}
	}
	if req.SHA == "" {
		full := "refs/heads/" + req.Ref
		if req.Tag {
			full = "refs/tags/" + req.Ref
		}
		sha, err := repo.ResolveRef(ctx, full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, ConfigError("Reference not found")
			}
			return nil, fmt.Errorf("resolve %s: %w", req.Ref, err)
		}
		req.SHA = sha
	}
	if req.BeforeSHA == "" {
		req.BeforeSHA = ZeroSHA
	}
	commit, err := repo.Commit(ctx, req.SHA)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ConfigError("Commit not found")
		}
		return nil, fmt.Errorf("commit %s: %w", req.SHA, err)
	}
	sc := toStoreCommit(commit)
	if err := s.store.SaveCommit(ctx, req.Project.ID, sc); err != nil {
		return nil, err
	}
	p := &ci.Pipeline{
		ProjectID: req.Project.ID, Ref: req.Ref, Tag: req.Tag, SHA: req.SHA, BeforeSHA: req.BeforeSHA,
		Source: req.Source, Status: ci.StatusCreated, UserID: req.UserID, Variables: req.Variables,
		CommittedAt: &commit.CommittedDate, PipelineScheduleID: req.ScheduleID, RefChangeID: req.RefChangeID,
	}
	committed := commit.CommittedDate.UTC()
	p.CommittedAt = &committed
	if req.ParentPipeline != nil {
		p.ParentPipelineID = req.ParentPipeline.ID
	}
	if req.ParentJob != nil {
		p.ParentJobID = req.ParentJob.ID
	}

	// The pipeline (and its builds, which runners with access_level
	// ref_protected wait for) is protected when its ref is at creation
	// (Ci::CreatePipelineService: protected: project.protected_for?(ref)).
	rules, err := s.store.ProtectedRefs(ctx, req.Project.ID)
	if err != nil {
		return nil, fmt.Errorf("protected refs: %w", err)
	}
	p.Protected = rules.Protected(req.Ref, req.Tag)
	if req.Role != ci.NoAccess && p.Protected && !rules.CanUpdate(req.Ref, req.Tag, req.Role) {
		return nil, ConfigError("Insufficient permissions for protected ref '" + req.Ref + "'")
	}

	// [ci skip] / [skip ci] in a pushed commit's message: GitLab records a
	// skipped pipeline and runs nothing.
	if req.Source == "push" && (req.SkipCI || ciSkipRe.MatchString(commit.Message)) {
		now := s.Now()
		p.Status, p.FinishedAt = ci.StatusSkipped, &now
		if err := s.store.CreatePipeline(ctx, p, nil); err != nil {
			return nil, err
		}
		return p, nil
	}
	content := req.ConfigContent
	if content == nil {
		content, err = repo.ReadFile(ctx, req.SHA, s.configPath(req.Project))
		if errors.Is(err, fs.ErrNotExist) {
			if !req.SaveOnErrors {
				return nil, ConfigError("Missing CI config file")
			}
			// A push without a config creates no pipeline, as in GitLab.
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	vars, err := s.rulesVariables(ctx, req, p.Protected, commit)
	if err != nil {
		return nil, err
	}
	var changed []string
	if req.Source == "push" && !gitrepo.IsZeroSHA(req.BeforeSHA) {
		if c, err := repo.ChangedFiles(ctx, req.BeforeSHA, req.SHA); err == nil {
			changed = c
		}
	}
	src := s.configSource(ctx, req, content, vars, changed)
	plan, err := s.compile(ctx, src)
	if err != nil {
		var ce *ciconfig.Error
		if !errors.As(err, &ce) || len(ce.Errors) == 0 {
			return nil, fmt.Errorf("compile config: %w", err)
		}
		msg := ce.Errors[0]
		if !errors.Is(err, ciconfig.ErrWorkflowFiltered) {
			s.obs.PipelineConfigError(req.Source)
		}
		if !req.SaveOnErrors {
			return nil, ConfigError(msg)
		}
		if errors.Is(err, ciconfig.ErrWorkflowFiltered) {
			return nil, nil
		}
		now := s.Now()
		p.Status, p.YAMLErrors, p.FailureReason, p.FinishedAt = ci.StatusFailed, msg, "config_error", &now
		if err := s.store.CreatePipeline(ctx, p, nil); err != nil {
			return nil, err
		}
		return p, nil
	}
	p.Name = plan.WorkflowName
	if ac := plan.AutoCancel; ac != nil {
		p.AutoCancelOnNewCommit = ci.AutoCancelOnNewCommit(ac.OnNewCommit)
		p.AutoCancelOnJobFailure = ci.AutoCancelOnJobFailure(ac.OnJobFailure)
	}
	if err := s.cacheKeys(ctx, req, plan); err != nil {
		return nil, err
	}
	jobs, err := s.jobsFromPlan(req, plan)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreatePipeline(ctx, p, jobs); err != nil {
		return nil, err
	}
	// The first processing pass would decode every definition just
	// encoded; the plan has what it needs (jobsFromPlan keeps its order).
	for i, pj := range plan.Jobs {
		s.rememberSched(jobs[i].ID, schedOf(pj))
	}
	// Persistent ref: keeps the commit fetchable even if the branch moves.
	if err := repo.UpdateRef(ctx, fmt.Sprintf("refs/pipelines/%d", p.ID), p.SHA); err != nil {
		s.log.Warn("persistent ref", "pipeline", p.ID, "err", err)
	}
	if err := s.process(ctx, p.ID, &snapshot{p: p, jobs: jobs}); err != nil {
		return nil, err
	}
	// The project's "Auto-cancel redundant pipelines" setting
	// (auto_cancel_pending_pipelines) switches this off altogether.
	if req.Source == "push" && !req.Tag && req.Project.AutoCancelPendingPipelines {
		if err := s.autoCancelRedundant(ctx, p); err != nil {
			s.log.Warn("auto-cancel", "pipeline", p.ID, "err", err)
		}
	}
	return s.store.PipelineByID(ctx, p.ID)
}

// configSource is what the compiler sees of a pipeline's commit: its files,
// other projects (as the pipeline's user), remote includes and the
// variables rules evaluate.
func (s *Service) configSource(ctx context.Context, req CreateRequest, content []byte, vars map[string]string, changed []string) ciconfig.Source {
	repo := s.Repo(req.Project.ID)
	var files []string
	return ciconfig.Source{
		Content:  content,
		ReadFile: func(p string) ([]byte, error) { return repo.ReadFile(ctx, req.SHA, p) },
		Exists: func(glob string) bool {
			if files == nil {
				files, _ = repo.ListFiles(ctx, req.SHA)
				if files == nil {
					files = []string{}
				}
			}
			return slices.ContainsFunc(files, func(f string) bool { return ciconfig.MatchGlob(glob, f) })
		},
		ChangedFiles:   changed,
		Variables:      vars,
		Ref:            req.Ref,
		Tag:            req.Tag,
		PipelineSource: req.Source,
		Inputs:         req.Inputs,
		Projects:       s.projectFiles(ctx, req.UserID),
		FetchRemote:    s.fetchRemote(ctx),
		ReadArtifact:   s.readArtifactFor(ctx, req),
		ChangedSince: func(ref string) ([]string, error) {
			// Ci::Pipeline#modified_paths_since: the diff from the merge
			// base of the compare_to commit and the pipeline's commit.
			if ref == "" || strings.HasPrefix(ref, "-") {
				return nil, ciconfig.ErrRefNotFound
			}
			base, err := repo.ResolveRef(ctx, ref)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ciconfig.ErrRefNotFound, err)
			}
			if mb, err := repo.MergeBase(ctx, base, req.SHA); err == nil {
				base = mb
			}
			return repo.ChangedFiles(ctx, base, req.SHA)
		},
	}
}

// readArtifactFor is trigger:include:artifact's reader: set only for a
// child pipeline, whose artifact includes read its parent's jobs.
func (s *Service) readArtifactFor(ctx context.Context, req CreateRequest) func(job, path string) ([]byte, error) {
	if req.ParentPipeline == nil || req.Source != "parent_pipeline" {
		return nil
	}
	return s.readParentArtifact(ctx, req.ParentPipeline)
}

// autoCancelRedundant is GitLab's "auto-cancel redundant pipelines"
// (Ci::PipelineCreation::CancelRedundantPipelinesService): a new pipeline
// of a branch cancels what each older, still active pipeline of the branch
// allows by its own workflow:auto_cancel:on_new_commit (ci.RedundantJobs).
// Child pipelines are candidates too, each by its own setting, when their
// root pipeline is older; cancels do not cascade to downstream pipelines,
// which are visited themselves, oldest first.
func (s *Service) autoCancelRedundant(ctx context.Context, p *ci.Pipeline) error {
	older, err := s.store.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ProjectID, Ref: p.Ref,
		Statuses: []ci.Status{ci.StatusCreated, ci.StatusWaitingForResource, ci.StatusPreparing, ci.StatusPending,
			ci.StatusRunning, ci.StatusScheduled}, Limit: 100, OrderBy: "id", Asc: true})
	if err != nil {
		return err
	}
	for _, o := range older {
		if o.ID == p.ID || o.Tag || o.SHA == p.SHA {
			continue
		}
		root, _, err := s.ancestry(ctx, o)
		if err != nil {
			return err
		}
		if root.ID >= p.ID {
			continue
		}
		jobs, err := s.store.PipelineJobs(ctx, o.ID)
		if err != nil {
			return err
		}
		cancel := ci.RedundantJobs(o.OnNewCommit(), jobs)
		if len(cancel) == 0 {
			continue
		}
		s.log.Info("auto-canceling redundant pipeline", "pipeline", o.ID, "by", p.ID, "on_new_commit", o.OnNewCommit())
		if err := s.cancelJobs(ctx, o.ID, cancel, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) configPath(p *ci.Project) string {
	if p.CIConfigPath != "" {
		return p.CIConfigPath
	}
	return ".gitlab-ci.yml"
}

// cacheKeys computes cache:key:files keys from the commit's files, as
// GitLab's Seed::Build::Cache does when it seeds the job: patterns with `*`
// are expanded against the commit's files, then the blob ids are hashed.
func (s *Service) cacheKeys(ctx context.Context, req CreateRequest, plan *ciconfig.Plan) error {
	repo := s.Repo(req.Project.ID)
	var all []string
	blobs := map[string]string{}
	for _, j := range plan.Jobs {
		for i := range j.Cache {
			c := &j.Cache[i]
			if len(c.KeyFiles) == 0 {
				continue
			}
			var ids []string
			for _, pat := range c.KeyFiles {
				paths := []string{pat}
				if strings.Contains(pat, "*") {
					if all == nil {
						var err error
						if all, err = repo.ListFiles(ctx, req.SHA); err != nil {
							return fmt.Errorf("cache key files: %w", err)
						}
					}
					paths = slices.DeleteFunc(slices.Clone(all), func(f string) bool { return !ciconfig.MatchGlob(pat, f) })
				}
				for _, p := range paths {
					id, ok := blobs[p]
					if !ok {
						if e, err := repo.Blob(ctx, req.SHA, p); err == nil {
							id = e.ID
						}
						blobs[p] = id
					}
					ids = append(ids, id)
				}
			}
			c.Key = ciconfig.CacheKeyFromFiles(c.KeyPrefix, ids)
		}
	}
	return nil
}

// jobsFromPlan turns compiled jobs into job rows in created.
func (s *Service) jobsFromPlan(req CreateRequest, plan *ciconfig.Plan) ([]*ci.Job, error) {
	jobs := make([]*ci.Job, 0, len(plan.Jobs))
	for _, pj := range plan.Jobs {
		def, err := json.Marshal(pj)
		if err != nil {
			return nil, fmt.Errorf("encode job %s: %w", pj.Name, err)
		}
		j := &ci.Job{
			Kind: ci.KindBuild, Name: pj.Name, Stage: pj.Stage, StageIdx: pj.StageIdx, Status: ci.StatusCreated,
			Ref: req.Ref, Tag: req.Tag, When: pj.When, AllowFailure: pj.AllowFailure, UserID: req.UserID,
			Tags: sortedTags(pj.Tags), Definition: def, ResourceGroup: pj.ResourceGroup, Interruptible: pj.Interruptible,
		}
		if j.When == "" {
			j.When = ci.WhenOnSuccess
		}
		if pj.Bridge {
			j.Kind = ci.KindBridge
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

func sortedTags(tags []string) []string {
	out := slices.Clone(tags)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func toStoreCommit(c *gitrepo.Commit) *store.Commit {
	return &store.Commit{
		ID: c.ID, ShortID: c.ShortID, Title: c.Title, Message: c.Message, ParentIDs: c.ParentIDs,
		AuthorName: c.AuthorName, AuthorEmail: c.AuthorEmail, AuthoredDate: c.AuthoredDate,
		CommitterName: c.CommitterName, CommitterEmail: c.CommitterEmail, CommittedDate: c.CommittedDate,
		Trailers: c.Trailers,
	}
}
