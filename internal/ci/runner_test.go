package ci_test

import (
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
)

func TestRunnerStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	week := ci.RunnerStaleTimeout
	tests := []struct {
		name       string
		created    time.Duration // before now
		contacted  *time.Time
		paused     bool
		want       string
		wantOnline bool
	}{
		{"online", week * 2, ago(time.Minute), false, ci.RunnerOnline, true},
		{"offline at exactly two hours", week * 2, ago(ci.RunnerOnlineTimeout), false, ci.RunnerOffline, false},
		{"offline at a week", week * 2, ago(week), false, ci.RunnerOffline, false},
		{"stale after a week silent", week * 2, ago(week + time.Second), false, ci.RunnerStale, false},
		{"never contacted", time.Hour, nil, false, ci.RunnerNeverContacted, false},
		{"never contacted and old is stale", week + time.Second, nil, false, ci.RunnerStale, false},
		{"paused wins but stays online", week, ago(time.Minute), true, ci.RunnerPaused, true},
		{"paused and silent", week * 2, nil, true, ci.RunnerPaused, false},
	}
	for _, tt := range tests {
		r := &ci.Runner{CreatedAt: now.Add(-tt.created), ContactedAt: tt.contacted, Paused: tt.paused}
		got, online := r.Status(now)
		if got != tt.want || online != tt.wantOnline {
			t.Errorf("%s: Status = %s, %v; want %s, %v", tt.name, got, online, tt.want, tt.wantOnline)
		}
		// A manager has the same clock rules and is never paused.
		m := &ci.RunnerManager{CreatedAt: r.CreatedAt, ContactedAt: r.ContactedAt}
		unpaused := *r
		unpaused.Paused = false
		if want, _ := unpaused.Status(now); m.Status(now) != want {
			t.Errorf("%s: manager Status = %s, want %s", tt.name, m.Status(now), want)
		}
	}
}

func TestRunnerMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		runner    ci.Runner
		tags      []string
		protected bool
		want      bool
		wantAsked bool
	}{
		{"untagged job, run_untagged", ci.Runner{RunUntagged: true}, nil, false, true, false},
		{"untagged job refused", ci.Runner{Tags: []string{"a"}}, nil, false, false, false},
		{"job tags are runner tags", ci.Runner{Tags: []string{"a", "b"}}, []string{"b"}, false, true, false},
		{"a missing tag", ci.Runner{Tags: []string{"a"}, RunUntagged: true}, []string{"a", "c"}, false, false, false},
		{"ref_protected, unprotected ref", ci.Runner{RunUntagged: true, AccessLevel: ci.RunnerRefProtected}, nil, false, false, true},
		{"ref_protected, protected ref", ci.Runner{RunUntagged: true, AccessLevel: ci.RunnerRefProtected}, nil, true, true, true},
		{"tags checked before protection", ci.Runner{AccessLevel: ci.RunnerRefProtected}, nil, true, false, false},
		{"not_protected never asks", ci.Runner{RunUntagged: true, AccessLevel: ci.RunnerNotProtected}, nil, false, true, false},
	}
	for _, tt := range tests {
		asked := false
		got := tt.runner.Matches(&ci.Job{Tags: tt.tags}, func() bool { asked = true; return tt.protected })
		if got != tt.want || asked != tt.wantAsked {
			t.Errorf("%s: Matches = %v (asked %v), want %v (asked %v)", tt.name, got, asked, tt.want, tt.wantAsked)
		}
	}
}

func TestRunnerEffectiveTimeout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ base, max, want int }{
		{3600, 0, 3600}, {3600, 1800, 1800}, {1800, 3600, 1800}, {0, 900, 900}, {0, 0, 0},
	} {
		if got := (&ci.Runner{MaximumTimeout: tt.max}).EffectiveTimeout(tt.base); got != tt.want {
			t.Errorf("EffectiveTimeout(%d) with maximum %d = %d, want %d", tt.base, tt.max, got, tt.want)
		}
	}
}

func TestRunnerValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", ci.RunnerNoteMax+1)
	tests := []struct {
		name     string
		runner   ci.Runner
		sentence string
		byAttr   map[string][]string
	}{
		{"valid", ci.Runner{RunUntagged: true, MaximumTimeout: ci.RunnerMinTimeout,
			MaintenanceNote: strings.Repeat("é", ci.RunnerNoteMax)}, "", map[string][]string{}},
		{"one", ci.Runner{Tags: []string{"a"}, MaximumTimeout: 60},
			"Maximum timeout needs to be at least 10 minutes",
			map[string][]string{"maximum_timeout": {"needs to be at least 10 minutes"}}},
		{"two", ci.Runner{MaximumTimeout: 60},
			"Maximum timeout needs to be at least 10 minutes and Tags list can not be empty when runner is not allowed to pick untagged jobs",
			map[string][]string{"maximum_timeout": {"needs to be at least 10 minutes"},
				"tags_list": {"can not be empty when runner is not allowed to pick untagged jobs"}}},
		{"three", ci.Runner{MaximumTimeout: 1, MaintenanceNote: long},
			"Maximum timeout needs to be at least 10 minutes, Tags list can not be empty when runner is not allowed to pick untagged jobs, and Maintenance note is too long (maximum is 1024 characters)",
			map[string][]string{"maximum_timeout": {"needs to be at least 10 minutes"},
				"tags_list":        {"can not be empty when runner is not allowed to pick untagged jobs"},
				"maintenance_note": {"is too long (maximum is 1024 characters)"}}},
	}
	for _, tt := range tests {
		errs := tt.runner.Validate()
		if got := errs.Sentence(); got != tt.sentence {
			t.Errorf("%s: Sentence = %q, want %q", tt.name, got, tt.sentence)
		}
		if got := errs.ByAttr(); !reflect.DeepEqual(got, tt.byAttr) {
			t.Errorf("%s: ByAttr = %v, want %v", tt.name, got, tt.byAttr)
		}
	}
}

