package storetest

import (
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var projectTests = []test{
	{"Projects/CreateAndGet", testProjectCreateAndGet},
	{"Projects/Update", testProjectUpdate},
	{"Projects/CISettingsAndPath", testProjectCISettings},
	{"Projects/Delete", testProjectDelete},
	{"Jobs/ExternalStatus", testExternalStatusJob},
	{"Projects/Visibility", testProjectVisibility},
	{"Projects/Members", testMembers},
	{"Projects/Variables", testVariables},
	{"Projects/VariableAttrs", testVariableAttrs},
	{"Projects/VariableScopes", testVariableScopes},
	{"Projects/Triggers", testTriggers},
	{"Projects/PipelineName", testPipelineName},
}

var commitTests = []test{
	{"Commits", testCommits},
}

func testProjectCreateAndGet(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := &ci.Project{Namespace: "Acme", Path: "Widget", Name: "Widget", Description: "d", Visibility: ci.VisibilityInternal,
		DefaultBranch: "main", CreatorID: 7, CreatedAt: base, PublicBuilds: true, CIConfigPath: "ci.yml",
		JobTokenScopeEnabled: true}
	must(t, s.CreateProject(ctx, p), "create")
	if p.ID == 0 || p.BuildTimeout != 3600 || !p.UpdatedAt.Equal(base) {
		t.Fatalf("after create: id %d timeout %d updated %v", p.ID, p.BuildTimeout, p.UpdatedAt)
	}
	for _, lookup := range []struct {
		name string
		get  func() (*ci.Project, error)
	}{
		{"by id", func() (*ci.Project, error) { return s.ProjectByID(ctx, p.ID) }},
		{"by path", func() (*ci.Project, error) { return s.ProjectByPath(ctx, "Acme", "Widget") }},
		{"by lower path", func() (*ci.Project, error) { return s.ProjectByPath(ctx, "acme", "widget") }},
		{"by mixed path", func() (*ci.Project, error) { return s.ProjectByPath(ctx, "ACME", "wIdGeT") }},
	} {
		got, err := lookup.get()
		must(t, err, lookup.name)
		g, w := *got, *p
		if !g.CreatedAt.Equal(w.CreatedAt) || !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("%s: times %v, %v, want %v, %v", lookup.name, g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt)
		}
		g.CreatedAt, g.UpdatedAt, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if g != w {
			t.Errorf("%s: got %+v, want %+v", lookup.name, g, w)
		}
	}
	_, err := s.ProjectByID(ctx, p.ID+1000)
	wantErr(t, err, store.ErrNotFound, "missing id")
	_, err = s.ProjectByPath(ctx, "acme", "gadget")
	wantErr(t, err, store.ErrNotFound, "missing path")
	_, err = s.ProjectByPath(ctx, "acme/widget", "")
	wantErr(t, err, store.ErrNotFound, "path split differently")

	err = s.CreateProject(ctx, &ci.Project{Namespace: "acme", Path: "WIDGET", Name: "x", Visibility: ci.VisibilityPrivate})
	wantErr(t, err, store.ErrConflict, "same path, other case")
	other := mustProject(t, s, "acme", "gadget", ci.VisibilityPrivate)
	if other.ID == p.ID {
		t.Errorf("second project reused id %d", p.ID)
	}
}

func testProjectUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "ns", "proj", ci.VisibilityPrivate)
	before := time.Now().Add(-time.Second)
	p.Name, p.Description, p.Visibility, p.DefaultBranch = "Renamed", "new", ci.VisibilityPublic, "trunk"
	p.PublicBuilds, p.BuildTimeout, p.CIConfigPath, p.JobTokenScopeEnabled = false, 600, "other.yml", true
	must(t, s.UpdateProject(ctx, p), "update")
	got, err := s.ProjectByID(ctx, p.ID)
	must(t, err, "get")
	if got.Name != "Renamed" || got.Description != "new" || got.Visibility != ci.VisibilityPublic ||
		got.DefaultBranch != "trunk" || got.PublicBuilds || got.BuildTimeout != 600 ||
		got.CIConfigPath != "other.yml" || !got.JobTokenScopeEnabled {
		t.Errorf("after update: %+v", got)
	}
	if got.UpdatedAt.Before(before) || !got.CreatedAt.Equal(base) {
		t.Errorf("created %v updated %v, want created kept and updated now", got.CreatedAt, got.UpdatedAt)
	}
	// Namespace and path are not updatable: the path index stays valid.
	if _, err := s.ProjectByPath(ctx, "NS", "PROJ"); err != nil {
		t.Errorf("path lookup after update: %v", err)
	}
}

