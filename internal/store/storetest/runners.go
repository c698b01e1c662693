package storetest

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

var runnerTests = []test{
	{"Runners/CreateAndGet", testRunnerCreateAndGet},
	{"Runners/List", testRunnerList},
	{"Runners/UpdateTokenTouchDelete", testRunnerUpdate},
	{"Runners/Managers", testRunnerManagers},
	{"Runners/Scopes", testRunnerScopes},
}

var lockTests = []test{
	{"Locks/Lease", testLockLease},
	{"Locks/Concurrent", testLockConcurrent},
}

func testRunnerCreateAndGet(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p1, p2 := mustProject(t, s, "o", "p1", ci.VisibilityPrivate), mustProject(t, s, "o", "p2", ci.VisibilityPrivate)
	r := &ci.Runner{Description: "builder", RunnerType: ci.RunnerProject, ProjectIDs: []int64{p2.ID, p1.ID},
		Tags: []string{"docker", "linux"}, RunUntagged: false, Locked: true, MaximumTimeout: 7200,
		MaintenanceNote: "note", CreatedAt: base, CreatedByID: 3, TokenPrefix: "glrt-abc"}
	must(t, s.CreateRunner(ctx, r, digest("r1")), "create")
	if r.ID == 0 || r.AccessLevel != "not_protected" {
		t.Fatalf("after create: id %d access %q", r.ID, r.AccessLevel)
	}
	want := *r
	want.ProjectIDs = []int64{p1.ID, p2.ID} // by project id
	for _, lookup := range []struct {
		name string
		get  func() (*ci.Runner, error)
	}{
		{"by id", func() (*ci.Runner, error) { return s.RunnerByID(ctx, r.ID) }},
		{"by token", func() (*ci.Runner, error) { return s.RunnerByTokenDigest(ctx, digest("r1")) }},
	} {
		got, err := lookup.get()
		must(t, err, lookup.name)
		sameRunner(t, lookup.name, got, &want)
	}
	m, err := s.RunnersByIDs(ctx, []int64{r.ID, r.ID + 100})
	must(t, err, "by ids")
	if len(m) != 1 || m[r.ID] == nil || m[r.ID].Description != "builder" || !slices.Equal(m[r.ID].Tags, r.Tags) ||
		m[r.ID].ProjectIDs != nil {
		t.Errorf("RunnersByIDs = %v", m)
	}
	_, err = s.RunnerByID(ctx, r.ID+100)
	wantErr(t, err, store.ErrNotFound, "missing id")
	_, err = s.RunnerByTokenDigest(ctx, digest("nope"))
	wantErr(t, err, store.ErrNotFound, "missing token")
	err = s.CreateRunner(ctx, &ci.Runner{RunnerType: ci.RunnerInstance}, digest("r1"))
	wantErr(t, err, store.ErrConflict, "duplicate token")
	// A runner assigned to a missing project is not created at all.
	bad := &ci.Runner{RunnerType: ci.RunnerProject, ProjectIDs: []int64{p2.ID + 100}}
	if err := s.CreateRunner(ctx, bad, digest("bad")); err == nil {
		t.Errorf("runner with a missing project was created")
	}
	_, err = s.RunnerByTokenDigest(ctx, digest("bad"))
	wantErr(t, err, store.ErrNotFound, "half-created runner")
}

