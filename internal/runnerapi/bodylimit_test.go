package runnerapi

import (
	"strconv"
	"testing"

	"github.com/gantryci/gantry/internal/testkit"
)

// TestRunnerBodyReadAfterAuthentication: a chunked 10 MB multipart body
// without a valid job token is refused (GitLab's 403) before a byte of it
// is read, on the artifact upload and on the job update; an upload over
// the cap is 413 even when chunked.
func TestRunnerBodyReadAfterAuthentication(t *testing.T) {
	testkit.ForEachDB(t, testRunnerBodyReadAfterAuthentication)
}

func testRunnerBodyReadAfterAuthentication(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	j, tok := e.runningJob()
	read := e.srv.CountBody()
	send := func(method, path, token string, size int) int {
		body, ct := testkit.MultipartStream(size)
		hdr := map[string]string{"Content-Type": ct}
		if token != "" {
			hdr["JOB-TOKEN"] = token
		}
		status, _ := e.srv.Send(method, path, hdr, body)
		return status
	}
	id := strconv.FormatInt(j.ID, 10)
	for _, tc := range []struct{ name, method, path, token string }{
		{"upload without token", "POST", "/api/v4/jobs/" + id + "/artifacts", ""},
		{"upload with a foreign token", "POST", "/api/v4/jobs/" + id + "/artifacts", "glcbt-nope"},
		{"update with a foreign token", "PUT", "/api/v4/jobs/" + id, "glcbt-nope"},
		{"trace with a foreign token", "PATCH", "/api/v4/jobs/" + id + "/trace", "glcbt-nope"},
	} {
		read.Store(0)
		if status := send(tc.method, tc.path, tc.token, 10<<20); status != 403 {
			t.Errorf("%s: status %d, want 403", tc.name, status)
		}
		if n := read.Load(); n != 0 {
			t.Errorf("%s: handler read %d body bytes before refusing", tc.name, n)
		}
	}
	// The test runner API takes files of 1 MiB: a chunked 10 MB upload by
	// the job itself stops at the cap.
	read.Store(0)
	if status := send("POST", "/api/v4/jobs/"+id+"/artifacts", tok, 10<<20); status != 413 {
		t.Errorf("oversized upload: status %d, want 413", status)
	}
	if n, cap := read.Load(), int64(1<<20+128*(maxFieldSize+maxPartHeader)); n > cap+1 {
		t.Errorf("oversized upload: handler read %d bytes, cap %d", n, cap)
	}
}
