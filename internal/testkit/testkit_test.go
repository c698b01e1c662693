package testkit_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/testkit"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
)

// TestFixtures builds the fixtures on each database and reads them back.
func TestFixtures(t *testing.T) {
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
		e := testkit.NewEnv(t, db, testkit.Options{})
		u := e.User("ann", false)
		if tok := e.Token(u, ci.ScopeAPI); !strings.HasPrefix(tok, "glpat-") {
			t.Errorf("token %q", tok)
		}
		p := e.Project(nil)
		e.Member(p, u, ci.Developer)
		_, r := e.Runner(nil)
		pl := e.Pipeline(p, nil, testkit.Job("build", ciconfig.Job{Stage: "build"}), &ci.Job{Name: "test", StageIdx: 1, Status: ci.StatusCreated})
		jobs, err := e.Store.PipelineJobs(e.Ctx, pl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 2 || jobs[0].Name != "build" || jobs[0].Stage != "build" || jobs[0].Status != ci.StatusPending ||
			jobs[1].Stage != "test" || jobs[1].Status != ci.StatusCreated || !strings.Contains(string(jobs[1].Definition), `"echo test"`) {
			t.Errorf("jobs %+v", jobs)
		}
		if got := e.ReadJob(jobs[0].ID); got.PipelineID != pl.ID || got.Ref != "main" {
			t.Errorf("job %+v", got)
		}
		if lvl, err := e.Store.MemberAccess(e.Ctx, p.ID, u.ID); err != nil || lvl != ci.Developer {
			t.Errorf("member access %v %v", lvl, err)
		}
		if got, err := e.Store.RunnerByID(e.Ctx, r.ID); err != nil || got.RunnerType != ci.RunnerInstance || !got.RunUntagged {
			t.Errorf("runner %+v %v", got, err)
		}
		if db == testkit.Postgres && !pgtest.Enabled() {
			t.Error("PostgreSQL subtest ran without a server")
		}
	})
}

// TestPostgresRequiredUnderCI runs ForEachDB without a PostgreSQL server
// in a child process: the postgres subtest is skipped, unless CI=true
// where it fails.
func TestPostgresRequiredUnderCI(t *testing.T) {
	if os.Getenv("TESTKIT_CHILD") == "1" {
		testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {})
		return
	}
	t.Parallel()
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"true", true, "--- FAIL: TestPostgresRequiredUnderCI/postgres"},
		{"", false, "--- SKIP: TestPostgresRequiredUnderCI/postgres"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresRequiredUnderCI$", "-test.v")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, pgtest.EnvURL+"=") && !strings.HasPrefix(kv, "CI=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "TESTKIT_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantFail || !strings.Contains(string(out), tc.want) ||
			!strings.Contains(string(out), "--- PASS: TestPostgresRequiredUnderCI/sqlite") {
			t.Errorf("CI=%q: err %v, want failure %v and %q:\n%s", tc.ci, err, tc.wantFail, tc.want, out)
		}
	}
}