func sameRunner(t *testing.T, what string, got, want *ci.Runner) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) {
		t.Errorf("%s: created %v, want %v", what, g.CreatedAt, w.CreatedAt)
	}
	sameTime(t, what+" contacted_at", g.ContactedAt, w.ContactedAt)
	if !slices.Equal(g.ProjectIDs, w.ProjectIDs) || !slices.Equal(g.Tags, w.Tags) {
		t.Errorf("%s: projects %v tags %v, want %v %v", what, g.ProjectIDs, g.Tags, w.ProjectIDs, w.Tags)
	}
	g.CreatedAt, g.ContactedAt, g.ProjectIDs, g.Tags = time.Time{}, nil, nil, nil
	w.CreatedAt, w.ContactedAt, w.ProjectIDs, w.Tags = time.Time{}, nil, nil, nil
	if g.TokenExpiresAt != nil || g.ID != w.ID || g.Description != w.Description || g.RunnerType != w.RunnerType ||
		g.RunUntagged != w.RunUntagged || g.Paused != w.Paused || g.Locked != w.Locked || g.AccessLevel != w.AccessLevel ||
		g.MaximumTimeout != w.MaximumTimeout || g.MaintenanceNote != w.MaintenanceNote || g.CreatedByID != w.CreatedByID ||
		g.TokenPrefix != w.TokenPrefix {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func testRunnerList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	owner, dev := mustUser(t, s, "owner"), mustUser(t, s, "dev")
	p1, p2 := mustProject(t, s, "o", "p1", ci.VisibilityPrivate), mustProject(t, s, "o", "p2", ci.VisibilityPrivate)
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: p1.ID, UserID: owner.ID, AccessLevel: ci.Maintainer}), "member")
	must(t, s.SetMember(ctx, &ci.Member{ProjectID: p2.ID, UserID: dev.ID, AccessLevel: ci.Developer}), "member")
	mk := func(typ string, tags []string, paused bool, createdBy int64, projects ...int64) *ci.Runner {
		t.Helper()
		r := &ci.Runner{RunnerType: typ, Tags: tags, Paused: paused, CreatedByID: createdBy, ProjectIDs: projects, RunUntagged: true}
		must(t, s.CreateRunner(ctx, r, digest("list-%d", runnerSeq.Add(1))), "create")
		return r
	}
	shared := mk(ci.RunnerInstance, []string{"docker", "linux"}, false, 0)
	pausedShared := mk(ci.RunnerInstance, []string{"docker"}, true, 0)
	r1 := mk(ci.RunnerProject, []string{"linux", "gpu"}, false, 0, p1.ID)
	r2 := mk(ci.RunnerProject, nil, false, dev.ID, p2.ID)
	r12 := mk(ci.RunnerProject, []string{"docker_x"}, true, 0, p1.ID, p2.ID)
	group := mk(ci.RunnerGroup, []string{"dockerd"}, false, 0)
	ids := func(rs ...*ci.Runner) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.RunnerFilter
		want []int64
	}{
		{"all", store.RunnerFilter{}, ids(shared, pausedShared, r1, r2, r12, group)},
		{"project p1: shared and assigned", store.RunnerFilter{ProjectID: p1.ID}, ids(shared, pausedShared, r1, r12)},
		{"project p2", store.RunnerFilter{ProjectID: p2.ID, Type: ci.RunnerProject}, ids(r2, r12)},
		{"owned by maintainer", store.RunnerFilter{OwnedBy: owner.ID}, ids(r1, r12)},
		{"owned by creator (developer elsewhere)", store.RunnerFilter{OwnedBy: dev.ID}, ids(r2)},
		{"type", store.RunnerFilter{Type: ci.RunnerInstance}, ids(shared, pausedShared)},
		{"paused", store.RunnerFilter{Paused: ptr(true)}, ids(pausedShared, r12)},
		{"active", store.RunnerFilter{Paused: ptr(false)}, ids(shared, r1, r2, group)},
		{"tag", store.RunnerFilter{TagList: []string{"docker"}}, ids(shared, pausedShared)},
		{"tags all required", store.RunnerFilter{TagList: []string{"linux", "docker"}}, ids(shared)},
		{"tag unknown", store.RunnerFilter{TagList: []string{"arm"}}, nil},
		{"paged", store.RunnerFilter{Limit: 2, Offset: 1}, ids(pausedShared, r1)},
		{"combined", store.RunnerFilter{ProjectID: p1.ID, Paused: ptr(false), TagList: []string{"linux"}}, ids(shared, r1)},
	} {
		rs, err := s.ListRunners(ctx, tc.f)
		must(t, err, tc.name)
		got := make([]int64, 0, len(rs))
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if tc.want == nil {
			tc.want = []int64{}
		}
		sameIDs(t, tc.name, got, tc.want)
		for _, r := range rs {
			if r.ID == r12.ID && !slices.Equal(r.ProjectIDs, []int64{p1.ID, p2.ID}) {
				t.Errorf("%s: runner projects %v", tc.name, r.ProjectIDs)
			}
		}
	}
}

