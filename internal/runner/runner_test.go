package runner

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/runnerproto"
)

func TestPassingJob(t *testing.T) {
	t.Parallel()
	job := shellJob(42,
		[]string{"echo hello", `echo "var=$MY_VAR raw=$RAW_VAR"`, `cat "$FILE_VAR"`, `echo "server=$CI_SERVER status=$CI_JOB_STATUS dir=$CI_PROJECT_DIR"`},
		nil,
		Variable{Key: "OTHER", Value: "world", Public: true},
		Variable{Key: "MY_VAR", Value: "hello-$OTHER", Public: true},
		Variable{Key: "RAW_VAR", Value: "keep-$OTHER", Public: true, Raw: true},
		Variable{Key: "FILE_VAR", Value: "file-content-$OTHER", File: true},
	)
	s := newFakeServer(t, job)
	cfg := testConfig(t, s.srv.URL+"/ci/")
	startRunner(t, cfg)
	s.waitFinal(t, 42, 20*time.Second)
	// Let a few more polls arrive so last_update echo can be checked.
	waitFor(t, "further polls", 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.polls) >= 3
	})

	tr := s.trace(42)
	for _, want := range []string{
		"Running with gantry-runner",
		`Preparing the "shell" executor`,
		"Skipping Git repository setup",
		`Executing "step_script" stage of the job script`,
		"\x1b[32;1m$ echo hello\x1b[0;m",
		"\nhello\n",
		"var=hello-world raw=keep-$OTHER",
		"file-content-world",
		"server=yes status=running dir=" + filepath.Join(cfg.BuildsDir, "TESTRUNNE", "0", "grp", "demo"),
		"section_start:", "section_end:",
		"Job succeeded",
	} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q; trace:\n%s", want, tr)
		}
	}

	final := s.finalPut(t, 42)
	if final.state() != "success" {
		t.Errorf("final state = %q, want success", final.state())
	}
	for _, k := range []string{"failure_reason", "exit_code"} {
		if _, ok := final.Body[k]; ok {
			t.Errorf("final PUT has %q on success: %v", k, final.Body)
		}
	}
	checkFinalOutput(t, s, 42, final)

	// Request sequence and headers.
	s.mu.Lock()
	defer s.mu.Unlock()
	poll := s.polls[0]
	if got := poll.Header.Get(headerRunnerToken); got != cfg.Token {
		t.Errorf("RUNNER-TOKEN = %q", got)
	}
	if poll.Body["token"] != cfg.Token {
		t.Errorf("poll token = %v", poll.Body["token"])
	}
	if id, _ := poll.Body["system_id"].(string); !regexp.MustCompile(`^s_[a-z0-9]{12}$`).MatchString(id) {
		t.Errorf("system_id = %q", id)
	}
	if _, ok := poll.Body["last_update"]; ok {
		t.Errorf("first poll carries last_update")
	}
	if got := s.polls[len(s.polls)-1].Body["last_update"]; got != "lu-0001" {
		t.Errorf("later poll last_update = %v, want lu-0001", got)
	}
	info, _ := poll.Body["info"].(map[string]any)
	if info["executor"] != "shell" || info["name"] != "gantry-runner" || info["platform"] == "" {
		t.Errorf("info = %v", info)
	}
	feats, _ := info["features"].(map[string]any)
	for _, f := range []string{"variables", "artifacts", "cancelable", "cancel_gracefully", "trace_reset", "trace_checksum",
		"trace_size", "refspecs", "masking", "raw_variables", "return_exit_code", "upload_multiple_artifacts",
		"artifacts_exclude", "multi_build_steps"} {
		if feats[f] != true {
			t.Errorf("feature %s = %v, want true", f, feats[f])
		}
	}
	if feats["image"] != false {
		t.Errorf("feature image = %v, want present and false", feats["image"])
	}
	puts := s.puts[42]
	if puts[0].state() != "running" || puts[0].Header.Get(headerJobToken) != job.Token || puts[0].Body["token"] != job.Token {
		t.Errorf("first PUT = %v %v", puts[0].Body, puts[0].Header)
	}
	var evs []string
	for _, e := range s.events {
		if strings.Contains(e, ":42") {
			evs = append(evs, e)
		}
	}
	if evs[0] != "put:42:running" || evs[len(evs)-1] != "put:42:success" || !slices.Contains(evs, "patch:42") {
		t.Errorf("event order = %v", evs)
	}
	for _, p := range s.patches[42] {
		if p.Header.Get("Content-Type") != "text/plain" || p.Header.Get(headerJobToken) != job.Token || p.Query != "debug_trace=false" {
			t.Errorf("patch headers %v query %q", p.Header, p.Query)
		}
		if len(p.Body) == 0 {
			t.Errorf("empty PATCH sent")
		}
	}
}

