package api_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"github.com/gantryci/gantry/internal/testkit"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
)

// raZip builds a zip archive of name → content; names ending in / are
// directories.
func raZip(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// raPipeline stores a pipeline of ref with builds; each job's status is
// its pipeline's unless set.
func (e *raEnv) raPipeline(p *ci.Project, ref string, status ci.Status, jobs ...*ci.Job) *ci.Pipeline {
	e.t.Helper()
	for _, j := range jobs {
		j.Definition = []byte(`{}`)
	}
	return e.Pipeline(p, &ci.Pipeline{Ref: ref, SHA: strings.Repeat("c", 40), Status: status}, jobs...)
}

// raArtifact stores data as a blob and an artifact row of the job.
func (e *raEnv) raArtifact(j *ci.Job, fileType, filename string, data []byte, expire *time.Time) *ci.Artifact {
	e.t.Helper()
	key := fmt.Sprintf("artifacts/%d/%s", j.ID, filename)
	n, err := e.blobs.Put(e.ctx, key, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	format := "raw"
	if fileType == "archive" {
		format = "zip"
	}
	a := &ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: fileType, FileFormat: format, Filename: filename,
		Size: n, BlobKey: key, ExpireAt: expire}
	if err := e.st.CreateArtifact(e.ctx, a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// raArtifactEnv is a project with a successful "build" job on main whose
// archive holds two files, plus a trace and metadata.
type raArtifactEnv struct {
	*raEnv
	build   *ci.Job
	archive []byte
	base    string // /projects/:id/jobs/:build
}

func newRAArtifactEnv(t *testing.T, db testkit.DB) *raArtifactEnv {
	e := newRAEnv(t, db)
	build := &ci.Job{Name: "build"}
	e.raPipeline(e.proj, "main", ci.StatusSuccess, build)
	archive := raZip(t, map[string]string{"out/a.txt": "hello\n", "bin/tool": "\x7fELF", "out/": ""})
	later := time.Now().UTC().Add(24 * time.Hour)
	e.raArtifact(build, "archive", "artifacts.zip", archive, &later)
	e.raArtifact(build, "metadata", "metadata.gz", []byte("meta"), &later)
	e.raArtifact(build, "trace", "job.log", []byte("log"), nil)
	return &raArtifactEnv{raEnv: e, build: build, archive: archive,
		base: fmt.Sprintf("/projects/%d/jobs/%d", e.proj.ID, build.ID)}
}

func TestArtifactDownload(t *testing.T) { testkit.ForEachDB(t, testArtifactDownload) }

func testArtifactDownload(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)
	pid := strconv.FormatInt(e.proj.ID, 10)

	r := e.do("GET", e.base+"/artifacts", "rep", nil)
	r.want(t, 200, "")
	if !bytes.Equal(r.body, e.archive) {
		t.Fatalf("archive bytes differ (%d vs %d)", len(r.body), len(e.archive))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/zip" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="artifacts.zip"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	// By path, and resumable with Range.
	r = e.do("GET", "/projects/maint%2Fdemo/jobs/"+strconv.FormatInt(e.build.ID, 10)+"/artifacts", "dev", nil, "Range", "bytes=0-3")
	r.want(t, 206, "")
	if !bytes.Equal(r.body, e.archive[:4]) {
		t.Fatalf("range body %q", r.body)
	}

	// A running job of the project downloads with its job token.
	runner := &ci.Job{Name: "deploy", Status: ci.StatusRunning, UserID: e.users["dev"].ID}
	e.raPipeline(e.proj, "main", ci.StatusRunning, runner)
	jt := auth.NewToken(auth.PrefixJob, 20)
	if err := e.st.SetJobToken(e.ctx, runner.ID, auth.Digest(jt)); err != nil {
		t.Fatal(err)
	}
	e.do("GET", e.base+"/artifacts", "job:"+jt, nil).want(t, 200, "")
	e.do("GET", e.base+"/artifacts?job_token="+jt, "", nil).want(t, 200, "")
	e.do("GET", e.base+"/artifacts", "job:glcbt-bogus", nil).want(t, 401, "")

	e.do("GET", e.base+"/artifacts", "", nil).want(t, 401, `{"message":"401 Unauthorized"}`)
	e.do("GET", e.base+"/artifacts", "guest", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("GET", e.base+"/artifacts", "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("GET", "/projects/"+pid+"/jobs/x/artifacts", "rep", nil).want(t, 400, `{"error":"job_id is invalid"}`)
	e.do("GET", "/projects/"+pid+"/jobs/99999/artifacts", "rep", nil).want(t, 404, `{"message":"404 Not found"}`)
	// A job without an archive, and one whose archive expired.
	bare := &ci.Job{Name: "lint"}
	expired := &ci.Job{Name: "old"}
	e.raPipeline(e.proj, "main", ci.StatusSuccess, bare, expired)
	past := time.Now().UTC().Add(-time.Hour)
	e.raArtifact(expired, "archive", "artifacts.zip", e.archive, &past)
	e.raArtifact(bare, "trace", "job.log", []byte("log"), nil)
	for _, j := range []*ci.Job{bare, expired} {
		e.do("GET", fmt.Sprintf("/projects/%s/jobs/%d/artifacts", pid, j.ID), "rep", nil).
			want(t, 404, `{"message":"404 Not Found"}`)
	}
	// A job of another project is not found here.
	foreign := &ci.Job{Name: "build"}
	e.raPipeline(e.otherProj, "main", ci.StatusSuccess, foreign)
	e.raArtifact(foreign, "archive", "artifacts.zip", e.archive, nil)
	e.do("GET", fmt.Sprintf("/projects/%s/jobs/%d/artifacts", pid, foreign.ID), "admin", nil).
		want(t, 404, `{"message":"404 Not found"}`)
	// A blob gone from storage is a 404, not a 500.
	if err := e.blobs.Delete(e.ctx, fmt.Sprintf("artifacts/%d/artifacts.zip", foreign.ID)); err != nil {
		t.Fatal(err)
	}
	e.do("GET", fmt.Sprintf("/projects/%d/jobs/%d/artifacts", e.otherProj.ID, foreign.ID), "admin", nil).
		want(t, 404, `{"message":"404 Not Found"}`)
}

func TestArtifactFile(t *testing.T) { testkit.ForEachDB(t, testArtifactFile) }

func testArtifactFile(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)

	r := e.do("GET", e.base+"/artifacts/out/a.txt", "rep", nil)
	r.want(t, 200, "")
	if string(r.body) != "hello\n" {
		t.Fatalf("body %q", r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="a.txt"`) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if r.header.Get("Content-Length") != "6" {
		t.Fatalf("Content-Length %q", r.header.Get("Content-Length"))
	}
	r = e.do("GET", e.base+"/artifacts/bin/tool", "job:nope", nil)
	r.want(t, 401, "")
	r = e.do("GET", e.base+"/artifacts/bin/tool", "rep", nil)
	r.want(t, 200, "")
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" || string(r.body) != "\x7fELF" {
		t.Fatalf("tool: %q %q", ct, r.body)
	}

	e.do("GET", e.base+"/artifacts/out/missing.txt", "rep", nil).want(t, 404, `{"message":"404 Not Found"}`)
	e.do("GET", e.base+"/artifacts/out/", "rep", nil).want(t, 404, `{"message":"404 Not Found"}`)
	e.do("GET", e.base+"/artifacts/out/a%00.txt", "rep", nil).want(t, 400, `{"message":"400 Bad request"}`)
	e.do("GET", e.base+"/artifacts/out/a.txt", "", nil).want(t, 401, "")
	e.do("GET", e.base+"/artifacts/out/a.txt", "guest", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("GET", e.base+"/artifacts/out/a.txt", "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("GET", fmt.Sprintf("/projects/%d/jobs/99999/artifacts/out/a.txt", e.proj.ID), "rep", nil).
		want(t, 404, `{"message":"404 Not found"}`)
}

func TestArtifactByRef(t *testing.T) { testkit.ForEachDB(t, testArtifactByRef) }

func testArtifactByRef(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)
	base := fmt.Sprintf("/projects/%d/jobs/artifacts", e.proj.ID)

	r := e.do("GET", base+"/main/download?job=build", "rep", nil)
	r.want(t, 200, "")
	if !bytes.Equal(r.body, e.archive) || r.header.Get("Content-Type") != "application/zip" {
		t.Fatalf("ref download: %q, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}
	r = e.do("GET", base+"/main/raw/out/a.txt?job=build", "rep", nil)
	r.want(t, 200, "")
	if string(r.body) != "hello\n" {
		t.Fatalf("ref raw %q", r.body)
	}

	e.do("GET", base+"/main/download", "rep", nil).want(t, 400, `{"error":"job is missing"}`)
	e.do("GET", base+"/main/raw/out/a.txt", "rep", nil).want(t, 400, `{"error":"job is missing"}`)
	e.do("GET", base+"/main/download?job=build", "", nil).want(t, 401, "")
	e.do("GET", base+"/main/download?job=build", "guest", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("GET", base+"/main/download?job=build", "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("GET", base+"/main/download?job=nope", "rep", nil).want(t, 404, `{"message":"404 Not found"}`)
	e.do("GET", base+"/dev/download?job=build", "rep", nil).want(t, 404, `{"message":"404 Not found"}`)
	e.do("GET", base+"/main/raw/out/none.txt?job=build", "rep", nil).want(t, 404, `{"message":"404 Not Found"}`)

	// A newer failed pipeline does not count; a newer successful one
	// without the job hides the older one unless recent pipelines are
	// searched.
	failedBuild := &ci.Job{Name: "build"}
	e.raPipeline(e.proj, "main", ci.StatusFailed, failedBuild)
	e.raArtifact(failedBuild, "archive", "artifacts.zip", raZip(t, map[string]string{"x": "failed"}), nil)
	e.do("GET", base+"/main/raw/out/a.txt?job=build", "rep", nil).want(t, 200, "")
	e.raPipeline(e.proj, "main", ci.StatusSuccess, &ci.Job{Name: "lint"})
	e.do("GET", base+"/main/download?job=build", "rep", nil).want(t, 404, `{"message":"404 Not found"}`)
	e.do("GET", base+"/main/download?job=build&search_recent_successful_pipelines=true", "rep", nil).want(t, 200, "")
	e.do("GET", base+"/main/download?job=build&search_recent_successful_pipelines=maybe", "rep", nil).
		want(t, 400, `{"error":"search_recent_successful_pipelines is invalid"}`)

	// Refs with slashes arrive URL-encoded; the newest job of the name
	// wins.
	older, newer := &ci.Job{Name: "pkg"}, &ci.Job{Name: "pkg"}
	e.raPipeline(e.proj, "feature/x", ci.StatusSuccess, older, newer)
	e.raArtifact(older, "archive", "artifacts.zip", raZip(t, map[string]string{"v": "1"}), nil)
	e.raArtifact(newer, "archive", "artifacts.zip", raZip(t, map[string]string{"v": "2"}), nil)
	r = e.do("GET", base+"/feature%2Fx/raw/v?job=pkg", "rep", nil)
	r.want(t, 200, "")
	if string(r.body) != "2" {
		t.Fatalf("feature/x raw %q", r.body)
	}

	// A child pipeline is newer than its parent and shares its ref; the
	// ref's latest pipeline is still the parent, and a job of the child
	// is found through it.
	relBuild, deep := &ci.Job{Name: "build"}, &ci.Job{Name: "deep"}
	parent := e.raPipeline(e.proj, "release", ci.StatusSuccess, relBuild)
	e.raArtifact(relBuild, "archive", "artifacts.zip", raZip(t, map[string]string{"r": "parent"}), nil)
	e.Pipeline(e.proj, &ci.Pipeline{Ref: "release", SHA: strings.Repeat("c", 40), Status: ci.StatusSuccess,
		Source: "parent_pipeline", ParentPipelineID: parent.ID}, deep)
	e.raArtifact(deep, "archive", "artifacts.zip", raZip(t, map[string]string{"d": "child"}), nil)
	r = e.do("GET", base+"/release/raw/r?job=build", "rep", nil)
	r.want(t, 200, "")
	if string(r.body) != "parent" {
		t.Fatalf("release raw r %q", r.body)
	}
	r = e.do("GET", base+"/release/raw/d?job=deep", "rep", nil)
	r.want(t, 200, "")
	if string(r.body) != "child" {
		t.Fatalf("release raw d %q", r.body)
	}

	// A job token of the project works on the ref routes.
	run := &ci.Job{Name: "deploy", Status: ci.StatusRunning, UserID: e.users["rep"].ID}
	e.raPipeline(e.proj, "other", ci.StatusRunning, run)
	jt := auth.NewToken(auth.PrefixJob, 20)
	if err := e.st.SetJobToken(e.ctx, run.ID, auth.Digest(jt)); err != nil {
		t.Fatal(err)
	}
	e.do("GET", base+"/feature%2Fx/download?job=pkg", "job:"+jt, nil).want(t, 200, "")
}

func TestArtifactKeep(t *testing.T) { testkit.ForEachDB(t, testArtifactKeep) }

func testArtifactKeep(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)
	j, err := e.st.JobByID(e.ctx, e.build.ID)
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().UTC().Add(24 * time.Hour)
	j.ArtifactsExpireAt = &later
	if err := e.st.UpdateJob(e.ctx, j, j.Status); err != nil {
		t.Fatal(err)
	}

	e.do("POST", e.base+"/artifacts/keep", "", nil).want(t, 401, "")
	e.do("POST", e.base+"/artifacts/keep", "rep", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("POST", e.base+"/artifacts/keep", "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("POST", fmt.Sprintf("/projects/%d/jobs/x/artifacts/keep", e.proj.ID), "dev", nil).
		want(t, 400, `{"error":"job_id is invalid"}`)
	e.do("POST", fmt.Sprintf("/projects/%d/jobs/99999/artifacts/keep", e.proj.ID), "dev", nil).
		want(t, 404, `{"message":"404 Not found"}`)
	bare := &ci.Job{Name: "lint"}
	e.raPipeline(e.proj, "main", ci.StatusSuccess, bare)
	e.do("POST", fmt.Sprintf("/projects/%d/jobs/%d/artifacts/keep", e.proj.ID, bare.ID), "dev", nil).
		want(t, 404, `{"message":"404 Not Found"}`)

	r := e.do("POST", e.base+"/artifacts/keep", "dev", nil)
	r.want(t, 200, "")
	var job struct {
		ID                int64   `json:"id"`
		ArtifactsExpireAt *string `json:"artifacts_expire_at"`
		ArtifactsFile     *struct {
			Filename string `json:"filename"`
		} `json:"artifacts_file"`
		Artifacts []struct {
			FileType string `json:"file_type"`
		} `json:"artifacts"`
	}
	r.decode(t, &job)
	if job.ID != e.build.ID || job.ArtifactsExpireAt != nil || job.ArtifactsFile == nil || len(job.Artifacts) != 3 {
		t.Fatalf("kept job %s", r.body)
	}
	if !strings.Contains(string(r.body), `"artifacts_expire_at":null`) {
		t.Fatalf("artifacts_expire_at not null: %s", r.body)
	}
	j, _ = e.st.JobByID(e.ctx, e.build.ID)
	if j.ArtifactsExpireAt != nil {
		t.Fatalf("job still expires at %v", j.ArtifactsExpireAt)
	}
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{e.build.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts[e.build.ID]) != 3 {
		t.Fatalf("artifacts after keep: %d", len(arts[e.build.ID]))
	}
	for _, a := range arts[e.build.ID] {
		if a.ExpireAt != nil {
			t.Fatalf("%s artifact still expires at %v", a.FileType, a.ExpireAt)
		}
	}
	// Nothing is due for the sweeper even far in the future.
	due, err := e.st.ExpiredArtifacts(e.ctx, time.Now().Add(365*24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 0 {
		t.Fatalf("%d artifacts still due to expire", len(due))
	}
	// The archive still downloads, byte for byte; keeping again is a no-op.
	r = e.do("GET", e.base+"/artifacts", "rep", nil)
	if r.status != 200 || !bytes.Equal(r.body, e.archive) {
		t.Fatalf("download after keep: %d", r.status)
	}
	e.do("POST", e.base+"/artifacts/keep", "maint", nil).want(t, 200, "")
}

func TestArtifactDeleteJob(t *testing.T) { testkit.ForEachDB(t, testArtifactDeleteJob) }

func testArtifactDeleteJob(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)

	e.do("DELETE", e.base+"/artifacts", "", nil).want(t, 401, "")
	e.do("DELETE", e.base+"/artifacts", "dev", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("DELETE", e.base+"/artifacts", "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("DELETE", fmt.Sprintf("/projects/%d/jobs/99999/artifacts", e.proj.ID), "maint", nil).
		want(t, 404, `{"message":"404 Not found"}`)

	r := e.do("DELETE", e.base+"/artifacts", "maint", nil)
	r.want(t, 204, "")
	if len(r.body) != 0 {
		t.Fatalf("204 with body %q", r.body)
	}
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{e.build.ID})
	if err != nil {
		t.Fatal(err)
	}
	if left := arts[e.build.ID]; len(left) != 1 || left[0].FileType != "trace" {
		t.Fatalf("left %+v", left)
	}
	for name, gone := range map[string]bool{"artifacts.zip": true, "metadata.gz": true, "job.log": false} {
		f, err := e.blobs.Open(e.ctx, fmt.Sprintf("artifacts/%d/%s", e.build.ID, name))
		if err == nil {
			f.Close()
		}
		if gone != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blob %s: err %v, want gone=%v", name, err, gone)
		}
	}
	e.do("GET", e.base+"/artifacts", "rep", nil).want(t, 404, `{"message":"404 Not Found"}`)
	// Again: nothing left to delete is still 204.
	e.do("DELETE", e.base+"/artifacts", "maint", nil).want(t, 204, "")
}

func TestArtifactDeleteProject(t *testing.T) { testkit.ForEachDB(t, testArtifactDeleteProject) }

func testArtifactDeleteProject(t *testing.T, db testkit.DB) {
	e := newRAArtifactEnv(t, db)
	path := fmt.Sprintf("/projects/%d/artifacts", e.proj.ID)

	e.do("DELETE", path, "", nil).want(t, 401, "")
	e.do("DELETE", path, "dev", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("DELETE", path, "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("DELETE", "/projects/9999/artifacts", "admin", nil).want(t, 404, `{"message":"404 Project Not Found"}`)

	e.do("DELETE", path, "maint", nil).want(t, 202, `{"message":"202 Accepted"}`)
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{e.build.ID})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, a := range arts[e.build.ID] {
		switch {
		case a.FileType == "trace" && a.ExpireAt != nil:
			t.Errorf("trace set to expire")
		case a.FileType != "trace" && (a.ExpireAt == nil || a.ExpireAt.After(now)):
			t.Errorf("%s expires at %v, want now", a.FileType, a.ExpireAt)
		}
	}
	e.do("GET", e.base+"/artifacts", "rep", nil).want(t, 404, `{"message":"404 Not Found"}`)
	// Expired artifacts cannot be kept any more.
	e.do("POST", e.base+"/artifacts/keep", "maint", nil).want(t, 404, "")
}
