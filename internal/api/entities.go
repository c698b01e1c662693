package api

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// Entities follow GitLab's exposure order: encoding/json writes struct
// fields in declaration order. Keys GitLab sometimes leaves out are pointers
// or RawMessages with omitempty; keys that are null carry no omitempty.

// UserBasic is API::Entities::UserBasic.
type UserBasic struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	Locked    bool   `json:"locked"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

// User is API::Entities::User, the form jobs embed.
type User struct {
	UserBasic
	CreatedAt       Time    `json:"created_at"`
	Bio             *string `json:"bio"`
	Location        *string `json:"location"`
	PublicEmail     string  `json:"public_email"`
	Skype           string  `json:"skype"`
	Linkedin        string  `json:"linkedin"`
	Twitter         string  `json:"twitter"`
	Discord         string  `json:"discord"`
	WebsiteURL      string  `json:"website_url"`
	Organization    string  `json:"organization"`
	JobTitle        string  `json:"job_title"`
	Pronouns        *string `json:"pronouns"`
	Bot             bool    `json:"bot"`
	WorkInformation *string `json:"work_information"`
	Followers       int     `json:"followers"`
	Following       int     `json:"following"`
	IsFollowed      bool    `json:"is_followed"`
	LocalTime       *string `json:"local_time"`
}

// UserDetail is what GET /user and the admin user endpoints add.
type UserDetail struct {
	User
	LastSignInAt     *Time  `json:"last_sign_in_at"`
	ConfirmedAt      Time   `json:"confirmed_at"`
	LastActivityOn   *Time  `json:"last_activity_on"`
	Email            string `json:"email"`
	ThemeID          int    `json:"theme_id"`
	ColorSchemeID    int    `json:"color_scheme_id"`
	ProjectsLimit    int    `json:"projects_limit"`
	CurrentSignInAt  *Time  `json:"current_sign_in_at"`
	Identities       []any  `json:"identities"`
	CanCreateGroup   bool   `json:"can_create_group"`
	CanCreateProject bool   `json:"can_create_project"`
	TwoFactorEnabled bool   `json:"two_factor_enabled"`
	External         bool   `json:"external"`
	PrivateProfile   bool   `json:"private_profile"`
	CommitEmail      string `json:"commit_email"`
	IsAdmin          bool   `json:"is_admin"`
}

// Commit is API::Entities::Commit.
type Commit struct {
	ID               string              `json:"id"`
	ShortID          string              `json:"short_id"`
	CreatedAt        ZonedTime           `json:"created_at"`
	ParentIDs        []string            `json:"parent_ids"`
	Title            string              `json:"title"`
	Message          string              `json:"message"`
	AuthorName       string              `json:"author_name"`
	AuthorEmail      string              `json:"author_email"`
	AuthoredDate     ZonedTime           `json:"authored_date"`
	CommitterName    string              `json:"committer_name"`
	CommitterEmail   string              `json:"committer_email"`
	CommittedDate    ZonedTime           `json:"committed_date"`
	Trailers         map[string]string   `json:"trailers"`
	ExtendedTrailers map[string][]string `json:"extended_trailers"`
	WebURL           string              `json:"web_url"`
}

// PipelineBasic is API::Entities::Ci::PipelineBasic.
type PipelineBasic struct {
	ID        int64  `json:"id"`
	IID       int64  `json:"iid"`
	ProjectID int64  `json:"project_id"`
	SHA       string `json:"sha"`
	Ref       string `json:"ref"`
	Status    string `json:"status"`
	Source    string `json:"source"`
	CreatedAt Time   `json:"created_at"`
	UpdatedAt Time   `json:"updated_at"`
	WebURL    string `json:"web_url"`
}

// Runner is API::Entities::Ci::Runner.
type Runner struct {
	ID                 int64      `json:"id"`
	Description        string     `json:"description"`
	IPAddress          *string    `json:"ip_address"`
	Active             bool       `json:"active"`
	Paused             bool       `json:"paused"`
	IsShared           bool       `json:"is_shared"`
	RunnerType         string     `json:"runner_type"`
	Name               *string    `json:"name"`
	Online             bool       `json:"online"`
	CreatedBy          *UserBasic `json:"created_by,omitempty"`
	CreatedAt          Time       `json:"created_at"`
	Status             string     `json:"status"`
	JobExecutionStatus string     `json:"job_execution_status"`
}

// RunnerManager is API::Entities::Ci::RunnerManager.
type RunnerManager struct {
	ID                 int64   `json:"id"`
	SystemID           string  `json:"system_id"`
	Version            string  `json:"version"`
	Revision           string  `json:"revision"`
	Platform           string  `json:"platform"`
	Architecture       string  `json:"architecture"`
	CreatedAt          Time    `json:"created_at"`
	ContactedAt        *Time   `json:"contacted_at"`
	IPAddress          *string `json:"ip_address"`
	Status             string  `json:"status"`
	JobExecutionStatus string  `json:"job_execution_status"`
}

// JobArtifact is API::Entities::Ci::JobArtifact.
type JobArtifact struct {
	FileType   string `json:"file_type"`
	Size       int64  `json:"size"`
	Filename   string `json:"filename"`
	FileFormat string `json:"file_format"`
}

// ArtifactFile is API::Entities::Ci::JobArtifactFile.
type ArtifactFile struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
}

// JobProject is the project key of a job.
type JobProject struct {
	CIJobTokenScopeEnabled bool `json:"ci_job_token_scope_enabled"`
}

// JobBasic is API::Entities::Ci::JobBasic.
type JobBasic struct {
	ID             int64          `json:"id"`
	Status         string         `json:"status"`
	Stage          string         `json:"stage"`
	Name           string         `json:"name"`
	Ref            string         `json:"ref"`
	Tag            bool           `json:"tag"`
	Coverage       *Float         `json:"coverage"`
	AllowFailure   bool           `json:"allow_failure"`
	CreatedAt      Time           `json:"created_at"`
	StartedAt      *Time          `json:"started_at"`
	FinishedAt     *Time          `json:"finished_at"`
	ErasedAt       *Time          `json:"erased_at"`
	Duration       *Float         `json:"duration"`
	QueuedDuration *Float         `json:"queued_duration"`
	User           *User          `json:"user"`
	Commit         *Commit        `json:"commit"`
	Pipeline       *PipelineBasic `json:"pipeline"`
	FailureReason  *string        `json:"failure_reason,omitempty"`
	WebURL         string         `json:"web_url"`
	Project        JobProject     `json:"project"`
}

// Job is API::Entities::Ci::Job.
type Job struct {
	JobBasic
	ArtifactsFile     *ArtifactFile   `json:"artifacts_file,omitempty"`
	Artifacts         []JobArtifact   `json:"artifacts"`
	Runner            *Runner         `json:"runner"`
	RunnerManager     json.RawMessage `json:"runner_manager,omitempty"`
	ArtifactsExpireAt *Time           `json:"artifacts_expire_at"`
	Archived          bool            `json:"archived"`
	TagList           []string        `json:"tag_list"`
}

// Bridge is API::Entities::Ci::Bridge.
type Bridge struct {
	JobBasic
	DownstreamPipeline *PipelineBasic `json:"downstream_pipeline"`
}

func gravatar(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "https://www.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=80&d=identicon"
}

func (s *Server) userBasic(u *ci.User) UserBasic {
	return UserBasic{ID: u.ID, Username: u.Username, Name: u.Name, State: u.State, AvatarURL: gravatar(u.Email),
		WebURL: s.url(u.Username)}
}

func (s *Server) user(u *ci.User) *User {
	if u == nil {
		return nil
	}
	return &User{UserBasic: s.userBasic(u), CreatedAt: Time{u.CreatedAt}}
}

func (s *Server) commit(p *ci.Project, c *store.Commit) *Commit {
	if c == nil {
		return nil
	}
	parents := c.ParentIDs
	if parents == nil {
		parents = []string{}
	}
	trailers := c.Trailers
	if trailers == nil {
		trailers = map[string]string{}
	}
	ext := make(map[string][]string, len(trailers))
	for k, v := range trailers {
		ext[k] = []string{v}
	}
	return &Commit{
		ID: c.ID, ShortID: c.ShortID, CreatedAt: ZonedTime{c.CommittedDate}, ParentIDs: parents, Title: c.Title,
		Message: c.Message, AuthorName: c.AuthorName, AuthorEmail: c.AuthorEmail,
		AuthoredDate: ZonedTime{c.AuthoredDate}, CommitterName: c.CommitterName, CommitterEmail: c.CommitterEmail,
		CommittedDate: ZonedTime{c.CommittedDate}, Trailers: trailers, ExtendedTrailers: ext,
		WebURL: s.url(p.FullPath(), "-", "commit", c.ID),
	}
}

func (s *Server) pipelineBasic(proj *ci.Project, p *ci.Pipeline) *PipelineBasic {
	if p == nil {
		return nil
	}
	return &PipelineBasic{ID: p.ID, IID: p.IID, ProjectID: p.ProjectID, SHA: p.SHA, Ref: p.Ref, Status: string(p.Status),
		Source: p.Source, CreatedAt: Time{p.CreatedAt}, UpdatedAt: Time{p.UpdatedAt},
		WebURL: s.url(proj.FullPath(), "-", "pipelines", fmt.Sprint(p.ID))}
}

// url joins parts onto the external URL.
func (s *Server) url(parts ...string) string {
	return strings.TrimRight(s.cfg.ExternalURL, "/") + "/" + strings.Join(parts, "/")
}

// RunnerRegistrationDetails is API::Entities::Ci::RunnerRegistrationDetails.
// TokenExpiresAt is always null: Gantry's runner tokens do not expire.
type RunnerRegistrationDetails struct {
	ID             int64   `json:"id"`
	Token          string  `json:"token"`
	TokenExpiresAt *string `json:"token_expires_at"`
}

// RunnerProject is how RunnerDetails lists a runner's projects: the
// naming keys ProjectIdentity starts with.
type RunnerProject struct {
	ID                int64  `json:"id"`
	Description       string `json:"description"`
	Name              string `json:"name"`
	NameWithNamespace string `json:"name_with_namespace"`
	Path              string `json:"path"`
	PathWithNamespace string `json:"path_with_namespace"`
}

// RunnerDetails is API::Entities::Ci::RunnerDetails. The manager-derived
// keys (version … architecture) are the most recently contacted manager's,
// null when the runner never connected.
type RunnerDetails struct {
	Runner
	TagList         []string        `json:"tag_list"`
	RunUntagged     bool            `json:"run_untagged"`
	Locked          bool            `json:"locked"`
	MaximumTimeout  *int            `json:"maximum_timeout"`
	AccessLevel     string          `json:"access_level"`
	Version         *string         `json:"version"`
	Revision        *string         `json:"revision"`
	Platform        *string         `json:"platform"`
	Architecture    *string         `json:"architecture"`
	ContactedAt     *Time           `json:"contacted_at"`
	MaintenanceNote *string         `json:"maintenance_note"`
	Projects        []RunnerProject `json:"projects"`
	Groups          []any           `json:"groups"`
}

// ProjectIdentity is API::Entities::ProjectIdentity.
type ProjectIdentity struct {
	RunnerProject
	CreatedAt Time `json:"created_at"`
}

// JobBasicWithProject is API::Entities::Ci::JobBasicWithProject, what GET
// /runners/:id/jobs lists. Its project key shadows JobBasic's, as the Grape
// entity re-exposes it.
type JobBasicWithProject struct {
	JobBasic
	Project ProjectIdentity `json:"project"`
}