func TestFailingJob(t *testing.T) {
	t.Parallel()
	job := shellJob(43,
		[]string{"echo before", "false || true", "exit 3", "echo never-printed"},
		[]string{`echo "after status=$CI_JOB_STATUS"`, "exit 9"},
	)
	s := newFakeServer(t, job)
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 43, 20*time.Second)

	final := s.finalPut(t, 43)
	if final.state() != "failed" || final.Body["failure_reason"] != "script_failure" {
		t.Errorf("final = %v", final.Body)
	}
	if code, _ := final.Body["exit_code"].(float64); code != 3 {
		t.Errorf("exit_code = %v, want 3", final.Body["exit_code"])
	}
	checkFinalOutput(t, s, 43, final)
	tr := s.trace(43)
	for _, want := range []string{"before", "Running after_script", "after status=failed",
		"WARNING: after_script failed, but job will continue unaffected: exit code 9", "ERROR: Job failed: exit status 3"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q; trace:\n%s", want, tr)
		}
	}
	if strings.Contains(tr, "never-printed") {
		t.Errorf("script continued after a failing command:\n%s", tr)
	}
	if strings.Index(tr, "after status=failed") < strings.Index(tr, "exit 3") {
		t.Errorf("after_script ran before the script")
	}
}

func TestMaskedVariables(t *testing.T) {
	t.Parallel()
	const secret = "sup3r-s3cret-value"
	job := shellJob(44, []string{
		`echo "plain $SECRET"`,
		`echo "token glpat-abcdefghijklmnop1234 end"`,
		// The secret arrives in two writes, across trace updates.
		`printf '%s' "${SECRET:0:8}"; sleep 0.4; printf '%s\n' "${SECRET:8}"`,
		`cat "$SECRET_FILE"`,
		`echo "job token $CI_JOB_TOKEN"`,
	}, nil,
		Variable{Key: "SECRET", Value: secret, Masked: true},
		Variable{Key: "SECRET_FILE", Value: "filesecret-0123456789", Masked: true, File: true},
	)
	s := newFakeServer(t, job)
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 44, 20*time.Second)
	tr := s.trace(44)
	for _, leak := range []string{secret, "sup3r-s3", "filesecret-0123456789", "abcdefghijklmnop1234", job.Token, "JOBTOKEN44"} {
		if strings.Contains(tr, leak) {
			t.Errorf("trace leaks %q:\n%s", leak, tr)
		}
	}
	for _, want := range []string{"plain [MASKED]", "token glpat-[MASKED] end", "job token [MASKED]", "Job succeeded"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	if n := strings.Count(tr, "[MASKED]"); n < 5 {
		t.Errorf("expected at least 5 masked values, got %d:\n%s", n, tr)
	}
	checkFinalOutput(t, s, 44, s.finalPut(t, 44))
}

