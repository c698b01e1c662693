package ci

import (
	"strings"
	"time"
)

// RefKind says whether a protection rule covers branches or tags.
type RefKind string

// Protected ref kinds.
const (
	BranchRef RefKind = "branch"
	TagRef    RefKind = "tag"
)

// Admin is the access level 60 a protected ref accepts besides the roles:
// instance administrators only (GitLab's Gitlab::Access::ADMIN).
const Admin AccessLevel = 60

// RefAction is what an access level of a protected ref allows.
type RefAction string

// Actions of protected ref access levels: push and merge for branches,
// create for tags (GitLab's push_access_levels, merge_access_levels and
// create_access_levels).
const (
	ActionPush   RefAction = "push"
	ActionMerge  RefAction = "merge"
	ActionCreate RefAction = "create"
)

// RefAccess is one access level row of a protected ref.
type RefAccess struct {
	ID          int64
	Action      RefAction
	AccessLevel AccessLevel
}

// ProtectedRef is a protected branch or tag rule: an exact name or a
// wildcard pattern such as release/* (GitLab's ProtectedBranch and
// ProtectedTag, app/models/concerns/protected_ref.rb).
type ProtectedRef struct {
	ID        int64
	ProjectID int64
	Kind      RefKind
	Name      string
	// Access holds the push, merge (branches) or create (tags) levels.
	Access                    []RefAccess
	AllowForcePush            bool
	CodeOwnerApprovalRequired bool
	CreatedAt                 time.Time
}

// ValidRefAccessLevel reports whether lvl may be given to a protected ref
// (ProtectedRefAccess.allowed_access_levels: no one, developers,
// maintainers, admins).
func ValidRefAccessLevel(lvl AccessLevel) bool {
	switch lvl {
	case NoAccess, Developer, Maintainer, Admin:
		return true
	}
	return false
}

// RefAccessDescription is the access_level_description GitLab shows
// (ProtectedRefAccess::HUMAN_ACCESS_LEVELS).
func RefAccessDescription(lvl AccessLevel) string {
	switch lvl {
	case NoAccess:
		return "No one"
	case Developer:
		return "Developers + Maintainers"
	case Maintainer:
		return "Maintainers"
	case Admin:
		return "Administrators"
	}
	return ""
}

// IsWildcard reports whether the rule's name is a pattern.
func (p *ProtectedRef) IsWildcard() bool { return strings.Contains(p.Name, "*") }

// Matches reports whether the short ref name (a branch or tag name, no
// refs/heads/ prefix) falls under the rule: the exact name, or the pattern
// where each * stands for any run of characters, slashes included
// (Gitlab::RefMatcher, lib/gitlab/ref_matcher.rb).
func (p *ProtectedRef) Matches(ref string) bool {
	if p.Name == "" || ref == "" {
		return false
	}
	if p.Name == ref {
		return true
	}
	return p.IsWildcard() && wildcardMatch(p.Name, ref)
}

// wildcardMatch matches s against pattern where * is any (possibly empty)
// run of bytes and everything else is literal; linear in practice, no
// backtracking beyond the last star.
func wildcardMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(parts) > 1 && strings.HasSuffix(s, last)
}

// Levels returns the access levels the rule grants for action.
func (p *ProtectedRef) Levels(action RefAction) []AccessLevel {
	var out []AccessLevel
	for _, a := range p.Access {
		if a.Action == action {
			out = append(out, a.AccessLevel)
		}
	}
	return out
}

// Allows reports whether a caller with role lvl (admin callers pass Admin)
// may do action under this rule (ProtectedRefAccess#check_access): no one
// for level 0, administrators only for level 60, otherwise the role must
// reach the level.
func (p *ProtectedRef) Allows(action RefAction, lvl AccessLevel) bool {
	for _, want := range p.Levels(action) {
		if levelAllows(want, lvl) {
			return true
		}
	}
	return false
}

func levelAllows(want, have AccessLevel) bool {
	switch want {
	case NoAccess:
		return false
	case Admin:
		return have >= Admin
	}
	return have >= want
}

