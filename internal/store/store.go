// Package store is Gantry's storage seam: the Store interface every database
// implements, its errors and filters. All SQL lives below this package
// (store/sqlstore holds the shared SQL, store/sqlite and store/postgres open
// the databases and own their migrations); nothing above it knows which
// database answers.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/tracelog"
)

// Errors every implementation returns (wrapped) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is a unique-key violation (a taken username or path).
	ErrConflict = errors.New("store: conflict")
	// ErrStale means a compare-and-set lost: the row changed underneath.
	ErrStale = errors.New("store: stale")
	// ErrTraceLimit means a log append would pass the size limit.
	ErrTraceLimit = errors.New("store: trace size limit exceeded")
)

// Store is the whole persistence API.
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	// Users and tokens.
	CreateUser(ctx context.Context, u *ci.User) error
	UserByID(ctx context.Context, id int64) (*ci.User, error)
	UserByUsername(ctx context.Context, username string) (*ci.User, error)
	UsersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.User, error)
	ListUsers(ctx context.Context, f UserFilter) ([]*ci.User, error)
	CountUsers(ctx context.Context) (int, error)
	CreateToken(ctx context.Context, t *ci.PersonalAccessToken, digest string) error
	// TokenByDigest finds a personal access token by the digest of its value.
	TokenByDigest(ctx context.Context, digest string) (*ci.PersonalAccessToken, error)
	// RevokeToken revokes token id of userID (of anyone when userID is 0);
	// ErrNotFound when there is no such token.
	RevokeToken(ctx context.Context, id, userID int64) error
	// SetUserPassword stores a user's password hash ("" for none);
	// UserPasswordHash reads it back.
	SetUserPassword(ctx context.Context, userID int64, hash string) error
	UserPasswordHash(ctx context.Context, userID int64) (string, error)
	// Browser sessions, found by the digest of their cookie token;
	// WebSessionByDigest only returns sessions unexpired at now.
	CreateWebSession(ctx context.Context, s *WebSession) error
	WebSessionByDigest(ctx context.Context, digest string, now time.Time) (*WebSession, error)
	DeleteWebSession(ctx context.Context, digest string, now time.Time) error

	// Projects, members and variables.
	CreateProject(ctx context.Context, p *ci.Project) error
	ProjectByID(ctx context.Context, id int64) (*ci.Project, error)
	// ProjectByPath matches namespace and path case-insensitively.
	ProjectByPath(ctx context.Context, namespace, path string) (*ci.Project, error)
	ListProjects(ctx context.Context, f ProjectFilter) ([]*ci.Project, error)
	// UpdateProject writes a project's settings, path included; a taken
	// path gives ErrConflict.
	UpdateProject(ctx context.Context, p *ci.Project) error
	// DeleteProject removes the project with all its rows and returns the
	// blob keys of its artifacts; ErrNotFound for an unknown project.
	DeleteProject(ctx context.Context, id int64) ([]string, error)
	SetMember(ctx context.Context, m *ci.Member) error
	// MemberAccess is the user's access level in the project, ci.NoAccess if none.
	MemberAccess(ctx context.Context, projectID, userID int64) (ci.AccessLevel, error)
	ListMembers(ctx context.Context, projectID int64) ([]*ci.Member, error)
	// DeleteMember removes a member; ErrNotFound if it was none.
	DeleteMember(ctx context.Context, projectID, userID int64) error

	// Job token scope: the inbound allowlist of a project.
	JobTokenScope(ctx context.Context, projectID int64) (inboundEnabled bool, err error)
	SetJobTokenScope(ctx context.Context, projectID int64, inboundEnabled bool) error
	// JobTokenAllowlist lists the projects whose job tokens may reach projectID.
	JobTokenAllowlist(ctx context.Context, projectID int64, limit, offset int) ([]int64, error)
	CountJobTokenAllowlist(ctx context.Context, projectID int64) (int, error)
	// AddJobTokenAllowlist answers ErrConflict when sourceID is listed already.
	AddJobTokenAllowlist(ctx context.Context, projectID, sourceID int64) error
	// RemoveJobTokenAllowlist answers ErrNotFound when sourceID was not listed.
	RemoveJobTokenAllowlist(ctx context.Context, projectID, sourceID int64) error
	// JobTokenAllowed reports whether a job of sourceID may use its token on
	// projectID: the scope is off, or sourceID is in the allowlist.
	JobTokenAllowed(ctx context.Context, projectID, sourceID int64) (bool, error)
	// SetProjectVariable creates or replaces the variable of v's key and
	// scope ("" is "*"), keeping a replaced one's description.
	SetProjectVariable(ctx context.Context, v *ci.ProjectVariable) error
	ListProjectVariables(ctx context.Context, projectID int64) ([]*ci.ProjectVariable, error)
	// ProjectVariableAttrs maps variable keys to their scope and description.
	ProjectVariableAttrs(ctx context.Context, projectID int64) (map[string]VariableAttrs, error)
	// SetProjectVariableAttrs answers ErrNotFound for an unknown key.
	SetProjectVariableAttrs(ctx context.Context, projectID int64, key string, a VariableAttrs) error
	// DeleteProjectVariable removes every scope of a key; ErrNotFound for
	// an unknown key.
	DeleteProjectVariable(ctx context.Context, projectID int64, key string) error
	// CreateProjectVariable, UpdateProjectVariable and
	// DeleteProjectVariableScope work on one variable, known by key and
	// environment scope (GitLab's uniqueness): ErrConflict for a taken
	// pair, ErrNotFound for a missing one.
	CreateProjectVariable(ctx context.Context, v *ci.ProjectVariable) error
	UpdateProjectVariable(ctx context.Context, v *ci.ProjectVariable, scope string) error
	DeleteProjectVariableScope(ctx context.Context, projectID int64, key, scope string) error

	// Instance variables, by key; the lookups and changes of a missing key
	// answer ErrNotFound, a taken key on create ErrConflict.
	ListInstanceVariables(ctx context.Context) ([]*ci.InstanceVariable, error)
	CreateInstanceVariable(ctx context.Context, v *ci.InstanceVariable) error
	UpdateInstanceVariable(ctx context.Context, v *ci.InstanceVariable) error
	DeleteInstanceVariable(ctx context.Context, key string) error

	// SetPipelineName sets a pipeline's name (PUT …/metadata); ErrNotFound
	// for an unknown pipeline.
	SetPipelineName(ctx context.Context, pipelineID int64, name string, at time.Time) error

	// Pipeline trigger tokens; the lookups answer ErrNotFound.
	CreateTrigger(ctx context.Context, t *ci.Trigger) error
	ListTriggers(ctx context.Context, projectID int64, limit, offset int) ([]*ci.Trigger, error)
	CountTriggers(ctx context.Context, projectID int64) (int, error)
	TriggerByID(ctx context.Context, projectID, id int64) (*ci.Trigger, error)
	TriggerByDigest(ctx context.Context, digest string) (*ci.Trigger, error)
	UpdateTrigger(ctx context.Context, t *ci.Trigger) error
	TouchTrigger(ctx context.Context, id int64, at time.Time) error
	DeleteTrigger(ctx context.Context, projectID, id int64) error

	// Pipeline schedules; the lookups answer ErrNotFound.
	CreatePipelineSchedule(ctx context.Context, s *ci.PipelineSchedule) error
	PipelineScheduleByID(ctx context.Context, projectID, id int64) (*ci.PipelineSchedule, error)
	ListPipelineSchedules(ctx context.Context, f ScheduleFilter) ([]*ci.PipelineSchedule, error)
	CountPipelineSchedules(ctx context.Context, f ScheduleFilter) (int, error)
	// UpdatePipelineSchedule writes every attribute of s.
	UpdatePipelineSchedule(ctx context.Context, s *ci.PipelineSchedule) error
	// DeletePipelineSchedule removes the schedule and its variables and
	// unlinks its pipelines, in one transaction.
	DeletePipelineSchedule(ctx context.Context, projectID, id int64) error
	// DuePipelineSchedules lists up to limit active schedules whose
	// next_run_at is before now, most overdue first.
	DuePipelineSchedules(ctx context.Context, now time.Time, limit int) ([]*ci.PipelineSchedule, error)
	// ClaimPipelineSchedule moves an active schedule's next_run_at from due
	// to next in one conditional update; it reports whether this call did
	// it, so that of several coordinators only one runs a due schedule.
	ClaimPipelineSchedule(ctx context.Context, id int64, due, next, now time.Time) (bool, error)
	// DeactivatePipelineSchedule sets active false.
	DeactivatePipelineSchedule(ctx context.Context, id int64, now time.Time) error
	// Schedule variables, by key; CreateScheduleVariable answers
	// ErrConflict for a taken key, the others ErrNotFound for an unknown one.
	ScheduleVariables(ctx context.Context, scheduleID int64) ([]*ci.ScheduleVariable, error)
	CreateScheduleVariable(ctx context.Context, v *ci.ScheduleVariable) error
	UpdateScheduleVariable(ctx context.Context, v *ci.ScheduleVariable) error
	DeleteScheduleVariable(ctx context.Context, scheduleID int64, key string) error

	// Protected branches and tags. ProtectedRefs lists a project's rules of
	// both kinds, oldest first, with their access levels; CreateProtectedRef
	// gives ErrConflict for a taken kind and name.
	ProtectedRefs(ctx context.Context, projectID int64) (ci.ProtectedRefs, error)
	CreateProtectedRef(ctx context.Context, r *ci.ProtectedRef) error
	// UpdateProtectedRef writes the rule's flags and, with replaceAccess,
	// its access levels.
	UpdateProtectedRef(ctx context.Context, r *ci.ProtectedRef, replaceAccess bool) error
	DeleteProtectedRef(ctx context.Context, id int64) error

	// Commits are cached from git when a pipeline is created.
	SaveCommit(ctx context.Context, projectID int64, c *Commit) error
	CommitsBySHA(ctx context.Context, projectID int64, shas []string) (map[string]*Commit, error)

	// Pipelines.
	// CreatePipeline stores a pipeline and its jobs in one transaction,
	// assigning ids and the per-project iid.
	CreatePipeline(ctx context.Context, p *ci.Pipeline, jobs []*ci.Job) error
	PipelineByID(ctx context.Context, id int64) (*ci.Pipeline, error)
	PipelinesByIDs(ctx context.Context, ids []int64) (map[int64]*ci.Pipeline, error)
	ListPipelines(ctx context.Context, f PipelineFilter) ([]*ci.Pipeline, error)
	CountPipelines(ctx context.Context, f PipelineFilter) (int, error)
	// UpdatePipeline writes status, timestamps and warnings, if the row is
	// unchanged since p was read (its updated_at); otherwise ErrStale.
	UpdatePipeline(ctx context.Context, p *ci.Pipeline) error
	DeletePipeline(ctx context.Context, id int64) error
	// ClearPipelineDirty ends a pipeline's processing debt if its Dirty
	// count is still seen (no job changed since it was read).
	ClearPipelineDirty(ctx context.Context, id, seen int64) error
	// DirtyPipelines lists up to limit pipelines whose processing debt is
	// older than before (its owner died mid-way), oldest first.
	DirtyPipelines(ctx context.Context, before time.Time, limit int) ([]int64, error)

	// Jobs.
	JobByID(ctx context.Context, id int64) (*ci.Job, error)
	// JobByTokenDigest finds the job whose current job token has this digest.
	JobByTokenDigest(ctx context.Context, digest string) (*ci.Job, error)
	// JobStateByTokenDigest is JobByTokenDigest reading only the few
	// columns of JobState: a runner's log PATCH, many a second, checks no
	// more.
	JobStateByTokenDigest(ctx context.Context, digest string) (*JobState, error)
	ListJobs(ctx context.Context, f JobFilter) ([]*ci.Job, error)
	CountJobs(ctx context.Context, f JobFilter) (int, error)
	// PipelineCoverage is the average coverage of a pipeline's latest builds
	// that have one (GitLab's Ci::Pipeline#coverage), nil when none has.
	PipelineCoverage(ctx context.Context, pipelineID int64) (*float64, error)
	// PipelineJobs returns every job of a pipeline, retried ones included, by id.
	PipelineJobs(ctx context.Context, pipelineID int64) ([]*ci.Job, error)
	// UpdateJob writes the job's mutable fields if its stored status is
	// still expect; otherwise it returns ErrStale. When the status changes
	// it marks the pipeline dirty (ci.Pipeline.Dirty) in the same
	// transaction, as do UpdateJobIfResourceFree, InsertJobs and
	// CreatePipeline.
	UpdateJob(ctx context.Context, j *ci.Job, expect ci.Status) error
	// FinishJob is UpdateJob for a job's final status that also stores its
	// archived log in the same transaction: trace (nil when there is no
	// log) replaces the job's trace artifacts and the live log chunks are
	// deleted. It returns the blob keys of the artifacts replaced. On
	// ErrStale nothing is written.
	FinishJob(ctx context.Context, j *ci.Job, expect ci.Status, trace *ci.Artifact) ([]string, error)
	// UpdateJobIfResourceFree is UpdateJob that also requires no job of the
	// job's project and resource group to be pending, running or canceling,
	// checked atomically (across coordinators too); otherwise ErrStale.
	UpdateJobIfResourceFree(ctx context.Context, j *ci.Job, expect ci.Status) error
	// UpdateJobs applies several UpdateJob in one transaction, returning the
	// ids that were stale (and left unchanged). It is processing's own
	// write: it does not mark the pipeline dirty (the processing that calls
	// it clears the mark only once it has completed).
	UpdateJobs(ctx context.Context, updates []JobUpdate) (stale []int64, err error)
	// InsertJobs adds jobs to an existing pipeline; when retried is non-nil
	// every other latest job of the pipeline with one of those names is
	// marked retried in the same transaction.
	InsertJobs(ctx context.Context, jobs []*ci.Job, retriedNames []string) error
	// AddRefChanges records the ref updates of a push, owed their
	// pipelines, in one transaction (ids set). CreatePipeline of a
	// pipeline whose RefChangeID is set deletes that row in its own
	// transaction, failing with ErrConflict when it is gone already.
	AddRefChanges(ctx context.Context, changes []*RefChange) error
	// RefChanges lists recorded ref changes by id, of one project or
	// (projectID 0) of all; limit 0 means all.
	RefChanges(ctx context.Context, projectID int64, limit int) ([]*RefChange, error)
	// DeleteRefChange removes a ref change that gets no pipeline;
	// ErrConflict when it is gone already.
	DeleteRefChange(ctx context.Context, id int64) error
	// RetryJobs inserts clones[i] as the retry of sources[i] (jobs of one
	// pipeline) in one transaction that holds the pipeline's lock and reads
	// each source again: a source retryable no longer judges retryable (it
	// was retried meanwhile) is not cloned. Same-name jobs are marked
	// retried. It returns the clones inserted, none when no source was
	// still retryable.
	RetryJobs(ctx context.Context, pipelineID int64, sources, clones []*ci.Job, retryable func(*ci.Job) bool) ([]*ci.Job, error)
	// ClaimJob atomically hands the oldest pending build that the runner may
	// take to that runner: status running, runner ids, token digest and
	// timeout set. It returns ErrNotFound when there is none. match decides
	// tag and protection rules that are not expressed in SQL.
	ClaimJob(ctx context.Context, c Claim) (*ci.Job, error)
	// TouchJob records that a running or canceling job is alive (its
	// updated_at), touching nothing else.
	TouchJob(ctx context.Context, jobID int64, at time.Time) error
	// SetArtifactsExpiry sets only the job's artifacts_expire_at.
	SetArtifactsExpiry(ctx context.Context, jobID int64, at *time.Time) error
	// KeepArtifacts clears the expiry of the job and of its artifacts that
	// have not expired yet, in one transaction.
	KeepArtifacts(ctx context.Context, jobID int64, now time.Time) error
	// SetJobToken stores the digest of a job's token.
	SetJobToken(ctx context.Context, jobID int64, digest string) error
	// JobsToSweep lists jobs for background work (stuck, timed out, delayed).
	JobsToSweep(ctx context.Context, f SweepFilter) ([]*ci.Job, error)

	// Logs in flight. AppendTrace writes data at offset only when offset is
	// the current size, and returns the size after the call.
	AppendTrace(ctx context.Context, jobID, offset int64, data []byte, limit int64) (size int64, err error)
	ReadTrace(ctx context.Context, jobID int64) ([]byte, error)
	// ReadTraceFrom is the live log from byte offset on (empty when it is
	// no longer); it reads only the chunks from the one holding offset.
	ReadTraceFrom(ctx context.Context, jobID, offset int64) ([]byte, error)
	// ReadTraceRange is the live log's bytes [from, to) (to < 0: to the
	// end), reading only the chunks holding them.
	ReadTraceRange(ctx context.Context, jobID, from, to int64) ([]byte, error)
	// TraceIndex is the live log's line index, one entry per chunk in
	// order (empty when there is no live log).
	TraceIndex(ctx context.Context, jobID int64) ([]TraceMark, error)
	DeleteTrace(ctx context.Context, jobID int64) error

	// Artifacts.
	CreateArtifact(ctx context.Context, a *ci.Artifact) error
	// ReplaceArtifact deletes the job's artifacts of a.FileType then stores a,
	// returning the blob keys of what it replaced.
	ReplaceArtifact(ctx context.Context, a *ci.Artifact) ([]string, error)
	ArtifactsByJobIDs(ctx context.Context, ids []int64) (map[int64][]*ci.Artifact, error)
	// DeleteArtifacts removes the job's artifacts (all types when fileTypes is
	// empty) and returns their blob keys.
	DeleteArtifacts(ctx context.Context, jobID int64, fileTypes ...string) ([]string, error)
	ExpireArtifacts(ctx context.Context, projectID int64, at time.Time) error
	// ExpiredArtifacts lists artifacts whose expiry is before now.
	ExpiredArtifacts(ctx context.Context, now time.Time, limit int) ([]*ci.Artifact, error)
	DeleteArtifactByID(ctx context.Context, id int64) error

	// Runners.
	CreateRunner(ctx context.Context, r *ci.Runner, tokenDigest string) error
	RunnerByID(ctx context.Context, id int64) (*ci.Runner, error)
	RunnerByTokenDigest(ctx context.Context, digest string) (*ci.Runner, error)
	// RunnersByIDs loads several runners without their ProjectIDs.
	RunnersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.Runner, error)
	ListRunners(ctx context.Context, f RunnerFilter) ([]*ci.Runner, error)
	// CountRunners counts what ListRunners lists without Limit and Offset.
	CountRunners(ctx context.Context, f RunnerFilter) (int, error)
	UpdateRunner(ctx context.Context, r *ci.Runner) error
	SetRunnerToken(ctx context.Context, id int64, digest, prefix string) error
	TouchRunner(ctx context.Context, id int64, at time.Time) error
	DeleteRunner(ctx context.Context, id int64) error
	// UpsertRunnerManager creates or refreshes the manager (runner, system_id).
	UpsertRunnerManager(ctx context.Context, m *ci.RunnerManager) error
	RunnerManagersByIDs(ctx context.Context, ids []int64) (map[int64]*ci.RunnerManager, error)
	ListRunnerManagers(ctx context.Context, runnerID int64) ([]*ci.RunnerManager, error)
	DeleteRunnerManager(ctx context.Context, runnerID int64, systemID string) error

	// Locks coordinate background work across coordinators. TryLock takes or
	// renews the named lease for owner until the given time.
	TryLock(ctx context.Context, name, owner string, until time.Time) (bool, error)
}

