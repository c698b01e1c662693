package access

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
)

// Action is something a caller does to a project. The values are GitLab's
// ProjectPolicy / Ci::BuildPolicy ability names.
type Action string

// Actions. Each comment names the GitLab ability and who holds it.
const (
	// ReadProject is read_project: members, anyone on public projects,
	// signed-in users on internal ones.
	ReadProject Action = "read_project"
	// ReadCode is download_code: reporters, and whoever sees a project
	// that is not private.
	ReadCode Action = "download_code"
	// PushCode is push_code: developers.
	PushCode Action = "push_code"
	// ReadPipeline is read_pipeline (with read_build for the lists):
	// reporters, everyone who sees the project when public_builds is on.
	ReadPipeline Action = "read_pipeline"
	// CreatePipeline is create_pipeline: developers.
	CreatePipeline Action = "create_pipeline"
	// UpdatePipeline is update_pipeline (cancel, retry): developers.
	UpdatePipeline Action = "update_pipeline"
	// DeletePipeline is destroy_pipeline: owners.
	DeletePipeline Action = "destroy_pipeline"
	// ReadPipelineVariable is read_pipeline_variable: developers.
	ReadPipelineVariable Action = "read_pipeline_variable"
	// ReadBuild is read_build: reporters, everyone who sees the project
	// when public_builds is on.
	ReadBuild Action = "read_build"
	// ReadBuildTrace is read_build_trace: read_build, narrowed to
	// developers for jobs in debug mode (see CanJob).
	ReadBuildTrace Action = "read_build_trace"
	// UpdateBuild is update_build (retry, keep artifacts): developers.
	UpdateBuild Action = "update_build"
	// CancelBuild is cancel_build: developers.
	CancelBuild Action = "cancel_build"
	// ForceCancelBuild is a forced cancel (force=true): maintainers.
	ForceCancelBuild Action = "force_cancel_build"
	// PlayBuild is play_job: developers.
	PlayBuild Action = "play_job"
	// EraseBuild is erase_build: maintainers, developers on the jobs they
	// ran (see CanJob).
	EraseBuild Action = "erase_build"
	// ReadArtifacts is read_job_artifacts: read_build, narrowed by the
	// job's artifacts:access (see CanJob).
	ReadArtifacts Action = "read_job_artifacts"
	// DestroyArtifacts is destroy_artifacts / delete_job_artifact:
	// maintainers.
	DestroyArtifacts Action = "destroy_artifacts"
	// ReadMembers is read_project_member: whoever sees the project.
	ReadMembers Action = "read_project_member"
	// AdminMembers is admin_project_member: maintainers.
	AdminMembers Action = "admin_project_member"
	// AdminVariables is admin_cicd_variables: maintainers.
	AdminVariables Action = "admin_cicd_variables"
	// AdminRunners is admin_runner / create_runner on a project:
	// maintainers.
	AdminRunners Action = "admin_runner"
	// ReadRunnerJobs is seeing a project's jobs in a runner's job list:
	// reporters (RunnerJobsFinder's authorized_projects(REPORTER)).
	ReadRunnerJobs Action = "read_runner_jobs"
	// AdminProject is admin_project (job token scope settings):
	// maintainers.
	AdminProject Action = "admin_project"
	// AdminBuild is admin_build (pipeline trigger tokens, lib/api/ci/triggers.rb):
	// maintainers.
	AdminBuild Action = "admin_build"
	// CreateCommitStatus is create_commit_status (POST …/statuses/:sha):
	// developers.
	CreateCommitStatus Action = "create_commit_status"
	// ChangeVisibility is change_visibility_level: owners.
	ChangeVisibility Action = "change_visibility_level"
	// ArchiveProject is archive_project (archive, unarchive): owners.
	ArchiveProject Action = "archive_project"
	// RemoveProject is remove_project (DELETE /projects/:id): owners.
	RemoveProject Action = "remove_project"
)

// archivedPrevents are the abilities an archived project takes from
// everyone (ProjectPolicy's archived rule: readonly_abilities, and
// create/update/admin of its readonly features such as pipelines, builds,
// commit statuses and triggers).
var archivedPrevents = map[Action]bool{
	PushCode: true, CreatePipeline: true, UpdatePipeline: true, UpdateBuild: true, CancelBuild: true,
	ForceCancelBuild: true, PlayBuild: true, CreateCommitStatus: true, AdminBuild: true,
}

