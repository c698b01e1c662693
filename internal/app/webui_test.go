package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive the web UI in a real headless Chromium (Debian's
// chromium package; scripts/test.sh installs it). Without a browser they
// skip, except under CI, where a missing browser fails them.

const rootPassword = "root-password-1"

// chromiumPath finds a Chromium binary.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome) and CI is set: browser tests must run in CI")
	}
	t.Skip("no Chromium found: skipping browser test (install Debian's chromium package, or run scripts/test.sh which does)")
	return ""
}

// browserPage is one headless Chromium tab on a test server.
type browserPage struct {
	t   *testing.T
	s   *server
	ctx context.Context
}

// browserSlot lets one Chromium run at a time: the tests run in parallel
// with the whole suite, and several browsers at once starve small machines.
var browserSlot = make(chan struct{}, 1)

func newBrowser(t *testing.T, s *server) *browserPage {
	t.Helper()
	path := chromiumPath(t)
	browserSlot <- struct{}{}
	t.Cleanup(func() { <-browserSlot })
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1360, 900),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("user-data-dir", t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b := &browserPage{t: t, s: s, ctx: ctx}
	b.do(chromedp.EmulateViewport(1360, 900))
	return b
}

func (b *browserPage) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browserPage) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.s.URL + path)) }

// wait evaluates a JavaScript condition until it is true, across page
// loads (a form post or a reload in between is fine).
func (b *browserPage) wait(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		var ok bool
		if ok, err = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+js+`) } catch (e) { return false } })()`)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	b.t.Fatalf("waiting for %s (last error %v)\npage: %s", what, err, body)
}

func (b *browserPage) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

func (b *browserPage) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return l
}

// signIn signs root in through the form.
func (b *browserPage) signIn() {
	b.t.Helper()
	b.open("/users/sign_in")
	b.do(chromedp.SendKeys(chromedp.CSS("#user_login"), "root"), chromedp.SendKeys(chromedp.CSS("#user_password"), rootPassword),
		chromedp.Click(chromedp.CSS("#sign_in")))
	b.wait("signed in", `document.querySelector(".who") !== null && document.querySelector(".who").textContent.includes("@root")`)
}

// shot saves a screenshot: into docs/screenshots when GANTRY_SCREENSHOTS is
// set (the README shows them), else into the test's temporary directory.
func (b *browserPage) shot(name string, sel string) {
	b.t.Helper()
	var png []byte
	var err error
	if sel == "" {
		png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	} else {
		png, err = chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	}
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := b.t.TempDir()
	if os.Getenv("GANTRY_SCREENSHOTS") != "" && !strings.Contains(b.t.Name(), "postgres") {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// setRootPassword gives root its web password through PUT /users/:id.
func (s *server) setRootPassword() {
	s.t.Helper()
	s.must(200, "PUT", "/api/v4/users/1", rootToken, map[string]any{"password": rootPassword})
}

func TestWebSignInAndPrivateProject(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		s.project("secret", "private")
		s.project("open", "public")

		// Signed out: the private project is a 404 page, the public one reads.
		res, err := http.Get(s.URL + "/root/secret/-/pipelines")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("signed-out private project: status %d, want 404", res.StatusCode)
		}
		b := newBrowser(t, s)
		b.open("/root/secret")
		b.wait("404 page", `document.querySelector(".error-page h1") && document.querySelector(".error-page h1").textContent === "404"`)
		b.open("/")
		b.wait("public project listed", `document.body.innerText.includes("open") && !document.body.innerText.includes("secret")`)

		// A wrong password is refused; the right one signs in.
		b.open("/users/sign_in")
		b.do(chromedp.SendKeys(chromedp.CSS("#user_login"), "root"), chromedp.SendKeys(chromedp.CSS("#user_password"), "wrong-password"),
			chromedp.Click(chromedp.CSS("#sign_in")))
		b.wait("refusal", `document.querySelector(".flash-error") && document.querySelector(".flash-error").textContent.includes("Invalid login or password")`)
		b.signIn()
		b.wait("private project listed", `document.body.innerText.includes("secret")`)
		b.open("/root/secret")
		b.wait("private pipelines page", `document.querySelector("h1") && document.querySelector("h1").textContent === "Pipelines"`)

		// The session cookie is HttpOnly: page scripts cannot read it.
		if c := b.eval(`document.cookie`); strings.Contains(c, "_gantry_session") {
			t.Fatalf("session cookie visible to scripts: %q", c)
		}
		// Sign out ends the session.
		b.do(chromedp.Click(chromedp.CSS(".topbar form button")))
		b.wait("signed out", `location.pathname === "/users/sign_in"`)
		b.open("/root/secret")
		b.wait("404 again", `document.querySelector(".error-page h1") && document.querySelector(".error-page h1").textContent === "404"`)
	})
}