// ProtectedRefs is a project's protection rules of both kinds.
type ProtectedRefs []*ProtectedRef

// Matching returns the rules of kind that cover ref.
func (rs ProtectedRefs) Matching(kind RefKind, ref string) ProtectedRefs {
	var out ProtectedRefs
	for _, r := range rs {
		if r.Kind == kind && r.Matches(ref) {
			out = append(out, r)
		}
	}
	return out
}

// Protected reports whether ref (a branch, or a tag when tag is set) is
// protected (Project#protected_for?).
func (rs ProtectedRefs) Protected(ref string, tag bool) bool {
	kind := BranchRef
	if tag {
		kind = TagRef
	}
	return len(rs.Matching(kind, ref)) > 0
}

// Can reports whether role lvl may do action on ref: any matching rule
// that allows it suffices (ProtectedRef.protected_ref_accessible_to?).
// An unprotected ref is not this function's business: callers check
// Protected first.
func (rs ProtectedRefs) Can(kind RefKind, ref string, action RefAction, lvl AccessLevel) bool {
	for _, r := range rs.Matching(kind, ref) {
		if r.Allows(action, lvl) {
			return true
		}
	}
	return false
}

// CanUpdate reports whether role lvl may update ref: push or merge to a
// branch, create a tag (Gitlab::UserAccess#can_update_branch? and
// #can_create_tag?); unprotected refs are open to all.
func (rs ProtectedRefs) CanUpdate(ref string, tag bool, lvl AccessLevel) bool {
	if tag {
		return !rs.Protected(ref, true) || rs.Can(TagRef, ref, ActionCreate, lvl)
	}
	return !rs.Protected(ref, false) || rs.Can(BranchRef, ref, ActionPush, lvl) || rs.Can(BranchRef, ref, ActionMerge, lvl)
}

// AllowForcePush reports whether a matching branch rule allows force
// pushes (ProtectedBranch.allow_force_push?).
func (rs ProtectedRefs) AllowForcePush(branch string) bool {
	for _, r := range rs.Matching(BranchRef, branch) {
		if r.AllowForcePush {
			return true
		}
	}
	return false
}

// DefaultBranchProtection is the rule a project's default branch gets once
// it is known: maintainers push and merge, no force push (GitLab's fully
// protected default, Projects::ProtectDefaultBranchService).
func DefaultBranchProtection(projectID int64, branch string) *ProtectedRef {
	return &ProtectedRef{ProjectID: projectID, Kind: BranchRef, Name: branch, Access: []RefAccess{
		{Action: ActionPush, AccessLevel: Maintainer},
		{Action: ActionMerge, AccessLevel: Maintainer},
	}}
}

// GitLab's push check messages (lib/gitlab/checks/branch_check.rb and
// tag_check.rb).
const (
	MsgDeleteDefaultBranch       = "The default branch of a project cannot be deleted."
	MsgForcePushProtectedBranch  = "You are not allowed to force push code to a protected branch on this project."
	MsgDeleteProtectedBranch     = "You are not allowed to delete protected branches from this project. Only a project maintainer or owner can delete a protected branch."
	MsgDeleteProtectedBranchWeb  = "You can only delete protected branches using the web interface."
	MsgPushProtectedBranch       = "You are not allowed to push code to protected branches on this project."
	MsgCreateProtectedBranch     = "You are not allowed to create protected branches on this project."
	MsgCreateProtectedBranchWeb  = "You can only create protected branches using the web interface and API."
	MsgChangeExistingTags        = "You are not allowed to change existing tags on this project."
	MsgUpdateProtectedTag        = "Protected tags cannot be updated."
	MsgDeleteProtectedTag        = "You are not allowed to delete protected tags from this project. Only a project maintainer or owner can delete a protected tag."
	MsgDeleteProtectedTagWeb     = "You can only delete protected tags using the web interface."
	MsgCreateProtectedTag        = "You are not allowed to create this tag as it is protected."
	MsgDefaultBranchTagCollision = "You cannot use default branch name to create a tag"
)

