package runner

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFixURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", false},
		{"http://127.0.0.1:8080/ci", "http://127.0.0.1:8080", false},
		{"http://127.0.0.1:8080/ci/", "http://127.0.0.1:8080", false},
		{"https://host/gitlab/ci", "https://host/gitlab", false},
		{"ftp://host", "", true},
		{"host:8080", "", true},
		{"http://", "", true},
	}
	for _, tc := range tests {
		got, err := fixURL(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("fixURL(%q) = %q, %v; want %q, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestShortTokenAndSystemID(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"glrt-t1_TESTRUNNER0001", "TESTRUNNE"},
		{"glrt-abcdefghijkl", "abcdefghi"},
		{"short", "short"},
		{"legacytoken1234", "legacytok"},
	}
	for _, tc := range tests {
		if got := shortToken(tc.in); got != tc.want {
			t.Errorf("shortToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a, b := newSystemID(), newSystemID()
	if len(a) != 14 || !strings.HasPrefix(a, "s_") || a == b {
		t.Errorf("system ids %q %q", a, b)
	}
}

func TestProjectPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"http://gitlab-ci-token:x@127.0.0.1:8080/grp/demo.git", "grp/demo"},
		{"https://host/gitlab/grp/sub/demo", "gitlab/grp/sub/demo"},
		{"file:///srv/git/grp/demo.git", "srv/git/grp/demo"},
		{"http://host/../../etc.git", "project-7"},
		{"", "project-7"},
		{"http://host/", "project-7"},
	}
	for _, tc := range tests {
		j := &Job{JobInfo: JobInfo{ProjectID: 7}, GitInfo: GitInfo{RepoURL: tc.url}}
		if got := projectPath(j); got != tc.want {
			t.Errorf("projectPath(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"out", "out", true},
		{"out", "out/a.txt", false},
		{"out/*.txt", "out/a.txt", true},
		{"out/*.txt", "out/sub/a.txt", false},
		{"out/**/*.txt", "out/a.txt", true},
		{"out/**/*.txt", "out/sub/deep/a.txt", true},
		{"**/c.txt", "c.txt", true},
		{"**/c.txt", "x/y/c.txt", true},
		{"**", "anything/at/all", true},
		{"*.log", "dir/a.log", false},
		{"dir/**", "dir/a/b", true},
		{"a/[bc].txt", "a/c.txt", true},
		{"out/**/*.{txt,log}", "out/x/a.log", true},
		{"out/{a,b}/*", "out/c/x", false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
	if !matchesSelfOrParent("out", "out/sub/c.txt") || matchesSelfOrParent("out/*.log", "out/a.txt") || !matchesSelfOrParent(".", "any/file") {
		t.Errorf("matchesSelfOrParent wrong")
	}
}

func TestMasker(t *testing.T) {
	t.Parallel()
	// Longer than any hold-back bound the masker had: 10 KiB.
	long := strings.Repeat("0123456789", 1024)
	tests := []struct {
		name    string
		secrets []string
		chunks  []string
		want    string
	}{
		{"whole", []string{"topsecret"}, []string{"a topsecret b\n"}, "a [MASKED] b\n"},
		{"split", []string{"topsecret"}, []string{"a top", "sec", "ret b\n"}, "a [MASKED] b\n"},
		{"false start", []string{"topsecret"}, []string{"a tops", "ail\n"}, "a topsail\n"},
		{"prefix at end", []string{"topsecret"}, []string{"x top"}, "x top"},
		{"overlap longest first", []string{"abc", "abcdef"}, []string{"abcdef abc\n"}, "[MASKED] [MASKED]\n"},
		{"token", nil, []string{"t=glpat-", "abc_DEF-123 ok\n"}, "t=glpat-[MASKED] ok\n"},
		{"token split prefix", nil, []string{"gl", "rt-xyz\n"}, "glrt-[MASKED]\n"},
		{"bare prefix", nil, []string{"glpat- alone\n"}, "glpat- alone\n"},
		{"multiple", []string{"s1cret"}, []string{"s1cret s1cret", " glcbt-abc\n"}, "[MASKED] [MASKED] glcbt-[MASKED]\n"},
		{"shorter secret first, longer completes later", []string{"abc", "abcdef"}, []string{"x abc", "def y\n"}, "x [MASKED] y\n"},
		{"shorter secret at the end", []string{"abc", "abcdef"}, []string{"x abc"}, "x [MASKED]"},
		{"long secret whole", []string{long}, []string{"<" + long + ">\n"}, "<[MASKED]>\n"},
		{"long secret in pieces", []string{long}, []string{"<" + long[:3000], long[3000:7000], long[7000:] + ">\n"}, "<[MASKED]>\n"},
		{"long secret byte by byte tail", []string{long}, append([]string{"<" + long[:len(long)-3]}, ">", "\n"), "<" + long[:len(long)-3] + ">\n"},
		{"url private_token", nil, []string{"GET http://h/api?private_token=abc123 ok\n"}, "GET http://h/api?private_token=[MASKED] ok\n"},
		{"url params mixed case, second param", nil, []string{"u?a=1&X-Amz-Signature=ff00&X-AMZ-Credential=AK/2026/us/s3/aws4_request&b=2\n"},
			"u?a=1&X-Amz-Signature=[MASKED]&X-AMZ-Credential=[MASKED]&b=2\n"},
		{"url param split across writes", nil, []string{"u?authen", "ticity_token=ab", "cd&rss_", "token=x y\n"}, "u?authenticity_token=[MASKED]&rss_token=[MASKED] y\n"},
		{"url param value to the end", nil, []string{"u?x-amz-security-token="}, "u?x-amz-security-token=[MASKED]"},
		{"url param long value", nil, []string{"u?x-amz-credential=" + long, "\nnext\n"}, "u?x-amz-credential=[MASKED]\nnext\n"},
		{"url other params kept", nil, []string{"private_token=bare u?token=1&privatetoken=2\n"}, "private_token=bare u?token=1&privatetoken=2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := newMasker(tc.secrets, defaultTokenPrefixes)
			var out []byte
			for _, c := range tc.chunks {
				out = append(out, m.write([]byte(c), false)...)
			}
			out = append(out, m.write(nil, true)...)
			if string(out) != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
		})
	}
}

func TestTraceBufferLimit(t *testing.T) {
	t.Parallel()
	b := newTraceBuffer(newMasker(nil, nil), 10)
	b.Write([]byte("0123456789abc"))
	b.Write([]byte("MORE"))
	b.finish()
	data, n := b.snapshot(0, 1<<20)
	if !strings.HasPrefix(string(data), "0123456789\n") || !strings.Contains(string(data), "exceeded limit of 10 bytes") || strings.Contains(string(data), "MORE") || n != len(data) {
		t.Errorf("buffer = %q", data)
	}
}

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	ranges := []struct {
		in   string
		want int
	}{{"0-1500", 1500}, {"bytes 0-10", 10}, {"", -1}, {"garbage", -1}, {"0-", -1}}
	for _, tc := range ranges {
		if got := parseRangeEnd(tc.in); got != tc.want {
			t.Errorf("parseRangeEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	states := []struct {
		code   int
		status string
		want   remoteState
	}{
		{200, "running", remoteRunning},
		{202, "canceling", remoteCanceling},
		{202, "canceled", remoteAbort},
		{200, "failed", remoteAbort},
		{403, "", remoteAbort},
		{404, "", remoteAbort},
		{200, "success", remoteRunning},
	}
	for _, tc := range states {
		resp := &http.Response{StatusCode: tc.code, Header: http.Header{}}
		resp.Header.Set(headerJobStatus, tc.status)
		if got := readRemoteState(resp); got != tc.want {
			t.Errorf("readRemoteState(%d, %q) = %v, want %v", tc.code, tc.status, got, tc.want)
		}
	}
	intervals := []struct {
		in   string
		want time.Duration
	}{{"3", 3 * time.Second}, {"0", 0}, {"-1", 0}, {"1.5", 0}, {"", 0}, {"100000", maxUpdateInterval}}
	for _, tc := range intervals {
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set(headerUpdateInterval, tc.in)
		if got := readInterval(resp); got != tc.want {
			t.Errorf("readInterval(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestExpandValue(t *testing.T) {
	t.Parallel()
	vars := []Variable{{Key: "A", Value: "1"}, {Key: "B", Value: "2"}, {Key: "A", Value: "3"}}
	tests := []struct{ in, want string }{
		{"$A-${B}", "3-2"},
		{"$UNKNOWN.", "."},
		{"cost $$5", "cost $5"},
		{"$1 $@ $?", "$1 $@ $?"},
	}
	for _, tc := range tests {
		if got := expandValue(tc.in, vars); got != tc.want {
			t.Errorf("expandValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFailureReasonMapping(t *testing.T) {
	t.Parallel()
	listed := Features{FailureReasons: []string{"unknown_failure", "script_failure"}}
	tests := []struct {
		f        Features
		in, want string
	}{
		{listed, "script_failure", "script_failure"},
		{listed, "job_execution_timeout", "job_execution_timeout"},
		{listed, "runner_system_failure", "runner_system_failure"},
		{listed, "job_canceled", "unknown_failure"},
		{Features{}, "job_canceled", "job_canceled"},
	}
	for _, tc := range tests {
		if got := failureReason(tc.f, tc.in); got != tc.want {
			t.Errorf("failureReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExtractZipRejectsEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entries func(zw *zip.Writer)
		wantErr bool
	}{
		{"dotdot is confined", func(zw *zip.Writer) {
			w, _ := zw.Create("../../evil.txt")
			w.Write([]byte("x"))
		}, false},
		{"through symlink", func(zw *zip.Writer) {
			h := &zip.FileHeader{Name: "link"}
			h.SetMode(os.ModeSymlink | 0o777)
			w, _ := zw.CreateHeader(h)
			w.Write([]byte("/tmp"))
			w, _ = zw.Create("link/evil.txt")
			w.Write([]byte("x"))
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			tc.entries(zw)
			zw.Close()
			dir := t.TempDir()
			archive := filepath.Join(dir, "a.zip")
			os.WriteFile(archive, buf.Bytes(), 0o644)
			dest := filepath.Join(dir, "dest", "project")
			err := extractZip(archive, dest)
			if (err != nil) != tc.wantErr {
				t.Fatalf("extractZip error = %v, wantErr %v", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil.txt")); err == nil {
				t.Errorf("entry escaped to %s", dir)
			}
			if !tc.wantErr {
				if _, err := os.Stat(filepath.Join(dest, "evil.txt")); err != nil {
					t.Errorf("confined entry not extracted: %v", err)
				}
			}
		})
	}
}

// TestDecodeSpecPayload decodes a realistic job payload as GitLab sends it
// (docs/runner-protocol.md, "Job request payload"), to pin the field types.
func TestDecodeSpecPayload(t *testing.T) {
	t.Parallel()
	const payload = `{
  "id": 42, "token": "glcbt-JOBTOKEN42", "allow_git_fetch": true,
  "job_info": {"id": 42, "name": "test", "stage": "test", "project_id": 7, "project_name": "demo", "time_in_queue_seconds": 1.5},
  "git_info": {"repo_url": "http://gitlab-ci-token:glcbt-JOBTOKEN42@127.0.0.1:8080/grp/demo.git",
    "ref": "main", "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "before_sha": "0000000000000000000000000000000000000000", "ref_type": "branch",
    "refspecs": ["+refs/heads/main:refs/remotes/origin/main"], "depth": 20, "protected": false},
  "runner_info": {"timeout": 600},
  "variables": [{"key": "CI_JOB_TOKEN", "value": "glcbt-JOBTOKEN42", "public": false, "masked": true}],
  "steps": [{"name": "script", "script": ["echo hello", "ls"], "timeout": 600, "when": "on_success", "allow_failure": false}],
  "artifacts": [{"name": "out", "untracked": false, "paths": ["out.txt"], "when": "on_success",
     "expire_in": "1 day", "artifact_type": "archive", "artifact_format": "zip"}],
  "cache": [], "dependencies": [{"id": 1, "name": "b", "token": "t", "artifacts_file": {"filename": "artifacts.zip", "size": 10}}],
  "features": {"trace_sections": true, "failure_reasons": ["unknown_failure","script_failure"]}
}`
	var j Job
	if err := json.Unmarshal([]byte(payload), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != 42 || j.GitInfo.Depth != 20 || len(j.Steps[0].Script) != 2 || j.Artifacts[0].ExpireIn != "1 day" ||
		j.Dependencies[0].ArtifactsFile.Size != 10 || !j.Variables[0].Masked || j.RunnerInfo.Timeout != 600 {
		t.Errorf("decoded %+v", j)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Config{URL: "http://h/ci", Token: "glrt-x", BuildsDir: "/b"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "http://h" || cfg.Concurrency != 1 || cfg.PollInterval != 3*time.Second || cfg.Shell == "" ||
		cfg.Logger == nil || cfg.HTTPClient == nil || cfg.traceInterval != 3*time.Second || cfg.forceSend != 30*time.Second ||
		cfg.outputLimit != 4<<20 {
		t.Errorf("defaults: %+v", cfg)
	}
	for _, bad := range []Config{{URL: "http://h", BuildsDir: "/b"}, {URL: "http://h", Token: "x"}, {URL: "nope", Token: "x", BuildsDir: "/b"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("config %+v accepted", bad)
		}
	}
}
