// Package runnerproto holds the wire types of GitLab's runner protocol that
// both sides of Gantry speak: the server (runnerapi) encodes them and the
// built-in runner decodes them, so the two cannot drift apart. Field types
// follow gitlab-runner's common/spec exactly: one mismatch makes a real
// gitlab-runner drop the whole job silently. Ints are JSON numbers, optional
// objects are omitted rather than null, and there is never a "run" key.
package runnerproto

import "time"

// Job is the 201 payload of POST /api/v4/jobs/request.
type Job struct {
	ID            int64        `json:"id"`
	Token         string       `json:"token"`
	AllowGitFetch bool         `json:"allow_git_fetch"`
	JobInfo       JobInfo      `json:"job_info"`
	GitInfo       GitInfo      `json:"git_info"`
	RunnerInfo    RunnerInfo   `json:"runner_info"`
	Variables     []Variable   `json:"variables"`
	Steps         []Step       `json:"steps"`
	Hooks         []Hook       `json:"hooks,omitempty"`
	Image         *Image       `json:"image,omitempty"`
	Services      []Image      `json:"services,omitempty"`
	Artifacts     []Artifact   `json:"artifacts"`
	Cache         []Cache      `json:"cache"`
	Dependencies  []Dependency `json:"dependencies"`
	Features      Features     `json:"features"`
}

// JobInfo describes the job for logs and directory names.
type JobInfo struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Stage           string `json:"stage"`
	ProjectID       int64  `json:"project_id"`
	ProjectName     string `json:"project_name"`
	ProjectFullPath string `json:"project_full_path,omitempty"`
}

// GitInfo tells the runner where and what to fetch.
type GitInfo struct {
	RepoURL   string   `json:"repo_url"`
	Ref       string   `json:"ref"`
	Sha       string   `json:"sha"`
	BeforeSha string   `json:"before_sha"`
	RefType   string   `json:"ref_type"`
	Refspecs  []string `json:"refspecs"`
	Depth     int      `json:"depth"`
	Protected bool     `json:"protected"`
}

// RunnerInfo carries per-job runner settings; Timeout is in seconds.
type RunnerInfo struct {
	Timeout int `json:"timeout"`
}

// Variable is one job variable.
type Variable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	Masked bool   `json:"masked"`
	File   bool   `json:"file,omitempty"`
	Raw    bool   `json:"raw,omitempty"`
}

// Step is one script stage: "script" (before_script and script) and
// "after_script".
type Step struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
}

// Hook is one of the job's hooks: (JobRequest::Hook): gitlab-runner runs
// pre_get_sources_script before it fetches the sources.
type Hook struct {
	Name   string   `json:"name"`
	Script []string `json:"script"`
}

// HookPreGetSourcesScript is the hook run before the sources are fetched.
const HookPreGetSourcesScript = "pre_get_sources_script"

// Image is an image or a service (ignored by the shell executor).
type Image struct {
	Name       string   `json:"name"`
	Alias      string   `json:"alias,omitempty"`
	Command    []string `json:"command,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	PullPolicy []string `json:"pull_policy,omitempty"`
	// ExecutorOpts is image:docker / image:kubernetes (JobRequest::Image's
	// executor_opts).
	ExecutorOpts *ExecutorOpts `json:"executor_opts,omitempty"`
}

// ExecutorOpts are an image's per-executor options, as gitlab-runner's
// ImageExecutorOptions reads them.
type ExecutorOpts struct {
	Docker     *ExecutorOptsDocker     `json:"docker,omitempty"`
	Kubernetes *ExecutorOptsKubernetes `json:"kubernetes,omitempty"`
}

// ExecutorOptsDocker is image:docker.
type ExecutorOptsDocker struct {
	Platform string `json:"platform,omitempty"`
	User     string `json:"user,omitempty"`
}

// ExecutorOptsKubernetes is image:kubernetes.
type ExecutorOptsKubernetes struct {
	User string `json:"user,omitempty"`
}

// Artifact is one entry of the job's artifacts list.
type Artifact struct {
	Name           string   `json:"name"`
	Untracked      bool     `json:"untracked"`
	Paths          []string `json:"paths"`
	Exclude        []string `json:"exclude"`
	When           string   `json:"when"`
	ExpireIn       string   `json:"expire_in"`
	ArtifactType   string   `json:"artifact_type"`
	ArtifactFormat string   `json:"artifact_format"`
}

// Cache is one entry of the job's cache list.
type Cache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Paths        []string `json:"paths"`
	Policy       string   `json:"policy"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

// Dependency is a job whose artifacts are downloaded before the script.
type Dependency struct {
	ID            int64         `json:"id"`
	Name          string        `json:"name"`
	Token         string        `json:"token"`
	ArtifactsFile ArtifactsFile `json:"artifacts_file"`
}

// ArtifactsFile describes a dependency's archive; an empty Filename means
// there is nothing to download.
type ArtifactsFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// Features are the server's capabilities relevant to the runner.
type Features struct {
	TraceSections     bool     `json:"trace_sections"`
	FailureReasons    []string `json:"failure_reasons"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes,omitempty"`
}

// TokenDetails is a runner token as the server hands it out. ExpiresAt is
// always null: Gantry's runner tokens do not expire, so runners never
// schedule a reset.
type TokenDetails struct {
	Token     string     `json:"token"`
	ExpiresAt *time.Time `json:"token_expires_at"`
}

// RegistrationDetails is GitLab's RunnerRegistrationDetails entity: the
// answer of registration, verify and POST /user/runners.
type RegistrationDetails struct {
	ID int64 `json:"id"`
	TokenDetails
}
