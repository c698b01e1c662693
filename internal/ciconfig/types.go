// Package ciconfig turns a .gitlab-ci.yml into a pipeline plan: YAML loading
// (anchors, merge keys, !reference), include:local, extends, default,
// validation with GitLab's messages, workflow:rules, rules/only/except with the
// expression language, and parallel/matrix expansion.
//
// It performs no I/O of its own: files of the commit come through Source.
// docs/ci-yaml.md describes the phases, the keyword entries and the GitLab
// behaviour they follow.
package ciconfig

import "encoding/json"

// Source is everything Compile may look at.
type Source struct {
	// Content is the .gitlab-ci.yml text.
	Content []byte
	// ReadFile reads a file of the same commit, for include:local and
	// trigger:include. Paths are relative to the repository root, without a
	// leading slash. It returns an error wrapping fs.ErrNotExist when absent.
	// May be nil (then every include fails as missing).
	ReadFile func(path string) ([]byte, error)
	// Exists reports whether a file of the commit matches a rules:exists glob.
	// May be nil (then exists never matches).
	Exists func(glob string) bool
	// ChangedFiles lists paths changed by the push, for rules:changes and
	// only:changes. Nil means "unknown": changes then always match, as GitLab
	// does for new branches, tags and API/web pipelines.
	ChangedFiles []string
	// Variables are visible to rules:if, workflow:rules and only:variables
	// (predefined CI_* variables, project and pipeline variables), before the
	// config's own global and job variables are layered on top.
	Variables map[string]string
	// Ref is the branch or tag name; Tag tells which. PipelineSource is
	// push, web, api, trigger, schedule, parent_pipeline, pipeline, ...
	Ref            string
	Tag            bool
	PipelineSource string
	// Inputs are the pipeline inputs for the main file's spec:inputs (API
	// `inputs`, `git push -o ci.input=`): string, int64/float64, bool or
	// []any values (see NormalizeInputs).
	Inputs map[string]any
	// Projects reads other projects for include:project and
	// include:component. May be nil (then such includes find no project).
	Projects Projects
	// ReadArtifact reads a file of the archive of the parent pipeline's
	// latest job with that name, for trigger:include:artifact (only set
	// when creating a child pipeline). It fails with ErrArtifactJobNotFound
	// when no such job has an archive; other errors carry GitLab's
	// Gitlab::Ci::ArtifactFileReader sentence as their text.
	ReadArtifact func(job, path string) ([]byte, error)
	// ChangedSince lists the paths changed between the merge base of ref
	// and the pipeline's commit and that commit, for
	// rules:changes:compare_to (Ci::Pipeline#modified_paths_since). It
	// fails with ErrRefNotFound when ref names no commit. May be nil (then
	// every compare_to is an invalid ref).
	ChangedSince func(ref string) ([]string, error)
	// FetchRemote fetches an include:remote URL with a timeout and a size
	// cap. Errors: ErrRemoteTimeout, *RemoteStatusError, ErrRemoteHTTP,
	// *RemoteBlockedError (a refused address); any
	// other error counts as a socket error. May be nil (socket error).
	FetchRemote func(url string) ([]byte, error)
}

// Projects gives the compiler read access to other projects hosted by the
// same server, on behalf of the pipeline's user.
type Projects interface {
	// ResolveRef returns the commit of ref (a branch, tag or commit sha;
	// "" or HEAD for the default branch) in the project with the given full
	// path. It fails with ErrProjectNotFound when the project does not
	// exist or the user may not read its code, ErrRefNotFound when the ref
	// does not exist.
	ResolveRef(project, ref string) (sha string, err error)
	// ReadFile reads a file at a commit; an error wrapping fs.ErrNotExist
	// when absent.
	ReadFile(project, sha, path string) ([]byte, error)
	// Tags lists the project's tag names, for component versions ~latest.
	Tags(project string) ([]string, error)
	// ListFiles lists the paths of all files at a commit, for
	// rules:exists:project.
	ListFiles(project, sha string) ([]string, error)
}

// Plan is a compiled configuration: what a pipeline is made of.
type Plan struct {
	// Stages in order, always starting with .pre and ending with .post.
	Stages []string `json:"stages"`
	// Jobs that the rules kept, in definition order, parallel jobs expanded.
	Jobs []*Job `json:"jobs"`
	// Variables are the global variables after workflow:rules variables.
	Variables []Variable `json:"variables,omitempty"`
	// WorkflowName is workflow:name when set.
	WorkflowName string `json:"workflow_name,omitempty"`
	// AutoCancel is workflow:auto_cancel after workflow:rules, nil when unset.
	AutoCancel *AutoCancel `json:"auto_cancel,omitempty"`
	// Warnings as GitLab reports them in CI Lint.
	Warnings []string `json:"warnings,omitempty"`
}