func testProjectVisibility(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	pub := mustProject(t, s, "o", "public", ci.VisibilityPublic)
	internal := mustProject(t, s, "o", "internal", ci.VisibilityInternal)
	mine := mustProject(t, s, "o", "alices", ci.VisibilityPrivate)
	secret := mustProject(t, s, "o", "secret", ci.VisibilityPrivate)
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: mine.ID, UserID: alice.ID, AccessLevel: ci.Developer}), "member")
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: pub.ID, UserID: alice.ID, AccessLevel: ci.Guest}), "member")
	for _, tc := range []struct {
		name string
		f    store.ProjectFilter
		want []int64 // id descending
	}{
		{"admin sees all", store.ProjectFilter{All: true}, []int64{secret.ID, mine.ID, internal.ID, pub.ID}},
		{"anonymous", store.ProjectFilter{Anonymous: true}, []int64{pub.ID}},
		{"nobody", store.ProjectFilter{}, []int64{pub.ID}},
		{"member sees own private", store.ProjectFilter{VisibleTo: alice.ID}, []int64{mine.ID, internal.ID, pub.ID}},
		{"non-member", store.ProjectFilter{VisibleTo: bob.ID}, []int64{internal.ID, pub.ID}},
		{"member only", store.ProjectFilter{VisibleTo: alice.ID, MemberOnly: true}, []int64{mine.ID, pub.ID}},
		{"member only, none", store.ProjectFilter{VisibleTo: bob.ID, MemberOnly: true}, []int64{}},
		{"all, paged", store.ProjectFilter{All: true, Limit: 2, Offset: 1}, []int64{mine.ID, internal.ID}},
		{"visible, offset", store.ProjectFilter{VisibleTo: alice.ID, Offset: 2}, []int64{pub.ID}},
	} {
		ps, err := s.ListProjects(ctx, tc.f)
		must(t, err, tc.name)
		got := make([]int64, 0, len(ps))
		for _, p := range ps {
			got = append(got, p.ID)
		}
		sameIDs(t, tc.name, got, tc.want)
	}
}

func testMembers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	u1, u2, u3 := mustUser(t, s, "u1"), mustUser(t, s, "u2"), mustUser(t, s, "u3")
	p, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: p.ID, UserID: u2.ID, AccessLevel: ci.Developer, CreatedAt: base}), "set u2")
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: p.ID, UserID: u1.ID, AccessLevel: ci.Reporter, CreatedAt: base}), "set u1")
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: other.ID, UserID: u3.ID, AccessLevel: ci.Owner}), "set u3")
	// Changing a role keeps one membership.
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: p.ID, UserID: u2.ID, AccessLevel: ci.Maintainer}), "promote u2")
	for _, tc := range []struct {
		project, user int64
		want          ci.AccessLevel
	}{
		{p.ID, u1.ID, ci.Reporter},
		{p.ID, u2.ID, ci.Maintainer},
		{p.ID, u3.ID, ci.NoAccess},
		{other.ID, u3.ID, ci.Owner},
		{other.ID, u1.ID, ci.NoAccess},
		{other.ID + 100, u1.ID, ci.NoAccess},
	} {
		got, err := s.MemberAccess(ctx, tc.project, tc.user)
		must(t, err, "member access")
		if got != tc.want {
			t.Errorf("MemberAccess(%d, %d) = %d, want %d", tc.project, tc.user, got, tc.want)
		}
	}
	ms, err := s.ListMembers(ctx, p.ID)
	must(t, err, "list")
	if len(ms) != 2 || ms[0].UserID != u1.ID || ms[1].UserID != u2.ID || ms[1].AccessLevel != ci.Maintainer ||
		ms[0].ProjectID != p.ID || !ms[0].CreatedAt.Equal(base) || !ms[1].CreatedAt.Equal(base) {
		t.Errorf("members = %+v, want u1 reporter then u2 maintainer, created at base", ms)
	}
}

