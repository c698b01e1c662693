package ci

import "testing"

func TestProtectedRefMatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, ref string
		want      bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"main", "", false},
		{"", "main", false},
		{"release/*", "release/1.0", true},
		{"release/*", "release/1.0/hotfix", true}, // * crosses slashes
		{"release/*", "release/", true},
		{"release/*", "release", false},
		{"release/*", "xrelease/1", false},
		{"*-stable", "1-0-stable", true},
		{"*-stable", "1-0-stable-x", false},
		{"*", "anything/at/all", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"v*.*", "v1.2", true},
		{"v*.*", "v12", false},
		{"fix.*", "fixa", false}, // . is literal, not a regexp
		{"[ab]", "a", false},
		{"[ab]", "[ab]", true},
		{"**", "", false},
	}
	for _, c := range cases {
		r := &ProtectedRef{Name: c.name}
		if got := r.Matches(c.ref); got != c.want {
			t.Errorf("%q.Matches(%q) = %v, want %v", c.name, c.ref, got, c.want)
		}
	}
}

func TestProtectedRefAllows(t *testing.T) {
	t.Parallel()
	rule := func(lvl AccessLevel) *ProtectedRef {
		return &ProtectedRef{Name: "main", Kind: BranchRef, Access: []RefAccess{{Action: ActionPush, AccessLevel: lvl}}}
	}
	cases := []struct {
		rule, caller AccessLevel
		want         bool
	}{
		{Maintainer, Developer, false},
		{Maintainer, Maintainer, true},
		{Maintainer, Owner, true},
		{Developer, Developer, true},
		{Developer, Reporter, false},
		{NoAccess, Owner, false},
		{NoAccess, Admin, false},
		{Admin, Owner, false},
		{Admin, Admin, true},
	}
	for _, c := range cases {
		if got := rule(c.rule).Allows(ActionPush, c.caller); got != c.want {
			t.Errorf("rule %d, caller %d: push allowed = %v, want %v", c.rule, c.caller, got, c.want)
		}
		if rule(c.rule).Allows(ActionMerge, c.caller) {
			t.Errorf("rule %d: merge allowed without a merge level", c.rule)
		}
	}
}

