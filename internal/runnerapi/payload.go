package runnerapi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store"
)

// The job payload's types are runnerproto's. Field types follow
// gitlab-runner's common/spec exactly: one mismatch makes the runner drop
// the whole job silently.

// buildPayload presents a claimed job to the runner.
func (a *API) buildPayload(ctx context.Context, j *ci.Job, rn *ci.Runner, token string, cc *claimCache) (*runnerproto.Job, error) {
	def, err := pipeline.Definition(j)
	if err != nil {
		return nil, err
	}
	pl, err := cc.pipeline(ctx, j.PipelineID)
	if err != nil {
		return nil, err
	}
	proj, err := cc.project(ctx, j.ProjectID)
	if err != nil {
		return nil, err
	}
	deps, dotenv, err := a.dependencies(ctx, j, def, token)
	if err != nil {
		return nil, err
	}
	vars, err := a.eng.JobVariables(ctx, pipeline.JobEnv{Job: j, Pipeline: pl, Project: proj, Runner: rn, Token: token,
		Def: def, Dotenv: dotenv})
	if err != nil {
		return nil, fmt.Errorf("job variables: %w", err)
	}
	for i := range vars {
		// gitlab-runner 14.10 crashes on a masked variable with an empty
		// value, and there is nothing to mask anyway.
		if vars[i].Masked && vars[i].Value == "" {
			vars[i].Masked = false
		}
	}
	// The project's ci_default_git_depth, unless the job sets GIT_DEPTH
	// (Ci::Build#git_depth).
	depth := proj.CIDefaultGitDepth
	for _, v := range vars {
		if v.Key == "GIT_DEPTH" {
			if n, err := strconv.Atoi(v.Value); err == nil && n >= 0 {
				depth = n
			}
		}
	}
	out := &runnerproto.Job{
		ID: j.ID, Token: token, AllowGitFetch: true,
		JobInfo: runnerproto.JobInfo{ID: j.ID, Name: j.Name, Stage: j.Stage, ProjectID: proj.ID, ProjectName: proj.Path,
			ProjectFullPath: proj.FullPath()},
		GitInfo: runnerproto.GitInfo{
			RepoURL: a.eng.RepoURLWithToken(proj, token), Ref: pl.Ref, Sha: pl.SHA, BeforeSha: pl.BeforeSHA,
			RefType: "branch", Refspecs: refspecs(pl, depth), Depth: depth, Protected: pl.Protected,
		},
		RunnerInfo:   runnerproto.RunnerInfo{Timeout: j.Timeout},
		Variables:    vars,
		Steps:        steps(def, j.Timeout),
		Hooks:        hooks(def),
		Artifacts:    artifacts(def),
		Cache:        caches(def, pl.Protected),
		Dependencies: deps,
		Features:     runnerproto.Features{TraceSections: true, FailureReasons: ci.FailureReasons},
	}
	if pl.Tag {
		out.GitInfo.RefType = "tag"
	}
	if out.GitInfo.BeforeSha == "" {
		out.GitInfo.BeforeSha = pipeline.ZeroSHA
	}
	if def.Image != nil && def.Image.Name != "" {
		img := toImage(*def.Image)
		out.Image = &img
	}
	for _, s := range def.Services {
		if s.Name != "" {
			out.Services = append(out.Services, toImage(s))
		}
	}
	return out, nil
}