func zipEntries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("bad zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(b)
	}
	return out
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestArtifactsUpload(t *testing.T) {
	t.Parallel()
	job := shellJob(45, []string{
		"mkdir -p out/sub",
		"echo a > out/a.txt; echo b > out/b.log; echo c > out/sub/c.txt",
		"echo o > other.txt; echo n > notme.txt",
		"echo '<testsuite/>' > report.xml",
	}, nil)
	job.Artifacts = []Artifact{
		{Name: "build", Paths: []string{"out/", "other.txt", "missing.txt"}, Exclude: []string{"out/*.log"}, When: "on_success", ExpireIn: "1 day", ArtifactType: "archive", ArtifactFormat: "zip"},
		{Name: "failure-only", Paths: []string{"notme.txt"}, When: "on_failure", ArtifactType: "archive", ArtifactFormat: "zip"},
		{Name: "junit", Paths: []string{"report.xml"}, When: "always", ArtifactType: "junit", ArtifactFormat: "gzip", ExpireIn: "1 week"},
		{Paths: []string{"**/c.txt"}, Exclude: []string{"nothing"}},
	}
	s := newFakeServer(t, job)
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 45, 20*time.Second)
	if st := s.finalPut(t, 45).state(); st != "success" {
		t.Fatalf("final state %q; trace:\n%s", st, s.trace(45))
	}
	s.mu.Lock()
	ups := s.uploads[45]
	s.mu.Unlock()
	if len(ups) != 3 {
		t.Fatalf("got %d uploads, want 3", len(ups))
	}
	tests := []struct {
		filename string
		query    map[string]string
		entries  []string
	}{
		{"build.zip", map[string]string{"artifact_format": "zip", "artifact_type": "archive", "expire_in": "1 day"},
			[]string{"other.txt", "out/", "out/a.txt", "out/sub/", "out/sub/c.txt"}},
		{"junit.gz", map[string]string{"artifact_format": "gzip", "artifact_type": "junit", "expire_in": "1 week"}, nil},
		{"artifacts.zip", map[string]string{"artifact_format": "zip", "artifact_type": "archive"}, []string{"out/sub/c.txt"}},
	}
	for i, tc := range tests {
		up := ups[i]
		if up.Field != "file" || up.Filename != tc.filename {
			t.Errorf("upload %d: field %q filename %q, want file %q", i, up.Field, up.Filename, tc.filename)
		}
		if up.Header.Get(headerJobToken) != job.Token {
			t.Errorf("upload %d: JOB-TOKEN %q", i, up.Header.Get(headerJobToken))
		}
		if fmt.Sprint(up.Query) != fmt.Sprint(tc.query) {
			t.Errorf("upload %d: query %v, want %v", i, up.Query, tc.query)
		}
		if tc.entries != nil {
			got := zipEntries(t, up.Data)
			if !slices.Equal(keys(got), tc.entries) {
				t.Errorf("upload %d: entries %v, want %v", i, keys(got), tc.entries)
			}
			if c, ok := got["out/sub/c.txt"]; ok && c != "c\n" {
				t.Errorf("upload %d: c.txt = %q", i, c)
			}
		}
	}
	gz, err := gzip.NewReader(bytes.NewReader(ups[1].Data))
	if err != nil {
		t.Fatalf("junit upload is not gzip: %v", err)
	}
	b, _ := io.ReadAll(gz)
	if gz.Name != "report.xml" || string(b) != "<testsuite/>\n" {
		t.Errorf("junit gzip member %q = %q", gz.Name, b)
	}
	tr := s.trace(45)
	for _, want := range []string{"Uploading artifacts for successful job", "missing.txt: no matching files", `Uploading artifacts as "archive" to coordinator... 201 Created`} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
}

