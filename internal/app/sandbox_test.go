package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/app"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// TestJobCannotReachCoordinator runs, through the embedded runner, a job
// that tries what a hostile developer would: read the database, list the
// repositories, read the coordinator's environment and write outside its
// build dir. Every attempt must be refused, while its own dir stays usable.
func TestJobCannotReachCoordinator(t *testing.T) { forEachDB(t, testJobCannotReachCoordinator) }

func testJobCannotReachCoordinator(t *testing.T, o serverOpts) {
	o.runners = 1
	s := startServer(t, o)
	outside := t.TempDir()
	// Writable by anyone, so only the sandbox can keep a job out of it.
	if err := os.Chmod(outside, 0o777); err != nil {
		t.Fatal(err)
	}
	try := func(what, cmd string) string {
		return fmt.Sprintf(`    - if %s >/dev/null 2>&1; then echo "LEAK %s"; else echo "refused %s"; fi`, cmd, what, what)
	}
	data := s.Data
	lines := []string{
		try("db", fmt.Sprintf("head -c 16 %s/gantry.db", data)),
		try("datadir", fmt.Sprintf("ls %s", data)),
		try("repos", fmt.Sprintf("ls %s/repositories", data)),
		try("environ", fmt.Sprintf("cat /proc/%d/environ", os.Getpid())),
		try("coordinator-proc", fmt.Sprintf("test -e /proc/%d/status", os.Getpid())),
		try("write-outside", fmt.Sprintf("touch %s/escaped", outside)),
		try("write-data", fmt.Sprintf("touch %s/escaped", data)),
		`    - echo "uid=$(id -u)"`,
		`    - echo mine > "$CI_PROJECT_DIR/mine.txt" && cat "$CI_PROJECT_DIR/mine.txt"`,
	}
	ci := "probe:\n  script:\n" + strings.Join(lines, "\n") + "\n"
	pid := s.project("probe", "private")
	s.push("root/probe", map[string]string{".gitlab-ci.yml": ci})
	job := s.waitJob(pid, "probe", "success", "failed")
	trace := string(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/trace", pid, job["id"]), rootToken, nil).Body)
	if job["status"] != "success" {
		t.Fatalf("probe job %v:\n%s", job["status"], trace)
	}
	for _, what := range []string{"db", "datadir", "repos", "environ", "coordinator-proc", "write-outside", "write-data"} {
		if !strings.Contains(trace, "\nrefused "+what+"\n") {
			t.Errorf("job was not refused %s:\n%s", what, trace)
		}
	}
	if strings.Contains(trace, "\nuid=0\n") || !strings.Contains(trace, "\nuid=") {
		t.Errorf("job ran as uid 0 (or printed no uid):\n%s", trace)
	}
	if !strings.Contains(trace, "\nmine\n") {
		t.Errorf("job could not use its own build dir:\n%s", trace)
	}
	for _, p := range []string{filepath.Join(outside, "escaped"), filepath.Join(data, "escaped")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("job created %s", p)
		}
	}
}

// TestDataDirPermissions: the data dir is 0700, the database and blobs
// 0600, so other local users (and jobs under another uid) read nothing.
func TestDataDirPermissions(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{runners: 1})
	pid := s.project("perm", "private")
	s.push("root/perm", map[string]string{".gitlab-ci.yml": "build:\n  script: [mkdir out, echo x > out/a]\n  artifacts:\n    paths: [out/]\n"})
	s.waitJob(pid, "build", "success")
	fi, err := os.Stat(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %04o, want 0700", fi.Mode().Perm())
	}
	var files int
	err = filepath.Walk(s.Data, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Data, p)
		switch {
		case rel == "gantry.db" || strings.HasPrefix(rel, "blobs"+string(filepath.Separator)) && fi.Mode().IsRegular():
			files++
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %04o, want 0600", rel, fi.Mode().Perm())
			}
		case strings.HasPrefix(rel, "blobs") && fi.IsDir():
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("%s mode %04o, want 0700", rel, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Errorf("checked %d files; want the database and at least one blob", files)
	}
}

// runUntilReady starts app.Run with cfg and returns a stop function once
// it serves, or the error it returned before serving.
func runUntilReady(t *testing.T, cfg app.Config) (string, func(), error) {
	t.Helper()
	ready := make(chan string, 1)
	cfg.Ready, cfg.Listen, cfg.Log = ready, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.RootToken = rootToken
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	select {
	case addr := <-ready:
		return "http://" + addr, func() { cancel(); <-done }, nil
	case err := <-done:
		cancel()
		return "", nil, err
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server start timed out")
		return "", nil, nil
	}
}

