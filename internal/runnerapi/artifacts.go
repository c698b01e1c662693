package runnerapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// defaultArtifactExpiry is GitLab's instance default for expire_in.
const defaultArtifactExpiry = 30 * 24 * time.Hour

// maxFieldSize bounds a non-file multipart field.
const maxFieldSize = 64 << 10

// maxPartHeader is what a part's boundary and headers may add to the body
// for the upload cap.
const maxPartHeader = 4 << 10

// artifactTypes is GitLab's Ci::JobArtifact file_type enum.
var artifactTypes = map[string]bool{
	"archive": true, "metadata": true, "trace": true, "junit": true, "sast": true, "dependency_scanning": true,
	"container_scanning": true, "dast": true, "codequality": true, "license_scanning": true, "performance": true,
	"metrics": true, "metrics_referee": true, "network_referee": true, "lsif": true, "dotenv": true,
	"cobertura": true, "terraform": true, "accessibility": true, "cluster_applications": true,
	"secret_detection": true, "requirements": true, "coverage_fuzzing": true, "browser_performance": true,
	"load_performance": true, "api_fuzzing": true, "cluster_image_scanning": true, "cyclonedx": true,
	"requirements_v2": true, "annotations": true, "repository_xray": true, "jacoco": true,
}

var (
	errTooLarge        = &ci.Error{Code: ci.ETooLarge, Message: "413 Request Entity Too Large"}
	errMissingArtifact = ci.BadRequest("Missing artifacts file!")
)

// limitedReader fails once more than n bytes are read, so an oversized
// upload is refused while streaming instead of after buffering it.
type limitedReader struct {
	r io.Reader
	n int64
}

var errOverLimit = errors.New("artifact over the size limit")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errOverLimit
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errOverLimit
	}
	return n, err
}

// uploadArtifact is POST /jobs/:id/artifacts: one multipart field
// `file`, streamed to the blob store.
func (a *API) uploadArtifact(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	token := r.Header.Get("JOB-TOKEN")
	if token == "" {
		token = q.Get("token")
	}
	j, err := a.authJob(ctx, r.PathValue("id"), token)
	if err != nil {
		return err
	}
	if !j.Status.Executing() {
		a.jobHeaders(w, j.Status)
		return errNotProcessing
	}
	if r.ContentLength > a.cfg.MaxArtifactSize+maxFieldSize {
		return errTooLarge
	}
	httpx.Info(ctx).SetTransfer(httpx.TransferArtifactIn)
	mr, err := r.MultipartReader()
	if err != nil {
		return errMissingArtifact
	}
	// Parameters may come as query (the runner) or as fields before the
	// file (other clients); the query wins.
	params := map[string]string{}
	for _, k := range []string{"artifact_type", "artifact_format", "expire_in"} {
		if v := q.Get(k); v != "" {
			params[k] = v
		}
	}
	var stored *ci.Artifact
	for n := 0; stored == nil; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ci.BadRequest("invalid multipart body")
		}
		if n >= httpx.MaxMultipartParts {
			part.Close()
			return ci.BadRequest("too many multipart parts")
		}
		name := part.FormName()
		if name != "file" {
			if _, set := params[name]; !set {
				b, _ := io.ReadAll(io.LimitReader(part, maxFieldSize))
				params[name] = string(b)
			}
			part.Close()
			continue
		}
		stored, err = a.storeArtifact(ctx, j, part, params)
		part.Close()
		if err != nil {
			return err
		}
	}
	if stored == nil {
		return errMissingArtifact
	}
	writeStatus(w, http.StatusCreated)
	return nil
}

