package storetest

import (
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var protectedTests = []test{
	{"ProtectedRefs/CRUD", testProtectedRefs},
	{"Claim/RefProtected", testClaimRefProtected},
}

// testClaimRefProtected: a ref_protected runner's claim skips jobs of
// unprotected pipelines in the query itself (Match never sees them) and
// takes the protected pipeline's job; other runners take any.
func testClaimRefProtected(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	prot := mustRunner(t, s, ci.RunnerInstance)
	prot.AccessLevel = "ref_protected"
	must(t, s.UpdateRunner(ctx, prot), "ref_protected")
	prot, err := s.RunnerByID(ctx, prot.ID)
	must(t, err, "read runner")
	anyRunner := mustRunner(t, s, ci.RunnerInstance)

	pipeline := func(ref string, protected bool, j *ci.Job) {
		t.Helper()
		j.Ref = ref
		pl := &ci.Pipeline{ProjectID: p.ID, Ref: ref, SHA: "0123456789abcdef0123456789abcdef01234567",
			BeforeSHA: "0000000000000000000000000000000000000000", Source: "push", Status: ci.StatusPending,
			CreatedAt: base, Protected: protected}
		must(t, s.CreatePipeline(ctx, pl, []*ci.Job{j}), "create pipeline")
	}
	open1, open2, safe := newJob("open1", ci.StatusPending), newJob("open2", ci.StatusPending), newJob("safe", ci.StatusPending)
	pipeline("feature", false, open1)
	pipeline("feature", false, open2)
	pipeline("main", true, safe)

	var asked []string
	got, err := s.ClaimJob(ctx, store.Claim{Runner: prot, Now: base,
		Match: func(j *ci.Job) bool { asked = append(asked, j.Name); return true }})
	must(t, err, "protected claim")
	if got.ID != safe.ID || len(asked) != 1 {
		t.Fatalf("ref_protected runner claimed %s after asking %v, want safe after [safe]", got.Name, asked)
	}
	_, err = s.ClaimJob(ctx, store.Claim{Runner: prot, Now: base})
	wantErr(t, err, store.ErrNotFound, "only unprotected jobs left")
	got, err = s.ClaimJob(ctx, store.Claim{Runner: anyRunner, Now: base})
	must(t, err, "unprotected claim")
	if got.ID != open1.ID {
		t.Fatalf("not_protected runner claimed %s, want open1", got.Name)
	}
}

func testProtectedRefs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := &ci.Project{Namespace: "acme", Path: "web", Name: "web", Visibility: ci.VisibilityPrivate}
	other := &ci.Project{Namespace: "acme", Path: "api", Name: "api", Visibility: ci.VisibilityPrivate}
	must(t, s.CreateProject(ctx, p), "project")
	must(t, s.CreateProject(ctx, other), "other project")

	if rs, err := s.ProtectedRefs(ctx, p.ID); err != nil || len(rs) != 0 {
		t.Fatalf("empty project: %v, %v", rs, err)
	}
	main := ci.DefaultBranchProtection(p.ID, "main")
	main.CreatedAt = base
	must(t, s.CreateProtectedRef(ctx, main), "protect main")
	if main.ID == 0 || main.Access[0].ID == 0 || main.Access[1].ID == 0 {
		t.Fatalf("ids not set: %+v", main)
	}
	tag := &ci.ProtectedRef{ProjectID: p.ID, Kind: ci.TagRef, Name: "main", CreatedAt: base,
		Access: []ci.RefAccess{{Action: ci.ActionCreate, AccessLevel: ci.Developer}}}
	must(t, s.CreateProtectedRef(ctx, tag), "a tag rule may share a branch rule's name")
	rel := &ci.ProtectedRef{ProjectID: other.ID, Kind: ci.BranchRef, Name: "release/*", AllowForcePush: true}
	must(t, s.CreateProtectedRef(ctx, rel), "another project's rule")

	dup := ci.DefaultBranchProtection(p.ID, "main")
	wantErr(t, s.CreateProtectedRef(ctx, dup), store.ErrConflict, "duplicate rule")

	rs, err := s.ProtectedRefs(ctx, p.ID)
	must(t, err, "list")
	if len(rs) != 2 || rs[0].ID != main.ID || rs[1].ID != tag.ID {
		t.Fatalf("list: %+v", rs)
	}
	got := rs[0]
	if got.Kind != ci.BranchRef || got.Name != "main" || got.AllowForcePush || !got.CreatedAt.Equal(base) ||
		len(got.Access) != 2 || got.Access[0] != main.Access[0] || got.Access[1] != main.Access[1] {
		t.Fatalf("main read back as %+v, stored %+v", got, main)
	}
	if !rs.Protected("main", false) || !rs.Protected("main", true) || rs.Protected("release/1", false) {
		t.Fatalf("protection of the listed rules is wrong")
	}

	got.AllowForcePush, got.CodeOwnerApprovalRequired = true, true
	got.Access = []ci.RefAccess{{Action: ci.ActionPush, AccessLevel: ci.Developer}}
	must(t, s.UpdateProtectedRef(ctx, got, true), "update")
	rs, err = s.ProtectedRefs(ctx, p.ID)
	must(t, err, "list after update")
	if g := rs[0]; !g.AllowForcePush || !g.CodeOwnerApprovalRequired || len(g.Access) != 1 ||
		g.Access[0].AccessLevel != ci.Developer || g.Access[0].ID == 0 {
		t.Fatalf("after update: %+v", g)
	}
	rs[0].AllowForcePush = false
	must(t, s.UpdateProtectedRef(ctx, rs[0], false), "update flags only")
	rs, err = s.ProtectedRefs(ctx, p.ID)
	must(t, err, "list after flag update")
	if rs[0].AllowForcePush || len(rs[0].Access) != 1 {
		t.Fatalf("after flag update: %+v", rs[0])
	}
	wantErr(t, s.UpdateProtectedRef(ctx, &ci.ProtectedRef{ID: 1 << 40}, false), store.ErrNotFound, "update missing")

	must(t, s.DeleteProtectedRef(ctx, main.ID), "delete")
	rs, err = s.ProtectedRefs(ctx, p.ID)
	must(t, err, "list after delete")
	if len(rs) != 1 || rs[0].ID != tag.ID || len(rs[0].Access) != 1 {
		t.Fatalf("after delete: %+v", rs)
	}
	if rs, _ := s.ProtectedRefs(ctx, other.ID); len(rs) != 1 || !rs[0].AllowForcePush || len(rs[0].Access) != 0 {
		t.Fatalf("other project: %+v", rs)
	}
}
