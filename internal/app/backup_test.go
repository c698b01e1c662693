package app_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/backup"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
)

// TestBackupRestore backs up an instance while its pipelines run, restores
// the archive into a second instance, and checks that the second answers
// as the first did: mid-run, every job the copy shows as finished is the
// same job with the same log; once the first is quiet, a second backup
// restores to an instance whose API answers are identical.
func TestBackupRestore(t *testing.T) { forEachDB(t, testBackupRestore) }

func testBackupRestore(t *testing.T, o serverOpts) {
	src := startServer(t, serverOpts{runners: 2, db: o.db})
	pid := src.project("demo", "private")
	config := `stages: [build, test]
build:
  stage: build
  script:
    - echo building
    - mkdir -p out && echo binary > out/app
  artifacts:
    paths: [out/]
slow:
  stage: build
  script:
    - echo slow start
    - sleep 6
    - echo slow end
test:
  stage: test
  script: [echo testing]
`
	src.push("root/demo", map[string]string{".gitlab-ci.yml": config})
	src.waitJob(pid, "build", "success")
	src.waitJob(pid, "slow", "running")

	// Mid-run: the backup is taken while "slow" runs.
	mid := takeBackup(t, src)
	src.waitJob(pid, "test", "success")
	dst := restoreBackup(t, src, mid)
	jobsPath := fmt.Sprintf("/api/v4/projects/%d/jobs?per_page=100", pid)
	var copied []map[string]any
	dst.must(200, "GET", jobsPath, rootToken, nil).json(t, &copied)
	if len(copied) == 0 {
		t.Fatal("restored instance has no jobs")
	}
	finished := 0
	for _, j := range copied {
		id := int64(j["id"].(float64))
		orig := src.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, id), rootToken, nil).obj(t)
		if j["name"] != orig["name"] || j["created_at"] != orig["created_at"] {
			t.Errorf("job %d: restored %v/%v, original %v/%v", id, j["name"], j["created_at"], orig["name"], orig["created_at"])
		}
		if j["status"] != "success" {
			continue
		}
		finished++
		for _, k := range []string{"status", "started_at", "finished_at", "duration"} {
			if j[k] != orig[k] {
				t.Errorf("job %d %s: restored %v, original %v", id, k, j[k], orig[k])
			}
		}
		tracePath := fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, id)
		if a, b := dst.must(200, "GET", tracePath, rootToken, nil).Body, src.must(200, "GET", tracePath, rootToken, nil).Body; !bytes.Equal(a, b) {
			t.Errorf("job %d log differs:\nrestored %q\noriginal %q", id, a, b)
		}
	}
	if finished == 0 {
		t.Errorf("no job was finished at backup time; statuses: %v", statuses(copied))
	}

	// Quiet: every answer of the copy equals the original's.
	waitFor(t, "pipeline to finish", 60*time.Second, func() bool {
		p := src.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/latest", pid), rootToken, nil).obj(t)
		return p["status"] == "success"
	})
	quiet := takeBackup(t, src)
	dst2 := restoreBackup(t, src, quiet)
	var jobs []map[string]any
	src.must(200, "GET", jobsPath, rootToken, nil).json(t, &jobs)
	paths := []string{
		fmt.Sprintf("/api/v4/projects/%d", pid),
		fmt.Sprintf("/api/v4/projects/%d/pipelines", pid),
		fmt.Sprintf("/api/v4/projects/%d/pipelines/latest", pid),
		jobsPath,
	}
	for _, j := range jobs {
		id := int64(j["id"].(float64))
		paths = append(paths, fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, id))
		if j["name"] == "build" {
			paths = append(paths, fmt.Sprintf("/api/v4/projects/%d/jobs/%d/artifacts/out/app", pid, id),
				fmt.Sprintf("/api/v4/projects/%d/jobs/%d/artifacts", pid, id))
		}
	}
	for _, p := range paths {
		a := withoutRunnerContact(src.must(200, "GET", p, rootToken, nil).Body)
		b := withoutRunnerContact(dst2.must(200, "GET", p, rootToken, nil).Body)
		if !bytes.Equal(a, bytes.ReplaceAll(b, []byte(dst2.URL), []byte(src.URL))) {
			t.Errorf("GET %s differs:\noriginal %s\nrestored %s", p, a, b)
		}
	}
	// The repository came along: a clone of the copy has the same head.
	if a, b := lsRemote(t, src), lsRemote(t, dst2); a != b || a == "" {
		t.Errorf("git ls-remote: original %q, restored %q", a, b)
	}
}

// runnerContact matches what changes while the original's embedded runner
// keeps polling after the backup (the copy has no runner): its contact
// time and the online status that follows from it.
var runnerContact = []*regexp.Regexp{
	regexp.MustCompile(`"contacted_at":("[^"]*"|null)`),
	regexp.MustCompile(`"online":(true|false)`),
	regexp.MustCompile(`"status":"(online|offline|stale|never_contacted)"`),
}

func withoutRunnerContact(b []byte) []byte {
	for _, re := range runnerContact {
		b = re.ReplaceAll(b, []byte(`"runner-contact":"-"`))
	}
	return b
}

func statuses(jobs []map[string]any) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, fmt.Sprint(j["name"], "=", j["status"]))
	}
	return out
}

func takeBackup(t *testing.T, s *server) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := backup.Create(t.Context(), backup.Instance{DataDir: s.Data, DatabaseURL: s.DB}, "test", &buf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	return buf.Bytes()
}

// restoreBackup restores an archive of src into a new data dir (and, on
// PostgreSQL, a new database holding the same schema) and starts a server
// on it.
func restoreBackup(t *testing.T, src *server, archive []byte) *server {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	db := ""
	if src.DB != "" {
		db = pgtest.NewDatabase(t) // empty: restore fills it
	}
	in := backup.Instance{DataDir: dir, DatabaseURL: db}
	if _, err := backup.Restore(t.Context(), in, bytes.NewReader(archive)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// A second restore onto the same place is refused: nothing is overwritten.
	if _, err := backup.Restore(t.Context(), in, bytes.NewReader(archive)); err == nil {
		t.Error("restore over a restored instance succeeded")
	}
	return startServer(t, serverOpts{dataDir: dir, dbURL: db})
}

func lsRemote(t *testing.T, s *server) string {
	t.Helper()
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/root/demo.git"
	out, err := exec.Command("git", "ls-remote", remote).CombinedOutput()
	if err != nil {
		t.Fatalf("git ls-remote: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
