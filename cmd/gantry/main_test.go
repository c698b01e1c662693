package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/testkit/gittest"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
)

// TestMain lets the test binary act as gantry itself, so crash tests run the
// real program as a separate process without building it.
func TestMain(m *testing.M) {
	if os.Getenv("GANTRY_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const token = "glpat-crash-test-000000000000"

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startGantry runs `gantry serve` as a child process and waits for
// readiness; dbURL "" is SQLite in the data dir, else a postgres:// URL.
func startGantry(t *testing.T, dataDir, addr string, dbURL ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--listen", addr, "--data-dir", dataDir, "--long-poll", "1s")
	cmd.Env = append(os.Environ(), "GANTRY_TEST_RUN_MAIN=1", "GANTRY_ROOT_TOKEN="+token,
		"GANTRY_RUNNER_REGISTRATION_TOKEN=crash-reg", "GANTRY_DATABASE_URL=")
	if len(dbURL) > 0 && dbURL[0] != "" {
		cmd.Env = append(cmd.Env, "GANTRY_DATABASE_URL="+dbURL[0])
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get("http://" + addr + "/-/readiness"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("gantry did not become ready")
	return nil
}

func call(t *testing.T, method, url, ct, body string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("PRIVATE-TOKEN", token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// TestAcknowledgedWritesSurviveKill9 writes through the API and the runner
// protocol, kills the server with SIGKILL right after the acknowledgements,
// restarts it on the same data dir and reads everything back, on SQLite and
// on PostgreSQL. The log is streamed by concurrent jobs, so that its
// appends are written in shared transactions (group commit) when the
// process dies.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			url := ""
			if db == "postgres" {
				pgtest.Require(t)
				url = pgtest.NewDatabase(t)
			}
			testKill9(t, url)
		})
	}
}

func testKill9(t *testing.T, dbURL string) {
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr + "/api/v4"
	cmd := startGantry(t, dir, addr, dbURL)

	if st, _, b := call(t, "POST", base+"/projects", "application/json", `{"name":"durable"}`, nil); st != 201 {
		t.Fatalf("create project: %d %s", st, b)
	}
	// A repository with a commit, pushed with real git, then a pipeline of
	// 1 + streamers jobs.
	const streamers = 5
	work := gittest.NewWork(t)
	work.Write(map[string]string{".gitlab-ci.yml": fmt.Sprintf("job:\n  parallel: %d\n  script: echo hi\n", 1+streamers)})
	work.Commit("ci")
	work.Git("push", "-q", "http://oauth2:"+token+"@"+addr+"/root/durable.git", "main")

	st, _, b := call(t, "POST", base+"/runners", "application/json", `{"token":"crash-reg"}`, nil)
	if st != 201 {
		t.Fatalf("register runner: %d %s", st, b)
	}
	var reg struct{ Token string }
	_ = json.Unmarshal(b, &reg)
	type claimed struct {
		ID    int64
		Token string
	}
	var jobs []claimed
	for range 1 + streamers {
		st, _, b = call(t, "POST", base+"/jobs/request", "application/json", fmt.Sprintf(`{"token":%q}`, reg.Token), nil)
		if st != 201 {
			t.Fatalf("jobs/request: %d %s", st, b)
		}
		var job claimed
		_ = json.Unmarshal(b, &job)
		jobs = append(jobs, job)
	}
	patch := func(job claimed, off int, chunk string) (int, error) {
		req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/jobs/%d/trace", base, job.ID), strings.NewReader(chunk))
		req.Header.Set("JOB-TOKEN", job.Token)
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+len(chunk)-1))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}

	// The other jobs stream their logs concurrently until the kill; each
	// remembers what was acknowledged and the chunk in flight.
	acked := make([]bytes.Buffer, streamers)
	inflight := make([]string, streamers)
	counts := make([]atomic.Int64, streamers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range streamers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				chunk := fmt.Sprintf("job %d line %04d of the log\n", i, n)
				inflight[i] = chunk
				st, err := patch(jobs[1+i], acked[i].Len(), chunk)
				if err != nil || st != 202 {
					return // the server died under the request
				}
				acked[i].WriteString(chunk)
				inflight[i] = ""
				counts[i].Add(1)
			}
		})
	}
	// The first job streams a log in acknowledged chunks, then is canceled.
	job := jobs[0]
	var sent bytes.Buffer
	for i := 0; i < 50; i++ {
		chunk := fmt.Sprintf("line %03d of the log\n", i)
		if st, err := patch(job, sent.Len(), chunk); err != nil || st != 202 {
			t.Fatalf("patch %d: %d %v", i, st, err)
		}
		sent.WriteString(chunk)
	}
	// Cancel through the API: acknowledged with 201.
	if st, _, b := call(t, "POST", fmt.Sprintf("%s/projects/1/jobs/%d/cancel", base, job.ID), "", "", nil); st != 201 {
		t.Fatalf("cancel: %d %s", st, b)
	}
	for i := range streamers {
		for counts[i].Load() < 20 {
			time.Sleep(5 * time.Millisecond)
		}
	}

	// SIGKILL while the streamers' appends are in flight: no shutdown, no
	// flush.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	close(stop)
	wg.Wait()

	startGantry(t, dir, addr, dbURL)
	st, _, b = call(t, "GET", base+"/projects/root%2Fdurable", "", "", nil)
	if st != 200 {
		t.Fatalf("project after restart: %d %s", st, b)
	}
	st, _, b = call(t, "GET", fmt.Sprintf("%s/projects/1/jobs/%d", base, job.ID), "", "", nil)
	var j struct{ Status string }
	_ = json.Unmarshal(b, &j)
	if st != 200 || j.Status != "canceled" {
		t.Errorf("job after restart: %d %s", st, b)
	}
	_, _, logAfter := call(t, "GET", fmt.Sprintf("%s/projects/1/jobs/%d/trace", base, job.ID), "", "", nil)
	if !bytes.Equal(logAfter, sent.Bytes()) {
		sc := bufio.NewScanner(bytes.NewReader(logAfter))
		n := 0
		for sc.Scan() {
			n++
		}
		t.Errorf("log after restart has %d lines (%d bytes), want 50 lines (%d bytes)", n, len(logAfter), sent.Len())
	}
	// Every acknowledged chunk is there; the one in flight may or may not
	// be, and nothing else.
	for i := range streamers {
		_, _, got := call(t, "GET", fmt.Sprintf("%s/projects/1/jobs/%d/trace", base, jobs[1+i].ID), "", "", nil)
		want := acked[i].String()
		if string(got) != want && string(got) != want+inflight[i] {
			t.Errorf("streaming job %d after restart: %d bytes, want the %d acknowledged (+%d in flight); ends %q",
				i, len(got), len(want), len(inflight[i]), got[max(0, len(got)-40):])
		}
	}
}

