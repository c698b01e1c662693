package app_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gantryci/gantry/internal/testkit"
)

// evalAsync evaluates a JavaScript expression that yields a promise of a
// string.
func (b *browserPage) evalAsync(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

// zipOf builds a zip archive of name → content.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWebArtifactsBrowseAndDownload(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		projID := s.project("arts", "public")
		s.push("root/arts", map[string]string{".gitlab-ci.yml": `build:
  stage: build
  script: [make]
  artifacts:
    paths: [out/]
private:
  script: [make]
  artifacts:
    access: developer
    paths: [out/]
`})
		r := s.registerRunner()
		id, tok := r.take("build")
		r.uploadFile(id, tok, "archive", "zip", "artifacts.zip", zipOf(t, map[string]string{
			"out/report.txt": "the report", "out/deep/inner.json": `{"ok":true}`, "top.txt": "top",
		}))
		r.finish(id, tok, "success", "")
		pid, ptok := r.take("private")
		r.uploadFile(pid, ptok, "archive", "zip", "artifacts.zip", zipOf(t, map[string]string{"secret.txt": "s"}))
		r.finish(pid, ptok, "success", "")

		b := newBrowser(t, s)
		b.signIn()
		b.open(fmt.Sprintf("/root/arts/-/jobs/%d", id))
		b.wait("artifacts on the job page", `document.getElementById("artifacts-browse") !== null`)
		b.do(chromedp.Click(chromedp.CSS("#artifacts-browse")))
		b.wait("root listing", `document.querySelectorAll("#artifacts-list .artifact-dir").length === 1 && document.querySelectorAll("#artifacts-list .artifact-file").length === 1`)
		if got := b.eval(`document.querySelector("#artifacts-list .artifact-dir").textContent`); !strings.Contains(got, "out/") {
			t.Fatalf("directory entry %q", got)
		}
		b.do(chromedp.Click(chromedp.CSS("#artifacts-list .artifact-dir")))
		b.wait("out/ listing", `location.pathname.endsWith("/artifacts/browse/out") && document.querySelector("#artifacts-list .artifact-dir").textContent.includes("deep") && document.querySelector("#artifacts-list .artifact-file").textContent === "report.txt"`)
		// One file and the whole archive download from the page's links.
		got := b.evalAsync(`(async () => { const r = await fetch(document.querySelector("#artifacts-list .artifact-file").href); return r.status + " " + r.headers.get("Content-Disposition").split(";")[0] + " " + await r.text() })()`)
		if got != "200 attachment the report" {
			t.Fatalf("file download: %q", got)
		}
		got = b.evalAsync(`(async () => { const r = await fetch(document.getElementById("artifacts-download").href); const b = new Uint8Array(await r.arrayBuffer()); return r.status + " " + String.fromCharCode(b[0], b[1]) })()`)
		if got != "200 PK" {
			t.Fatalf("archive download: %q", got)
		}
		b.open(fmt.Sprintf("/root/arts/-/jobs/%d/artifacts/browse/nope", id))
		b.wait("unknown directory is 404", `document.querySelector(".error-page h1") && document.querySelector(".error-page h1").textContent === "404"`)

		// Signed out, the policy's artifact rules decide as in the API:
		// access: all reads on a public project, access: developer does not.
		get := func(path string) (int, string) {
			t.Helper()
			res, err := http.Get(s.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(body)
		}
		if st, body := get(fmt.Sprintf("/root/arts/-/jobs/%d/artifacts/raw/top.txt", id)); st != 200 || body != "top" {
			t.Fatalf("public file signed out: %d %q", st, body)
		}
		for _, path := range []string{"browse", "download", "file/secret.txt"} {
			web, _ := get(fmt.Sprintf("/root/arts/-/jobs/%d/artifacts/%s", pid, path))
			api := s.call("GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/artifacts", projID, pid), cred{}, "").Status
			// The API answers an anonymous refusal 401, the UI's page 403.
			if web != http.StatusForbidden || api != http.StatusUnauthorized {
				t.Fatalf("access: developer signed out, %s: web %d, API %d, want 403 and 401", path, web, api)
			}
		}
		if st, body := get(fmt.Sprintf("/root/arts/-/jobs/%d", pid)); st != 200 || strings.Contains(body, "artifacts-browse") {
			t.Fatalf("job page offers artifacts the viewer may not read: %d", st)
		}
	})
}

func TestWebRunnersPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, o serverOpts) {
		s := startServer(t, o)
		s.setRootPassword()
		s.project("fleet", "private")
		s.push("root/fleet", map[string]string{".gitlab-ci.yml": `build:
  stage: build
  script: [make]
later:
  stage: test
  script: [make]
gpu:
  stage: deploy
  needs: []
  tags: [gpu]
  script: [train]
`})
		busy := s.registerRunner("linux")
		gpu := s.registerRunner("gpu")
		paused := s.registerRunner("gpu", "linux")
		var runners []struct{ ID int64 }
		s.must(200, "GET", "/api/v4/runners/all", rootToken, nil).json(t, &runners)
		var pausedID int64
		for _, r := range runners {
			pausedID = max(pausedID, r.ID)
		}
		s.must(200, "PUT", fmt.Sprintf("/api/v4/runners/%d", pausedID), rootToken, map[string]any{"paused": true})
		id, tok := busy.take("build")
		_ = gpu
		_ = paused

		b := newBrowser(t, s)
		b.signIn()
		b.open("/admin/runners")
		b.wait("three runners", `document.querySelectorAll("#runners tbody tr").length === 3`)
		row := func(id int64, js string) string {
			return fmt.Sprintf(`(r => r !== null && (%s))(document.getElementById("runner-%d"))`, js, id)
		}
		// The busy runner is online, runs build (linked), and no pending job
		// is its alone; the gpu job is the gpu runner's alone: the paused
		// runner has the tag too but cannot take it now.
		b.wait("busy runner", row(pausedID-2, fmt.Sprintf(`r.dataset.runnerStatus === "online" && r.querySelector(".runner-running a").getAttribute("href") === "/root/fleet/-/jobs/%d" && r.querySelector(".runner-only").textContent.includes("none")`, id)))
		b.wait("gpu runner", row(pausedID-1, `r.dataset.runnerStatus === "online" && r.querySelector(".runner-only a").textContent.startsWith("gpu #") && r.querySelector(".runner-tags").textContent.includes("gpu")`))
		b.wait("paused runner", row(pausedID, `r.dataset.runnerStatus === "paused" && r.querySelector(".runner-only").textContent.includes("none") && r.querySelector(".runner-only div.muted").textContent.startsWith("1 pending")`))
		if got := b.eval(fmt.Sprintf(`document.querySelector("#runner-%d td:nth-child(3)").textContent`, pausedID-2)); got != "17.0.0" {
			t.Fatalf("version %q", got)
		}

		// Live: the page follows changes; the busy runner's next job shows
		// up without a manual reload.
		b.wait("listening", `document.querySelector("[data-reload-on]").dataset.listening === "2"`)
		busy.finish(id, tok, "success", "")
		later, _ := busy.take("later")
		b.wait("new running job", row(pausedID-2, fmt.Sprintf(`r.querySelector(".runner-running a") !== null && r.querySelector(".runner-running a").getAttribute("href") === "/root/fleet/-/jobs/%d"`, later)))

		// The project's page lists the runners that serve it.
		b.open("/root/fleet/-/runners")
		b.wait("project runners", `document.querySelectorAll("#runners tbody tr").length === 3 && document.querySelector(".project-tabs a.active").textContent === "Runners"`)

		// Others: /admin/runners is a 404, the project's page too for a
		// non-member.
		res, err := http.Get(s.URL + "/admin/runners")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("signed-out /admin/runners: %d, want 404", res.StatusCode)
		}
	})
}

// sseClient reads a Server-Sent Events stream, delivering each event's data.
func sseClient(t *testing.T, url string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d", url, res.StatusCode)
	}
	out := make(chan string, 100)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- d
			}
		}
	}()
	return out
}

// awaitData waits for an SSE event whose data contains want.
func awaitData(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case d := <-ch:
			if strings.Contains(d, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no event with %q", want)
		}
	}
}

// TestWebLiveAcrossCoordinators: a page served by coordinator A follows a
// job whose runner talks to coordinator B (one PostgreSQL database): the
// log lines and the status changes arrive through LISTEN/NOTIFY.
func TestWebLiveAcrossCoordinators(t *testing.T) {
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
		if db != testkit.Postgres {
			t.Skip("several coordinators share a PostgreSQL database only")
		}
		a := startServer(t, serverOpts{db: db})
		b := startServer(t, serverOpts{dbURL: a.DB, dataDir: a.Data})
		pid := a.project("shared", "public")
		a.push("root/shared", map[string]string{".gitlab-ci.yml": "build:\n  script: [make]\n"})
		r := b.registerRunner()
		id, tok := r.take("build")

		logs := sseClient(t, fmt.Sprintf("%s/root/shared/-/jobs/%d/log/stream?line=1", a.URL, id))
		var pl struct {
			Pipeline struct{ ID int64 }
		}
		a.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", pid, id), rootToken, nil).json(t, &pl)
		statuses := sseClient(t, fmt.Sprintf("%s/root/shared/-/events?pipeline=%d", a.URL, pl.Pipeline.ID))
		awaitData(t, statuses, `"status":"running"`)

		if res := r.patch(id, tok, 0, "written through B\n"); res.Status != http.StatusAccepted {
			t.Fatalf("patch: %d", res.Status)
		}
		awaitData(t, logs, "written through B")
		if res := r.patch(id, tok, 18, "and again\n"); res.Status != http.StatusAccepted {
			t.Fatalf("patch: %d", res.Status)
		}
		awaitData(t, logs, "and again")
		if res := r.finish(id, tok, "success", ""); res.Status != http.StatusOK {
			t.Fatalf("finish: %d", res.Status)
		}
		awaitData(t, statuses, `"kind":"job","id":`+strconv.FormatInt(id, 10)+`,"status":"success"`)
		awaitData(t, logs, `"status":"success"`)
	})
}