// refspecs are GitLab's (build_runner_presenter.rb): the pipeline's
// persistent ref, then the branch or tag, or everything for a full clone.
func refspecs(pl *ci.Pipeline, depth int) []string {
	specs := []string{fmt.Sprintf("+refs/pipelines/%d:refs/pipelines/%d", pl.ID, pl.ID)}
	switch {
	case depth == 0:
		specs = append(specs, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
	case pl.Tag:
		specs = append(specs, "+refs/tags/"+pl.Ref+":refs/tags/"+pl.Ref)
	default:
		specs = append(specs, "+refs/heads/"+pl.Ref+":refs/remotes/origin/"+pl.Ref)
	}
	return specs
}

func steps(def *ciconfig.Job, timeout int) []runnerproto.Step {
	script := append(slices.Clone(def.BeforeScript), def.Script...)
	if script == nil {
		script = []string{}
	}
	out := []runnerproto.Step{{Name: "script", Script: script, Timeout: timeout, When: "on_success"}}
	if len(def.AfterScript) > 0 {
		out = append(out, runnerproto.Step{Name: "after_script", Script: def.AfterScript, Timeout: timeout, When: "always", AllowFailure: true})
	}
	return out
}

// hooks are GitLab's Ci::Build#hooks: the job's hooks: with their scripts.
func hooks(def *ciconfig.Job) []runnerproto.Hook {
	if def.Hooks == nil || len(def.Hooks.PreGetSourcesScript) == 0 {
		return nil
	}
	return []runnerproto.Hook{{Name: runnerproto.HookPreGetSourcesScript, Script: def.Hooks.PreGetSourcesScript}}
}

func toImage(i ciconfig.Image) runnerproto.Image {
	img := runnerproto.Image{Name: i.Name, Alias: i.Alias, Command: i.Command, Entrypoint: i.Entrypoint, PullPolicy: i.PullPolicy}
	if i.Docker != nil || i.Kubernetes != nil {
		img.ExecutorOpts = &runnerproto.ExecutorOpts{}
		if i.Docker != nil {
			img.ExecutorOpts.Docker = &runnerproto.ExecutorOptsDocker{Platform: i.Docker["platform"], User: i.Docker["user"]}
		}
		if i.Kubernetes != nil {
			img.ExecutorOpts.Kubernetes = &runnerproto.ExecutorOptsKubernetes{User: i.Kubernetes["user"]}
		}
	}
	return img
}

// reportFormats is GitLab's Ci::JobArtifact TYPE_AND_FORMAT_PAIRS for the
// report types whose format is not raw.
var reportFormats = map[string]string{
	"archive": "zip", "metadata": "gzip", "junit": "gzip", "metrics": "gzip", "metrics_referee": "gzip",
	"network_referee": "gzip", "dotenv": "gzip", "cobertura": "gzip", "jacoco": "gzip",
	"cluster_applications": "gzip", "lsif": "zip", "cyclonedx": "gzip", "annotations": "gzip",
	"repository_xray": "gzip",
}

func reportFormat(t string) string {
	if f, ok := reportFormats[t]; ok {
		return f
	}
	return "raw"
}

// artifacts is the presenter's create_archive plus create_reports.
func artifacts(def *ciconfig.Job) []runnerproto.Artifact {
	out := []runnerproto.Artifact{}
	art := def.Artifacts
	if art == nil {
		return out
	}
	if len(art.Paths) > 0 || art.Untracked {
		when := art.When
		if when == "" {
			when = ci.WhenOnSuccess
		}
		out = append(out, runnerproto.Artifact{
			Name: art.Name, Untracked: art.Untracked, Paths: nonNil(art.Paths), Exclude: nonNil(art.Exclude),
			When: when, ExpireIn: art.ExpireIn, ArtifactType: ci.ArtifactArchive, ArtifactFormat: "zip",
		})
	}
	types := make([]string, 0, len(art.Reports))
	for t := range art.Reports {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		paths := art.Reports[t]
		if len(paths) == 0 {
			continue
		}
		typ := t
		if t == "coverage_report" {
			// The report's type is its format (cobertura, jacoco).
			if art.CoverageFormat == "" {
				continue
			}
			typ = art.CoverageFormat
		}
		out = append(out, runnerproto.Artifact{
			Name: typ, Paths: paths, Exclude: []string{}, When: ci.WhenAlways, ExpireIn: art.ExpireIn,
			ArtifactType: typ, ArtifactFormat: reportFormat(typ),
		})
	}
	return out
}

// caches carries cache: entries. Keys get GitLab's -protected or
// -non_protected suffix unless cache:unprotect is set, so protected and
// unprotected refs never share a cache.
func caches(def *ciconfig.Job, protected bool) []runnerproto.Cache {
	out := []runnerproto.Cache{}
	suffix := "-non_protected"
	if protected {
		suffix = "-protected"
	}
	for _, c := range def.Cache {
		key := c.Key
		if key == "" {
			// cache:key:files needs the files' last commits, which
			// Gantry does not compute yet; fall back to the default key.
			key = "default"
			if c.KeyPrefix != "" {
				key = c.KeyPrefix + "-" + key
			}
		}
		fallback := slices.Clone(c.FallbackKeys)
		if !c.Unprotect {
			key += suffix
			for i := range fallback {
				fallback[i] += suffix
			}
		}
		policy, when := c.Policy, c.When
		if policy == "" {
			policy = "pull-push"
		}
		if when == "" {
			when = ci.WhenOnSuccess
		}
		out = append(out, runnerproto.Cache{Key: key, Untracked: c.Untracked, Paths: nonNil(c.Paths), Policy: policy, When: when,
			FallbackKeys: nonNil(fallback)})
	}
	return out
}

// parentNeeds are the jobs of needs:pipeline:job with artifacts: the
// parent pipeline's latest jobs of those names, when pipeline: names the
// job's parent pipeline (Ci::BuildDependencies#cross_pipeline, usually
// needs:pipeline: $PARENT_PIPELINE_ID).
func (a *API) parentNeeds(ctx context.Context, j *ci.Job, def *ciconfig.Job) ([]*ci.Job, error) {
	var want []string
	var refs []string
	for _, n := range def.Needs {
		if n.Artifacts && n.Pipeline != "" && n.Project == "" && n.Job != "" {
			want, refs = append(want, n.Job), append(refs, n.Pipeline)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	pl, err := a.store.PipelineByID(ctx, j.PipelineID)
	if err != nil {
		return nil, fmt.Errorf("pipeline %d: %w", j.PipelineID, err)
	}
	if pl.ParentPipelineID == 0 {
		return nil, nil
	}
	vars := map[string]string{}
	for _, v := range pl.Variables {
		vars[v.Key] = v.Value
	}
	for _, v := range def.YAMLVariables {
		if _, ok := vars[v.Key]; !ok {
			vars[v.Key] = v.Value
		}
	}
	parentID := strconv.FormatInt(pl.ParentPipelineID, 10)
	var names []string
	for i, ref := range refs {
		if ciconfig.ExpandExisting(ref, vars) == parentID {
			names = append(names, want[i])
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	jobs, err := a.store.PipelineJobs(ctx, pl.ParentPipelineID)
	if err != nil {
		return nil, fmt.Errorf("parent pipeline jobs: %w", err)
	}
	var out []*ci.Job
	for _, o := range jobs {
		if !o.Retried && o.Kind == ci.KindBuild && slices.Contains(names, o.Name) {
			out = append(out, o)
		}
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dependencies lists the jobs whose archives the job downloads: the
// `dependencies:` list when given, else needs with artifacts: true when
// needs is set, else every job of an earlier stage. Only jobs with a live
// archive are listed. The token is the running job's own: the download
// authenticates the dependent job (GitLab's
// ci_expose_running_job_token_for_artifacts). The same jobs' dotenv report
// variables come second.
func (a *API) dependencies(ctx context.Context, j *ci.Job, def *ciconfig.Job, token string) ([]runnerproto.Dependency, []runnerproto.Variable, error) {
	out := []runnerproto.Dependency{}
	var names []string
	var parentCands []*ci.Job
	switch {
	case def.Dependencies != nil:
		names = def.Dependencies
		if len(names) == 0 {
			return out, nil, nil
		}
	case def.Needs != nil:
		var err error
		if parentCands, err = a.parentNeeds(ctx, j, def); err != nil {
			return nil, nil, err
		}
		for _, n := range def.Needs {
			if n.Artifacts && n.Pipeline == "" && n.Project == "" {
				names = append(names, n.Job)
			}
		}
		if len(names) == 0 && len(parentCands) == 0 {
			return out, nil, nil
		}
		if names == nil {
			names = []string{}
		}
	}
	if names == nil && j.StageIdx == 0 {
		// Artifacts come from earlier stages, and there are none.
		return out, nil, nil
	}
	// Only the latest builds, without their definitions, and by default
	// only those of earlier stages: a payload reads what it names, not the
	// whole pipeline.
	f := store.JobFilter{PipelineID: j.PipelineID, Kind: store.BuildsOnly, LatestOnly: true, Brief: true, Asc: true}
	if names == nil {
		f.StageBefore = j.StageIdx
	}
	jobs, err := a.store.ListJobs(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("pipeline jobs: %w", err)
	}
	cands := parentCands
	for _, o := range jobs {
		if o.ID == j.ID || o.Retried || o.Kind != ci.KindBuild {
			continue
		}
		if names != nil {
			if slices.Contains(names, o.Name) {
				cands = append(cands, o)
			}
		} else if o.StageIdx < j.StageIdx {
			cands = append(cands, o)
		}
	}
	if len(cands) == 0 {
		return out, nil, nil
	}
	ids := make([]int64, len(cands))
	for i, c := range cands {
		ids[i] = c.ID
	}
	arts, err := a.store.ArtifactsByJobIDs(ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("dependency artifacts: %w", err)
	}
	now := a.now()
	for _, c := range cands {
		if arc := ci.LiveArchive(arts[c.ID], now); arc != nil {
			out = append(out, runnerproto.Dependency{ID: c.ID, Name: c.Name, Token: token,
				ArtifactsFile: runnerproto.ArtifactsFile{Filename: arc.Filename, Size: arc.Size}})
		}
	}
	return out, a.dotenvVariables(ctx, cands, arts), nil
}
