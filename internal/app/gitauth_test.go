package app_test

import (
	"fmt"
	"github.com/gantryci/gantry/internal/testkit/gittest"
	"os"
	"strings"
	"testing"
)

// gitAs runs git with credentials in the remote URL and reports whether it
// succeeded, with its output.
func gitAs(t *testing.T, dir string, args ...string) (bool, string) {
	t.Helper()
	out, err := gittest.Try(dir, nil, args...)
	return err == nil, out
}

// TestGitAccess checks who may clone and push over smart HTTP: members by
// role, anonymous users on public projects only, job tokens read-only while
// their job runs.
func TestGitAccess(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	priv := s.project("secret", "private")
	s.project("open", "public")
	s.push("root/secret", map[string]string{".gitlab-ci.yml": "j:\n  script: echo\n", "a.txt": "a"})
	s.push("root/open", map[string]string{"README.md": "hi"})
	repID, repTok := s.user("rep")
	devID, devTok := s.user("dev")
	_, outTok := s.user("outsider")
	s.must(201, "POST", "/api/v4/projects/1/members", rootToken, map[string]any{"user_id": repID, "access_level": 20})
	s.must(201, "POST", "/api/v4/projects/1/members", rootToken, map[string]any{"user_id": devID, "access_level": 30})
	job, jobTok := s.registerRunner().take("j")
	_ = job

	host := strings.TrimPrefix(s.URL, "http://")
	url := func(user, pass, repo string) string {
		if user == "" {
			return "http://" + host + "/" + repo + ".git"
		}
		return "http://" + user + ":" + pass + "@" + host + "/" + repo + ".git"
	}
	tests := []struct {
		name, user, pass, repo string
		push                   bool
		ok                     bool
		says                   string
	}{
		{"anonymous clones a public project", "", "", "root/open", false, true, ""},
		{"anonymous cannot clone a private project", "", "", "root/secret", false, false, "terminal prompts disabled"},
		{"anonymous cannot push to a public project", "", "", "root/open", true, false, ""},
		{"reporter clones", "rep", repTok, "root/secret", false, true, ""},
		{"reporter cannot push", "rep", repTok, "root/secret", true, false, "not allowed to push"},
		{"developer pushes", "oauth2", devTok, "root/secret", true, true, ""},
		{"outsider sees nothing", "oauth2", outTok, "root/secret", false, false, "could not be found"},
		{"bad token", "oauth2", "glpat-wrong", "root/secret", false, false, ""},
		{"running job token clones", "gitlab-ci-token", jobTok, "root/secret", false, true, ""},
		{"job token cannot push", "gitlab-ci-token", jobTok, "root/secret", true, false, ""},
		{"unknown project", "oauth2", devTok, "root/nope", false, false, "could not be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var ok bool
			var out string
			if tc.push {
				gitAs(t, dir, "init", "-q", "-b", "topic")
				_ = os.WriteFile(dir+"/f.txt", []byte(tc.name), 0o644)
				gitAs(t, dir, "add", ".")
				gitAs(t, dir, "commit", "-q", "-m", "x")
				ok, out = gitAs(t, dir, "push", "-q", url(tc.user, tc.pass, tc.repo), "topic:refs/heads/"+strings.ReplaceAll(tc.name, " ", "-"))
			} else {
				ok, out = gitAs(t, dir, "clone", "-q", url(tc.user, tc.pass, tc.repo), "c")
			}
			if ok != tc.ok {
				t.Fatalf("git ok=%v, want %v:\n%s", ok, tc.ok, out)
			}
			if tc.says != "" && !strings.Contains(out, tc.says) {
				t.Errorf("git output lacks %q:\n%s", tc.says, out)
			}
		})
	}
	// The developer's branch has no .gitlab-ci.yml: no pipeline, as GitLab.
	var pls []map[string]any
	s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines?ref=developer-pushes", priv), rootToken, nil).json(t, &pls)
	if len(pls) != 0 {
		t.Errorf("pipelines of a branch without CI config: %v", pls)
	}
}