func testVariables(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	vars := []*ci.ProjectVariable{
		{ProjectID: p.ID, Key: "TOKEN", Value: "s3cret", Protected: true, Masked: true},
		{ProjectID: p.ID, Key: "CONFIG", Value: "a=b\n", File: true, Raw: true},
		{ProjectID: other.ID, Key: "TOKEN", Value: "other"},
		{ProjectID: p.ID, Key: "TOKEN", Value: "rotated", Masked: true}, // replaces
	}
	for _, v := range vars {
		must(t, s.SetProjectVariable(ctx, v), "set "+v.Key)
	}
	got, err := s.ListProjectVariables(ctx, p.ID)
	must(t, err, "list")
	want := []ci.ProjectVariable{*vars[1], *vars[3]}
	if len(got) != len(want) {
		t.Fatalf("variables = %d, want %d", len(got), len(want))
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Errorf("variable %d = %+v, want %+v", i, *got[i], want[i])
		}
	}
	got, err = s.ListProjectVariables(ctx, other.ID)
	must(t, err, "list other")
	if len(got) != 1 || got[0].Value != "other" {
		t.Errorf("other project's variables = %+v", got)
	}
}

func testCommits(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	cest := time.FixedZone("", 2*3600)
	pdt := time.FixedZone("", -7*3600)
	c1 := &store.Commit{ID: "1111111111111111111111111111111111111111", ShortID: "11111111", Title: "First",
		Message: "First\n\nBody.\n", ParentIDs: []string{"0000000000000000000000000000000000000000"},
		AuthorName: "Ann", AuthorEmail: "ann@example.com", AuthoredDate: time.Date(2024, 1, 2, 3, 4, 5, 0, cest),
		CommitterName: "Cy", CommitterEmail: "cy@example.com", CommittedDate: time.Date(2024, 1, 2, 9, 0, 0, 0, pdt),
		Trailers: map[string]string{"Signed-off-by": "Ann"}}
	c2 := &store.Commit{ID: "2222222222222222222222222222222222222222", ShortID: "22222222", Title: "Second",
		ParentIDs: []string{c1.ID}, AuthoredDate: base, CommittedDate: base}
	must(t, s.SaveCommit(ctx, p.ID, c1), "save c1")
	must(t, s.SaveCommit(ctx, p.ID, c2), "save c2")
	must(t, s.SaveCommit(ctx, p.ID, c1), "save c1 again")

	got, err := s.CommitsBySHA(ctx, p.ID, []string{c1.ID, c2.ID, "3333333333333333333333333333333333333333"})
	must(t, err, "load")
	if len(got) != 2 {
		t.Fatalf("commits = %d, want 2", len(got))
	}
	g := got[c1.ID]
	if g == nil || g.Title != "First" || g.Message != c1.Message || len(g.ParentIDs) != 1 || g.AuthorEmail != c1.AuthorEmail ||
		g.CommitterName != "Cy" || g.Trailers["Signed-off-by"] != "Ann" {
		t.Errorf("c1 = %+v", g)
	} else {
		for _, d := range []struct {
			name      string
			got, want time.Time
		}{{"authored", g.AuthoredDate, c1.AuthoredDate}, {"committed", g.CommittedDate, c1.CommittedDate}} {
			_, gotOff := d.got.Zone()
			_, wantOff := d.want.Zone()
			if !d.got.Equal(d.want) || gotOff != wantOff {
				t.Errorf("%s date = %v, want %v with its offset", d.name, d.got, d.want)
			}
		}
	}
	if got[c2.ID] == nil || !got[c2.ID].AuthoredDate.Equal(base) {
		t.Errorf("c2 = %+v", got[c2.ID])
	}
	got, err = s.CommitsBySHA(ctx, other.ID, []string{c1.ID})
	must(t, err, "other project")
	if len(got) != 0 {
		t.Errorf("commits are per project, got %v", got)
	}
	got, err = s.CommitsBySHA(ctx, p.ID, nil)
	must(t, err, "no shas")
	if got == nil || len(got) != 0 {
		t.Errorf("CommitsBySHA(nil) = %#v, want an empty map", got)
	}
}

