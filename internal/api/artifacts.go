package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// The users' Job Artifacts API (lib/api/ci/job_artifacts.rb). Runners
// upload and fetch artifacts through package runnerapi.

// errBadArtifactPath is bad_request! without a reason.
var errBadArtifactPath = &ci.Error{Code: ci.EBadRequest, Message: "400 Bad request"}

// refSearchLimit is how many successful pipelines of a ref
// search_recent_successful_pipelines looks through.
const refSearchLimit = 100

// maxDescendantPipelines bounds the walk through child pipelines when
// looking for a job by name.
const maxDescendantPipelines = 200

// jobArtifacts loads a job's artifact rows.
func (s *Server) jobArtifacts(ctx context.Context, jobID int64) ([]*ci.Artifact, error) {
	arts, err := s.store.ArtifactsByJobIDs(ctx, []int64{jobID})
	if err != nil {
		return nil, fmt.Errorf("job %d artifacts: %w", jobID, err)
	}
	return arts[jobID], nil
}

// downloadableArchive is the job's archive when it can be downloaded:
// present, and expired neither itself nor through the job's expiry.
func (s *Server) downloadableArchive(ctx context.Context, j *ci.Job) (*ci.Artifact, error) {
	arts, err := s.jobArtifacts(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	return ci.DownloadableArchive(j, arts, s.now()), nil
}

// downloadArtifacts is GET /projects/:id/jobs/:job_id/artifacts.
func (s *Server) downloadArtifacts(q *req) error {
	a, err := s.jobArchive(q)
	if err != nil {
		return err
	}
	return s.serveArchive(q, a)
}

// artifactFile is GET /projects/:id/jobs/:job_id/artifacts/*artifact_path.
func (s *Server) artifactFile(q *req) error {
	a, err := s.jobArchive(q)
	if err != nil {
		return err
	}
	return s.serveArchiveEntry(q, a, q.r.PathValue("artifact_path"))
}

// jobArchive is the downloadable archive of the job in the path; 404 when
// it has none.
func (s *Server) jobArchive(q *req) (*ci.Artifact, error) {
	p, lvl, j, err := s.jobInProject(q, false)
	if err != nil {
		return nil, err
	}
	if err := q.canJob(p, lvl, j, access.ReadArtifacts); err != nil {
		return nil, err
	}
	a, err := s.downloadableArchive(q.ctx(), j)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, ci.ErrNotFoundGeneric
	}
	return a, nil
}

// downloadRefArtifacts is GET /projects/:id/jobs/artifacts/:ref_name/download.
func (s *Server) downloadRefArtifacts(q *req) error {
	a, err := s.refArchive(q)
	if err != nil {
		return err
	}
	return s.serveArchive(q, a)
}

// refArtifactFile is GET /projects/:id/jobs/artifacts/:ref_name/raw/*artifact_path.
func (s *Server) refArtifactFile(q *req) error {
	a, err := s.refArchive(q)
	if err != nil {
		return err
	}
	return s.serveArchiveEntry(q, a, q.r.PathValue("artifact_path"))
}

// refArchive resolves the by-ref routes to an archive: the newest
// successful job named job, with a downloadable archive, of the latest
// successful pipeline of ref_name (or of its child pipelines). With
// search_recent_successful_pipelines the 100 latest successful pipelines
// are searched, newest first. Anything missing is RecordNotFound's
// "404 Not found", as latest_successful_build_for_ref! raises it.
func (s *Server) refArchive(q *req) (*ci.Artifact, error) {
	if !q.p.Has("job") {
		return nil, ci.Invalid("job is missing")
	}
	name := q.p.Str("job")
	recent, err := q.p.Bool("search_recent_successful_pipelines", false)
	if err != nil {
		return nil, err
	}
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, err
	}
	if err := q.can(p, lvl, access.ReadArtifacts); err != nil {
		return nil, err
	}
	ctx := q.ctx()
	limit := 1
	if recent {
		limit = refSearchLimit
	}
	// Child pipelines share their parent's ref and are newer: like
	// GitLab's Project#latest_successful_build_for_ref, search the
	// project's pipelines without them, then look into the children of
	// the pipeline found (namedArchive).
	pls, err := s.store.ListPipelines(ctx, store.PipelineFilter{ProjectID: p.ID, Ref: q.r.PathValue("ref_name"),
		Statuses: []ci.Status{ci.StatusSuccess}, Limit: limit, ExcludeChildren: true})
	if err != nil {
		return nil, fmt.Errorf("ref pipelines: %w", err)
	}
	for _, pl := range pls {
		a, err := s.namedArchive(ctx, pl, name)
		if err != nil {
			return nil, err
		}
		if a != nil {
			// authorize_read_job_artifacts! on the job found.
			j, err := s.store.JobByID(ctx, a.JobID)
			if err != nil {
				return nil, fmt.Errorf("artifact job %d: %w", a.JobID, err)
			}
			if err := q.canJob(p, lvl, j, access.ReadArtifacts); err != nil {
				return nil, err
			}
			return a, nil
		}
	}
	return nil, ci.ErrNotFoundRecord
}

