package gitserve

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"github.com/gantryci/gantry/internal/testkit/gittest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gantryci/gantry/internal/gitrepo"
)

const (
	token     = "s3cret-token"
	readToken = "read-only-token"
)

// testProject is one hosted repository of the test server.
type testProject struct {
	id     int64
	public bool
	dir    string
}

// reqRecord is what the server saw of one request.
type reqRecord struct {
	method, path, query string
	authed              bool
	gitProtocol         string
	status              int
	challenge           string
}

type pushCall struct {
	target  Target
	updates []RefUpdate
}

// testServer is a gitserve handler on a loopback httptest.Server with an
// in-memory project table. Resolve mimics GitLab: anonymous callers get
// 401 for anything they may not read; user oauth2 with token may write;
// readToken may only read.
type testServer struct {
	t        *testing.T
	srv      *httptest.Server
	projects map[string]*testProject

	mu     sync.Mutex
	reqs   []reqRecord
	pushes []pushCall
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{t: t, projects: map[string]*testProject{}}
	root := t.TempDir()
	for i, p := range []struct {
		path   string
		public bool
	}{
		{"grp/public", true},
		{"grp/private", false},
		{"grp/sub/deep", false},
	} {
		dir := filepath.Join(root, "repos", fmt.Sprintf("%d.git", i+1))
		if _, err := gitrepo.Init(context.Background(), dir, "main"); err != nil {
			t.Fatal(err)
		}
		ts.projects[p.path] = &testProject{id: int64(i + 1), public: p.public, dir: dir}
	}
	h := New(Config{
		Resolve: ts.resolve,
		OnPush: func(ctx context.Context, tg Target, updates []RefUpdate) {
			if ctx.Err() != nil {
				t.Errorf("OnPush context already done: %v", ctx.Err())
			}
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.pushes = append(ts.pushes, pushCall{target: tg, updates: updates})
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	ts.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		_, _, authed := r.BasicAuth()
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, reqRecord{
			method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, authed: authed,
			gitProtocol: r.Header.Get("Git-Protocol"), status: rec.status,
			challenge: rec.Header().Get("WWW-Authenticate"),
		})
		ts.mu.Unlock()
	}))
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *testServer) resolve(_ context.Context, fullPath string, access Access, user, pass string, ok bool) (Target, error) {
	p := ts.projects[fullPath]
	var uid int64
	switch {
	case ok && user == "oauth2" && pass == token:
		uid = 7
	case ok && user == "oauth2" && pass == readToken:
		uid = 8
	case ok:
		return Target{}, ErrUnauthorized
	}
	if p == nil {
		if uid == 0 {
			// Like GitLab: do not reveal to anonymous callers whether a
			// private project exists.
			return Target{}, ErrUnauthorized
		}
		return Target{}, ErrNotFound
	}
	if uid == 0 && (access == Write || !p.public) {
		return Target{}, ErrUnauthorized
	}
	if access == Write && uid == 8 {
		return Target{}, fmt.Errorf("read-only token: %w", ErrForbidden)
	}
	return Target{ProjectID: p.id, RepoDir: p.dir, UserID: uid, Extra: fullPath}, nil
}

// url returns the clone URL of a project; creds is "" or "user:pass".
func (ts *testServer) url(creds, path string) string {
	u, err := url.Parse(ts.srv.URL)
	if err != nil {
		ts.t.Fatal(err)
	}
	if user, pass, ok := strings.Cut(creds, ":"); ok {
		u.User = url.UserPassword(user, pass)
	}
	return u.String() + "/" + path
}

// takePushes returns and forgets the OnPush calls seen so far.
func (ts *testServer) takePushes() []pushCall {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := ts.pushes
	ts.pushes = nil
	return p
}

func (ts *testServer) takeReqs() []reqRecord {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	r := ts.reqs
	ts.reqs = nil
	return r
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer's Flush.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// runGit runs git in dir (also its HOME) and returns its trimmed combined
// output and error.
func runGit(dir string, args ...string) (string, error) {
	out, err := gittest.Try(dir, gittest.Env("HOME="+dir), args...)
	return strings.TrimSpace(out), err
}

func mustGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// newWork makes a working copy whose origin is remote.
func newWork(t *testing.T, remote string) string {
	t.Helper()
	dir := t.TempDir()
	mustGit(t, dir, "init", "-q", "-b", "main")
	mustGit(t, dir, "remote", "add", "origin", remote)
	return dir
}

// commitFile writes name and commits it, returning the commit sha.
func commitFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, dir, "add", name)
	mustGit(t, dir, "commit", "-q", "-m", "change "+name)
	return mustGit(t, dir, "rev-parse", "HEAD")
}

func TestIsGitPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path     string
		want     bool
		fullPath string
	}{
		{"/ns/proj.git/info/refs", true, "ns/proj"},
		{"/ns/proj.git/git-upload-pack", true, "ns/proj"},
		{"/ns/proj.git/git-receive-pack", true, "ns/proj"},
		{"/ns/sub/proj.git/info/refs", true, "ns/sub/proj"},
		{"/ns/proj/info/refs", true, "ns/proj"},
		{"/ns/my.proj-1_x/git-upload-pack", true, "ns/my.proj-1_x"},
		{"/proj.git/info/refs", false, ""},
		{"/ns/proj.git/HEAD", false, ""},
		{"/ns/proj.git/objects/info/packs", false, ""},
		{"/ns/proj.git/info/refs/", false, ""},
		{"/ns/../proj.git/info/refs", false, ""},
		{"/ns//proj.git/info/refs", false, ""},
		{"/ns/-proj.git/info/refs", false, ""},
		{"/ns/pro j.git/info/refs", false, ""},
		{"ns/proj.git/info/refs", false, ""},
		{"/api/v4/jobs/request", false, ""},
		{"/", false, ""},
	}
	for _, tt := range tests {
		if got := IsGitPath(tt.path); got != tt.want {
			t.Errorf("IsGitPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
		if fp, _, _ := parsePath(tt.path); fp != tt.fullPath {
			t.Errorf("parsePath(%q) full path = %q, want %q", tt.path, fp, tt.fullPath)
		}
	}
}

func TestPushUpdates(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	work := newWork(t, ts.url("oauth2:"+token, "grp/private.git"))
	zero := gitrepo.ZeroSHA

	var c1, c2, c3, c4 string
	var tagObj string
	steps := []struct {
		name    string
		do      func(t *testing.T) []string // returns the push arguments
		wantErr bool
		want    func() []RefUpdate // nil: no OnPush call
	}{
		{
			name: "create branch and annotated tag in one push",
			do: func(t *testing.T) []string {
				c1 = commitFile(t, work, "a.txt", "one\n")
				mustGit(t, work, "tag", "-a", "-m", "release 1", "v1")
				tagObj = mustGit(t, work, "rev-parse", "refs/tags/v1")
				return []string{"origin", "main", "v1"}
			},
			want: func() []RefUpdate {
				return []RefUpdate{{"refs/heads/main", zero, c1}, {"refs/tags/v1", zero, tagObj}}
			},
		},
		{
			name: "fast-forward update",
			do: func(t *testing.T) []string {
				c2 = commitFile(t, work, "a.txt", "two\n")
				return []string{"origin", "main"}
			},
			want: func() []RefUpdate { return []RefUpdate{{"refs/heads/main", c1, c2}} },
		},
		{
			name: "force push",
			do: func(t *testing.T) []string {
				mustGit(t, work, "commit", "-q", "--amend", "-m", "rewritten")
				c3 = mustGit(t, work, "rev-parse", "HEAD")
				return []string{"--force", "origin", "main"}
			},
			want: func() []RefUpdate { return []RefUpdate{{"refs/heads/main", c2, c3}} },
		},
		{
			name: "two refs at once: create a branch and update another",
			do: func(t *testing.T) []string {
				mustGit(t, work, "branch", "feature", c1)
				c4 = commitFile(t, work, "b.txt", "b\n")
				return []string{"origin", "main", "feature"}
			},
			want: func() []RefUpdate {
				return []RefUpdate{{"refs/heads/feature", zero, c1}, {"refs/heads/main", c3, c4}}
			},
		},
		{
			name: "delete branch and tag",
			do:   func(t *testing.T) []string { return []string{"origin", ":feature", ":refs/tags/v1"} },
			want: func() []RefUpdate {
				return []RefUpdate{{"refs/heads/feature", c1, zero}, {"refs/tags/v1", tagObj, zero}}
			},
		},
		{
			name:    "push to an internal ref is refused",
			do:      func(t *testing.T) []string { return []string{"origin", "main:refs/pipelines/1"} },
			wantErr: true,
		},
		{
			name: "nothing to push",
			do:   func(t *testing.T) []string { return []string{"origin", "main"} },
		},
	}
	// The steps build on each other, so they run in order.
	for _, st := range steps {
		args := st.do(t)
		out, err := runGit(work, append([]string{"push"}, args...)...)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: git push err = %v, wantErr %v\n%s", st.name, err, st.wantErr, out)
		}
		pushes := ts.takePushes()
		if st.want == nil {
			if len(pushes) != 0 {
				t.Errorf("%s: unexpected OnPush %+v", st.name, pushes)
			}
			continue
		}
		if len(pushes) != 1 {
			t.Fatalf("%s: %d OnPush calls, want 1: %+v", st.name, len(pushes), pushes)
		}
		got := pushes[0]
		if got.target.ProjectID != 2 || got.target.UserID != 7 || got.target.Extra != "grp/private" {
			t.Errorf("%s: target = %+v", st.name, got.target)
		}
		if want := st.want(); !slices.Equal(got.updates, want) {
			t.Errorf("%s: updates = %+v, want %+v", st.name, got.updates, want)
		}
	}

	// The first request of a push carries no credentials even though the
	// URL has them; the 401 challenge is what makes git send them.
	reqs := ts.takeReqs()
	if len(reqs) < 2 || reqs[0].authed || reqs[0].status != http.StatusUnauthorized ||
		reqs[0].challenge != `Basic realm="GitLab"` || !reqs[1].authed || reqs[1].status != http.StatusOK {
		t.Errorf("expected 401 challenge then authenticated request, got %+v", reqs[:min(2, len(reqs))])
	}
}

