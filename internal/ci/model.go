package ci

import "time"

// AccessLevel is a project role as GitLab numbers them.
type AccessLevel int

// GitLab's access levels.
const (
	NoAccess   AccessLevel = 0
	Guest      AccessLevel = 10
	Planner    AccessLevel = 15
	Reporter   AccessLevel = 20
	Developer  AccessLevel = 30
	Maintainer AccessLevel = 40
	Owner      AccessLevel = 50
)

// Visibility of a project.
const (
	VisibilityPrivate  = "private"
	VisibilityInternal = "internal"
	VisibilityPublic   = "public"
)

// User is an account.
type User struct {
	ID        int64
	Username  string
	Name      string
	Email     string
	Admin     bool
	State     string // active, blocked
	CreatedAt time.Time
}

// Token scopes Gantry understands.
const (
	ScopeAPI          = "api"
	ScopeReadAPI      = "read_api"
	ScopeCreateRunner = "create_runner"
	ScopeReadRepo     = "read_repository"
	ScopeWriteRepo    = "write_repository"
)

// PersonalAccessToken is a user's API token. Only its digest is stored.
type PersonalAccessToken struct {
	ID         int64
	UserID     int64
	Name       string
	Scopes     []string
	ExpiresAt  *time.Time // a date in GitLab; nil means never
	Revoked    bool
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// HasScope reports whether the token carries scope s.
func (t *PersonalAccessToken) HasScope(s string) bool {
	for _, x := range t.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Project is a project with its hosted repository.
type Project struct {
	ID            int64
	Namespace     string // owner's username for now
	Path          string
	Name          string
	Description   string
	Visibility    string
	DefaultBranch string // empty until the first push
	CreatorID     int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// PublicBuilds lets guests and anonymous users of public projects see jobs.
	PublicBuilds bool
	// BuildTimeout is the project's default job timeout in seconds (3600).
	BuildTimeout int
	// CIConfigPath is the config file, ".gitlab-ci.yml" by default.
	CIConfigPath string
	// JobTokenScopeEnabled is ci_outbound_job_token_scope_enabled.
	JobTokenScopeEnabled bool
	// Archived projects are read-only: no pushes, no new pipelines, no
	// job or pipeline changes (ProjectPolicy's archived rule).
	Archived bool
	// CIDefaultGitDepth is the shallow-clone depth jobs get (20; 0 clones
	// everything).
	CIDefaultGitDepth int
	// AutoCancelPendingPipelines lets a new commit's pipeline cancel the
	// redundant older pipelines of its branch (GitLab's default: on).
	AutoCancelPendingPipelines bool
}

// FullPath is namespace/path.
func (p *Project) FullPath() string { return p.Namespace + "/" + p.Path }

// Member is a user's role in a project.
type Member struct {
	ProjectID   int64
	UserID      int64
	AccessLevel AccessLevel
	CreatedAt   time.Time
}

// ProjectVariable is a CI/CD variable defined on a project.
type ProjectVariable struct {
	ProjectID int64
	Key       string
	Value     string
	Protected bool
	Masked    bool
	Raw       bool
	File      bool
	// EnvironmentScope picks the jobs that get the variable ("*": all;
	// "review/*": environments matching the wildcard). A key may have one
	// variable per scope.
	EnvironmentScope string
	Description      *string
}

// InstanceVariable is a CI/CD variable of the whole instance
// (Ci::InstanceVariable): every job gets it, below group and project
// variables; protected ones only on protected refs.
type InstanceVariable struct {
	Key         string
	Value       string
	Protected   bool
	Masked      bool
	Raw         bool
	File        bool
	Description *string
}

// Pipeline is one run of a project's configuration for a commit.
type Pipeline struct {
	ID         int64
	IID        int64
	ProjectID  int64
	Ref        string
	Tag        bool
	SHA        string
	BeforeSHA  string
	Source     string
	Status     Status
	UserID     int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// CommittedAt is the commit's date, for the Pipeline entity.
	CommittedAt *time.Time
	// YAMLErrors holds the configuration error of a failed config pipeline.
	YAMLErrors    string
	FailureReason string
	// Name is workflow:name.
	Name string
	// Variables given at creation (API variables[], trigger forwarding).
	Variables []Variable
	// ParentPipelineID and ParentJobID link a downstream pipeline to the
	// pipeline and bridge that created it.
	ParentPipelineID int64
	ParentJobID      int64
	// PipelineScheduleID is the schedule that created the pipeline (0 for
	// none, or once the schedule is deleted).
	PipelineScheduleID int64
	// Protected is true when the ref is protected.
	Protected bool
	// Warnings is true for "passed with warnings".
	Warnings bool
	// Dirty counts job changes not yet followed by a completed processing
	// of the pipeline. Every job change bumps it in its own transaction and
	// processing clears it when done, so a coordinator that dies between
	// the two leaves a mark the sweeper finds (see store.DirtyPipelines).
	Dirty int64
	// AutoCancelOnNewCommit and AutoCancelOnJobFailure are the pipeline's
	// workflow:auto_cancel settings ("" = GitLab's defaults).
	AutoCancelOnNewCommit  AutoCancelOnNewCommit
	AutoCancelOnJobFailure AutoCancelOnJobFailure
	// RefChangeID, set only while creating a push's pipeline, is the
	// recorded ref change (store.RefChange) the pipeline answers: the
	// store deletes it in the transaction that inserts the pipeline, so
	// one change never gets two pipelines. Not stored.
	RefChangeID int64
}

// Variable is a key/value pair given to a pipeline or a job.
type Variable struct {
	Key          string `json:"key"`
	Value        string `json:"value"`
	VariableType string `json:"variable_type,omitempty"` // env_var or file
	Masked       bool   `json:"masked,omitempty"`
	Raw          bool   `json:"raw,omitempty"`
}

// Job is a build or a bridge of a pipeline.
type Job struct {
	ID           int64
	ProjectID    int64
	PipelineID   int64
	Kind         Kind
	Name         string
	Stage        string
	StageIdx     int
	Status       Status
	Ref          string
	Tag          bool
	When         string
	AllowFailure bool
	UserID       int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	QueuedAt     *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	ScheduledAt  *time.Time
	ErasedAt     *time.Time
	ErasedBy     int64
	Coverage     *float64
	// FailureReason is set when failed.
	FailureReason string
	ExitCode      *int
	// Retried is true once a newer job of the same name replaced this one.
	Retried bool
	// RunnerID and RunnerManagerID are set on pick-up.
	RunnerID        int64
	RunnerManagerID int64
	// Tags are the runner tags the job needs, sorted.
	Tags []string
	// Timeout is the effective timeout in seconds, decided on pick-up.
	Timeout int
	// ArtifactsExpireAt comes from artifacts:expire_in.
	ArtifactsExpireAt *time.Time
	// DownstreamPipelineID is the pipeline a bridge created.
	DownstreamPipelineID int64
	ResourceGroup        string
	// Definition is the compiled job (ciconfig.Job) as JSON.
	Definition []byte
	// JobVariables are play-time variables (job_variables_attributes).
	JobVariables []Variable
	// RetryCount counts automatic and manual retries leading to this job.
	RetryCount int
	// TraceSize is the live log length in bytes.
	TraceSize int64
	// Archived (degenerated) jobs can no longer be retried or played.
	Archived bool
	// Interruptible jobs may be auto-canceled.
	Interruptible bool
	// EnqueueImmediately marks the clone of a retried or played action job:
	// it goes to pending instead of back to manual or scheduled.
	EnqueueImmediately bool
	// TargetURL and Description are what an external system reported with
	// its status (KindExternal only).
	TargetURL   *string
	Description *string
}

// Artifact is one stored file of a job: the archive, metadata, the trace
// (job.log) or a report.
type Artifact struct {
	ID         int64
	JobID      int64
	ProjectID  int64
	FileType   string // archive, metadata, trace, junit, ...
	FileFormat string // zip, gzip, raw
	Filename   string
	Size       int64
	// BlobKey locates the bytes in the blob store.
	BlobKey   string
	ExpireAt  *time.Time
	CreatedAt time.Time
}

// ArtifactArchive is the file type of a job's artifacts archive.
const ArtifactArchive = "archive"

// LiveArchive is the job's artifacts archive when it exists and has not
// expired at now (Ci::Build#artifacts?), else nil.
func LiveArchive(arts []*Artifact, now time.Time) *Artifact {
	for _, a := range arts {
		if a.FileType == ArtifactArchive && (a.ExpireAt == nil || a.ExpireAt.After(now)) {
			return a
		}
	}
	return nil
}

// DownloadableArchive is the job's archive when it can be downloaded: the
// live archive of arts, unless the job's own artifacts expiry has passed.
func DownloadableArchive(j *Job, arts []*Artifact, now time.Time) *Artifact {
	if j.ArtifactsExpireAt != nil && !j.ArtifactsExpireAt.After(now) {
		return nil
	}
	return LiveArchive(arts, now)
}

// Trigger is a pipeline trigger token of a project (Ci::Trigger). Only the
// token's digest is stored; Token is set once, when it is created.
type Trigger struct {
	ID          int64
	ProjectID   int64
	OwnerID     int64
	Description string
	Token       string
	TokenDigest string
	TokenShort  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastUsed    *time.Time
	ExpiresAt   *time.Time
}