// RefChange is one ref update of a push: the full ref name and whether it
// creates or deletes the ref.
type RefChange struct {
	Ref     string // refs/heads/x or refs/tags/x
	Create  bool   // the old value is the zero id
	Delete  bool   // the new value is the zero id
	Default string // the project's default branch, "" while unknown
	// Web marks a change made through the API rather than a git push
	// (GitLab's updated_from_web?): maintainers may then delete protected
	// branches and tags, and mergers create protected branches.
	Web bool
}

// PushVerdict is the decision on one ref change, taken before git applies
// it. Deny rejects the change outright; ForceDeny rejects it only if it is
// not a fast-forward, which only git can tell once the pack is received.
// A force check comes first, as in GitLab's BranchCheck.
type PushVerdict struct {
	ForceDeny string
	Deny      string
}

// CheckPush decides one ref change by a caller with role lvl (Admin for
// instance administrators) against the project's rules, following
// GitLab's Gitlab::Checks::BranchCheck and TagCheck for a push over git
// (never "from the web"). Changes to other refs are not judged here.
func (rs ProtectedRefs) CheckPush(c RefChange, lvl AccessLevel) PushVerdict {
	if b, ok := strings.CutPrefix(c.Ref, "refs/heads/"); ok {
		return rs.checkBranch(c, b, lvl)
	}
	if t, ok := strings.CutPrefix(c.Ref, "refs/tags/"); ok {
		return rs.checkTag(c, t, lvl)
	}
	return PushVerdict{}
}

func (rs ProtectedRefs) checkBranch(c RefChange, b string, lvl AccessLevel) PushVerdict {
	if c.Delete && c.Default != "" && b == c.Default {
		return PushVerdict{Deny: MsgDeleteDefaultBranch}
	}
	if !rs.Protected(b, false) {
		return PushVerdict{}
	}
	var v PushVerdict
	if !c.Create && !c.Delete && !rs.AllowForcePush(b) {
		v.ForceDeny = MsgForcePushProtectedBranch
	}
	switch {
	case c.Create:
		if rs.Can(BranchRef, b, ActionPush, lvl) {
			break
		}
		// A merger may only create a protected branch from the web UI or API.
		if rs.Can(BranchRef, b, ActionMerge, lvl) {
			if c.Web {
				break
			}
			v.Deny = MsgCreateProtectedBranchWeb
		} else {
			v.Deny = MsgCreateProtectedBranch
		}
	case c.Delete:
		if lvl >= Maintainer && c.Web {
			break
		}
		if lvl >= Maintainer {
			v.Deny = MsgDeleteProtectedBranchWeb
		} else {
			v.Deny = MsgDeleteProtectedBranch
		}
	default:
		if !rs.Can(BranchRef, b, ActionPush, lvl) {
			v.Deny = MsgPushProtectedBranch
		}
	}
	return v
}

func (rs ProtectedRefs) checkTag(c RefChange, t string, lvl AccessLevel) PushVerdict {
	// Changing an existing tag needs admin_tag, which push_code gives
	// (developers and above).
	if !c.Create && lvl < Developer {
		return PushVerdict{Deny: MsgChangeExistingTags}
	}
	if c.Create && c.Default != "" && t == c.Default {
		return PushVerdict{Deny: MsgDefaultBranchTagCollision}
	}
	if !rs.Protected(t, true) {
		return PushVerdict{}
	}
	switch {
	case !c.Create && !c.Delete:
		return PushVerdict{Deny: MsgUpdateProtectedTag}
	case c.Delete && lvl < Maintainer:
		return PushVerdict{Deny: MsgDeleteProtectedTag}
	case c.Delete && c.Web:
		return PushVerdict{}
	case c.Delete:
		return PushVerdict{Deny: MsgDeleteProtectedTagWeb}
	case !rs.Can(TagRef, t, ActionCreate, lvl):
		return PushVerdict{Deny: MsgCreateProtectedTag}
	}
	return PushVerdict{}
}
