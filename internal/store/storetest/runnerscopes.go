package storetest

import (
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// testRunnerScopes pins the list scopes, the version filter and the count:
// the API pages runner lists in SQL, so each scope must select exactly
// what ci.Runner.Status calls it at the same instant.
func testRunnerScopes(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := base.Add(30 * 24 * time.Hour)
	mk := func(typ string, created time.Time, contacted *time.Time, paused bool, tags ...string) *ci.Runner {
		t.Helper()
		r := &ci.Runner{RunnerType: typ, CreatedAt: created, Paused: paused, Tags: tags, RunUntagged: true}
		must(t, s.CreateRunner(ctx, r, digest("scope-%d", runnerSeq.Add(1))), "create")
		if contacted != nil {
			must(t, s.TouchRunner(ctx, r.ID, *contacted), "touch")
			r.ContactedAt = contacted
		}
		return r
	}
	recent := now.Add(-time.Hour)
	edge := now.Add(-ci.RunnerOnlineTimeout) // exactly two hours: offline
	old := now.Add(-8 * 24 * time.Hour)
	online := mk(ci.RunnerInstance, old, &recent, false, "a_c")
	offline := mk(ci.RunnerProject, old, &edge, false, "abc")
	fresh := mk(ci.RunnerGroup, now.Add(-time.Hour), nil, false)
	staleNever := mk(ci.RunnerProject, old, nil, true)
	staleGone := mk(ci.RunnerInstance, old.Add(-time.Hour), &old, false)
	pausedOnline := mk(ci.RunnerProject, old, &recent, true)
	for _, m := range []*ci.RunnerManager{
		{RunnerID: online.ID, SystemID: "s1", Version: "17.1.0"},
		{RunnerID: online.ID, SystemID: "s2", Version: "16.11.2"},
		{RunnerID: offline.ID, SystemID: "s1", Version: "17.10.1"},
		{RunnerID: staleGone.ID, SystemID: "s1", Version: "1701"},
	} {
		must(t, s.UpsertRunnerManager(ctx, m), "manager")
	}
	all := []*ci.Runner{online, offline, fresh, staleNever, staleGone, pausedOnline}
	// Every status scope agrees with Status at now (paused aside).
	for _, r := range all {
		unpaused := *r
		unpaused.Paused = false
		st, _ := unpaused.Status(now)
		rs, err := s.ListRunners(ctx, store.RunnerFilter{Scopes: []string{st}, Now: now})
		must(t, err, st)
		found := false
		for _, got := range rs {
			if got.ID == r.ID {
				found = true
			}
		}
		if !found {
			t.Errorf("runner %d has status %s but scope %s does not list it", r.ID, st, st)
		}
	}
	ids := func(rs ...*ci.Runner) []int64 {
		out := []int64{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.RunnerFilter
		want []int64
	}{
		{"online", store.RunnerFilter{Scopes: []string{ci.RunnerOnline}}, ids(online, pausedOnline)},
		{"offline", store.RunnerFilter{Scopes: []string{ci.RunnerOffline}}, ids(offline, staleGone)},
		{"never contacted", store.RunnerFilter{Scopes: []string{ci.RunnerNeverContacted}}, ids(fresh, staleNever)},
		{"stale", store.RunnerFilter{Scopes: []string{ci.RunnerStale}}, ids(staleNever, staleGone)},
		{"active", store.RunnerFilter{Scopes: []string{ci.RunnerActive}}, ids(online, offline, fresh, staleGone)},
		{"paused", store.RunnerFilter{Scopes: []string{ci.RunnerPaused}}, ids(staleNever, pausedOnline)},
		{"shared", store.RunnerFilter{Scopes: []string{ci.RunnerScopeShared}}, ids(online, staleGone)},
		{"specific", store.RunnerFilter{Scopes: []string{ci.RunnerScopeSpecific}},
			ids(offline, fresh, staleNever, pausedOnline)},
		{"type scope", store.RunnerFilter{Scopes: []string{ci.RunnerGroup}}, ids(fresh)},
		{"all and empty", store.RunnerFilter{Scopes: []string{"all", ""}}, ids(all...)},
		{"scopes combine", store.RunnerFilter{Scopes: []string{ci.RunnerScopeSpecific, ci.RunnerOnline}}, ids(pausedOnline)},
		{"version prefix", store.RunnerFilter{VersionPrefix: "17.1"}, ids(online, offline)},
		{"version prefix is no pattern", store.RunnerFilter{VersionPrefix: "17_0"}, nil},
		{"tag is no pattern", store.RunnerFilter{TagList: []string{"a_c"}}, ids(online)},
		{"paged", store.RunnerFilter{Scopes: []string{ci.RunnerScopeSpecific}, Limit: 2, Offset: 1},
			ids(fresh, staleNever)},
	} {
		tc.f.Now = now
		rs, err := s.ListRunners(ctx, tc.f)
		must(t, err, tc.name)
		sameIDs(t, tc.name, ids(rs...), tc.want)
		n, err := s.CountRunners(ctx, tc.f)
		must(t, err, tc.name+" count")
		unpaged := tc.f
		unpaged.Limit, unpaged.Offset = 0, 0
		rs, err = s.ListRunners(ctx, unpaged)
		must(t, err, tc.name+" unpaged")
		if n != len(rs) {
			t.Errorf("%s: CountRunners = %d, want %d", tc.name, n, len(rs))
		}
	}
}