func testVariableAttrs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	must(t, s.SetProjectVariable(ctx, &ci.ProjectVariable{ProjectID: p.ID, Key: "A", Value: "1"}), "set A")
	must(t, s.SetProjectVariable(ctx, &ci.ProjectVariable{ProjectID: p.ID, Key: "B", Value: "2"}), "set B")
	attrs, err := s.ProjectVariableAttrs(ctx, p.ID)
	must(t, err, "attrs")
	if a := attrs["A"]; a.EnvironmentScope != "*" || a.Description != nil || len(attrs) != 2 {
		t.Errorf("default attrs = %+v", attrs)
	}
	must(t, s.SetProjectVariableAttrs(ctx, p.ID, "A", store.VariableAttrs{EnvironmentScope: "review/*", Description: ptr("d")}), "set attrs")
	wantErr(t, s.SetProjectVariableAttrs(ctx, p.ID, "C", store.VariableAttrs{EnvironmentScope: "*"}), store.ErrNotFound, "attrs of unknown")
	// Replacing the value keeps the attributes.
	must(t, s.SetProjectVariable(ctx, &ci.ProjectVariable{ProjectID: p.ID, Key: "A", Value: "3"}), "reset A")
	attrs, err = s.ProjectVariableAttrs(ctx, p.ID)
	must(t, err, "attrs")
	if a := attrs["A"]; a.EnvironmentScope != "review/*" || a.Description == nil || *a.Description != "d" {
		t.Errorf("attrs after update = %+v", a)
	}
	must(t, s.DeleteProjectVariable(ctx, p.ID, "A"), "delete")
	wantErr(t, s.DeleteProjectVariable(ctx, p.ID, "A"), store.ErrNotFound, "delete again")
	vs, err := s.ListProjectVariables(ctx, p.ID)
	must(t, err, "list")
	if len(vs) != 1 || vs[0].Key != "B" {
		t.Errorf("after delete = %+v", vs)
	}
}

func testTriggers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p, other := mustProject(t, s, "o", "p", ci.VisibilityPrivate), mustProject(t, s, "o", "q", ci.VisibilityPrivate)
	u := mustUser(t, s, "owner")
	a := &ci.Trigger{ProjectID: p.ID, OwnerID: u.ID, Description: "a", TokenDigest: "d-a", TokenShort: "abcd", CreatedAt: base, UpdatedAt: base}
	b := &ci.Trigger{ProjectID: p.ID, OwnerID: u.ID, Description: "b", TokenDigest: "d-b", TokenShort: "efgh", CreatedAt: base, UpdatedAt: base}
	must(t, s.CreateTrigger(ctx, a), "create a")
	must(t, s.CreateTrigger(ctx, b), "create b")
	if err := s.CreateTrigger(ctx, &ci.Trigger{ProjectID: p.ID, OwnerID: u.ID, TokenDigest: "d-a", TokenShort: "x", CreatedAt: base, UpdatedAt: base}); err == nil {
		t.Error("a second trigger with the same token digest was stored")
	}
	list, err := s.ListTriggers(ctx, p.ID, 1, 1)
	must(t, err, "list")
	if n, _ := s.CountTriggers(ctx, p.ID); len(list) != 1 || list[0].ID != b.ID || n != 2 {
		t.Errorf("page 2 = %+v, count %d", list, n)
	}
	got, err := s.TriggerByDigest(ctx, "d-a")
	must(t, err, "by digest")
	if got.ID != a.ID || got.TokenShort != "abcd" || !got.CreatedAt.Equal(base) || got.LastUsed != nil {
		t.Errorf("by digest = %+v", got)
	}
	_, err = s.TriggerByID(ctx, other.ID, a.ID)
	wantErr(t, err, store.ErrNotFound, "trigger of another project")
	a.Description, a.UpdatedAt = "renamed", base.Add(time.Minute)
	must(t, s.UpdateTrigger(ctx, a), "update")
	must(t, s.TouchTrigger(ctx, a.ID, base.Add(time.Hour)), "touch")
	got, err = s.TriggerByID(ctx, p.ID, a.ID)
	must(t, err, "by id")
	sameTime(t, "last_used", got.LastUsed, ptr(base.Add(time.Hour)))
	if got.Description != "renamed" || !got.UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Errorf("after update = %+v", got)
	}
	wantErr(t, s.DeleteTrigger(ctx, other.ID, a.ID), store.ErrNotFound, "delete from another project")
	must(t, s.DeleteTrigger(ctx, p.ID, a.ID), "delete")
	_, err = s.TriggerByDigest(ctx, "d-a")
	wantErr(t, err, store.ErrNotFound, "deleted trigger")
}