func TestProtectedRefsCheckPush(t *testing.T) {
	t.Parallel()
	rules := ProtectedRefs{
		DefaultBranchProtection(1, "main"),
		{Kind: BranchRef, Name: "release/*", AllowForcePush: true, Access: []RefAccess{
			{Action: ActionPush, AccessLevel: Developer}, {Action: ActionMerge, AccessLevel: Maintainer}}},
		{Kind: BranchRef, Name: "stable", Access: []RefAccess{
			{Action: ActionPush, AccessLevel: Maintainer}, {Action: ActionMerge, AccessLevel: Developer}}},
		{Kind: TagRef, Name: "v*", Access: []RefAccess{{Action: ActionCreate, AccessLevel: Maintainer}}},
	}
	upd := func(ref string) RefChange { return RefChange{Ref: ref, Default: "main"} }
	create := func(ref string) RefChange { return RefChange{Ref: ref, Create: true, Default: "main"} }
	del := func(ref string) RefChange { return RefChange{Ref: ref, Delete: true, Default: "main"} }
	cases := []struct {
		name string
		c    RefChange
		lvl  AccessLevel
		want PushVerdict
	}{
		{"developer pushes to main", upd("refs/heads/main"), Developer,
			PushVerdict{ForceDeny: MsgForcePushProtectedBranch, Deny: MsgPushProtectedBranch}},
		{"maintainer pushes to main", upd("refs/heads/main"), Maintainer,
			PushVerdict{ForceDeny: MsgForcePushProtectedBranch}},
		{"developer pushes to a feature branch", upd("refs/heads/feature"), Developer, PushVerdict{}},
		{"developer creates a feature branch", create("refs/heads/feature"), Developer, PushVerdict{}},
		{"developer deletes a feature branch", del("refs/heads/feature"), Developer, PushVerdict{}},
		{"anyone deletes the default branch", del("refs/heads/main"), Owner, PushVerdict{Deny: MsgDeleteDefaultBranch}},
		{"developer deletes a protected branch", del("refs/heads/release/1"), Developer,
			PushVerdict{Deny: MsgDeleteProtectedBranch}},
		{"maintainer deletes a protected branch over git", del("refs/heads/release/1"), Maintainer,
			PushVerdict{Deny: MsgDeleteProtectedBranchWeb}},
		{"developer force pushes where allowed", upd("refs/heads/release/1"), Developer, PushVerdict{}},
		{"developer creates a wildcard-protected branch", create("refs/heads/release/2"), Developer, PushVerdict{}},
		{"merger creates a protected branch", create("refs/heads/stable"), Developer,
			PushVerdict{Deny: MsgCreateProtectedBranchWeb}},
		{"reporter-level creates a protected branch", create("refs/heads/stable"), Reporter,
			PushVerdict{Deny: MsgCreateProtectedBranch}},
		{"maintainer creates a protected branch", create("refs/heads/stable"), Maintainer, PushVerdict{}},
		{"developer creates a protected tag", create("refs/tags/v1"), Developer, PushVerdict{Deny: MsgCreateProtectedTag}},
		{"maintainer creates a protected tag", create("refs/tags/v1"), Maintainer, PushVerdict{}},
		{"maintainer moves a protected tag", upd("refs/tags/v1"), Owner, PushVerdict{Deny: MsgUpdateProtectedTag}},
		{"developer deletes a protected tag", del("refs/tags/v1"), Developer, PushVerdict{Deny: MsgDeleteProtectedTag}},
		{"maintainer deletes a protected tag over git", del("refs/tags/v1"), Maintainer,
			PushVerdict{Deny: MsgDeleteProtectedTagWeb}},
		{"developer creates an unprotected tag", create("refs/tags/build-1"), Developer, PushVerdict{}},
		{"developer moves an unprotected tag", upd("refs/tags/build-1"), Developer, PushVerdict{}},
		{"reporter-level moves an unprotected tag", upd("refs/tags/build-1"), Reporter,
			PushVerdict{Deny: MsgChangeExistingTags}},
		{"tag named like the default branch", create("refs/tags/main"), Maintainer,
			PushVerdict{Deny: MsgDefaultBranchTagCollision}},
		{"other refs are not judged", upd("refs/notes/commits"), Guest, PushVerdict{}},
	}
	for _, c := range cases {
		if got := rules.CheckPush(c.c, c.lvl); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestProtectedRefsProtected(t *testing.T) {
	t.Parallel()
	rules := ProtectedRefs{
		{Kind: BranchRef, Name: "main"},
		{Kind: TagRef, Name: "v*"},
	}
	cases := []struct {
		ref  string
		tag  bool
		want bool
	}{
		{"main", false, true},
		{"main", true, false}, // a tag named main is not a protected branch
		{"v1.0", true, true},
		{"v1.0", false, false},
		{"dev", false, false},
	}
	for _, c := range cases {
		if got := rules.Protected(c.ref, c.tag); got != c.want {
			t.Errorf("Protected(%q, tag=%v) = %v, want %v", c.ref, c.tag, got, c.want)
		}
	}
}

func TestRefAccessLevels(t *testing.T) {
	t.Parallel()
	for lvl, want := range map[AccessLevel]string{NoAccess: "No one", Developer: "Developers + Maintainers",
		Maintainer: "Maintainers", Admin: "Administrators"} {
		if !ValidRefAccessLevel(lvl) || RefAccessDescription(lvl) != want {
			t.Errorf("level %d: valid=%v description %q, want %q", lvl, ValidRefAccessLevel(lvl), RefAccessDescription(lvl), want)
		}
	}
	for _, lvl := range []AccessLevel{Guest, Reporter, Owner, 7} {
		if ValidRefAccessLevel(lvl) {
			t.Errorf("level %d accepted", lvl)
		}
	}
}

func TestProtectedRefsCanUpdate(t *testing.T) {
	t.Parallel()
	rules := ProtectedRefs{
		DefaultBranchProtection(1, "main"),
		{Kind: BranchRef, Name: "stable", Access: []RefAccess{
			{Action: ActionPush, AccessLevel: NoAccess}, {Action: ActionMerge, AccessLevel: Developer}}},
		{Kind: TagRef, Name: "v*", Access: []RefAccess{{Action: ActionCreate, AccessLevel: Maintainer}}},
	}
	cases := []struct {
		ref  string
		tag  bool
		lvl  AccessLevel
		want bool
	}{
		{"main", false, Developer, false},
		{"main", false, Maintainer, true},
		{"stable", false, Developer, true}, // merge rights suffice
		{"stable", false, Reporter, false},
		{"feature", false, Developer, true},
		{"v1", true, Developer, false},
		{"v1", true, Maintainer, true},
		{"main", true, Developer, true}, // a tag named main is not protected
	}
	for _, c := range cases {
		if got := rules.CanUpdate(c.ref, c.tag, c.lvl); got != c.want {
			t.Errorf("CanUpdate(%q, tag=%v, %d) = %v, want %v", c.ref, c.tag, c.lvl, got, c.want)
		}
	}
}