func TestWebJobLogLiveFoldSearchRetry(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		pid := s.project("live", "private")
		s.push("root/live", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		r := s.registerRunner()
		id, tok := r.take("build")
		_ = pid

		b := newBrowser(t, s)
		b.signIn()
		b.open(fmt.Sprintf("/root/live/-/jobs/%d", id))
		b.wait("log stream open", `document.getElementById("log-lines").dataset.streaming === "1"`)

		// Lines appear as the runner writes them, a partial line included.
		off := 0
		write := func(data string) {
			t.Helper()
			if res := r.patch(id, tok, off, data); res.Status != http.StatusAccepted {
				t.Fatalf("trace patch: %d %s", res.Status, res.Body)
			}
			off += len(data)
		}
		write("\x1b[32;1mfirst line\x1b[0m\n")
		b.wait("line 1", `(document.getElementById("L1") || {textContent: ""}).textContent.includes("first line")`)
		if got := b.eval(`document.querySelector("#L1 .lc span").className`); !strings.Contains(got, "term-fg32") {
			t.Fatalf("ANSI colour not rendered: class %q", got)
		}
		write("second ")
		b.wait("partial line 2", `(document.getElementById("L2") || {textContent: ""}).textContent.includes("second")`)
		write("line\nsection_start:1700000000:prep[collapsed=true]\r\x1b[0K\x1b[36;1mPrepare things\x1b[0m\ninside one\ninside two\nsection_end:1700000003:prep\r\x1b[0K\nafter\n")
		b.wait("line 7", `(document.getElementById("L7") || {textContent: ""}).textContent.includes("after")`)
		if got := b.eval(`document.getElementById("L2").textContent`); !strings.Contains(got, "second line") {
			t.Fatalf("partial line not completed: %q", got)
		}

		// The collapsed section starts folded, shows its duration, and
		// unfolds and folds on click.
		b.wait("folded section", `document.getElementById("L4").hidden && document.getElementById("L3").classList.contains("folded")`)
		if got := b.eval(`document.querySelector("#L3 .dur").textContent`); got != "00:03" {
			t.Fatalf("section duration %q, want 00:03", got)
		}
		b.do(chromedp.Click(chromedp.CSS("#L3 .lc")))
		b.wait("unfolded", `!document.getElementById("L4").hidden && !document.getElementById("L5").hidden`)
		b.do(chromedp.Click(chromedp.CSS("#L3 .lc")))
		b.wait("folded again", `document.getElementById("L4").hidden`)

		// Search covers the whole log and unfolds the match.
		b.do(chromedp.SendKeys(chromedp.CSS("#log-search"), "inside"))
		b.wait("match count", `document.getElementById("log-count").textContent === "1 of 2"`)
		b.wait("first match shown", `document.getElementById("L4").classList.contains("current") && !document.getElementById("L4").hidden`)
		b.do(chromedp.Click(chromedp.CSS("#log-next")))
		b.wait("second match", `document.getElementById("L5").classList.contains("current") && document.getElementById("log-count").textContent === "2 of 2"`)
		b.shot("job-page.png", "")

		// The job fails; the page shows why, and Retry lands on the new job.
		if res := r.finish(id, tok, "failed", "script_failure"); res.Status != http.StatusOK {
			t.Fatalf("finish: %d %s", res.Status, res.Body)
		}
		b.wait("failure reason", `document.getElementById("failure-reason") !== null && document.getElementById("failure-reason").textContent.includes("non-zero")`)
		b.do(chromedp.Click(chromedp.CSS("#job-retry")))
		b.wait("new job page", fmt.Sprintf(`location.pathname.startsWith("/root/live/-/jobs/") && location.pathname !== "/root/live/-/jobs/%d"`, id))
		m := regexp.MustCompile(`/-/jobs/(\d+)$`).FindStringSubmatch(b.location())
		if m == nil {
			t.Fatalf("retry landed on %s", b.location())
		}
		if nid, _ := strconv.ParseInt(m[1], 10, 64); nid <= id {
			t.Fatalf("retry landed on job %d, want a new job after %d", nid, id)
		}
		b.wait("new job is pending", `document.querySelector("h1 .badge").textContent.includes("pending")`)

		// Its status follows the runner without a reload.
		b.eval(`String(window.notReloaded = true)`)
		r.take("build")
		b.wait("live status running", `window.notReloaded === true && document.querySelector("h1 .badge").textContent.includes("running")`)
	})
}

