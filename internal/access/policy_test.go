package access_test

import (
	"testing"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	user := &access.Caller{User: &ci.User{ID: 7}}
	job := &access.Caller{User: &ci.User{ID: 7}, Job: &ci.Job{ProjectID: 99}}
	private := &ci.Project{ID: 1, Visibility: ci.VisibilityPrivate, PublicBuilds: true}
	internal := &ci.Project{ID: 1, Visibility: ci.VisibilityInternal}
	public := &ci.Project{ID: 1, Visibility: ci.VisibilityPublic, PublicBuilds: false}
	tests := []struct {
		name   string
		c      *access.Caller
		p      *ci.Project
		lvl    ci.AccessLevel
		a      access.Action
		expect bool
	}{
		{"guest reads builds with public pipelines", user, private, ci.Guest, access.ReadBuild, true},
		{"guest cannot fetch a private repository", user, private, ci.Guest, access.ReadCode, false},
		{"reporter fetches", user, private, ci.Reporter, access.ReadCode, true},
		{"signed-in non-member sees an internal project", user, internal, ci.NoAccess, access.ReadProject, true},
		{"job token does not see an internal project", job, internal, ci.NoAccess, access.ReadProject, false},
		{"anonymous sees a public project", nil, public, ci.NoAccess, access.ReadProject, true},
		{"anonymous does not read builds without public pipelines", nil, public, ci.NoAccess, access.ReadBuild, false},
		{"developer pushes", user, private, ci.Developer, access.PushCode, true},
		{"developer cannot force-cancel", user, private, ci.Developer, access.ForceCancelBuild, false},
		{"maintainer cannot delete a pipeline", user, private, ci.Maintainer, access.DeletePipeline, false},
		{"owner deletes a pipeline", user, private, ci.Owner, access.DeletePipeline, true},
		{"unknown action", user, private, ci.Owner, access.Action("nope"), false},
	}
	for _, tc := range tests {
		if got := access.Allowed(tc.c, tc.p, tc.lvl, tc.a) == nil; got != tc.expect {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.expect)
		}
	}
}

func TestAllowedJob(t *testing.T) {
	t.Parallel()
	p := &ci.Project{ID: 1, Visibility: ci.VisibilityPrivate, PublicBuilds: true}
	dev := &access.Caller{User: &ci.User{ID: 7}}
	def := func(s string) *ci.Job { return &ci.Job{UserID: 7, Definition: []byte(s)} }
	tests := []struct {
		name   string
		j      *ci.Job
		lvl    ci.AccessLevel
		a      access.Action
		expect bool
	}{
		{"no artifacts config: reporters", def(`{}`), ci.Reporter, access.ReadArtifacts, true},
		{"access developer: not reporters", def(`{"artifacts":{"access":"developer"}}`), ci.Reporter, access.ReadArtifacts, false},
		{"access developer: developers", def(`{"artifacts":{"access":"developer"}}`), ci.Developer, access.ReadArtifacts, true},
		{"public false: not reporters", def(`{"artifacts":{"public":false}}`), ci.Reporter, access.ReadArtifacts, false},
		{"access none: not owners", def(`{"artifacts":{"access":"none"}}`), ci.Owner, access.ReadArtifacts, false},
		{"developer erases own job", def(`{}`), ci.Developer, access.EraseBuild, true},
		{"developer cannot erase another's job", &ci.Job{UserID: 8}, ci.Developer, access.EraseBuild, false},
		{"maintainer erases any job", &ci.Job{UserID: 8}, ci.Maintainer, access.EraseBuild, true},
	}
	for _, tc := range tests {
		if got := access.AllowedJob(dev, p, tc.lvl, tc.j, tc.a) == nil; got != tc.expect {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.expect)
		}
	}
}

func TestMemberChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		actor, current, nxt ci.AccessLevel
		nsOwner             bool
		expect              bool
	}{
		{"developer manages nobody", ci.Developer, ci.NoAccess, ci.Guest, false, false},
		{"maintainer adds a developer", ci.Maintainer, ci.NoAccess, ci.Developer, false, true},
		{"maintainer cannot add an owner", ci.Maintainer, ci.NoAccess, ci.Owner, false, false},
		{"maintainer cannot demote an owner", ci.Maintainer, ci.Owner, ci.Developer, false, false},
		{"maintainer cannot remove an owner", ci.Maintainer, ci.Owner, ci.NoAccess, false, false},
		{"owner demotes an owner", ci.Owner, ci.Owner, ci.Maintainer, false, true},
		{"namespace owner stays owner", ci.Owner, ci.Owner, ci.Maintainer, true, false},
	}
	for _, tc := range tests {
		if got := access.MemberChange(tc.actor, tc.current, tc.nxt, tc.nsOwner) == nil; got != tc.expect {
			t.Errorf("%s: allowed = %v, want %v", tc.name, got, tc.expect)
		}
	}
}
