package runnerapi

import (
	"bytes"
	"fmt"
	"github.com/gantryci/gantry/internal/testkit"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/httpx"
)

func (e *env) upload(id int64, token, query string, body io.Reader, ct string) (*http.Response, []byte) {
	e.t.Helper()
	hdr := map[string]string{"Content-Type": ct}
	if token != "" {
		hdr["JOB-TOKEN"] = token
	}
	return e.do(http.MethodPost, "/api/v4/jobs/"+strconv.FormatInt(id, 10)+"/artifacts"+query, body, hdr)
}

func TestUploadArtifact(t *testing.T) { testkit.ForEachDB(t, testUploadArtifact) }

func testUploadArtifact(t *testing.T, db testkit.DB) {
	zip := []byte("PK\x03\x04 fake zip")
	tests := []struct {
		name     string
		def      ciconfig.Job
		query    string
		field    string
		data     []byte
		token    string // "bad" = unknown token
		finished bool
		status   int
		fileType string
		format   string
		// expiry is the expected expire_at distance from now; 0 = never.
		expiry time.Duration
	}{
		{name: "archive with expire_in", query: "?artifact_format=zip&artifact_type=archive&expire_in=1+day", field: "file",
			data: zip, status: 201, fileType: "archive", format: "zip", expiry: 24 * time.Hour},
		{name: "defaults: archive, zip, 30 days", field: "file", data: zip, status: 201, fileType: "archive", format: "zip",
			expiry: 30 * 24 * time.Hour},
		{name: "expiry from the definition", def: ciconfig.Job{Artifacts: &ciconfig.Artifacts{Paths: []string{"x"}, ExpireIn: "2 hours"}},
			field: "file", data: zip, status: 201, fileType: "archive", format: "zip", expiry: 2 * time.Hour},
		{name: "never expires", query: "?expire_in=never", field: "file", data: zip, status: 201, fileType: "archive", format: "zip"},
		{name: "junit report", query: "?artifact_format=gzip&artifact_type=junit&expire_in=1h", field: "file",
			data: []byte("\x1f\x8b junit"), status: 201, fileType: "junit", format: "gzip", expiry: time.Hour},
		{name: "missing file field", field: "other", data: zip, status: 400},
		{name: "unknown type", query: "?artifact_type=bogus", field: "file", data: zip, status: 400},
		{name: "unknown format", query: "?artifact_format=rar", field: "file", data: zip, status: 400},
		{name: "bad expire_in", query: "?expire_in=soonish", field: "file", data: zip, status: 400},
		{name: "too large", field: "file", data: bytes.Repeat([]byte("a"), 1<<20+1), status: 413},
		{name: "bad token", token: "bad", field: "file", data: zip, status: 403},
		{name: "finished job", finished: true, field: "file", data: zip, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db)
			j, tok := e.runningJob(jobSpec{name: "build", def: tt.def})
			if tt.finished {
				if err := e.eng.Finish(e.ctx, j, true, "", nil); err != nil {
					t.Fatal(err)
				}
			}
			if tt.token == "bad" {
				tok = "glcbt-nope"
			}
			body, ct := multipartBody(t, tt.field, "artifacts.zip", tt.data)
			start := time.Now()
			resp, rb := e.upload(j.ID, tok, tt.query, body, ct)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, rb, tt.status)
			}
			arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{j.ID})
			if err != nil {
				t.Fatal(err)
			}
			var got *ci.Artifact
			for _, a := range arts[j.ID] {
				if a.FileType != "trace" {
					got = a
				}
			}
			if tt.status != 201 {
				if got != nil {
					t.Errorf("artifact stored on failure: %+v", got)
				}
				return
			}
			if got == nil || got.FileType != tt.fileType || got.FileFormat != tt.format || got.Size != int64(len(tt.data)) {
				t.Fatalf("artifact = %+v", got)
			}
			if tt.expiry == 0 {
				if got.ExpireAt != nil {
					t.Errorf("expire_at = %v, want never", got.ExpireAt)
				}
			} else if got.ExpireAt == nil || got.ExpireAt.Sub(start) < tt.expiry-time.Minute || got.ExpireAt.Sub(start) > tt.expiry+time.Minute {
				t.Errorf("expire_at = %v, want about now+%v", got.ExpireAt, tt.expiry)
			}
			job := e.job(j.ID)
			if tt.fileType == "archive" {
				if (job.ArtifactsExpireAt == nil) != (got.ExpireAt == nil) {
					t.Errorf("job artifacts_expire_at = %v, artifact %v", job.ArtifactsExpireAt, got.ExpireAt)
				}
			} else if job.ArtifactsExpireAt != nil {
				t.Errorf("report set the job's artifacts_expire_at")
			}
			f, err := e.api.blobs.Open(e.ctx, got.BlobKey)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if b, _ := io.ReadAll(f); !bytes.Equal(b, tt.data) {
				t.Errorf("stored %q", b)
			}
		})
	}
}

// TestUploadReplaces: a second archive replaces the first (one per job).
func TestUploadReplaces(t *testing.T) { testkit.ForEachDB(t, testUploadReplaces) }