func testRunnerUpdate(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	p1, p2 := mustProject(t, s, "o", "p1", ci.VisibilityPrivate), mustProject(t, s, "o", "p2", ci.VisibilityPrivate)
	r := mustRunner(t, s, ci.RunnerProject, p1.ID)
	r.Description, r.Tags, r.RunUntagged, r.Paused, r.Locked = "renamed", []string{"arm64"}, false, true, true
	r.AccessLevel, r.MaximumTimeout, r.MaintenanceNote, r.ProjectIDs = "ref_protected", 60, "m", []int64{p2.ID}
	must(t, s.UpdateRunner(ctx, r), "update")
	got, err := s.RunnerByID(ctx, r.ID)
	must(t, err, "get")
	sameRunner(t, "after update", got, r)
	r.ProjectIDs = nil
	must(t, s.UpdateRunner(ctx, r), "unassign")
	got, err = s.RunnerByID(ctx, r.ID)
	must(t, err, "get")
	if len(got.ProjectIDs) != 0 {
		t.Errorf("projects after unassign = %v", got.ProjectIDs)
	}

	must(t, s.SetRunnerToken(ctx, r.ID, digest("new"), "glrt-new"), "token")
	got, err = s.RunnerByTokenDigest(ctx, digest("new"))
	must(t, err, "by new token")
	if got.ID != r.ID || got.TokenPrefix != "glrt-new" {
		t.Errorf("by new token: %+v", got)
	}
	other := mustRunner(t, s, ci.RunnerInstance)
	wantErr(t, s.SetRunnerToken(ctx, other.ID, digest("new"), ""), store.ErrConflict, "taken token")

	at := base.Add(time.Hour)
	must(t, s.TouchRunner(ctx, r.ID, at), "touch")
	got, err = s.RunnerByID(ctx, r.ID)
	must(t, err, "get")
	sameTime(t, "contacted_at", got.ContactedAt, &at)

	must(t, s.UpsertRunnerManager(ctx, &ci.RunnerManager{RunnerID: r.ID, SystemID: "s_1"}), "manager")
	must(t, s.DeleteRunner(ctx, r.ID), "delete")
	_, err = s.RunnerByID(ctx, r.ID)
	wantErr(t, err, store.ErrNotFound, "deleted")
	ms, err := s.ListRunnerManagers(ctx, r.ID)
	must(t, err, "managers")
	if len(ms) != 0 {
		t.Errorf("managers of deleted runner: %d", len(ms))
	}
	wantErr(t, s.DeleteRunner(ctx, r.ID), store.ErrNotFound, "delete twice")
	if _, err := s.RunnerByID(ctx, other.ID); err != nil {
		t.Errorf("other runner: %v", err)
	}
}

