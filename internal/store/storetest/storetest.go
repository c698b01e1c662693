// Package storetest is the one conformance suite for store.Store. Every
// database Gantry supports runs the same tests through Run, so SQLite and
// PostgreSQL cannot drift apart:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// Each subtest runs in parallel on its own fresh database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store"
)

// test is one named subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the whole suite. open must return a fresh, empty, migrated store
// for each call and register its own cleanup (closing it, removing files)
// with t.Cleanup; it is called once per subtest, from parallel subtests.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	var all []test
	for _, group := range [][]test{
		userTests, projectTests, commitTests, pipelineTests, jobTests, claimTests,
		traceTests, artifactTests, runnerTests, lockTests, protectedTests, scheduleTests, refChangeTests,
	} {
		all = append(all, group...)
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// base is the reference time of the suite's fixtures: microsecond precision,
// since stores keep times in Unix microseconds.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

func ptr[T any](v T) *T { return &v }

func ctxOf(t *testing.T) context.Context { return t.Context() }

// must fails the test on err.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test unless errors.Is(err, want).
func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// sameTime fails the test unless got and want are the same instant (nil
// counts as a value).
func sameTime(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	case !got.Equal(*want):
		t.Errorf("%s = %v, want %v", what, *got, *want)
	}
}

func mustUser(t *testing.T, s store.Store, username string) *ci.User {
	t.Helper()
	u := &ci.User{Username: username, Name: username, Email: username + "@example.com", CreatedAt: base}
	must(t, s.CreateUser(ctxOf(t), u), "create user "+username)
	return u
}

func mustProject(t *testing.T, s store.Store, namespace, path, visibility string) *ci.Project {
	t.Helper()
	p := &ci.Project{Namespace: namespace, Path: path, Name: path, Visibility: visibility, CreatorID: 1,
		CreatedAt: base, PublicBuilds: true, CIConfigPath: ".gitlab-ci.yml"}
	must(t, s.CreateProject(ctxOf(t), p), "create project "+p.FullPath())
	return p
}

// newJob returns a build (or bridge) ready to be stored.
func newJob(name string, status ci.Status) *ci.Job {
	return &ci.Job{Kind: ci.KindBuild, Name: name, Stage: "test", StageIdx: 1, Status: status, Ref: "main",
		When: "on_success", CreatedAt: base}
}

func newBridge(name string, status ci.Status) *ci.Job {
	j := newJob(name, status)
	j.Kind = ci.KindBridge
	return j
}

// mustPipeline stores a pipeline of project on ref with jobs.
func mustPipeline(t *testing.T, s store.Store, projectID int64, ref string, jobs ...*ci.Job) *ci.Pipeline {
	t.Helper()
	p := &ci.Pipeline{ProjectID: projectID, Ref: ref, SHA: "0123456789abcdef0123456789abcdef01234567",
		BeforeSHA: "0000000000000000000000000000000000000000", Source: "push", Status: ci.StatusPending,
		CreatedAt: base}
	for _, j := range jobs {
		j.Ref = ref
	}
	must(t, s.CreatePipeline(ctxOf(t), p, jobs), "create pipeline")
	return p
}

func jobIDs(jobs []*ci.Job) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func pipelineIDs(ps []*ci.Pipeline) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: ids %v, want %v", what, got, want)
	}
}

// digest makes a token digest for fixtures.
func digest(format string, args ...any) string { return "sha256-" + fmt.Sprintf(format, args...) }