// namedArchive finds, in pl and its descendant pipelines, the newest
// successful, non-retried build named name with a downloadable archive.
func (s *Server) namedArchive(ctx context.Context, pl *ci.Pipeline, name string) (*ci.Artifact, error) {
	queue := []int64{pl.ID}
	for seen := 0; len(queue) > 0 && seen < maxDescendantPipelines; seen++ {
		id := queue[0]
		queue = queue[1:]
		jobs, err := s.store.ListJobs(ctx, store.JobFilter{PipelineID: id, Kind: store.BuildsOnly, LatestOnly: true,
			Statuses: []ci.Status{ci.StatusSuccess}})
		if err != nil {
			return nil, fmt.Errorf("pipeline %d jobs: %w", id, err)
		}
		for _, j := range jobs {
			if j.Name != name {
				continue
			}
			a, err := s.downloadableArchive(ctx, j)
			if err != nil || a != nil {
				return a, err
			}
		}
		children, err := s.store.ListPipelines(ctx, store.PipelineFilter{ParentPipelineID: id})
		if err != nil {
			return nil, fmt.Errorf("child pipelines of %d: %w", id, err)
		}
		for _, c := range children {
			queue = append(queue, c.ID)
		}
	}
	return nil, nil
}

// openArchive opens an artifact's blob; a blob gone from storage is the
// same 404 as no artifact at all.
func (s *Server) openArchive(ctx context.Context, a *ci.Artifact) (blob.File, error) {
	f, err := s.cfg.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ci.ErrNotFoundGeneric
		}
		return nil, fmt.Errorf("open artifact %d: %w", a.ID, err)
	}
	return f, nil
}

// serveArchive sends the whole archive. http.ServeContent adds Range and
// conditional request support, which download tools use to resume.
func (s *Server) serveArchive(q *req, a *ci.Artifact) error {
	f, err := s.openArchive(q.ctx(), a)
	if err != nil {
		return err
	}
	defer f.Close()
	httpx.Info(q.ctx()).SetTransfer(httpx.TransferArtifactOut)
	httpx.ServeArchive(q.w, q.r, a.Filename, a.CreatedAt, f)
	return nil
}

// serveArchiveEntry sends one file out of a zip archive, as Workhorse's
// artifacts entry handler does.
func (s *Server) serveArchiveEntry(q *req, a *ci.Artifact, entry string) error {
	// Gitlab::Ci::Build::Artifacts::Path#valid?: no NUL, valid UTF-8.
	if strings.ContainsRune(entry, 0) || !utf8.ValidString(entry) {
		return errBadArtifactPath
	}
	z, err := blob.OpenZip(q.ctx(), s.cfg.Blobs, a.BlobKey)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, blob.ErrNotZip):
		// Gone from storage, or not a zip (a gzip archive, or damaged):
		// nothing to extract.
		return ci.ErrNotFoundGeneric
	case err != nil:
		return fmt.Errorf("open artifact %d: %w", a.ID, err)
	}
	defer z.Close()
	httpx.Info(q.ctx()).SetTransfer(httpx.TransferArtifactOut)
	zf := z.Entry(entry)
	if zf == nil {
		return ci.ErrNotFoundGeneric
	}
	return httpx.ServeZipEntry(q.w, q.r, zf)
}

// keepArtifacts is POST /projects/:id/jobs/:job_id/artifacts/keep: the
// job's artifacts no longer expire.
func (s *Server) keepArtifacts(q *req) error {
	// authorize_update_builds! is project-level, before the job lookup.
	p, _, j, err := s.projectJob(q, false, q.allowed(access.UpdateBuild))
	if err != nil {
		return err
	}
	ctx := q.ctx()
	a, err := s.downloadableArchive(ctx, j)
	if err != nil {
		return err
	}
	if a == nil {
		return ci.ErrNotFoundGeneric
	}
	if err := s.store.KeepArtifacts(ctx, j.ID, s.now()); err != nil {
		return err
	}
	if j, err = s.store.JobByID(ctx, j.ID); err != nil {
		return err
	}
	return s.writeJob(q, p, j, http.StatusOK, false)
}

// deleteJobArtifacts is DELETE /projects/:id/jobs/:job_id/artifacts: every
// artifact but the trace goes, rows then blobs.
func (s *Server) deleteJobArtifacts(q *req) error {
	// authorize_destroy_artifacts! (delete_job_artifact, maintainer) comes
	// before find_build!.
	_, _, j, err := s.projectJob(q, false, q.allowed(access.DestroyArtifacts))
	if err != nil {
		return err
	}
	ctx := q.ctx()
	arts, err := s.jobArtifacts(ctx, j.ID)
	if err != nil {
		return err
	}
	var types []string
	for _, a := range arts {
		if a.FileType != "trace" && !slices.Contains(types, a.FileType) {
			types = append(types, a.FileType)
		}
	}
	if len(types) > 0 {
		keys, err := s.store.DeleteArtifacts(ctx, j.ID, types...)
		if err != nil {
			return fmt.Errorf("delete artifacts of job %d: %w", j.ID, err)
		}
		// The rows are gone, so the answer is 204 whatever happens to the
		// bytes; a blob left behind is only wasted space.
		for _, k := range keys {
			if err := s.cfg.Blobs.Delete(ctx, k); err != nil {
				s.log.Warn("delete artifact blob", "key", k, "err", err)
			}
		}
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteProjectArtifacts is DELETE /projects/:id/artifacts: every deletable
// artifact of the project expires now and the background sweeper removes
// them, hence 202.
func (s *Server) deleteProjectArtifacts(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := q.can(p, lvl, access.DestroyArtifacts); err != nil {
		return err
	}
	if err := s.store.ExpireArtifacts(q.ctx(), p.ID, s.now()); err != nil {
		return fmt.Errorf("expire artifacts of project %d: %w", p.ID, err)
	}
	// accepted! is render_api_error!('202 Accepted', 202).
	return q.json(http.StatusAccepted, map[string]string{"message": "202 Accepted"})
}