func testPipelineName(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "p", ci.VisibilityPrivate)
	pl := mustPipeline(t, s, p.ID, "main")
	mustPipeline(t, s, p.ID, "main")
	must(t, s.SetPipelineName(ctx, pl.ID, "nightly", base.Add(time.Hour)), "set name")
	wantErr(t, s.SetPipelineName(ctx, 1<<40, "x", base), store.ErrNotFound, "unknown pipeline")
	got, err := s.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, Name: "nightly", Limit: 10})
	must(t, err, "list by name")
	if len(got) != 1 || got[0].ID != pl.ID || got[0].Name != "nightly" {
		t.Errorf("by name = %+v", got)
	}
}

func testProjectCISettings(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "ns", "ci", ci.VisibilityPrivate)
	if p.Archived || p.CIDefaultGitDepth != 20 || !p.AutoCancelPendingPipelines {
		t.Fatalf("defaults after create: %+v", p)
	}
	got, err := s.ProjectByID(ctx, p.ID)
	must(t, err, "get")
	if got.Archived || got.CIDefaultGitDepth != 20 || !got.AutoCancelPendingPipelines {
		t.Fatalf("stored defaults: %+v", got)
	}
	got.Archived, got.CIDefaultGitDepth, got.AutoCancelPendingPipelines, got.Path = true, 0, false, "moved"
	must(t, s.UpdateProject(ctx, got), "update")
	back, err := s.ProjectByPath(ctx, "NS", "Moved")
	must(t, err, "get by new path")
	if !back.Archived || back.CIDefaultGitDepth != 0 || back.AutoCancelPendingPipelines {
		t.Errorf("after update: %+v", back)
	}
	_, err = s.ProjectByPath(ctx, "ns", "ci")
	wantErr(t, err, store.ErrNotFound, "old path")
	other := mustProject(t, s, "ns", "other", ci.VisibilityPrivate)
	other.Path = "MOVED"
	wantErr(t, s.UpdateProject(ctx, other), store.ErrConflict, "taken path")
}

func testProjectDelete(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "ns", "doomed", ci.VisibilityPrivate)
	keep := mustProject(t, s, "ns", "kept", ci.VisibilityPrivate)
	pl := mustPipeline(t, s, p.ID, "main", newJob("a", ci.StatusSuccess))
	kept := mustPipeline(t, s, keep.ID, "main", newJob("a", ci.StatusSuccess))
	jobs, err := s.PipelineJobs(ctx, pl.ID)
	must(t, err, "jobs")
	must(t, s.CreateArtifact(ctx, &ci.Artifact{JobID: jobs[0].ID, ProjectID: p.ID, FileType: "archive", FileFormat: "zip",
		Filename: "a.zip", Size: 1, BlobKey: "k/doomed", CreatedAt: base}), "artifact")
	must(t, s.SaveCommit(ctx, p.ID, &store.Commit{ID: "abc", Title: "t"}), "commit")
	keys, err := s.DeleteProject(ctx, p.ID)
	must(t, err, "delete")
	if len(keys) != 1 || keys[0] != "k/doomed" {
		t.Errorf("blob keys %v", keys)
	}
	_, err = s.ProjectByID(ctx, p.ID)
	wantErr(t, err, store.ErrNotFound, "deleted project")
	_, err = s.PipelineByID(ctx, pl.ID)
	wantErr(t, err, store.ErrNotFound, "deleted pipeline")
	_, err = s.JobByID(ctx, jobs[0].ID)
	wantErr(t, err, store.ErrNotFound, "deleted job")
	if c, err := s.CommitsBySHA(ctx, p.ID, []string{"abc"}); err != nil || len(c) != 0 {
		t.Errorf("commits left: %v %v", err, c)
	}
	if _, err := s.PipelineByID(ctx, kept.ID); err != nil {
		t.Errorf("other project's pipeline: %v", err)
	}
	_, err = s.DeleteProject(ctx, p.ID)
	wantErr(t, err, store.ErrNotFound, "second delete")
}