// minRole is the least project role each plain action needs.
var minRole = map[Action]ci.AccessLevel{
	PushCode:             ci.Developer,
	CreatePipeline:       ci.Developer,
	UpdatePipeline:       ci.Developer,
	DeletePipeline:       ci.Owner,
	ReadPipelineVariable: ci.Developer,
	UpdateBuild:          ci.Developer,
	CancelBuild:          ci.Developer,
	ForceCancelBuild:     ci.Maintainer,
	PlayBuild:            ci.Developer,
	EraseBuild:           ci.Maintainer,
	DestroyArtifacts:     ci.Maintainer,
	AdminMembers:         ci.Maintainer,
	AdminVariables:       ci.Maintainer,
	AdminRunners:         ci.Maintainer,
	ReadRunnerJobs:       ci.Reporter,
	AdminProject:         ci.Maintainer,
	AdminBuild:           ci.Maintainer,
	// Pipeline schedules (schedule.go).
	CreatePipelineSchedule: ci.Developer,
	SetPipelineVariables:   ci.Developer,
	CreateCommitStatus:     ci.Developer,
	ChangeVisibility:       ci.Owner,
	ArchiveProject:         ci.Owner,
	RemoveProject:          ci.Owner,
}

// Role is the caller's effective role in the project, ci.NoAccess if none.
// Administrators are owners everywhere; a job token acts with its user's
// role in its own project and as a reporter at most elsewhere.
func (p *Policy) Role(ctx context.Context, c *Caller, proj *ci.Project) (ci.AccessLevel, error) {
	if c.Anonymous() {
		return ci.NoAccess, nil
	}
	if c.Admin() {
		return ci.Owner, nil
	}
	lvl, err := p.st.MemberAccess(ctx, proj.ID, c.User.ID)
	if err != nil {
		return ci.NoAccess, err
	}
	if c.Job != nil && c.Job.ProjectID != proj.ID {
		lvl = min(lvl, ci.Reporter)
	}
	return lvl, nil
}

// RoleByID is Role for a project known by id.
func (p *Policy) RoleByID(ctx context.Context, c *Caller, projectID int64) (ci.AccessLevel, error) {
	return p.Role(ctx, c, &ci.Project{ID: projectID})
}

// HasRole reports whether role lvl holds an action that depends on the
// role alone (not on the project's visibility), e.g. AdminRunners.
func HasRole(lvl ci.AccessLevel, a Action) bool {
	need, ok := minRole[a]
	return ok && lvl >= need
}

// Can is nil if the caller may do a to the project; otherwise a *ci.Error
// with GitLab's answer: 404 "Project Not Found" when the caller may not see
// the project, 403 otherwise.
func (p *Policy) Can(ctx context.Context, c *Caller, proj *ci.Project, a Action) error {
	lvl, err := p.Role(ctx, c, proj)
	if err != nil {
		return err
	}
	if err := p.Visible(ctx, c, proj, lvl); err != nil {
		return err
	}
	return Allowed(c, proj, lvl, a)
}

// Visible is the read_project gate with GitLab's answers: 404 "Project Not
// Found" for a project the caller may not see. A job token used on another
// project than its job's is refused with 403 "Authentication by CI/CD job
// token not allowed from <source> to <target>." when that project's inbound
// allowlist does not hold the job's project or the job's user has no access
// to it (lib/api/helpers.rb handle_job_token_failure!,
// Ci::JobToken::Scope#accessible?).
func (p *Policy) Visible(ctx context.Context, c *Caller, proj *ci.Project, lvl ci.AccessLevel) error {
	if c != nil && c.Job != nil && c.Job.ProjectID != proj.ID {
		ok, err := p.st.JobTokenAllowed(ctx, proj.ID, c.Job.ProjectID)
		if err != nil {
			return err
		}
		if !ok || lvl == ci.NoAccess {
			return p.jobTokenRefused(ctx, c, proj)
		}
	}
	if !CanSee(c, proj, lvl) {
		return ci.ErrProjectNotFound
	}
	return nil
}

// jobTokenRefused is GitLab's 403 for a job token outside its reach; the
// paths are the projects' paths without namespace, as GitLab formats them.
func (p *Policy) jobTokenRefused(ctx context.Context, c *Caller, proj *ci.Project) error {
	return ci.Forbidden(p.jobTokenRefusedText(ctx, c, proj))
}

