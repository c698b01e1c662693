package app_test

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const pushConfig = `
job:
  script: echo "$SECRET"
`

// branchPush commits the CI config in a new work tree, makes n branches
// b00… of the commit and pushes them all at once with the push options.
func branchPush(s *server, project string, n int, opts ...string) {
	s.t.Helper()
	w := s.workTree()
	w.commit("ci", map[string]string{".gitlab-ci.yml": pushConfig})
	for i := range n {
		w.git("branch", fmt.Sprintf("b%02d", i))
	}
	args := []string{"push", "-q"}
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	w.git(append(args, w.remote(project), "refs/heads/b*:refs/heads/b*")...)
}

// pipelineRefs lists the refs of a project's pipelines, sorted.
func pipelineRefs(s *server, pid int64) []string {
	s.t.Helper()
	var refs []string
	for _, p := range s.pipelines(pid) {
		refs = append(refs, p["ref"].(string))
	}
	slices.Sort(refs)
	return refs
}

// TestPushPipelineLimit: a push of ten branches creates pipelines for the
// first four (GitLab's PIPELINE_PROCESS_LIMIT), the rest are accepted
// without one.
func TestPushPipelineLimit(t *testing.T) { forEachDB(t, testPushPipelineLimit) }

func testPushPipelineLimit(t *testing.T, o serverOpts) {
	s := startServer(t, o)
	pid := s.project("many", "private")
	branchPush(s, "root/many", 10)
	waitFor(t, "4 pipelines", 30*time.Second, func() bool { return len(s.pipelines(pid)) >= 4 })
	if got, want := pipelineRefs(s, pid), []string{"b00", "b01", "b02", "b03"}; !slices.Equal(got, want) {
		t.Errorf("pipelines of a 10-branch push: %v, want %v", got, want)
	}
	var branches []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/repository/branches?per_page=100", pid), rootToken, nil).json(t, &branches)
	if len(branches) != 10 {
		t.Errorf("branches = %d, want all 10 pushed", len(branches))
	}
}