func testExternalStatusJob(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "ns", "ext", ci.VisibilityPrivate)
	pl := mustPipeline(t, s, p.ID, "main", newJob("build", ci.StatusPending))
	url, desc := "https://ci.example.com/1", "queued"
	ext := &ci.Job{ProjectID: p.ID, PipelineID: pl.ID, Kind: ci.KindExternal, Name: "ext", Stage: ci.ExternalStage,
		StageIdx: ci.ExternalStageIdx, Status: ci.StatusPending, Ref: "main", When: ci.WhenOnSuccess, TargetURL: &url,
		Description: &desc, CreatedAt: base}
	must(t, s.InsertJobs(ctx, []*ci.Job{ext}, []string{"ext"}), "insert")
	got, err := s.JobByID(ctx, ext.ID)
	must(t, err, "get")
	if got.Kind != ci.KindExternal || got.TargetURL == nil || *got.TargetURL != url || *got.Description != desc {
		t.Fatalf("stored external status: %+v", got)
	}
	got.Description = nil
	got.Status = ci.StatusRunning
	must(t, s.UpdateJob(ctx, got, ci.StatusPending), "update")
	back, err := s.JobByID(ctx, ext.ID)
	must(t, err, "get again")
	if back.Description != nil || back.Status != ci.StatusRunning {
		t.Errorf("after update: %+v", back)
	}
	// Builds only: no runner takes it, and the sweeper leaves it alone.
	builds, err := s.ListJobs(ctx, store.JobFilter{PipelineID: pl.ID, Kind: store.BuildsOnly})
	must(t, err, "builds")
	if len(builds) != 1 || builds[0].Name != "build" {
		t.Errorf("builds of the pipeline: %+v", builds)
	}
	swept, err := s.JobsToSweep(ctx, store.SweepFilter{Statuses: []ci.Status{ci.StatusRunning}})
	must(t, err, "sweep")
	for _, j := range swept {
		if j.ID == ext.ID {
			t.Error("external status offered to the sweeper")
		}
	}
}

func testVariableScopes(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p := mustProject(t, s, "o", "scopes", ci.VisibilityPrivate)
	all := &ci.ProjectVariable{ProjectID: p.ID, Key: "K", Value: "all", EnvironmentScope: "*"}
	review := &ci.ProjectVariable{ProjectID: p.ID, Key: "K", Value: "review", EnvironmentScope: "review/*", Description: ptr("d")}
	must(t, s.CreateProjectVariable(ctx, all), "create *")
	must(t, s.CreateProjectVariable(ctx, review), "create review/*")
	wantErr(t, s.CreateProjectVariable(ctx, &ci.ProjectVariable{ProjectID: p.ID, Key: "K", Value: "x", EnvironmentScope: "*"}),
		store.ErrConflict, "same key and scope")
	got, err := s.ListProjectVariables(ctx, p.ID)
	must(t, err, "list")
	if len(got) != 2 || got[0].EnvironmentScope != "*" || got[1].EnvironmentScope != "review/*" || got[1].Description == nil {
		t.Fatalf("variables = %+v", got)
	}
	review.Value, review.EnvironmentScope = "moved", "review/app"
	must(t, s.UpdateProjectVariable(ctx, review, "review/*"), "update")
	wantErr(t, s.UpdateProjectVariable(ctx, review, "review/*"), store.ErrNotFound, "update old scope")
	review.EnvironmentScope = "*"
	wantErr(t, s.UpdateProjectVariable(ctx, review, "review/app"), store.ErrConflict, "update onto a taken scope")
	must(t, s.DeleteProjectVariableScope(ctx, p.ID, "K", "*"), "delete *")
	wantErr(t, s.DeleteProjectVariableScope(ctx, p.ID, "K", "*"), store.ErrNotFound, "delete * again")
	got, err = s.ListProjectVariables(ctx, p.ID)
	must(t, err, "list")
	if len(got) != 1 || got[0].Value != "moved" || got[0].EnvironmentScope != "review/app" {
		t.Fatalf("after delete = %+v", got)
	}
}