// JobTokenNotAllowedMessage is the text of GitLab's refusal of a job token
// from the project at sourcePath to the one at targetPath.
func JobTokenNotAllowedMessage(sourcePath, targetPath string) string {
	return "Authentication by CI/CD job token not allowed from " + sourcePath + " to " + targetPath + "."
}

// CanSee reports whether the caller may see the project at all.
func CanSee(c *Caller, proj *ci.Project, lvl ci.AccessLevel) bool {
	switch {
	case lvl > ci.NoAccess:
		return true
	case proj.Visibility == ci.VisibilityPublic:
		return true
	case proj.Visibility == ci.VisibilityInternal:
		return !c.Anonymous() && c.Job == nil
	}
	return false
}

// Allowed decides a for a caller whose role (from Role) is lvl, without
// I/O; nil if allowed, else ci.ErrForbidden. Visibility is checked by Can
// (or Visible) before.
func Allowed(c *Caller, proj *ci.Project, lvl ci.AccessLevel, a Action) error {
	if allowed(c, proj, lvl, a) {
		return nil
	}
	return ci.ErrForbidden
}

func allowed(c *Caller, proj *ci.Project, lvl ci.AccessLevel, a Action) bool {
	switch a {
	case ReadProject, ReadMembers:
		return CanSee(c, proj, lvl)
	case ReadBuild, ReadBuildTrace, ReadPipeline, ReadArtifacts:
		return lvl >= ci.Reporter || (proj.PublicBuilds && CanSee(c, proj, lvl))
	case ReadCode:
		return lvl >= ci.Reporter || (proj.Visibility != ci.VisibilityPrivate && CanSee(c, proj, lvl))
	}
	if proj.Archived && archivedPrevents[a] {
		return false
	}
	need, ok := minRole[a]
	if !ok {
		return false // an unknown action is never allowed
	}
	return lvl >= need
}

// CanJob is Can for an action on one job of the project, adding
// Ci::BuildPolicy's per-job rules (see AllowedJob) and, for
// read_build_trace, the debug-mode rule: the trace of a job in debug mode
// is for developers and above only (its variables are printed).
func (p *Policy) CanJob(ctx context.Context, c *Caller, proj *ci.Project, j *ci.Job, a Action) error {
	lvl, err := p.Role(ctx, c, proj)
	if err != nil {
		return err
	}
	if err := p.Visible(ctx, c, proj, lvl); err != nil {
		return err
	}
	if err := AllowedJob(c, proj, lvl, j, a); err != nil {
		return err
	}
	if a == ReadBuildTrace && lvl < ci.Developer {
		debug, err := p.DebugMode(ctx, j)
		if err != nil {
			return err
		}
		if debug {
			return ci.ErrForbidden
		}
	}
	return nil
}

// AllowedJob is Allowed with the per-job rules of Ci::BuildPolicy that need
// no I/O: developers erase the jobs they ran; artifacts:access narrows
// read_job_artifacts (none: nobody, developer: developers and above).
func AllowedJob(c *Caller, proj *ci.Project, lvl ci.AccessLevel, j *ci.Job, a Action) error {
	switch a {
	case EraseBuild:
		// erase_build: maintainers on any job, developers on their own.
		if lvl >= ci.Maintainer || (lvl >= ci.Developer && !c.Anonymous() && j.UserID == c.User.ID) {
			return nil
		}
		return ci.ErrForbidden
	case ReadArtifacts:
		if err := Allowed(c, proj, lvl, a); err != nil {
			return err
		}
		switch ArtifactsAccess(j) {
		case ArtifactsNone:
			return ci.ErrForbidden
		case ArtifactsDeveloper:
			if lvl < ci.Developer {
				return ci.ErrForbidden
			}
		}
		return nil
	}
	return Allowed(c, proj, lvl, a)
}

// MemberChange decides whether a caller whose role is actor may change a
// member's role from current to next (ci.NoAccess for "not a member" and
// for removal), with Members::CreateService, UpdateService and
// DestroyService's rules: admin_project_member (maintainers); only owners
// create, promote to, demote or remove owners; the namespace owner of a
// personal project stays owner.
func MemberChange(actor, current, next ci.AccessLevel, namespaceOwner bool) error {
	if actor < minRole[AdminMembers] {
		return ci.ErrForbidden
	}
	if namespaceOwner && next != ci.Owner {
		return ci.ErrForbidden
	}
	if actor < ci.Owner && (current == ci.Owner || next == ci.Owner) {
		return ci.ErrForbidden
	}
	return nil
}