func TestWebPipelineGraphNeedsChildAndPendingReason(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		o.runners = 1
		s := startServer(t, o)
		pid := s.project("graph", "public")
		s.push("root/graph", map[string]string{
			".gitlab-ci.yml": `stages: [build, test, deploy]
compile:
  stage: build
  script: [echo compile]
lint:
  stage: build
  script: [echo lint]
unit:
  stage: test
  needs: [compile]
  script: [echo unit]
e2e:
  stage: test
  needs: [compile, lint]
  script: [echo e2e]
child:
  stage: deploy
  needs: [unit]
  trigger:
    include: child.yml
gpu:
  stage: deploy
  needs: []
  tags: [gpu]
  script: [echo gpu]
`,
			"child.yml": "child-build:\n  script: [echo child]\nchild-test:\n  needs: [child-build]\n  script: [echo test]\n",
		})
		s.waitJob(pid, "e2e", "success")
		var plID int64
		waitFor(t, "child pipeline", 60*time.Second, func() bool {
			var bridges []struct {
				PipelineID         int64 `json:"pipeline_id"`
				Pipeline           struct{ ID int64 }
				DownstreamPipeline *struct {
					ID     int64
					Status string
				} `json:"downstream_pipeline"`
			}
			var pls []struct{ ID int64 }
			s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines?source=push", pid), rootToken, nil).json(t, &pls)
			if len(pls) == 0 {
				return false
			}
			plID = pls[0].ID
			s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/bridges", pid, plID), rootToken, nil).json(t, &bridges)
			return len(bridges) == 1 && bridges[0].DownstreamPipeline != nil && bridges[0].DownstreamPipeline.Status == "success"
		})

		b := newBrowser(t, s)
		b.open(fmt.Sprintf("/root/graph/-/pipelines/%d", plID))
		b.wait("graph", `document.querySelectorAll(".graph .job-node").length === 6`)
		b.do(chromedp.Click(chromedp.CSS("#view-needs")))
		b.wait("needs edges", `document.querySelectorAll("svg.edges path").length === 4`)
		for _, e := range []string{"compile>unit", "compile>e2e", "lint>e2e", "unit>child"} {
			from, to, _ := strings.Cut(e, ">")
			if got := b.eval(fmt.Sprintf(`String(document.querySelectorAll('svg.edges path[data-from="%s"][data-to="%s"]').length)`, from, to)); got != "1" {
				t.Fatalf("edge %s: %s paths", e, got)
			}
		}
		b.do(chromedp.Click(chromedp.CSS(`.job-node[data-name="child"] .expand`)))
		b.wait("child expanded", `document.querySelector('.child-pipeline .job-node[data-name="child-test"]') !== null`)
		b.shot("pipeline-graph.png", "")

		// The gpu job waits for a runner with tag gpu, and says so.
		gpu := s.jobs(pid)["gpu"]
		b.open(fmt.Sprintf("/root/graph/-/jobs/%d", int64(gpu["id"].(float64))))
		b.wait("pending reason", `document.getElementById("pending-reason") !== null && document.querySelector("#pending-reason .tag-missing").textContent === "gpu"`)
		var reason map[string]any
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/pending_reason", pid, int64(gpu["id"].(float64))), rootToken, nil).json(t, &reason)
		if reason["reason"] != "missing_tags" || fmt.Sprint(reason["missing_tags"]) != "[gpu]" {
			t.Fatalf("pending_reason = %v", reason)
		}
	})
}

// browserless is a cookie-keeping HTTP client for the UI's form endpoints.
func browserless(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var tokenRE = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)