// Job is one job or bridge of the plan. It is stored as JSON with the job
// (like GitLab's job definition) and read again to build the runner payload,
// so field names and tags are part of Gantry's storage format.
type Job struct {
	Name     string `json:"name"`
	Stage    string `json:"stage"`
	StageIdx int    `json:"stage_idx"`
	// Bridge is true for trigger jobs (trigger:).
	Bridge bool `json:"bridge,omitempty"`

	// When is on_success, on_failure, always, manual or delayed (never is
	// removed at compile time).
	When    string `json:"when"`
	StartIn string `json:"start_in,omitempty"` // for delayed, e.g. "30 minutes"
	// AllowFailure as resolved (a job-level when: manual without
	// allow_failure gets true; rules can set it).
	AllowFailure          bool  `json:"allow_failure"`
	AllowFailureExitCodes []int `json:"allow_failure_exit_codes,omitempty"`

	// Needs is nil when the job has no needs key (stage ordering applies);
	// an empty non-nil slice is needs: [] (start at once).
	Needs []Need `json:"needs"`
	// Dependencies is nil when not given (all previous stages' artifacts, or
	// the needs when present).
	Dependencies []string `json:"dependencies"`

	BeforeScript []string `json:"before_script,omitempty"`
	Script       []string `json:"script,omitempty"`
	AfterScript  []string `json:"after_script,omitempty"`

	Image    *Image  `json:"image,omitempty"`
	Services []Image `json:"services,omitempty"`
	// Variables are the job's own variables (global ones not merged in).
	Variables []Variable `json:"variables,omitempty"`
	// YAMLVariables are the variables the job gets from the configuration:
	// the global ones it inherits (inherit:variables) overlaid by its own,
	// matrix and rules:variables, like GitLab's yaml_variables.
	YAMLVariables []Variable `json:"yaml_variables,omitempty"`

	Artifacts *Artifacts `json:"artifacts,omitempty"`
	Cache     []Cache    `json:"cache,omitempty"`
	Tags      []string   `json:"tags,omitempty"`
	// Timeout in seconds; 0 when unset.
	Timeout int    `json:"timeout,omitempty"`
	Retry   *Retry `json:"retry,omitempty"`
	// Coverage is the regex from coverage:, with the surrounding slashes removed.
	Coverage    string `json:"coverage,omitempty"`
	Environment string `json:"environment,omitempty"`
	// EnvironmentURL, EnvironmentAction (start when an environment is set),
	// EnvironmentOnStop, EnvironmentAutoStopIn and EnvironmentTier come from
	// the hash form of environment:.
	EnvironmentURL        string `json:"environment_url,omitempty"`
	EnvironmentAction     string `json:"environment_action,omitempty"`
	EnvironmentOnStop     string `json:"environment_on_stop,omitempty"`
	EnvironmentAutoStopIn string `json:"environment_auto_stop_in,omitempty"`
	EnvironmentTier       string `json:"environment_tier,omitempty"`
	Interruptible         bool   `json:"interruptible,omitempty"`
	ResourceGroup         string `json:"resource_group,omitempty"`

	Trigger *Trigger `json:"trigger,omitempty"`

	// Hooks is hooks: (pre_get_sources_script), sent to the runner.
	Hooks *Hooks `json:"hooks,omitempty"`
	// ManualConfirmation is the message shown before a manual job is run.
	ManualConfirmation string `json:"manual_confirmation,omitempty"`
	// IDTokens names the id_tokens the job asks for; Gantry issues none.
	IDTokens []string `json:"id_tokens,omitempty"`
	// Release is release:; Gantry has no Releases API and creates none.
	Release *Release `json:"release,omitempty"`
	// Pages and PagesPublish are pages: and publish:; Gantry does not
	// host Pages sites.
	Pages        bool   `json:"pages,omitempty"`
	PagesPublish string `json:"pages_publish,omitempty"`

	// Parallel holds the index and total for parallel jobs (1-based), zero otherwise.
	ParallelIndex int `json:"parallel_index,omitempty"`
	ParallelTotal int `json:"parallel_total,omitempty"`
}

// Hooks is hooks: of a job (Entry::Hooks).
type Hooks struct {
	PreGetSourcesScript []string `json:"pre_get_sources_script,omitempty"`
}

// Release is release: of a job (Entry::Release).
type Release struct {
	TagName     string   `json:"tag_name"`
	TagMessage  string   `json:"tag_message,omitempty"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description"`
	Ref         string   `json:"ref,omitempty"`
	Milestones  []string `json:"milestones,omitempty"`
	ReleasedAt  string   `json:"released_at,omitempty"`
}