func TestParseRunnerSettings(t *testing.T) {
	t.Parallel()
	base := ci.Runner{Description: "keep", RunUntagged: true, Locked: true, AccessLevel: ci.RunnerNotProtected,
		MaximumTimeout: 3600, Tags: []string{"old"}}
	tests := []struct {
		name    string
		query   string
		active  bool
		want    func(r *ci.Runner)
		wantErr string
	}{
		{name: "nothing changes nothing", query: "", want: func(*ci.Runner) {}},
		{name: "every setting", query: "description=d&paused=true&tag_list=b,+a,b&tag_list=c&run_untagged=false" +
			"&locked=no&access_level=ref_protected&maximum_timeout=700&maintenance_note=n",
			want: func(r *ci.Runner) {
				r.Description, r.Paused, r.Tags, r.RunUntagged, r.Locked = "d", true, []string{"a", "b", "c"}, false, false
				r.AccessLevel, r.MaximumTimeout, r.MaintenanceNote = ci.RunnerRefProtected, 700, "n"
			}},
		{name: "blank maximum_timeout clears it", query: "maximum_timeout=+", want: func(r *ci.Runner) { r.MaximumTimeout = 0 }},
		{name: "empty tag_list clears tags", query: "tag_list=", want: func(r *ci.Runner) { r.Tags = []string{} }},
		{name: "active ignored unless asked", query: "active=false", want: func(*ci.Runner) {}},
		{name: "active is !paused", query: "active=false", active: true, want: func(r *ci.Runner) { r.Paused = true }},
		{name: "paused wins over active", query: "active=false&paused=false", active: true, want: func(*ci.Runner) {}},
		{name: "bad access level", query: "access_level=everyone", wantErr: "access_level does not have a valid value"},
		{name: "bad boolean", query: "locked=maybe", wantErr: "locked is invalid"},
		{name: "bad integer", query: "maximum_timeout=ten", wantErr: "maximum_timeout is invalid"},
	}
	for _, tt := range tests {
		p, err := httpx.ParseParams(httptest.NewRequest("GET", "/?"+tt.query, nil))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := ci.ParseRunnerSettings(p, tt.active)
		if tt.wantErr != "" {
			var e *ci.Error
			if err == nil || !errors.As(err, &e) || e.Code != ci.EInvalid || e.Message != tt.wantErr {
				t.Errorf("%s: err = %v, want invalid %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		got, want := base, base
		got.Tags, want.Tags = append([]string(nil), base.Tags...), append([]string(nil), base.Tags...)
		rs.Apply(&got)
		tt.want(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, want)
		}
	}
}

func TestLatestManager(t *testing.T) {
	t.Parallel()
	at := func(h int) *time.Time { x := time.Date(2025, 1, 1, h, 0, 0, 0, time.UTC); return &x }
	never, early, late := &ci.RunnerManager{ID: 1}, &ci.RunnerManager{ID: 2, ContactedAt: at(1)}, &ci.RunnerManager{ID: 3, ContactedAt: at(2)}
	for _, tt := range []struct {
		ms   []*ci.RunnerManager
		want *ci.RunnerManager
	}{
		{nil, nil},
		{[]*ci.RunnerManager{never}, never},
		{[]*ci.RunnerManager{never, early}, early},
		{[]*ci.RunnerManager{late, never, early}, late},
		{[]*ci.RunnerManager{early, late}, late},
	} {
		if got := ci.LatestManager(tt.ms); got != tt.want {
			t.Errorf("LatestManager(%v) = %v, want %v", tt.ms, got, tt.want)
		}
	}
}

// A runner's status changes by time alone when it goes offline two hours
// after its last contact and stale a week after; never-contacted runners
// go stale a week after registration.
func TestRunnerStatusChangesAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tt := range []struct {
		name      string
		contacted *time.Time
		created   time.Time
		want      time.Time
	}{
		{"online: goes offline", at(-time.Hour), now.Add(-30 * 24 * time.Hour), now.Add(time.Hour)},
		{"offline: goes stale", at(-3 * time.Hour), now.Add(-30 * 24 * time.Hour), now.Add(ci.RunnerStaleTimeout - 3*time.Hour + time.Nanosecond)},
		{"stale: stays", at(-8 * 24 * time.Hour), now.Add(-30 * 24 * time.Hour), time.Time{}},
		{"never contacted: goes stale", nil, now.Add(-24 * time.Hour), now.Add(ci.RunnerStaleTimeout - 24*time.Hour + time.Nanosecond)},
	} {
		r := &ci.Runner{ContactedAt: tt.contacted, CreatedAt: tt.created}
		got := r.StatusChangesAt(now)
		if !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			continue
		}
		if !got.IsZero() {
			before, _ := r.Status(got.Add(-time.Nanosecond))
			after, _ := r.Status(got)
			if before == after {
				t.Errorf("%s: status %s at both sides of %v", tt.name, before, got)
			}
		}
	}
}
