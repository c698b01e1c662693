package access

import (
	"context"

	"github.com/gantryci/gantry/internal/ci"
)

// Pipeline schedule abilities (app/policies/ci/pipeline_schedule_policy.rb
// and ProjectPolicy). The project-wide ones are decided by Allowed; the
// ones that depend on the schedule's owner and ref by CanSchedule.
const (
	// ReadPipelineSchedule is read_pipeline_schedule: whoever reads
	// pipelines.
	ReadPipelineSchedule Action = "read_pipeline_schedule"
	// CreatePipelineSchedule is create_pipeline_schedule: developers, not
	// for a protected ref they may not update.
	CreatePipelineSchedule Action = "create_pipeline_schedule"
	// SetPipelineVariables is set_pipeline_variables: developers.
	SetPipelineVariables Action = "set_pipeline_variables"
	// AdminPipelineSchedule is admin_pipeline_schedule (delete, take
	// ownership, read its variables): maintainers (admin_pipeline), and
	// the schedule's owner while a developer.
	AdminPipelineSchedule Action = "admin_pipeline_schedule"
	// UpdatePipelineSchedule is update_pipeline_schedule: the owner while a
	// developer, or an instance administrator; not for a protected ref the
	// caller may not update.
	UpdatePipelineSchedule Action = "update_pipeline_schedule"
	// PlayPipelineSchedule is play_pipeline_schedule: create_pipeline, not
	// for a protected ref the caller may not update.
	PlayPipelineSchedule Action = "play_pipeline_schedule"
)

// AllowedSchedule decides the schedule abilities that need no I/O for a
// caller whose role is lvl: who owns the schedule matters, its ref not
// (see CanSchedule).
func AllowedSchedule(c *Caller, proj *ci.Project, lvl ci.AccessLevel, s *ci.PipelineSchedule, a Action) error {
	owner := !c.Anonymous() && s.OwnerID == c.User.ID
	ok := false
	switch a {
	case ReadPipelineSchedule:
		ok = allowed(c, proj, lvl, ReadPipeline)
	case AdminPipelineSchedule:
		ok = lvl >= ci.Maintainer || (owner && lvl >= ci.Developer)
	case UpdatePipelineSchedule:
		ok = c.Admin() || (owner && lvl >= ci.Developer)
	case PlayPipelineSchedule, CreatePipelineSchedule:
		ok = allowed(c, proj, lvl, CreatePipeline)
	default:
		return Allowed(c, proj, lvl, a)
	}
	if !ok {
		return ci.ErrForbidden
	}
	return nil
}

// CanSchedule is AllowedSchedule plus the protected_ref rule: creating,
// updating and playing a schedule whose ref is a protected branch or tag
// needs the right to update that ref (push or merge to the branch, create
// the tag: PipelinePolicy#ref_protected?). s.Ref is a full ref or, for a
// ref that matched nothing, a short name taken for a branch.
func (p *Policy) CanSchedule(ctx context.Context, c *Caller, proj *ci.Project, lvl ci.AccessLevel, s *ci.PipelineSchedule, a Action) error {
	if err := AllowedSchedule(c, proj, lvl, s, a); err != nil {
		return err
	}
	switch a {
	case CreatePipelineSchedule, UpdatePipelineSchedule, PlayPipelineSchedule:
	default:
		return nil
	}
	ok, err := p.CanUpdateRef(ctx, proj, s.Ref, lvl)
	if err != nil {
		return err
	}
	if !ok {
		return ci.ErrForbidden
	}
	return nil
}

// CanUpdateRef reports whether role lvl may update ref (a full ref, or a
// short one taken for a branch) under the project's protection rules.
func (p *Policy) CanUpdateRef(ctx context.Context, proj *ci.Project, ref string, lvl ci.AccessLevel) (bool, error) {
	name, tag, ok := ci.SplitFullRef(ref)
	if !ok {
		name = ref
	}
	rules, err := p.st.ProtectedRefs(ctx, proj.ID)
	if err != nil {
		return false, err
	}
	return rules.CanUpdate(name, tag, lvl), nil
}
