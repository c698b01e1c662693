package runner

// The types in this file mirror the job payload that GitLab returns from
// POST /api/v4/jobs/request (§2.3 of the runner protocol reference). Field
// types follow gitlab-runner's common/spec exactly, because a server written
// for gitlab-runner produces exactly these shapes.

// Job is the payload of a 201 answer to POST /api/v4/jobs/request.
type Job struct {
	ID            int64        `json:"id"`
	Token         string       `json:"token"`
	AllowGitFetch bool         `json:"allow_git_fetch"`
	JobInfo       JobInfo      `json:"job_info"`
	GitInfo       GitInfo      `json:"git_info"`
	RunnerInfo    RunnerInfo   `json:"runner_info"`
	Variables     []Variable   `json:"variables"`
	Steps         []Step       `json:"steps"`
	Artifacts     []Artifact   `json:"artifacts"`
	Cache         []Cache      `json:"cache"`
	Dependencies  []Dependency `json:"dependencies"`
	Features      Features     `json:"features"`
}

// JobInfo describes the job for logs and directory names.
type JobInfo struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Stage       string `json:"stage"`
	ProjectID   int64  `json:"project_id"`
	ProjectName string `json:"project_name"`
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
}

// RunnerInfo carries per-job runner settings; Timeout is in seconds.
type RunnerInfo struct {
	Timeout int `json:"timeout"`
}

// Variable is one job variable as sent by the server.
type Variable struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Public bool   `json:"public"`
	Masked bool   `json:"masked"`
	File   bool   `json:"file"`
	Raw    bool   `json:"raw"`
}

// Step is one script stage; "script" and "after_script" are the usual names.
type Step struct {
	Name         string   `json:"name"`
	Script       []string `json:"script"`
	Timeout      int      `json:"timeout"`
	When         string   `json:"when"`
	AllowFailure bool     `json:"allow_failure"`
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

// Cache is one entry of the job's cache list. The shell runner does not
// implement caching yet; the type exists so that payloads decode.
type Cache struct {
	Key          string   `json:"key"`
	Untracked    bool     `json:"untracked"`
	Paths        []string `json:"paths"`
	Policy       string   `json:"policy"`
	When         string   `json:"when"`
	FallbackKeys []string `json:"fallback_keys"`
}

// Dependency is a job whose artifacts must be downloaded before the script.
type Dependency struct {
	ID            int64             `json:"id"`
	Token         string            `json:"token"`
	Name          string            `json:"name"`
	ArtifactsFile DependencyArchive `json:"artifacts_file"`
}

// DependencyArchive describes a dependency's archive; an empty Filename
// means the dependency has nothing to download.
type DependencyArchive struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// Features are the server's capabilities relevant to the runner.
type Features struct {
	TraceSections     bool     `json:"trace_sections"`
	FailureReasons    []string `json:"failure_reasons"`
	TokenMaskPrefixes []string `json:"token_mask_prefixes"`
}

// Failure reasons reported in the final PUT.
const (
	reasonScriptFailure  = "script_failure"
	reasonSystemFailure  = "runner_system_failure"
	reasonTimeout        = "job_execution_timeout"
	reasonUnknown        = "unknown_failure"
	reasonJobCanceled    = "job_canceled"
	reasonUnsupported    = "runner_unsupported"
	reasonStuckOrTimeout = "stuck_or_timeout_failure"
)

// failureReason maps a runner-side reason onto the list the server accepts,
// as gitlab-runner's failure_reason_mapper does: a few reasons are always
// understood, others degrade to unknown_failure when the server did not
// list them.
func (f Features) failureReason(reason string) string {
	switch reason {
	case reasonScriptFailure, reasonSystemFailure, reasonTimeout:
		return reason
	}
	if len(f.FailureReasons) == 0 {
		// An old server that lists nothing gets the reason unchanged.
		return reason
	}
	for _, r := range f.FailureReasons {
		if r == reason {
			return reason
		}
	}
	return reasonUnknown
}
