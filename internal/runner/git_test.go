package runner

import (
	"github.com/gantryci/gantry/internal/testkit/gittest"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// makeBareRepo creates <root>/grp/demo.git with one commit on main and
// returns root and the commit sha.
func makeBareRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	w := gittest.NewWork(t)
	work := w.Dir
	w.Write(map[string]string{"README.md": "hello-from-git\n"})
	sha := w.Commit("init")
	root := filepath.Join(dir, "srv")
	gittest.Run(t, dir, nil, "clone", "-q", "--bare", work, filepath.Join(root, "grp", "demo.git"))
	return root, sha
}

// serveGit mounts git smart HTTP (git http-backend through CGI) under
// /grp/ with GitLab's auth: 401 challenge without credentials, Basic
// gitlab-ci-token:<valid job token> otherwise.
func serveGit(t *testing.T, s *fakeServer, root string, valid map[string]bool) func() []string {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	var mu sync.Mutex
	var log []string
	s.mux.HandleFunc("/grp/", func(w http.ResponseWriter, r *http.Request) {
		user, pw, ok := r.BasicAuth()
		mu.Lock()
		log = append(log, r.Method+" "+r.URL.Path+" auth="+user)
		mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitLab"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		if user != "gitlab-ci-token" || !valid[pw] {
			http.Error(w, "HTTP Basic: Access denied", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), log...)
	}
}

func gitJob(id int64, repoURL, sha string, extra ...Variable) Job {
	j := shellJob(id, []string{"cat README.md", "git rev-parse HEAD", "git remote get-url origin"}, nil)
	j.Variables = j.Variables[:len(j.Variables)-1] // drop GIT_STRATEGY=none
	j.Variables = append(j.Variables, extra...)
	j.GitInfo = GitInfo{
		RepoURL: repoURL, Ref: "main", Sha: sha, RefType: "branch",
		BeforeSha: "0000000000000000000000000000000000000000",
		Refspecs:  []string{"+refs/heads/main:refs/remotes/origin/main"},
		Depth:     20,
	}
	return j
}