// Need is one entry of needs:.
type Need struct {
	Job       string `json:"job"`
	Artifacts bool   `json:"artifacts"`
	Optional  bool   `json:"optional,omitempty"`
	// Pipeline/Project are set for cross-pipeline needs; may be ignored.
	Pipeline string `json:"pipeline,omitempty"`
	Project  string `json:"project,omitempty"`
	Ref      string `json:"ref,omitempty"`

	// matrix is needs:parallel:matrix, resolved to instance names at
	// compile time.
	matrix [][]Variable
}

// Variable is a CI/CD variable with its attributes.
type Variable struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	// Raw is expand: false.
	Raw bool `json:"raw,omitempty"`
}

// Image is an image: or a services: entry.
type Image struct {
	Name       string   `json:"name"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Command    []string `json:"command,omitempty"`
	Alias      string   `json:"alias,omitempty"`
	PullPolicy []string `json:"pull_policy,omitempty"`
	// Docker and Kubernetes are the executor options (docker: platform,
	// user; kubernetes: user).
	Docker     map[string]string `json:"docker,omitempty"`
	Kubernetes map[string]string `json:"kubernetes,omitempty"`
}

// Artifacts is artifacts: of a job.
type Artifacts struct {
	Name      string   `json:"name,omitempty"`
	Paths     []string `json:"paths,omitempty"`
	Exclude   []string `json:"exclude,omitempty"`
	Untracked bool     `json:"untracked,omitempty"`
	// When is on_success (default), on_failure or always.
	When     string `json:"when,omitempty"`
	ExpireIn string `json:"expire_in,omitempty"`
	// Reports maps a report type (junit, ...) to its paths.
	Reports map[string][]string `json:"reports,omitempty"`
	// ExposeAs is artifacts:expose_as.
	ExposeAs string `json:"expose_as,omitempty"`
	// CoverageFormat is reports:coverage_report:coverage_format (its path is
	// Reports["coverage_report"]).
	CoverageFormat string `json:"coverage_format,omitempty"`
	// Public is artifacts:public (nil: not given, public).
	Public *bool `json:"public,omitempty"`
	// Access is artifacts:access: all, developer or none.
	Access string `json:"access,omitempty"`
}

// Cache is one cache: entry, carried to the runner as is.
type Cache struct {
	Key          string   `json:"key"`
	Paths        []string `json:"paths,omitempty"`
	Untracked    bool     `json:"untracked,omitempty"`
	Policy       string   `json:"policy,omitempty"`
	When         string   `json:"when,omitempty"`
	FallbackKeys []string `json:"fallback_keys,omitempty"`
	Unprotect    bool     `json:"unprotect,omitempty"`
	// KeyFiles / KeyPrefix are cache:key:files and cache:key:prefix; the
	// key then has to be computed from the files' last commits.
	KeyFiles  []string `json:"key_files,omitempty"`
	KeyPrefix string   `json:"key_prefix,omitempty"`
}

// Retry is retry: of a job.
type Retry struct {
	Max       int      `json:"max"`
	When      []string `json:"when,omitempty"`
	ExitCodes []int    `json:"exit_codes,omitempty"`
}

// Trigger is trigger: of a bridge.
type Trigger struct {
	// Include lists local files of the same commit making up a child
	// pipeline's configuration (trigger:include).
	Include []string `json:"include,omitempty"`
	// IncludeArtifact / IncludeJob name a config produced as an artifact.
	IncludeArtifact string `json:"include_artifact,omitempty"`
	IncludeJob      string `json:"include_job,omitempty"`
	// IncludeOther keeps trigger:include entries of other kinds (project,
	// template, remote, component) as JSON; Gantry cannot resolve them.
	IncludeOther []string `json:"include_other,omitempty"`
	// Project and Branch make a multi-project pipeline.
	Project string `json:"project,omitempty"`
	Branch  string `json:"branch,omitempty"`
	// Strategy is "" or "depend".
	Strategy string `json:"strategy,omitempty"`
	// Inputs are trigger:inputs, the downstream pipeline's inputs, as JSON
	// (NormalizeInputs reads them back).
	Inputs json.RawMessage `json:"inputs,omitempty"`
	// ForwardYAMLVariables / ForwardPipelineVariables follow trigger:forward
	// (defaults true and false).
	ForwardYAMLVariables     bool `json:"forward_yaml_variables"`
	ForwardPipelineVariables bool `json:"forward_pipeline_variables"`
}