func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	remote := ts.url("oauth2:"+token, "grp/sub/deep.git")
	const n = 4
	works := make([]string, n)
	shas := make([]string, n)
	for i := range works {
		works[i] = newWork(t, remote)
		shas[i] = commitFile(t, works[i], "f.txt", fmt.Sprintf("writer %d\n", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range works {
		wg.Go(func() {
			out, err := runGit(works[i], "push", "origin", fmt.Sprintf("main:refs/heads/b%d", i))
			if err != nil {
				errs[i] = fmt.Errorf("%w: %s", err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	pushes := ts.takePushes()
	if len(pushes) != n {
		t.Fatalf("%d OnPush calls, want %d", len(pushes), n)
	}
	seen := map[string]bool{}
	for _, p := range pushes {
		if len(p.updates) != 1 {
			t.Fatalf("push reported %d updates, want exactly its own: %+v", len(p.updates), p.updates)
		}
		u := p.updates[0]
		var i int
		if _, err := fmt.Sscanf(u.Ref, "refs/heads/b%d", &i); err != nil || u.NewSHA != shas[i] || !gitrepo.IsZeroSHA(u.OldSHA) {
			t.Errorf("unexpected update %+v", u)
		}
		seen[u.Ref] = true
	}
	if len(seen) != n {
		t.Errorf("refs reported: %v", seen)
	}
}

func TestLargePushAndClone(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	remote := ts.url("oauth2:"+token, "grp/private.git")
	work := newWork(t, remote)
	// Random data does not compress, so the pack exceeds git's 1 MiB
	// http.postBuffer and goes out as a chunked request body.
	big := make([]byte, 3<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	sha := commitFile(t, work, "big.bin", string(big))
	mustGit(t, work, "push", "origin", "main")
	if p := ts.takePushes(); len(p) != 1 || p[0].updates[0].NewSHA != sha {
		t.Fatalf("OnPush = %+v", p)
	}
	dst := filepath.Join(t.TempDir(), "clone")
	mustGit(t, filepath.Dir(dst), "clone", "-q", remote, dst)
	got, err := os.ReadFile(filepath.Join(dst, "big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("cloned big.bin differs (err %v)", err)
	}
}

func TestFetchProtocols(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	pushURL := ts.url("oauth2:"+token, "grp/private.git")
	work := newWork(t, pushURL)
	c1 := commitFile(t, work, "a.txt", "1\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	// A persistent pipeline ref, fetched the way gitlab-runner does.
	repo := gitrepo.Open(ts.projects["grp/private"].dir)
	if err := repo.UpdateRef(ctx, "refs/pipelines/42", c1); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, version, path, wantHeader string
	}{
		{"v2", "2", "grp/private.git", "version=2"},
		{"v1", "1", "grp/private.git", "version=1"},
		{"v0", "0", "grp/private.git", ""},
		{"v2 without .git suffix", "2", "grp/private", "version=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Subtests share the repository but only read it.
			remote := ts.url("oauth2:"+token, tt.path)
			dst := filepath.Join(t.TempDir(), "clone")
			mustGit(t, filepath.Dir(dst), "-c", "protocol.version="+tt.version, "clone", "-q", remote, dst)
			if got := mustGit(t, dst, "rev-parse", "HEAD"); got != c1 {
				t.Fatalf("cloned HEAD = %s, want %s", got, c1)
			}
			// The runner's way: init + fetch with explicit refspecs.
			fw := t.TempDir()
			mustGit(t, fw, "init", "-q")
			mustGit(t, fw, "remote", "add", "origin", remote)
			mustGit(t, fw, "-c", "protocol.version="+tt.version, "fetch", "-q", "origin",
				"+refs/pipelines/42:refs/pipelines/42", "+refs/heads/main:refs/remotes/origin/main", "--depth", "1")
			if got := mustGit(t, fw, "rev-parse", "refs/pipelines/42"); got != c1 {
				t.Errorf("fetched pipeline ref = %s, want %s", got, c1)
			}
		})
	}

	// Fetch picks up a new commit, in each protocol version.
	c2 := commitFile(t, work, "a.txt", "2\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	for _, v := range []string{"0", "2"} {
		dst := filepath.Join(t.TempDir(), "clone")
		mustGit(t, filepath.Dir(dst), "clone", "-q", pushURL, dst)
		mustGit(t, dst, "reset", "-q", "--hard", c1)
		mustGit(t, dst, "-c", "protocol.version="+v, "fetch", "-q", "origin")
		if got := mustGit(t, dst, "rev-parse", "origin/main"); got != c2 {
			t.Errorf("protocol %s: fetched origin/main = %s, want %s", v, got, c2)
		}
	}

	var sawV2 bool
	for _, r := range ts.takeReqs() {
		if r.gitProtocol == "version=2" && r.status == http.StatusOK {
			sawV2 = true
		}
	}
	if !sawV2 {
		t.Error("no successful request carried Git-Protocol: version=2")
	}

	// http-backend must really answer in protocol v2 when asked to.
	for _, tt := range []struct {
		header, want string
	}{
		{"version=2", "version 2"},
		{"", "# service=git-upload-pack"},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/grp/private.git/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("oauth2", token)
		if tt.header != "" {
			req.Header.Set("Git-Protocol", tt.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.want) ||
			resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
			t.Errorf("Git-Protocol %q: %d %s %q", tt.header, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestGitClientAuth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	seed := newWork(t, ts.url("oauth2:"+token, "grp/public.git"))
	commitFile(t, seed, "a.txt", "a\n")
	mustGit(t, seed, "push", "-q", "origin", "main")
	seedPriv := newWork(t, ts.url("oauth2:"+token, "grp/private.git"))
	commitFile(t, seedPriv, "a.txt", "a\n")
	mustGit(t, seedPriv, "push", "-q", "origin", "main")
	ts.takePushes()

	tests := []struct {
		name    string
		op      string // clone or push
		creds   string
		path    string
		wantErr string // substring of git's output; "" means success
	}{
		{"anonymous clone of public project", "clone", "", "grp/public.git", ""},
		{"anonymous clone of private project", "clone", "", "grp/private.git", "could not read Username"},
		{"clone with token", "clone", "oauth2:" + token, "grp/private.git", ""},
		{"clone with job-style read token", "clone", "oauth2:" + readToken, "grp/private.git", ""},
		{"clone with wrong token", "clone", "oauth2:wrong", "grp/private.git", "Authentication failed"},
		{"clone unknown project", "clone", "oauth2:" + token, "grp/nope.git", "could not be found"},
		{"anonymous push to public project", "push", "", "grp/public.git", "could not read Username"},
		{"push with read-only token", "push", "oauth2:" + readToken, "grp/public.git", "403"},
		{"push with token", "push", "oauth2:" + token, "grp/public.git", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := ts.url(tt.creds, tt.path)
			var out string
			var err error
			switch tt.op {
			case "clone":
				dir := t.TempDir()
				out, err = runGit(dir, "clone", remote, filepath.Join(dir, "c"))
			case "push":
				w := newWork(t, remote)
				mustGit(t, w, "fetch", "-q", ts.url("", "grp/public.git"), "main")
				mustGit(t, w, "reset", "-q", "--hard", "FETCH_HEAD")
				commitFile(t, w, "n.txt", tt.name)
				out, err = runGit(w, "push", "origin", "HEAD:refs/heads/"+strings.ReplaceAll(tt.name, " ", "-"))
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("git %s: %v\n%s", tt.op, err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tt.wantErr) {
				t.Fatalf("git %s: err = %v, want failure mentioning %q\n%s", tt.op, err, tt.wantErr, out)
			}
		})
	}
	// Only the successful push reached OnPush (subtests run in order).
	pushes := ts.takePushes()
	if len(pushes) != 1 || len(pushes[0].updates) != 1 || pushes[0].updates[0].Ref != "refs/heads/push-with-token" {
		t.Errorf("OnPush calls = %+v", pushes)
	}
}

func TestHTTPResponses(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	seed := newWork(t, ts.url("oauth2:"+token, "grp/public.git"))
	sha := commitFile(t, seed, "a.txt", "a\n")
	mustGit(t, seed, "push", "-q", "origin", "main")

	// A v0 stateless upload-pack request asking for one commit, gzipped
	// the way git compresses large negotiation requests.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, "%04x%s", 4+len("want "+sha+"\n"), "want "+sha+"\n")
	fmt.Fprint(zw, "0000", "0009done\n")
	zw.Close()

	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		header     map[string]string
		body       []byte
		wantStatus int
		wantBody   string
		wantHeader map[string]string
	}{
		{
			name: "401 challenge for anonymous private read", method: "GET",
			path: "/grp/private.git/info/refs?service=git-upload-pack", wantStatus: 401,
			wantBody:   "HTTP Basic: Access denied",
			wantHeader: map[string]string{"WWW-Authenticate": `Basic realm="GitLab"`},
		},
		{
			name: "401 challenge for anonymous push advertisement", method: "GET",
			path: "/grp/public.git/info/refs?service=git-receive-pack", wantStatus: 401,
			wantHeader: map[string]string{"WWW-Authenticate": `Basic realm="GitLab"`},
		},
		{
			name: "403 for read-only push", method: "GET", auth: readToken,
			path: "/grp/public.git/info/refs?service=git-receive-pack", wantStatus: 403,
			wantBody: "You are not allowed to push code to this project.",
		},
		{
			name: "404 unknown project", method: "GET", auth: token,
			path: "/grp/nope.git/info/refs?service=git-upload-pack", wantStatus: 404,
			wantBody: "could not be found",
		},
		{
			name: "dumb protocol unsupported", method: "GET", auth: token,
			path: "/grp/public.git/info/refs", wantStatus: 403,
		},
		{
			name: "GET on upload-pack", method: "GET",
			path: "/grp/public.git/git-upload-pack", wantStatus: 405,
		},
		{
			name: "not a git path", method: "GET",
			path: "/grp/public.git/HEAD", wantStatus: 404,
		},
		{
			name: "anonymous advertisement of public project", method: "GET",
			path: "/grp/public.git/info/refs?service=git-upload-pack", wantStatus: 200,
			wantBody:   "refs/heads/main",
			wantHeader: map[string]string{"Content-Type": "application/x-git-upload-pack-advertisement"},
		},
		{
			name: "gzip upload-pack request", method: "POST",
			path:       "/grp/public.git/git-upload-pack",
			header:     map[string]string{"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"},
			body:       gz.Bytes(),
			wantStatus: 200, wantBody: "PACK",
			wantHeader: map[string]string{"Content-Type": "application/x-git-upload-pack-result"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, ts.srv.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.SetBasicAuth("oauth2", tt.auth)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(got), tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, resp.StatusCode, got, tt.wantStatus, tt.wantBody)
			}
			for k, v := range tt.wantHeader {
				if resp.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
		})
	}
}

func TestDenyCustomMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"custom forbidden", Deny(ErrForbidden, "You are not allowed to push code to protected branches on this project."), 403,
			"You are not allowed to push code to protected branches on this project.\n"},
		{"wrapped not found", fmt.Errorf("lookup: %w", ErrNotFound), 404, msgNotFound + "\n"},
		{"other error", fmt.Errorf("db down"), 500, msgInternalError + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := New(Config{
				Resolve: func(context.Context, string, Access, string, string, bool) (Target, error) {
					return Target{}, tt.err
				},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/a/b.git/info/refs?service=git-receive-pack", nil))
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
		})
	}
}