func TestGitSources(t *testing.T) {
	t.Parallel()
	root, sha := makeBareRepo(t)
	s := newFakeServer(t)
	host := strings.TrimPrefix(s.srv.URL, "http://")
	httpURL := func(token string) string { return "http://gitlab-ci-token:" + token + "@" + host + "/grp/demo.git" }

	first := gitJob(80, httpURL("glcbt-JOBTOKEN80"), sha)
	first.Steps[0].Script = append(first.Steps[0].Script, "echo built > build.out", "touch scratch.tmp")
	first.Artifacts = []Artifact{{Name: "untracked", Untracked: true, Exclude: []string{"*.tmp"}}}
	second := gitJob(81, httpURL("glcbt-JOBTOKEN81"), sha) // fetch strategy reuses the dir
	local := gitJob(82, "file://"+filepath.Join(root, "grp", "demo.git"), sha, Variable{Key: "GIT_STRATEGY", Value: "clone"})
	local.GitInfo.Depth = 1
	denied := gitJob(83, httpURL("glcbt-WRONG"), sha)
	// Without credentials in repo_url the job token is used, as GitLab
	// deployments relying on the runner's URL expect.
	noCreds := gitJob(84, "http://"+host+"/grp/demo.git", sha)
	noCreds.Token = "glcbt-JOBTOKEN84"
	jobs := []Job{first, second, local, denied, noCreds}
	s.mu.Lock()
	s.queue = jobs
	for _, j := range jobs {
		s.finals[j.ID] = make(chan struct{})
	}
	s.mu.Unlock()
	gitLog := serveGit(t, s, root, map[string]bool{"glcbt-JOBTOKEN80": true, "glcbt-JOBTOKEN81": true, "glcbt-JOBTOKEN84": true})

	cfg := testConfig(t, s.srv.URL)
	startRunner(t, cfg)
	for _, j := range jobs {
		s.waitFinal(t, j.ID, 30*time.Second)
	}

	tests := []struct {
		id       int64
		state    string
		contains []string
	}{
		{80, "success", []string{"Fetching changes with git depth set to 20...", "Created fresh repository.",
			"Checking out " + sha[:8] + " as detached HEAD (ref is main)...", "\nhello-from-git\n", "\n" + sha + "\n",
			"\nhttp://" + host + "/grp/demo.git\n"}},
		{81, "success", []string{"Reinitialized existing Git repository", "\nhello-from-git\n"}},
		// The sandbox shows the job no host path but its own dirs: a
		// repository on the runner's disk is out of reach.
		{82, "failed", []string{"Fetching changes with git depth set to 1...", "does not appear to be a git repository"}},
		{83, "failed", []string{"ERROR: Job failed: exit status 128"}},
		{84, "success", []string{"\nhello-from-git\n"}},
	}
	for _, tc := range tests {
		tr := s.trace(tc.id)
		final := s.finalPut(t, tc.id)
		if final.state() != tc.state {
			t.Errorf("job %d: state %s, want %s; trace:\n%s", tc.id, final.state(), tc.state, tr)
			continue
		}
		for _, want := range tc.contains {
			if !strings.Contains(tr, want) {
				t.Errorf("job %d: trace lacks %q:\n%s", tc.id, want, tr)
			}
		}
		if strings.Contains(tr, "JOBTOKEN") {
			t.Errorf("job %d: trace leaks the job token", tc.id)
		}
	}
	if got := s.finalPut(t, 82).Body["failure_reason"]; got != "script_failure" {
		t.Errorf("local clone in the sandbox: failure_reason %v", got)
	}
	if got := s.finalPut(t, 83).Body["failure_reason"]; got != "script_failure" {
		t.Errorf("denied clone: failure_reason %v", got)
	}

	s.mu.Lock()
	ups := s.uploads[80]
	s.mu.Unlock()
	if len(ups) != 1 {
		t.Errorf("job 80: %d uploads, want 1", len(ups))
	} else if got := keys(zipEntries(t, ups[0].Data)); strings.Join(got, ",") != "build.out" {
		t.Errorf("untracked artifacts = %v, want [build.out]", got)
	}

	// The token must not persist in the project's git config.
	conf, err := os.ReadFile(filepath.Join(cfg.BuildsDir, "TESTRUNNE", "0", "grp", "demo", ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "JOBTOKEN") || !strings.Contains(string(conf), "url = http://"+host+"/grp/demo.git") {
		t.Errorf(".git/config:\n%s", conf)
	}
	// git got the 401 challenge first, then authenticated as gitlab-ci-token.
	joined := strings.Join(gitLog(), "\n")
	if !strings.HasPrefix(joined, "GET /grp/demo.git/info/refs auth=\n") {
		t.Errorf("first git request was not the unauthenticated probe:\n%s", joined)
	}
	if !strings.Contains(joined, "POST /grp/demo.git/git-upload-pack auth=gitlab-ci-token") {
		t.Errorf("no authenticated upload-pack; git requests:\n%s", joined)
	}
}

// TestGitSourcesLocalPathUnisolated clones a repository by file:// path,
// which only a runner without isolation can reach.
func TestGitSourcesLocalPathUnisolated(t *testing.T) {
	t.Parallel()
	root, _ := makeBareRepo(t)
	sha := gittest.Run(t, root, nil, "--git-dir", filepath.Join(root, "grp", "demo.git"), "rev-parse", "HEAD")
	local := gitJob(82, "file://"+filepath.Join(root, "grp", "demo.git"), sha, Variable{Key: "GIT_STRATEGY", Value: "clone"})
	local.GitInfo.Depth = 1
	s := newFakeServer(t, local)
	cfg := testConfig(t, s.srv.URL)
	cfg.Isolation = IsolationNone
	startRunner(t, cfg)
	s.waitFinal(t, 82, 30*time.Second)
	tr := s.trace(82)
	if st := s.finalPut(t, 82).state(); st != "success" {
		t.Fatalf("state %s; trace:\n%s", st, tr)
	}
	for _, want := range []string{"Fetching changes with git depth set to 1...", "Created fresh repository.", "\nhello-from-git\n"} {
		if !strings.Contains(tr, want) {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
}