// WebSession is a signed-in browser. Only the digest of its cookie token
// is stored; CSRFToken is the value its forms must send back.
type WebSession struct {
	ID        int64
	Digest    string
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// JobUpdate is one compare-and-set job update.
type JobUpdate struct {
	Job    *ci.Job
	Expect ci.Status
}

// RefChange is one ref update of an acknowledged push that is still owed
// its pipeline: what GitLab's PostReceive job carries, kept in the
// database so that a crash neither loses nor doubles it.
type RefChange struct {
	ID        int64
	ProjectID int64
	// UserID is the pusher (0 when anonymous).
	UserID int64
	// Ref is the full ref name (refs/heads/…, refs/tags/…).
	Ref, OldSHA, NewSHA string
	// PushOptions are the push's `git push -o` options, stored sealed.
	PushOptions []string
	CreatedAt   time.Time
}

// Commit is a commit's data as the API shows it, cached from git.
type Commit struct {
	ID             string            `json:"id"`
	ShortID        string            `json:"short_id"`
	Title          string            `json:"title"`
	Message        string            `json:"message"`
	ParentIDs      []string          `json:"parent_ids"`
	AuthorName     string            `json:"author_name"`
	AuthorEmail    string            `json:"author_email"`
	AuthoredDate   time.Time         `json:"authored_date"`
	CommitterName  string            `json:"committer_name"`
	CommitterEmail string            `json:"committer_email"`
	CommittedDate  time.Time         `json:"committed_date"`
	Trailers       map[string]string `json:"trailers"`
}

// UserFilter selects users.
type UserFilter struct {
	Username string
	Limit    int
	Offset   int
}

// ProjectFilter selects projects. With VisibleTo > 0 only projects the user
// is a member of, or that are public or internal, are returned; Anonymous
// restricts to public projects.
type ProjectFilter struct {
	VisibleTo  int64
	Anonymous  bool
	All        bool // admin: no visibility filter
	MemberOnly bool
	Limit      int
	Offset     int
}

// JobKind restricts a job query.
type JobKind int

// Job kinds for filters.
const (
	AnyKind JobKind = iota
	BuildsOnly
	BridgesOnly
)

// JobFilter selects jobs, ordered by id descending (ascending with Asc).
type JobFilter struct {
	ProjectID  int64
	PipelineID int64
	Kind       JobKind
	Statuses   []ci.Status
	// Ref filters on the pipeline's ref.
	Ref string
	// LatestOnly hides retried jobs.
	LatestOnly bool
	// RunnerID and RunnerManagerID restrict to jobs a runner (manager) took.
	RunnerID        int64
	RunnerManagerID int64
	// ResourceGroup restricts to jobs of that resource group.
	ResourceGroup string
	// Brief leaves out the compiled definition (large, unused by API
	// listings); such jobs must not be handed back to the engine.
	Brief bool
	// StageBefore, when above zero, keeps only jobs of earlier stages
	// (stage_idx below it): a job's default dependencies.
	StageBefore int
	// BeforeID is the keyset cursor: only ids below it.
	BeforeID int64
	Limit    int
	Offset   int
	Asc      bool
}

// PipelineFilter selects pipelines.
type PipelineFilter struct {
	ProjectID     int64
	Statuses      []ci.Status
	Scope         string // running, pending, finished, branches, tags
	Ref           string
	SHA           string
	Source        string
	UserID        int64
	UpdatedAfter  *time.Time
	UpdatedBefore *time.Time
	OrderBy       string // id, status, ref, updated_at, user_id
	Asc           bool
	Limit         int
	Offset        int
	// ExcludeChildren leaves out child pipelines (source parent_pipeline).
	ExcludeChildren bool
	// ParentPipelineID lists a pipeline's downstream pipelines.
	ParentPipelineID int64
	// BeforeID is the keyset cursor of the web pages: only ids below it.
	BeforeID int64
	// Name selects pipelines of that exact name (GitLab's name filter).
	Name string
	// ScheduleID selects the pipelines a pipeline schedule created.
	ScheduleID int64
}

// ScheduleFilter selects a project's pipeline schedules, by id.
type ScheduleFilter struct {
	ProjectID int64
	// Active, when set, keeps the active (true) or inactive (false) ones.
	Active *bool
	Limit  int
	Offset int
}

// RunnerFilter selects runners.
type RunnerFilter struct {
	ProjectID int64 // runners assigned to a project
	OwnedBy   int64 // runners of projects where the user is maintainer+ or creator
	Type      string
	Paused    *bool
	TagList   []string
	// Scopes are Ci::Runner list scopes every listed runner is in: a type,
	// a legacy type (shared, specific) or a status (ci.RunnerStatuses);
	// statuses are judged at Now and ignore paused, as GitLab's scopes do.
	Scopes []string
	Now    time.Time
	// VersionPrefix keeps runners with a manager whose version starts with it.
	VersionPrefix string
	Limit         int
	Offset        int
	IncludeAll    bool
}

// Claim asks for a job for a runner.
type Claim struct {
	Runner    *ci.Runner
	ManagerID int64
	Now       time.Time
	// TokenDigest is the digest of the job token to store with the job.
	TokenDigest string
	// Match reports whether the runner may take the candidate job (tags,
	// protection); candidates come oldest first.
	Match func(*ci.Job) bool
	// UntaggedOnly skips tagged jobs in the query itself, for a runner
	// without tags: a queue whose head is tagged jobs nobody here takes
	// would otherwise be read again on every claim.
	UntaggedOnly bool
	// Timeout returns the job's effective timeout in seconds.
	Timeout func(*ci.Job) int
}

// SweepFilter selects jobs for background maintenance.
type SweepFilter struct {
	Statuses []ci.Status
	// UpdatedBefore selects jobs whose row has not changed since then.
	UpdatedBefore *time.Time
	// ScheduledBefore selects scheduled jobs that are due.
	ScheduledBefore *time.Time
	Limit           int
}

// VariableAttrs are a project variable's attributes besides its value:
// GitLab's environment_scope ("*" for all) and description.
type VariableAttrs struct {
	EnvironmentScope string
	Description      *string
}

// JobState is what a runner's log PATCH needs of its job: who it is,
// its runner, its status and when it was last touched.
type JobState struct {
	ID, ProjectID, RunnerID int64
	Status                  ci.Status
	UpdatedAt               time.Time
}

// TraceMark is one chunk of a live log: its offset, and where a scan of
// the log stands after it (line count, open sections).
type TraceMark struct {
	Pos int64
	End tracelog.State
}
