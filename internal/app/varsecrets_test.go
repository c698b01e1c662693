package app_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/app"
)

// TestVariableListsEncryptedAtRest: pipeline variables given to the API or
// a trigger and job variables given at play are stored encrypted, on both
// databases: the raw rows hold no value in plaintext and the API reads
// them back. Lists stored in plaintext before are encrypted on start; a
// wrong or lost key stops the start.
func TestVariableListsEncryptedAtRest(t *testing.T) { forEachDB(t, testVariableListsEncryptedAtRest) }

func testVariableListsEncryptedAtRest(t *testing.T, o serverOpts) {
	cfg := app.Config{DataDir: filepath.Join(t.TempDir(), "data"), LongPoll: 2 * time.Second,
		SweepInterval: 200 * time.Millisecond, MaxTraceSize: 1 << 20, MaxArtifact: 10 << 20, DatabaseURL: o.db.URL(t)}
	url, stop, err := runUntilReady(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { stop() }()
	s := &server{t: t, URL: url, Data: cfg.DataDir, DB: cfg.DatabaseURL}
	pid := s.project("vault", "private")
	s.push("root/vault", map[string]string{".gitlab-ci.yml": "build:\n  script: [echo]\ndeploy:\n  script: [echo]\n  when: manual\n"})
	secrets := map[string]string{"PIPE_SECRET": "pipe-s3cret-9f1c", "TRIG_SECRET": "trig-s3cret-77ab", "PLAY_SECRET": "play-s3cret-0d2e"}
	p := fmt.Sprintf("/api/v4/projects/%d", pid)

	var api struct{ ID int64 }
	s.must(201, "POST", p+"/pipeline", rootToken, map[string]any{"ref": "main",
		"variables": []map[string]string{{"key": "PIPE_SECRET", "value": secrets["PIPE_SECRET"]}}}).json(t, &api)
	var trig struct{ Token string }
	s.must(201, "POST", p+"/triggers", rootToken, map[string]any{"description": "t"}).json(t, &trig)
	var trigPl struct{ ID int64 }
	s.must(201, "POST", p+"/trigger/pipeline", "", "token="+trig.Token+"&ref=main&variables[TRIG_SECRET]="+secrets["TRIG_SECRET"]).json(t, &trigPl)
	var jobs []map[string]any
	s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/jobs?scope=manual", p, api.ID), rootToken, nil).json(t, &jobs)
	if len(jobs) != 1 {
		t.Fatalf("manual jobs: %v", jobs)
	}
	s.must(200, "POST", fmt.Sprintf("%s/jobs/%v/play", p, jobs[0]["id"]), rootToken, map[string]any{
		"job_variables_attributes": []map[string]string{{"key": "PLAY_SECRET", "value": secrets["PLAY_SECRET"]}}})

	// The API reads every value back.
	for id, key := range map[int64]string{api.ID: "PIPE_SECRET", trigPl.ID: "TRIG_SECRET"} {
		body := string(s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/variables", p, id), rootToken, nil).Body)
		if !strings.Contains(body, secrets[key]) {
			t.Errorf("pipeline %d variables: %s", id, body)
		}
	}
	var job map[string]any
	s.must(200, "GET", fmt.Sprintf("%s/jobs/%v", p, jobs[0]["id"]), rootToken, nil).json(t, &job)
	if job["status"] != "pending" {
		t.Errorf("played job: %v", job["status"])
	}

	// The raw rows hold none of them.
	driver, dsn := "sqlite", "file:"+filepath.Join(s.Data, "gantry.db")
	if s.DB != "" {
		driver, dsn = "pgx", s.DB
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := countSealed(t, db, secrets); n != 3 {
		t.Errorf("%d encrypted variable lists, want 3", n)
	}

	// A lost or wrong key stops the start, never answers garbage.
	stop()
	stop = func() {}
	checkKeyRefused(t, cfg, cfg.DataDir+"-secrets.key")

	// Rows written in plaintext (before encryption) are encrypted on start.
	const legacy = `[{"key":"OLD_SECRET","value":"old-s3cret-5e5e"}]`
	secrets["OLD_SECRET"] = "old-s3cret-5e5e"
	if _, err := db.Exec(`UPDATE pipelines SET variables = '` + legacy + `' WHERE id = ` + fmt.Sprint(trigPl.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE jobs SET job_variables = '` + legacy + `' WHERE id = ` + fmt.Sprint(jobs[0]["id"])); err != nil {
		t.Fatal(err)
	}
	if url, stop, err = runUntilReady(t, cfg); err != nil {
		t.Fatal(err)
	}
	s.URL = url
	if n := countSealed(t, db, secrets); n != 3 {
		t.Errorf("after restart: %d encrypted variable lists, want 3", n)
	}
	body := string(s.must(200, "GET", fmt.Sprintf("%s/pipelines/%d/variables", p, trigPl.ID), rootToken, nil).Body)
	if !strings.Contains(body, secrets["OLD_SECRET"]) {
		t.Errorf("legacy pipeline variables after restart: %s", body)
	}
}

// countSealed counts the encrypted variable lists and fails on any row
// holding a key or value of secrets in plaintext.
func countSealed(t *testing.T, db *sql.DB, secrets map[string]string) int {
	t.Helper()
	sealed := 0
	for _, q := range []string{`SELECT variables FROM pipelines`, `SELECT job_variables FROM jobs`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			for k, secret := range secrets {
				if strings.Contains(v, secret) || strings.Contains(v, k) {
					t.Errorf("%s: a row holds %s in plaintext: %q", q, k, v)
				}
			}
			if strings.HasPrefix(v, "sealed:") {
				sealed++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return sealed
}