func testRunnerManagers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	r, r2 := mustRunner(t, s, ci.RunnerInstance), mustRunner(t, s, ci.RunnerInstance)
	seen := base.Add(time.Minute)
	m1 := &ci.RunnerManager{RunnerID: r.ID, SystemID: "s_abc", Version: "17.0.0", Revision: "aaa", Platform: "linux",
		Architecture: "amd64", IPAddress: "10.0.0.1", Features: map[string]bool{"trace_checksum": true, "cancelable": false},
		ContactedAt: &seen}
	must(t, s.UpsertRunnerManager(ctx, m1), "upsert")
	if m1.ID == 0 || m1.CreatedAt.IsZero() {
		t.Fatalf("after upsert: id %d created %v", m1.ID, m1.CreatedAt)
	}
	created := m1.CreatedAt

	// The same system_id refreshes the row in place.
	again := &ci.RunnerManager{RunnerID: r.ID, SystemID: "s_abc", Version: "17.1.0", Revision: "bbb", Platform: "linux",
		Architecture: "arm64", IPAddress: "10.0.0.2"}
	must(t, s.UpsertRunnerManager(ctx, again), "upsert again")
	if again.ID != m1.ID || !again.CreatedAt.Equal(created) || again.ContactedAt == nil {
		t.Errorf("re-upsert: id %d created %v contacted %v, want id %d created %v", again.ID, again.CreatedAt,
			again.ContactedAt, m1.ID, created)
	}
	m2 := &ci.RunnerManager{RunnerID: r.ID, SystemID: "s_def"}
	must(t, s.UpsertRunnerManager(ctx, m2), "second manager")
	// The same system_id under another runner is another manager.
	m3 := &ci.RunnerManager{RunnerID: r2.ID, SystemID: "s_abc"}
	must(t, s.UpsertRunnerManager(ctx, m3), "other runner's manager")
	if len(map[int64]bool{m1.ID: true, m2.ID: true, m3.ID: true}) != 3 {
		t.Errorf("manager ids %d %d %d are not distinct", m1.ID, m2.ID, m3.ID)
	}

	ms, err := s.ListRunnerManagers(ctx, r.ID)
	must(t, err, "list")
	if len(ms) != 2 || ms[0].ID != m1.ID || ms[1].ID != m2.ID {
		t.Fatalf("managers = %+v", ms)
	}
	g := ms[0]
	if g.Version != "17.1.0" || g.Revision != "bbb" || g.Architecture != "arm64" || g.IPAddress != "10.0.0.2" ||
		len(g.Features) != 0 || !g.CreatedAt.Equal(created) {
		t.Errorf("refreshed manager = %+v", g)
	}
	sameTime(t, "contacted_at", g.ContactedAt, ptr(again.ContactedAt.Truncate(time.Microsecond)))

	m1.ContactedAt = nil
	must(t, s.UpsertRunnerManager(ctx, m1), "restore features")
	byID, err := s.RunnerManagersByIDs(ctx, []int64{m1.ID, m3.ID, m3.ID + 100})
	must(t, err, "by ids")
	if len(byID) != 2 || !maps.Equal(byID[m1.ID].Features, m1.Features) || byID[m3.ID].RunnerID != r2.ID {
		t.Errorf("managers by id = %v", byID)
	}

	must(t, s.DeleteRunnerManager(ctx, r.ID, "s_abc"), "delete")
	wantErr(t, s.DeleteRunnerManager(ctx, r.ID, "s_abc"), store.ErrNotFound, "delete twice")
	ms, err = s.ListRunnerManagers(ctx, r.ID)
	must(t, err, "list")
	if len(ms) != 1 || ms[0].ID != m2.ID {
		t.Errorf("managers after delete = %+v", ms)
	}
	if ms, _ := s.ListRunnerManagers(ctx, r2.ID); len(ms) != 1 {
		t.Errorf("other runner's managers = %+v", ms)
	}
}

func testLockLease(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := time.Now()
	for _, step := range []struct {
		name, lock, owner string
		until             time.Time
		want              bool
	}{
		{"free lease is taken", "sweep", "a", now.Add(time.Minute), true},
		{"refused to another owner", "sweep", "b", now.Add(time.Minute), false},
		{"renewed by its owner", "sweep", "a", now.Add(2 * time.Minute), true},
		{"still refused after renewal", "sweep", "b", now.Add(3 * time.Minute), false},
		{"locks are independent", "expire", "b", now.Add(time.Minute), true},
		{"lease taken already expired", "gc", "a", now.Add(-time.Second), true},
		{"expired lease is taken over", "gc", "b", now.Add(time.Minute), true},
		{"old owner refused after takeover", "gc", "a", now.Add(time.Minute), false},
		{"owner may shorten its lease", "expire", "b", now.Add(-time.Second), true},
		{"shortened lease is free", "expire", "c", now.Add(time.Minute), true},
	} {
		got, err := s.TryLock(ctx, step.lock, step.owner, step.until)
		must(t, err, step.name)
		if got != step.want {
			t.Errorf("%s: TryLock(%s, %s) = %v, want %v", step.name, step.lock, step.owner, got, step.want)
		}
	}
}

func testLockConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const n = 20
	won := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	until := time.Now().Add(time.Minute)
	for i := range n {
		wg.Go(func() {
			won[i], errs[i] = s.TryLock(ctx, "leader", string(rune('a'+i)), until)
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		must(t, errs[i], "lock")
		if won[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d owners hold the lease, want 1", winners)
	}
}