func TestArtifactsTooLarge(t *testing.T) {
	t.Parallel()
	job := shellJob(46, []string{"echo x > big.bin"}, nil)
	job.Artifacts = []Artifact{{Name: "big", Paths: []string{"big.bin"}}}
	s := newFakeServer(t, job)
	s.uploadStatus = http.StatusRequestEntityTooLarge
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 46, 20*time.Second)
	final := s.finalPut(t, 46)
	if final.state() != "failed" || final.Body["failure_reason"] != "script_failure" {
		t.Errorf("final = %v", final.Body)
	}
	tr := s.trace(46)
	if !strings.Contains(tr, "too large archive") || !strings.Contains(tr, "ERROR: Job failed") {
		t.Errorf("trace lacks the too-large message:\n%s", tr)
	}
	s.mu.Lock()
	n := len(s.uploads[46])
	s.mu.Unlock()
	if n != 1 {
		t.Errorf("413 was retried: %d uploads", n)
	}
}

func makeZip(t *testing.T, files map[string]string, modes map[string]os.FileMode) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if m, ok := modes[name]; ok {
			h.SetMode(m)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	job := shellJob(47, []string{"cat dep/file.txt", "test -x dep/bin/run.sh", "dep/bin/run.sh"}, nil)
	job.Dependencies = []Dependency{
		{ID: 7, Name: "build", Token: "glcbt-DEPTOKEN", ArtifactsFile: runnerproto.ArtifactsFile{Filename: "artifacts.zip", Size: 100}},
		{ID: 8, Name: "no-artifacts", Token: "glcbt-DEPTOKEN"},
	}
	s := newFakeServer(t, job)
	s.depFiles[7] = makeZip(t, map[string]string{
		"dep/file.txt":   "from-dependency\n",
		"dep/bin/run.sh": "#!/bin/sh\necho script-from-dependency\n",
	}, map[string]os.FileMode{"dep/bin/run.sh": 0o755})
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 47, 20*time.Second)
	tr := s.trace(47)
	if st := s.finalPut(t, 47).state(); st != "success" {
		t.Fatalf("final %q; trace:\n%s", st, tr)
	}
	for _, want := range []string{"Downloading artifacts for build (7)", "from-dependency", "script-from-dependency"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.depSeen[7] != "glcbt-DEPTOKEN" {
		t.Errorf("dependency downloaded with JOB-TOKEN %q", s.depSeen[7])
	}
	if _, ok := s.depSeen[8]; ok {
		t.Errorf("dependency without artifacts_file was downloaded")
	}
}

func TestMissingDependencyFailsJob(t *testing.T) {
	t.Parallel()
	job := shellJob(48, []string{"echo should-not-run"}, nil)
	job.Dependencies = []Dependency{{ID: 99, Name: "gone", Token: job.Token, ArtifactsFile: runnerproto.ArtifactsFile{Filename: "artifacts.zip"}}}
	s := newFakeServer(t, job)
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 48, 20*time.Second)
	final := s.finalPut(t, 48)
	if final.state() != "failed" || final.Body["failure_reason"] != "script_failure" {
		t.Errorf("final = %v", final.Body)
	}
	if tr := s.trace(48); strings.Contains(tr, "\nshould-not-run") {
		t.Errorf("script ran despite failed download:\n%s", tr)
	}
}

func TestTraceResyncOn416(t *testing.T) {
	t.Parallel()
	job := shellJob(49, []string{"echo first-part", "sleep 0.5", "echo second-part", "sleep 0.3", "echo third-part"}, nil)
	s := newFakeServer(t, job)
	lost := false
	// On the second PATCH the server "loses" the last 5 bytes it stored,
	// so the runner's offset is ahead and it must resync from Range.
	s.beforePatch = func(s *fakeServer, id int64, n int) {
		if n == 1 && !lost && len(s.traces[id]) > 5 {
			s.traces[id] = s.traces[id][:len(s.traces[id])-5]
			lost = true
		}
	}
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 49, 20*time.Second)
	s.mu.Lock()
	var statuses []int
	for _, p := range s.patches[49] {
		statuses = append(statuses, p.Status)
	}
	s.mu.Unlock()
	if !slices.Contains(statuses, http.StatusRequestedRangeNotSatisfiable) {
		t.Fatalf("no 416 happened; statuses %v", statuses)
	}
	tr := s.trace(49)
	if !strings.Contains(tr, "Job succeeded") {
		t.Errorf("trace lacks the end:\n%s", tr)
	}
	for _, want := range []string{"first-part", "second-part", "third-part"} {
		if strings.Count(tr, "\n"+want+"\n") != 1 {
			t.Errorf("trace has %q %d times:\n%s", want, strings.Count(tr, "\n"+want+"\n"), tr)
		}
	}
	checkFinalOutput(t, s, 49, s.finalPut(t, 49))
}