// storeArtifact validates the parameters, streams the file part to the
// blob store and records it, replacing the job's earlier file of the same
// type.
func (a *API) storeArtifact(ctx context.Context, j *ci.Job, part io.Reader, params map[string]string) (*ci.Artifact, error) {
	typ := params["artifact_type"]
	if typ == "" {
		typ = ci.ArtifactArchive
	}
	if !artifactTypes[typ] {
		return nil, ci.Invalid("artifact_type does not have a valid value")
	}
	format := params["artifact_format"]
	if format == "" {
		format = "zip"
	}
	switch format {
	case "zip", "gzip", "raw":
	default:
		return nil, ci.Invalid("artifact_format does not have a valid value")
	}
	expireAt, err := a.expiry(j, params["expire_in"])
	if err != nil {
		return nil, err
	}
	filename := ""
	if fp, ok := part.(interface{ FileName() string }); ok {
		filename = path.Base(fp.FileName())
	}
	if filename == "" || filename == "." || filename == "/" {
		filename = typ + map[string]string{"zip": ".zip", "gzip": ".gz", "raw": ""}[format]
	}
	if typ == "dotenv" {
		// Dependent jobs get these variables; GitLab refuses a bad report
		// at upload (Ci::ParseDotenvArtifactService).
		if part, err = checkDotenv(part, format); err != nil {
			return nil, err
		}
	}
	// A fresh key per upload: the old blob stays valid for readers until
	// the row points at the new one.
	key := fmt.Sprintf("artifacts/%d/%d/%s-%s", j.ProjectID, j.ID, typ, auth.NewToken("", 12))
	size, err := a.blobs.Put(ctx, key, &limitedReader{r: part, n: a.cfg.MaxArtifactSize})
	if errors.Is(err, errOverLimit) {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("store artifact: %w", err)
	}
	art := &ci.Artifact{JobID: j.ID, ProjectID: j.ProjectID, FileType: typ, FileFormat: format, Filename: filename,
		Size: size, BlobKey: key, ExpireAt: expireAt, CreatedAt: a.now()}
	old, err := a.store.ReplaceArtifact(ctx, art)
	if err != nil {
		_ = a.blobs.Delete(context.WithoutCancel(ctx), key)
		return nil, fmt.Errorf("record artifact: %w", err)
	}
	for _, k := range old {
		if err := a.blobs.Delete(context.WithoutCancel(ctx), k); err != nil {
			a.log.Warn("delete replaced artifact", "key", k, "err", err)
		}
	}
	if typ == ci.ArtifactArchive {
		if err := a.setArtifactsExpiry(ctx, j, expireAt); err != nil {
			return nil, err
		}
	}
	return art, nil
}

// expiry resolves expire_in: the request's, else the definition's
// artifacts:expire_in, else GitLab's 30 days; "never" keeps forever.
func (a *API) expiry(j *ci.Job, expireIn string) (*time.Time, error) {
	if expireIn == "" {
		if d, err := pipeline.Definition(j); err == nil && d.Artifacts != nil {
			expireIn = d.Artifacts.ExpireIn
		}
	}
	var dur time.Duration
	switch strings.ToLower(strings.TrimSpace(expireIn)) {
	case "never":
		return nil, nil
	case "":
		dur = defaultArtifactExpiry
	default:
		var err error
		if dur, err = ciconfig.ParseDuration(expireIn); err != nil {
			return nil, ci.Invalid("expire_in is invalid")
		}
	}
	// GitLab treats a zero duration as "use the default".
	if dur <= 0 {
		dur = defaultArtifactExpiry
	}
	t := a.now().Add(dur)
	return &t, nil
}

// setArtifactsExpiry records the archive's expiry on the job.
func (a *API) setArtifactsExpiry(ctx context.Context, j *ci.Job, at *time.Time) error {
	return a.store.SetArtifactsExpiry(ctx, j.ID, at)
}

// downloadArtifact is GET /jobs/:id/artifacts: the archive of a job, for
// the token of a running job of the same project (the job itself or a
// dependent job).
func (a *API) downloadArtifact(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	token := r.Header.Get("JOB-TOKEN")
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || token == "" {
		return ci.ErrForbidden
	}
	// Only a running job's token authenticates (the access policy, as
	// Ci::AuthJobFinder): a finished job's token downloads nothing, its own
	// artifacts included. Refusals are 403 on the runner protocol.
	holder, err := a.policy.RunningJob(ctx, token)
	if err != nil {
		var ce *ci.Error
		if errors.As(err, &ce) && ce.Code == ci.EUnauthorized {
			err = ci.ErrForbidden
		}
		return err
	}
	j := holder
	if holder.ID != id {
		if j, err = a.store.JobByID(ctx, id); errors.Is(err, store.ErrNotFound) {
			return ci.ErrNotFoundGeneric
		} else if err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		if j.ProjectID != holder.ProjectID {
			return ci.ErrForbidden
		}
	}
	arts, err := a.store.ArtifactsByJobIDs(ctx, []int64{j.ID})
	if err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	arc := ci.LiveArchive(arts[j.ID], a.now())
	if arc == nil {
		return ci.ErrNotFoundGeneric
	}
	f, err := a.blobs.Open(ctx, arc.BlobKey)
	if err != nil {
		a.log.Warn("open artifact", "job", j.ID, "key", arc.BlobKey, "err", err)
		return ci.ErrNotFoundGeneric
	}
	defer f.Close()
	ct := "application/octet-stream"
	if arc.FileFormat == "zip" {
		ct = "application/zip"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": arc.Filename}))
	httpx.Info(ctx).SetTransfer(httpx.TransferArtifactOut)
	// ServeContent streams from the file and handles Range requests.
	http.ServeContent(w, r, "", arc.CreatedAt, f)
	return nil
}