// TestEmbeddedRunnerRefusedWithoutIsolation: on a machine that forbids
// user namespaces (here: a user namespace whose user.max_user_namespaces
// is 0), serve --embedded-runner refuses to start and names the flag that
// accepts the risk; with that flag it starts.
func TestEmbeddedRunnerRefusedWithoutIsolation(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "-Ur", "true").Run(); err != nil {
		t.Skipf("cannot create a user namespace to simulate the machine: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// run starts serve in the simulated machine and returns its output once
	// it exits, or once a line contains until.
	run := func(extra, until string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		script := `echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" serve --embedded-runner 1 --listen 127.0.0.1:0 --data-dir "$1" ` + extra
		cmd := exec.CommandContext(ctx, "unshare", "-Ur", "sh", "-c", script, exe, filepath.Join(t.TempDir(), "data"))
		cmd.Env = append(os.Environ(), "GANTRY_TEST_RUN_MAIN=1")
		cmd.WaitDelay = time.Second
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := cmd.Start(); err != nil {
			return "", err
		}
		var out strings.Builder
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if until != "" && strings.Contains(sc.Text(), until) {
					cancel()
				}
			}
		}()
		err := cmd.Wait()
		pw.Close()
		<-done
		return out.String(), err
	}
	out, err := run("", "")
	if err == nil || !strings.Contains(out, "cannot isolate jobs") || !strings.Contains(out, "--runner-isolation=none") {
		t.Fatalf("serve started or did not explain (err %v):\n%s", err, out)
	}
	if strings.Contains(out, "gantry serving") {
		t.Errorf("serve began serving before refusing:\n%s", out)
	}
	// Accepting the risk starts the runner.
	out, _ = run("--runner-isolation=none", "runner started")
	if !strings.Contains(out, "isolation=none") {
		t.Errorf("--runner-isolation=none did not start the runner:\n%s", out)
	}
}