func TestGracefulCancel(t *testing.T) {
	t.Parallel()
	pidDir := t.TempDir()
	job := shellJob(50, []string{
		`sleep 1000 & echo $! > "$PID_DIR/bg.pid"`,
		`echo $$ > "$PID_DIR/shell.pid"`,
		"echo started",
		"sleep 1000",
	}, []string{`echo "after status=$CI_JOB_STATUS"`}, Variable{Key: "PID_DIR", Value: pidDir})
	s := newFakeServer(t, job)
	// Once "started" is in the trace, the job is canceling, as GitLab
	// does after a user cancels a job on a runner with cancel_gracefully.
	s.respond = func(s *fakeServer, kind string, id int64, body []byte) (int, string) {
		if kind == "put" && bytes.Contains(body, []byte(`"state":"failed"`)) {
			return http.StatusOK, "canceled"
		}
		if strings.Contains(string(s.traces[id]), "\nstarted\n") {
			return 0, "canceling"
		}
		return 0, "running"
	}
	start := time.Now()
	startRunner(t, testConfig(t, s.srv.URL))
	bg := readPID(t, filepath.Join(pidDir, "bg.pid"))
	shell := readPID(t, filepath.Join(pidDir, "shell.pid"))
	s.waitFinal(t, 50, 20*time.Second)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %v", d)
	}
	final := s.finalPut(t, 50)
	// job_canceled is not in the server's list: unknown_failure, as
	// gitlab-runner's mapper does.
	if final.state() != "failed" || final.Body["failure_reason"] != "unknown_failure" {
		t.Errorf("final = %v", final.Body)
	}
	tr := s.trace(50)
	for _, want := range []string{"after status=canceled", "ERROR: Job failed: canceled"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	checkFinalOutput(t, s, 50, final)
	for name, pid := range map[string]int{"background sleep": bg, "script shell": shell} {
		waitFor(t, name+" to die", 5*time.Second, func() bool { return processGone(pid) })
	}
}

func TestCancelReasonListed(t *testing.T) {
	t.Parallel()
	job := shellJob(51, []string{"echo started", "sleep 1000"}, nil)
	job.Features.FailureReasons = append(job.Features.FailureReasons, "job_canceled")
	s := newFakeServer(t, job)
	s.respond = func(s *fakeServer, kind string, id int64, body []byte) (int, string) {
		if strings.Contains(string(s.traces[id]), "\nstarted\n") {
			return 0, "canceling"
		}
		return 0, "running"
	}
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 51, 20*time.Second)
	if got := s.finalPut(t, 51).Body["failure_reason"]; got != "job_canceled" {
		t.Errorf("failure_reason = %v, want job_canceled", got)
	}
}