// rawQuery reads one value from a coordinator's database behind its back:
// the SQLite file in dir, or the PostgreSQL database dsn.
func rawQuery(t *testing.T, dsn, dir, q string) string {
	t.Helper()
	driver, src := "pgx", dsn
	if dsn == "" {
		driver, src = "sqlite", filepath.Join(dir, "gantry.db")
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v any
	if err := db.QueryRowContext(t.Context(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// startCoordinator runs one coordinator process (see runChild) on cfg's
// database and data dir until the test ends; its log is shown if the
// test fails.
func startCoordinator(t *testing.T, cfg coordConfig) *coordinator {
	t.Helper()
	cl := &cluster{t: t, cfg: cfg}
	c, err := cl.start(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			cl.nodes = []*coordinator{c}
			cl.dumpLogs()
		}
	})
	return c
}

// TestPushSurvivesKill9: a coordinator process is killed with SIGKILL
// after it acknowledged a push of ten branches and before it created any
// pipeline (held by HoldPushPipelines). Restarted on the same data, it
// creates exactly one pipeline for each of the four ref changes owed one,
// with the push's ci.variable, which waited encrypted; killed and started
// once more, it creates none twice.
func TestPushSurvivesKill9(t *testing.T) { forEachDB(t, testPushSurvivesKill9) }

func testPushSurvivesKill9(t *testing.T, o serverOpts) {
	if testing.Short() {
		t.Skip("starts coordinator processes")
	}
	const secret = "s3cret-value-of-the-push"
	cfg := coordConfig{Database: o.db.URL(t), DataDir: t.TempDir(), LongPoll: time.Second,
		SweepInterval: 200 * time.Millisecond, HoldPushPipelines: true}
	c := startCoordinator(t, cfg)
	pid := c.project("crash", "private")
	branchPush(c.server, "root/crash", 10, "ci.variable=SECRET="+secret)

	// Acknowledged: the four changes are recorded, their push option
	// sealed, and no pipeline exists yet.
	if n := len(c.pipelines(pid)); n != 0 {
		t.Fatalf("held coordinator created %d pipelines", n)
	}
	if got := rawQuery(t, cfg.Database, cfg.DataDir, `SELECT COUNT(*) FROM ref_changes`); got != "4" {
		t.Fatalf("recorded ref changes = %s, want 4", got)
	}
	if got := rawQuery(t, cfg.Database, cfg.DataDir,
		`SELECT COUNT(*) FROM ref_changes WHERE options_encrypted AND push_options NOT LIKE '%`+secret+`%'`); got != "4" {
		t.Errorf("ref changes with sealed push options = %s, want 4", got)
	}
	c.kill()

	cfg.HoldPushPipelines = false
	c = startCoordinator(t, cfg)
	waitFor(t, "the pipelines owed", 60*time.Second, func() bool { return len(c.pipelines(pid)) >= 4 })
	want := []string{"b00", "b01", "b02", "b03"}
	if got := pipelineRefs(c.server, pid); !slices.Equal(got, want) {
		t.Fatalf("pipelines after restart: %v, want %v", got, want)
	}
	waitFor(t, "the ref changes to be taken", 30*time.Second, func() bool {
		return rawQuery(t, cfg.Database, cfg.DataDir, `SELECT COUNT(*) FROM ref_changes`) == "0"
	})
	for _, p := range c.pipelines(pid) {
		var vars []map[string]any
		c.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%v/variables", pid, p["id"]), rootToken, nil).json(t, &vars)
		if len(vars) != 1 || vars[0]["key"] != "SECRET" || vars[0]["value"] != secret {
			t.Errorf("pipeline %v (%v) variables = %v, want SECRET from the push option", p["id"], p["ref"], vars)
		}
	}
	c.kill()

	// Once more: nothing is owed, nothing is created twice.
	c = startCoordinator(t, cfg)
	c.must(200, "GET", "/api/v4/projects/"+fmt.Sprint(pid), rootToken, nil)
	time.Sleep(3 * cfg.SweepInterval) // a few sweeps, which would create anything still owed
	if got := pipelineRefs(c.server, pid); !slices.Equal(got, want) {
		t.Errorf("pipelines after a second restart: %v, want %v", got, want)
	}
	if out := strings.TrimSpace(rawQuery(t, cfg.Database, cfg.DataDir, `SELECT COUNT(*) FROM ref_changes`)); out != "0" {
		t.Errorf("ref changes left = %s", out)
	}
}

// TestPushOf300RefsKilledMidway: a coordinator is killed with SIGKILL while
// it turns a push of 300 branches into pipelines (once the first pipeline
// exists). Restarted, it has exactly the pipelines the push was owed: one
// each for the first four branches, none lost, none doubled, and every
// branch stored.
func TestPushOf300RefsKilledMidway(t *testing.T) { forEachDB(t, testPushOf300RefsKilledMidway) }

func testPushOf300RefsKilledMidway(t *testing.T, o serverOpts) {
	if testing.Short() {
		t.Skip("starts coordinator processes")
	}
	cfg := coordConfig{Database: o.db.URL(t), DataDir: t.TempDir(), LongPoll: time.Second, SweepInterval: 200 * time.Millisecond}
	c := startCoordinator(t, cfg)
	pid := c.project("crash", "private")
	w := c.workTree()
	w.commit("ci", map[string]string{".gitlab-ci.yml": pushConfig})
	for i := range 300 {
		w.git("branch", fmt.Sprintf("b%03d", i))
	}
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		// The kill may cut the push's answer short: its outcome is
		// judged by what the restarted coordinator holds.
		cmd := exec.Command("git", "push", "-q", w.remote("root/crash"), "refs/heads/b*:refs/heads/b*")
		cmd.Dir, cmd.Env = w.dir, append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		_ = cmd.Run()
	}()
	waitFor(t, "the first pipeline", 120*time.Second, func() bool {
		return rawQuery(t, cfg.Database, cfg.DataDir, `SELECT COUNT(*) FROM pipelines`) != "0"
	})
	c.kill()
	<-pushed

	c = startCoordinator(t, cfg)
	want := []string{"b000", "b001", "b002", "b003"}
	waitFor(t, "the pipelines owed", 60*time.Second, func() bool { return len(c.pipelines(pid)) >= len(want) })
	waitFor(t, "the ref changes to be taken", 30*time.Second, func() bool {
		return rawQuery(t, cfg.Database, cfg.DataDir, `SELECT COUNT(*) FROM ref_changes`) == "0"
	})
	if got := pipelineRefs(c.server, pid); !slices.Equal(got, want) {
		t.Errorf("pipelines after the restart: %v, want %v", got, want)
	}
	w.s = c.server // the restarted coordinator listens elsewhere
	if out := w.git("ls-remote", "--heads", w.remote("root/crash")); strings.Count(out, "refs/heads/b") != 300 {
		t.Errorf("branches stored = %d, want 300", strings.Count(out, "refs/heads/b"))
	}
}