func TestWebSignInCSRFHeadersRawAndMasking(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		pid := s.project("raw", "private")
		s.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/variables", pid), rootToken,
			map[string]any{"key": "SECRET", "value": "hunter2-very-secret", "masked": true})
		s.push("root/raw", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		r := s.registerRunner()
		id, tok := r.take("build")
		r.patch(id, tok, 0, "0123456789\nthe secret is hunter2-very-secret\n")

		c := browserless(t)
		get := func(path string, hdr ...string) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res, string(b)
		}
		post := func(path string, form url.Values) *http.Response {
			t.Helper()
			res, err := c.PostForm(s.URL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}

		res, body := get("/users/sign_in")
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(body, "<script>") {
			t.Fatalf("CSP %q; inline script in page: %v", csp, strings.Contains(body, "<script>"))
		}
		m := tokenRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no CSRF token in the sign-in form")
		}
		login := url.Values{"user[login]": {"root"}, "user[password]": {rootPassword}}
		if res := post("/users/sign_in", login); res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("sign-in without CSRF token: %d, want 422", res.StatusCode)
		}
		login.Set("authenticity_token", m[1])
		login.Set("user[password]", "not-the-password")
		if res := post("/users/sign_in", login); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d, want 401", res.StatusCode)
		}
		login.Set("user[password]", rootPassword)
		res = post("/users/sign_in", login)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d, want 303", res.StatusCode)
		}
		var sess *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == "_gantry_session" {
				sess = ck
			}
		}
		if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax", sess)
		}

		// State-changing actions need the session's CSRF token.
		jobPath := fmt.Sprintf("/root/raw/-/jobs/%d", id)
		if res := post(jobPath+"/cancel", url.Values{}); res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("cancel without CSRF token: %d, want 422", res.StatusCode)
		}

		// The raw log honours Range and never shows a masked value.
		res, body = get(jobPath+"/raw", "Range", "bytes=2-4")
		if res.StatusCode != http.StatusPartialContent || body != "234" {
			t.Fatalf("raw range: %d %q, want 206 \"234\"", res.StatusCode, body)
		}
		_, body = get(jobPath + "/raw")
		if strings.Contains(body, "hunter2-very-secret") || !strings.Contains(body, "[MASKED]") {
			t.Fatalf("raw log shows a masked value: %q", body)
		}
		_, body = get(jobPath + "/log/search?q=secret")
		if strings.Contains(body, "hunter2") || !strings.Contains(body, `"count":1`) {
			t.Fatalf("search: %s", body)
		}

		// Every web_url the API prints opens a page.
		var job struct {
			WebURL   string `json:"web_url"`
			Pipeline struct {
				WebURL string `json:"web_url"`
			}
			User struct {
				WebURL string `json:"web_url"`
			}
			Commit struct {
				WebURL string `json:"web_url"`
			}
		}
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, id), rootToken, nil).json(t, &job)
		var proj struct {
			WebURL    string `json:"web_url"`
			Namespace struct {
				WebURL string `json:"web_url"`
			}
		}
		s.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d", pid), rootToken, nil).json(t, &proj)
		for _, u := range []string{job.WebURL, job.Pipeline.WebURL, job.User.WebURL, job.Commit.WebURL, proj.WebURL, proj.Namespace.WebURL} {
			if !strings.HasPrefix(u, s.URL+"/") {
				t.Fatalf("web_url %q is not on the server", u)
			}
			res, body := get(strings.TrimPrefix(u, s.URL))
			if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("web_url %s: %d %s", u, res.StatusCode, body[:min(len(body), 200)])
			}
		}
	})
}

// Lists follow their project's changes without a reload: the pipelines
// list shows a pipeline going from pending to running to passed as a
// runner works (badge and mini graph) and a new pipeline appearing, the
// jobs list a job starting, the projects page the last pipeline passing.
func TestWebListsLive(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		s.project("lists", "private")
		s.push("root/lists", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		r := s.registerRunner()

		b := newBrowser(t, s)
		b.signIn()
		b.open("/root/lists/-/pipelines")
		b.wait("pending pipeline", `document.querySelector("table.pipelines tbody tr .badge").textContent.includes("pending")`)
		b.wait("region stream open", `document.querySelector("[data-region]").dataset.listening === "1"`)
		b.eval(`String(window.notReloaded = true)`)
		badge := `window.notReloaded === true && document.querySelector("table.pipelines tbody tr .badge").textContent.includes(%q) && document.querySelector("table.pipelines tbody tr .mini-stage").classList.contains(%q)`

		id, tok := r.take("build")
		b.wait("pipeline running", fmt.Sprintf(badge, "running", "st-running"))
		if res := r.finish(id, tok, "success", ""); res.Status != http.StatusOK {
			t.Fatalf("finish: %d %s", res.Status, res.Body)
		}
		b.wait("pipeline passed", fmt.Sprintf(badge, "passed", "st-success"))

		// A new pipeline (a tag pushed) appears at the top.
		s.push("root/lists", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"}, "v2")
		b.wait("new pipeline listed", `window.notReloaded === true && document.querySelectorAll("table.pipelines tbody tr").length === 2 && document.querySelector("table.pipelines tbody tr .badge").textContent.includes("pending")`)

		// The jobs list follows the job the runner takes.
		b.open("/root/lists/-/jobs")
		b.wait("jobs region stream open", `document.querySelector("[data-region]").dataset.listening === "1" && document.querySelector("table.jobs tbody tr .badge").textContent.includes("pending")`)
		b.eval(`String(window.notReloaded = true)`)
		id, tok = r.take("build")
		b.wait("job running in the list", `window.notReloaded === true && document.querySelector("table.jobs tbody tr .badge").textContent.includes("running")`)

		// The projects page follows the last pipeline.
		b.open("/")
		b.wait("projects region stream open", `document.querySelector("[data-region]").dataset.listening === "1" && document.querySelector(".projects .last .badge").textContent.includes("running")`)
		b.eval(`String(window.notReloaded = true)`)
		if res := r.finish(id, tok, "failed", "script_failure"); res.Status != http.StatusOK {
			t.Fatalf("finish: %d %s", res.Status, res.Body)
		}
		b.wait("last pipeline failed", `window.notReloaded === true && document.querySelector(".projects .last .badge").textContent.includes("failed")`)
	})
}