func TestAbortOn403(t *testing.T) {
	t.Parallel()
	pidDir := t.TempDir()
	job := shellJob(52, []string{
		`sleep 1000 & echo $! > "$PID_DIR/bg.pid"`,
		"echo started",
		"sleep 1000",
	}, []string{"echo after-script-ran"}, Variable{Key: "PID_DIR", Value: pidDir})
	s := newFakeServer(t, job)
	s.respond = func(s *fakeServer, kind string, id int64, body []byte) (int, string) {
		if kind == "patch" && bytes.Contains(body, []byte("\nstarted\n")) || strings.Contains(string(s.traces[id]), "\nstarted\n") {
			return http.StatusForbidden, "canceled"
		}
		return 0, "running"
	}
	stop := startRunner(t, testConfig(t, s.srv.URL))
	bg := readPID(t, filepath.Join(pidDir, "bg.pid"))
	waitFor(t, "background process to die", 10*time.Second, func() bool { return processGone(bg) })
	time.Sleep(300 * time.Millisecond)
	stop()
	for _, p := range s.putsOf(52) {
		if p.state() != "running" {
			t.Errorf("aborted job got a final PUT: %v", p.Body)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.patches[52] {
		if bytes.Contains(p.Body, []byte("after-script-ran")) {
			t.Errorf("after_script ran on abort")
		}
	}
}

func TestAbortAtAcceptance(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	job := shellJob(53, []string{"touch " + marker}, nil)
	s := newFakeServer(t, job)
	s.respond = func(s *fakeServer, kind string, id int64, body []byte) (int, string) {
		return http.StatusForbidden, "canceled"
	}
	stop := startRunner(t, testConfig(t, s.srv.URL))
	waitFor(t, "acceptance PUT", 10*time.Second, func() bool { return len(s.putsOf(53)) > 0 })
	time.Sleep(500 * time.Millisecond)
	stop()
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("job ran although acceptance was refused")
	}
	if n := len(s.putsOf(53)); n != 1 {
		t.Errorf("got %d PUTs, want only the acceptance", n)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	job := shellJob(54, []string{"echo start", "sleep 30"}, []string{`echo "after status=$CI_JOB_STATUS"`})
	job.RunnerInfo.Timeout = 1
	s := newFakeServer(t, job)
	start := time.Now()
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 54, 20*time.Second)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %v", d)
	}
	final := s.finalPut(t, 54)
	if final.state() != "failed" || final.Body["failure_reason"] != "job_execution_timeout" {
		t.Errorf("final = %v", final.Body)
	}
	if _, ok := final.Body["exit_code"]; ok {
		t.Errorf("timeout reported an exit_code: %v", final.Body)
	}
	tr := s.trace(54)
	for _, want := range []string{"after status=failed", "ERROR: Job failed: execution took longer than 1s seconds"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
}

func TestShutdownFailsRunningJob(t *testing.T) {
	t.Parallel()
	pidDir := t.TempDir()
	job := shellJob(55, []string{`echo $$ > "$PID_DIR/shell.pid"`, "echo started", "sleep 1000"},
		[]string{"echo after-script-ran"}, Variable{Key: "PID_DIR", Value: pidDir})
	s := newFakeServer(t, job)
	stop := startRunner(t, testConfig(t, s.srv.URL))
	shell := readPID(t, filepath.Join(pidDir, "shell.pid"))
	waitFor(t, "started in trace", 10*time.Second, func() bool { return strings.Contains(s.trace(55), "\nstarted\n") })
	start := time.Now()
	stop() // Run must report the job and return
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	final := s.finalPut(t, 55)
	if final.state() != "failed" || final.Body["failure_reason"] != "runner_system_failure" {
		t.Errorf("final = %v", final.Body)
	}
	if !processGone(shell) {
		t.Errorf("script still running after Run returned")
	}
	checkFinalOutput(t, s, 55, final)
}

func TestTouchWhenSilent(t *testing.T) {
	t.Parallel()
	job := shellJob(56, []string{"echo hi", "sleep 1.5"}, nil)
	s := newFakeServer(t, job)
	cfg := testConfig(t, s.srv.URL)
	cfg.forceSend = 300 * time.Millisecond
	startRunner(t, cfg)
	s.waitFinal(t, 56, 20*time.Second)
	touches := 0
	for _, p := range s.putsOf(56) {
		out, _ := p.Body["output"].(map[string]any)
		if p.state() == "running" && out["bytesize"] != nil && strings.HasPrefix(fmt.Sprint(out["checksum"]), "crc32:") {
			touches++
		}
	}
	if touches == 0 {
		t.Errorf("no touch PUT with output during a silent job")
	}
}

func TestOutputLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		id        int64
		size      int
		limit     int
		truncated bool
	}{
		{"truncated", 57, 300000, 100 << 10, true},
		{"chunked under the default limit", 62, 2500000, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job := shellJob(tc.id, []string{fmt.Sprintf("head -c %d /dev/zero | tr '\\0' 'x'", tc.size), "echo", "echo tail-marker"}, nil)
			s := newFakeServer(t, job)
			cfg := testConfig(t, s.srv.URL)
			cfg.outputLimit = tc.limit
			startRunner(t, cfg)
			s.waitFinal(t, tc.id, 30*time.Second)
			tr := s.trace(tc.id)
			notice := fmt.Sprintf("Job's log exceeded limit of %d bytes.", tc.limit)
			if got := strings.Contains(tr, notice); got != tc.truncated {
				t.Errorf("truncation notice present = %v, want %v (trace len %d)", got, tc.truncated, len(tr))
			}
			if got := !strings.Contains(tr, "tail-marker"); got != tc.truncated {
				t.Errorf("output after the limit dropped = %v, want %v", got, tc.truncated)
			}
			if tc.truncated && len(tr) > tc.limit+1024 {
				t.Errorf("trace len %d exceeds limit %d", len(tr), tc.limit)
			}
			s.mu.Lock()
			for _, p := range s.patches[tc.id] {
				if len(p.Body) > tracePatchLimit {
					t.Errorf("PATCH of %d bytes exceeds %d", len(p.Body), tracePatchLimit)
				}
			}
			s.mu.Unlock()
			final := s.finalPut(t, tc.id)
			if final.state() != "success" {
				t.Errorf("job failed: %v", final.Body)
			}
			checkFinalOutput(t, s, tc.id, final)
		})
	}
}