// TestVariablesEncryptedAtRest: a variable's value is not in the database
// in plaintext, a job still gets it, and a wrong or missing key file stops
// the start with a message naming the file.
func TestVariablesEncryptedAtRest(t *testing.T) { forEachDB(t, testVariablesEncryptedAtRest) }

func testVariablesEncryptedAtRest(t *testing.T, o serverOpts) {
	const secret = "s3cr3t-value-0f-the-deploy-key"
	dir := t.TempDir()
	cfg := app.Config{DataDir: filepath.Join(dir, "data"), EmbeddedRunners: 1, LongPoll: 2 * time.Second,
		SweepInterval: 200 * time.Millisecond, MaxTraceSize: 1 << 20, MaxArtifact: 10 << 20}
	cfg.DatabaseURL = o.db.URL(t)
	url, stop, err := runUntilReady(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, URL: url, Data: cfg.DataDir}
	pid := s.project("vars", "private")
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/variables", pid), rootToken,
		map[string]any{"key": "DEPLOY_KEY", "value": secret})
	s.push("root/vars", map[string]string{".gitlab-ci.yml": "show:\n  script:\n    - 'echo \"len=${#DEPLOY_KEY} tail=${DEPLOY_KEY#s3cr3t-value-}\"'\n"})
	job := s.waitJob(pid, "show", "success", "failed")
	trace := string(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/trace", pid, job["id"]), rootToken, nil).Body)
	if want := fmt.Sprintf("len=%d tail=0f-the-deploy-key", len(secret)); !strings.Contains(trace, want) {
		t.Errorf("job did not get the decrypted variable (%q):\n%s", want, trace)
	}
	stop()

	key := cfg.DataDir + "-secrets.key"
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets key file %s: %v %v", key, fi, err)
	}
	if cfg.DatabaseURL == "" {
		for _, f := range []string{"gantry.db", "gantry.db-wal"} {
			b, err := os.ReadFile(filepath.Join(cfg.DataDir, f))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the variable value in plaintext", f)
			}
		}
	} else {
		var value string
		var enc bool
		db, err := sql.Open("pgx", cfg.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("SELECT value, value_encrypted FROM project_variables WHERE key = 'DEPLOY_KEY'").Scan(&value, &enc); err != nil {
			t.Fatal(err)
		}
		if !enc || strings.Contains(value, secret) {
			t.Errorf("stored value %q (encrypted %v) holds the plaintext", value, enc)
		}
	}

	checkKeyRefused(t, cfg, key)
	// The right key again: the value reads back.
	url, stop, err = runUntilReady(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	s.URL = url
	var retried struct{ ID int64 }
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%v/retry", pid, job["id"]), rootToken, nil).json(t, &retried)
	waitFor(t, "retried job", 60*time.Second, func() bool {
		st := s.jobs(pid)["show"]
		return st != nil && int64(st["id"].(float64)) == retried.ID && (st["status"] == "success" || st["status"] == "failed")
	})
	trace = string(s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", pid, retried.ID), rootToken, nil).Body)
	if want := fmt.Sprintf("len=%d tail=0f-the-deploy-key", len(secret)); !strings.Contains(trace, want) {
		t.Errorf("after restart the job did not get the variable (%q):\n%s", want, trace)
	}
}

// checkKeyRefused: cfg's coordinator does not start with a different key
// file, nor without one (and creates no new key over encrypted values),
// each error naming the file; then the right key is put back.
func checkKeyRefused(t *testing.T, cfg app.Config, key string) {
	t.Helper()
	// A different key: refuse to start, naming the file.
	good, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stop, err := runUntilReady(t, cfg); err == nil {
		stop()
		t.Fatal("started with a wrong secrets key")
	} else if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong key: error %q does not name the file and the mismatch", err)
	}
	// No key file at all: refuse too, never create a new key over
	// encrypted values.
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if _, stop, err := runUntilReady(t, cfg); err == nil {
		stop()
		t.Fatal("started without its secrets key")
	} else if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing key: error %q does not name the file", err)
	}
	if _, err := os.Stat(key); err == nil {
		t.Error("a new key file was created over encrypted values")
	}
	if err := os.WriteFile(key, good, 0o600); err != nil {
		t.Fatal(err)
	}
}