func testUploadReplaces(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	j, tok := e.runningJob()
	for _, data := range []string{"first", "second"} {
		body, ct := multipartBody(t, "file", "a.zip", []byte(data))
		if resp, rb := e.upload(j.ID, tok, "", body, ct); resp.StatusCode != 201 {
			t.Fatalf("upload %s: %d %s", data, resp.StatusCode, rb)
		}
	}
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{j.ID})
	if err != nil || len(arts[j.ID]) != 1 || arts[j.ID][0].Size != int64(len("second")) {
		t.Fatalf("artifacts = %+v (%v)", arts[j.ID], err)
	}
}

// TestUploadPartLimit: a body of many small fields before the file is cut
// at Rack's part limit instead of being read to its end.
func TestUploadPartLimit(t *testing.T) { testkit.ForEachDB(t, testUploadPartLimit) }

func testUploadPartLimit(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	j, tok := e.runningJob()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := range httpx.MaxMultipartParts {
		if err := mw.WriteField(fmt.Sprintf("f%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", "a.zip")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write([]byte("zip"))
	_ = mw.Close()
	resp, rb := e.upload(j.ID, tok, "", &buf, mw.FormDataContentType())
	if resp.StatusCode != 400 || !strings.Contains(string(rb), "too many multipart parts") {
		t.Fatalf("upload with %d fields: %d %s", httpx.MaxMultipartParts, resp.StatusCode, rb)
	}
	arts, err := e.st.ArtifactsByJobIDs(e.ctx, []int64{j.ID})
	if err != nil || len(arts[j.ID]) != 0 {
		t.Fatalf("artifacts = %+v (%v)", arts[j.ID], err)
	}
}

func TestDownloadArtifact(t *testing.T) { testkit.ForEachDB(t, testDownloadArtifact) }

func testDownloadArtifact(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, _ := e.runner(nil)
	_, jobs := e.pipeline(nil,
		jobSpec{name: "build"},
		jobSpec{name: "empty"},
		jobSpec{name: "test", stageIdx: 1, status: ci.StatusCreated},
	)
	other := newEnvProject(e)

	// build runs and uploads; then it finishes and test becomes pending.
	build := e.take(token)
	emptyJob := e.take(token)
	body, ct := multipartBody(t, "file", "artifacts.zip", []byte("PK zipdata"))
	if resp, rb := e.upload(build.ID, build.Token, "", body, ct); resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, rb)
	}
	for _, id := range []int64{build.ID, emptyJob.ID} {
		if err := e.eng.Finish(e.ctx, e.job(id), true, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	test := e.take(token)
	if test.ID != jobs[2].ID || len(test.Dependencies) != 1 || test.Dependencies[0].ID != build.ID {
		t.Fatalf("test payload: id %d deps %+v", test.ID, test.Dependencies)
	}
	otherJob := other.take(other.token)

	tests := []struct {
		name   string
		id     int64
		token  string
		status int
		body   string
	}{
		{"dependent running job's token", build.ID, test.Token, 200, "PK zipdata"},
		// A finished job's token downloads nothing, its own artifacts included.
		{"job's own token after finishing", build.ID, build.Token, 403, ""},
		{"finished job's token for another job", build.ID, emptyJob.Token, 403, ""},
		{"no archive", emptyJob.ID, test.Token, 404, ""},
		{"unknown token", build.ID, "glcbt-nope", 403, ""},
		{"no token", build.ID, "", 403, ""},
		{"other project's job token", build.ID, otherJob.Token, 403, ""},
		{"unknown job", build.ID + 10000, test.Token, 404, ""},
	}
	for _, tt := range tests {
		hdr := map[string]string{}
		if tt.token != "" {
			hdr["JOB-TOKEN"] = tt.token
		}
		resp, b := e.do(http.MethodGet, "/api/v4/jobs/"+strconv.FormatInt(tt.id, 10)+"/artifacts?direct_download=true", nil, hdr)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status = %d %s, want %d", tt.name, resp.StatusCode, b, tt.status)
			continue
		}
		if tt.status == 200 {
			if string(b) != tt.body || resp.Header.Get("Content-Type") != "application/zip" {
				t.Errorf("%s: body %q type %q", tt.name, b, resp.Header.Get("Content-Type"))
			}
		}
	}

	// An expired archive is gone.
	if err := e.st.ExpireArtifacts(e.ctx, e.proj.ID, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, _ := e.do(http.MethodGet, "/api/v4/jobs/"+strconv.FormatInt(build.ID, 10)+"/artifacts", nil,
		map[string]string{"JOB-TOKEN": test.Token})
	if resp.StatusCode != 404 {
		t.Errorf("expired archive: status %d, want 404", resp.StatusCode)
	}
}

// projEnv is a second project with its own runner and running job in the
// same server.
type projEnv struct {
	*env
	token string
}

func newEnvProject(e *env) *projEnv {
	e.t.Helper()
	p := &ci.Project{Namespace: "grp", Path: "other", Name: "other", Visibility: ci.VisibilityPrivate}
	if err := e.st.CreateProject(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
	token, _ := e.runner(&ci.Runner{RunnerType: ci.RunnerProject, ProjectIDs: []int64{p.ID}, RunUntagged: true})
	clone := *e
	clone.proj = p
	clone.pipeline(nil, jobSpec{name: "x"})
	return &projEnv{env: &clone, token: token}
}