func TestConcurrentJobs(t *testing.T) {
	t.Parallel()
	mark := t.TempDir()
	script := []string{
		`touch "$MARK/$CI_JOB_ID"`,
		// Each job waits until both have started: only true concurrency
		// lets them finish.
		`i=0; while [ "$(ls "$MARK" | wc -l)" -lt 2 ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done`,
		`echo "dir=$CI_PROJECT_DIR id=$CI_CONCURRENT_ID"`,
	}
	a := shellJob(60, script, nil, Variable{Key: "MARK", Value: mark})
	b := shellJob(61, script, nil, Variable{Key: "MARK", Value: mark})
	s := newFakeServer(t, a, b)
	cfg := testConfig(t, s.srv.URL)
	cfg.Concurrency = 2
	startRunner(t, cfg)
	s.waitFinal(t, 60, 30*time.Second)
	s.waitFinal(t, 61, 30*time.Second)
	for _, id := range []int64{60, 61} {
		if st := s.finalPut(t, id).state(); st != "success" {
			t.Errorf("job %d: %s\n%s", id, st, s.trace(id))
		}
	}
	dirRE := regexp.MustCompile(`\ndir=(\S+) id=(\d)`)
	da, db := dirRE.FindStringSubmatch(s.trace(60)), dirRE.FindStringSubmatch(s.trace(61))
	if da == nil || db == nil || da[1] == db[1] || da[2] == db[2] {
		t.Errorf("concurrent jobs share a directory: %v %v", da, db)
	}
}

func TestUndecodableJobIsFailed(t *testing.T) {
	t.Parallel()
	s := newFakeServer(t)
	s.rawQueue = []string{`{"id":70,"token":"glcbt-X70","steps":"not-a-list"}`}
	s.finals[70] = make(chan struct{})
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 70, 10*time.Second)
	final := s.finalPut(t, 70)
	if final.state() != "failed" || final.Body["failure_reason"] != "runner_system_failure" {
		t.Errorf("final = %v", final.Body)
	}
	if !strings.Contains(s.trace(70), "decode job payload") {
		t.Errorf("trace does not explain the failure:\n%s", s.trace(70))
	}
}

func TestScriptExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		shell    string
		script   []string
		wantCode int // 0 = success
		contains string
	}{
		{"bash exit", "bash", []string{"exit 3"}, 3, ""},
		{"bash pipefail", "bash", []string{"false | true", "echo unreachable"}, 1, ""},
		{"bash nested exit", "bash", []string{"true", "sh -c 'exit 7'"}, 7, ""},
		{"bash multi-line", "bash", []string{"if true; then\n  echo multi-ok\nfi"}, 0, "$ if true; then # collapsed multi-line command"},
		{"bash quotes", "bash", []string{`echo 'it'"'"'s'`}, 0, "\nit's\n"},
		{"sh exit", "sh", []string{"echo sh-ok", "exit 4"}, 4, "\nsh-ok\n"},
		{"sh success", "sh", []string{"echo sh-ok"}, 0, "\nsh-ok\n"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := int64(100 + i)
			s := newFakeServer(t, shellJob(id, tc.script, nil))
			cfg := testConfig(t, s.srv.URL)
			cfg.Shell = tc.shell
			startRunner(t, cfg)
			s.waitFinal(t, id, 20*time.Second)
			final := s.finalPut(t, id)
			tr := s.trace(id)
			if tc.wantCode == 0 {
				if final.state() != "success" {
					t.Errorf("state %s; trace:\n%s", final.state(), tr)
				}
			} else {
				code, _ := final.Body["exit_code"].(float64)
				if final.state() != "failed" || int(code) != tc.wantCode || final.Body["failure_reason"] != "script_failure" {
					t.Errorf("final %v, want exit_code %d; trace:\n%s", final.Body, tc.wantCode, tr)
				}
				if strings.Contains(tr, "\nunreachable\n") {
					t.Errorf("script went on after a failure")
				}
			}
			if tc.contains != "" && !strings.Contains(tr, tc.contains) {
				t.Errorf("trace lacks %q:\n%s", tc.contains, tr)
			}
		})
	}
}

func TestFinalUpdateRetries(t *testing.T) {
	t.Parallel()
	job := shellJob(58, []string{"echo done"}, nil)
	s := newFakeServer(t, job)
	finals := 0
	// 202 "not yet", then a server error, then acceptance.
	s.respond = func(s *fakeServer, kind string, id int64, body []byte) (int, string) {
		if kind != "put" || !bytes.Contains(body, []byte(`"state":"success"`)) {
			return 0, ""
		}
		finals++
		switch finals {
		case 1:
			return http.StatusAccepted, "running"
		case 2:
			return http.StatusInternalServerError, "running"
		}
		return 0, ""
	}
	startRunner(t, testConfig(t, s.srv.URL))
	s.waitFinal(t, 58, 20*time.Second)
	var states []string
	for _, p := range s.putsOf(58) {
		states = append(states, p.state())
	}
	if want := []string{"running", "success", "success", "success"}; !slices.Equal(states, want) {
		t.Errorf("PUT states %v, want %v", states, want)
	}
}

func TestEagerFlushOnLargeOutput(t *testing.T) {
	t.Parallel()
	job := shellJob(59, []string{"head -c 200000 /dev/zero | tr '\\0' 'x'", "echo", "sleep 1", "echo end-marker"}, nil)
	s := newFakeServer(t, job)
	cfg := testConfig(t, s.srv.URL)
	cfg.traceInterval = time.Minute // only the size trigger can send early
	startRunner(t, cfg)
	s.waitFinal(t, 59, 20*time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.patches[59]
	if len(ps) < 2 || bytes.Contains(ps[0].Body, []byte("end-marker")) {
		t.Errorf("no early PATCH for >64KB of output (%d patches)", len(ps))
	}
	if !strings.Contains(string(s.traces[59]), "end-marker") {
		t.Errorf("trace incomplete")
	}
}
