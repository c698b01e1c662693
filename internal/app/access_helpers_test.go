package app_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
)

// cred is how a request authenticates: a personal access token, a job
// token, or nothing.
type cred struct {
	pat, job string
}

func patCred(t string) cred { return cred{pat: t} }
func jobCred(t string) cred { return cred{job: t} }

// call sends a request with a credential; a string body is a form.
func (s *server) call(method, path string, c cred, body string) resp {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.pat != "" {
		req.Header.Set("PRIVATE-TOKEN", c.pat)
	}
	if c.job != "" {
		req.Header.Set("JOB-TOKEN", c.job)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// tokenFor creates a personal access token of a user with the given scopes
// and expiry date ("" for none), returning (id, token).
func (s *server) tokenFor(userID int64, expires string, scopes ...string) (int64, string) {
	s.t.Helper()
	body := map[string]any{"name": "t", "scopes": scopes}
	if expires != "" {
		body["expires_at"] = expires
	}
	var tok struct {
		ID    int64
		Token string
	}
	s.must(201, "POST", fmt.Sprintf("/api/v4/users/%d/personal_access_tokens", userID), rootToken, body).json(s.t, &tok)
	return tok.ID, tok.Token
}

// member adds a user to a project with a role.
func (s *server) member(project, userID int64, level int) {
	s.t.Helper()
	s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/members", project), rootToken,
		map[string]any{"user_id": userID, "access_level": level})
}

// uploadArtifact uploads a zip holding a.txt as the job's archive.
func (f *fakeRunner) uploadArtifact(id int64, token string) {
	f.s.t.Helper()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("a.txt")
	_, _ = w.Write([]byte("artifact"))
	_ = zw.Close()
	f.uploadFile(id, token, "archive", "zip", "artifacts.zip", zb.Bytes())
}

// uploadFile uploads data as the job's artifact of that type and format.
func (f *fakeRunner) uploadFile(id int64, token, typ, format, filename string, data []byte) {
	f.s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("artifact_type", typ)
	_ = mw.WriteField("artifact_format", format)
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v4/jobs/%d/artifacts", f.s.URL, id), &body)
	req.Header.Set("JOB-TOKEN", token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.s.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 201 {
		b, _ := io.ReadAll(res.Body)
		f.s.t.Fatalf("upload %s of job %d: %d %s", typ, id, res.StatusCode, b)
	}
}

// gitURL is a clone URL with Basic credentials ("" user for none).
func (s *server) gitURL(user, pass, repo string) string {
	host := strings.TrimPrefix(s.URL, "http://")
	if user == "" {
		return "http://" + host + "/" + repo + ".git"
	}
	return "http://" + user + ":" + pass + "@" + host + "/" + repo + ".git"
}

// gitPushNew pushes a new commit to a new branch and reports success and
// git's output.
func gitPushNew(t *testing.T, url, branch string) (bool, string) {
	dir := t.TempDir()
	gitAs(t, dir, "init", "-q", "-b", "topic")
	_ = os.WriteFile(dir+"/f.txt", []byte(branch), 0o644)
	gitAs(t, dir, "add", ".")
	gitAs(t, dir, "commit", "-q", "-m", "x")
	return gitAs(t, dir, "push", "-q", url, "topic:refs/heads/"+branch)
}
