package web

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
)

// The job's artifacts archive at GitLab's paths
// (config/routes/project.rb, Projects::ArtifactsController):
// …/-/jobs/:id/artifacts/browse[/path], …/download, …/file/:path and
// …/raw/:path. Every one asks the policy for read_job_artifacts on the job
// (artifacts:access and artifacts:public included), as the API does; only
// the zip's central directory is read, never the whole archive.

// artifactsView is the browse page's data.
type artifactsView struct {
	Project  *ci.Project
	Job      *ci.Job
	Archive  *ci.Artifact
	Dir      string
	Crumbs   []crumb
	Entries  []blob.DirEntry
	Base     string // …/-/jobs/:id/artifacts
	NotAZip  bool
	ExpireAt string
}

type crumb struct{ Name, Path string }

func (v artifactsView) project() (*ci.Project, string) { return v.Project, "jobs" }

// jobArchive loads the path's job with the policy's read_job_artifacts and
// its downloadable archive; 404 when it has none.
func (s *Server) jobArchive(pg *page) (*ci.Project, *ci.Job, *ci.Artifact, error) {
	p, j, err := s.projectJob(pg, access.ReadArtifacts)
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := s.downloadableArchive(pg, j)
	if err != nil {
		return nil, nil, nil, err
	}
	if a == nil {
		return nil, nil, nil, ci.ErrNotFoundGeneric
	}
	return p, j, a, nil
}

// downloadableArchive is the job's archive when it can be downloaded.
func (s *Server) downloadableArchive(pg *page, j *ci.Job) (*ci.Artifact, error) {
	arts, err := s.st.ArtifactsByJobIDs(pg.ctx(), []int64{j.ID})
	if err != nil {
		return nil, fmt.Errorf("job %d artifacts: %w", j.ID, err)
	}
	return ci.DownloadableArchive(j, arts[j.ID], s.now()), nil
}

// openZip opens the archive's central directory; a blob gone from storage
// is a 404.
func (s *Server) openZip(pg *page, a *ci.Artifact) (*blob.Zip, error) {
	z, err := blob.OpenZip(pg.ctx(), s.cfg.Blobs, a.BlobKey)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ci.ErrNotFoundGeneric
	}
	return z, err
}

// artifactPath is the {path...} of the URL, checked as
// Gitlab::Ci::Build::Artifacts::Path#valid? does: no NUL, valid UTF-8.
func artifactPath(pg *page) (string, error) {
	p := strings.Trim(pg.r.PathValue("path"), "/")
	if strings.ContainsRune(p, 0) || !utf8.ValidString(p) {
		return "", ci.BadRequest("400 Bad request")
	}
	return p, nil
}

// artifactsBrowse is GET …/-/jobs/:id/artifacts/browse[/path]: one
// directory of the archive.
func (s *Server) artifactsBrowse(pg *page) error {
	p, j, a, err := s.jobArchive(pg)
	if err != nil {
		return err
	}
	dir, err := artifactPath(pg)
	if err != nil {
		return err
	}
	v := artifactsView{Project: p, Job: j, Archive: a, Dir: dir, Base: jobURL(p, j.ID) + "/artifacts"}
	if a.ExpireAt != nil {
		v.ExpireAt = "on " + a.ExpireAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	z, err := s.openZip(pg, a)
	switch {
	case errors.Is(err, blob.ErrNotZip):
		v.NotAZip = true
	case err != nil:
		return err
	default:
		defer z.Close()
		var ok bool
		if v.Entries, ok = z.List(dir); !ok {
			return ci.ErrNotFoundGeneric
		}
	}
	if dir != "" {
		parts := strings.Split(dir, "/")
		for i := range parts {
			v.Crumbs = append(v.Crumbs, crumb{Name: parts[i], Path: strings.Join(parts[:i+1], "/")})
		}
	}
	title := fmt.Sprintf("Artifacts · %s (#%d) · %s", j.Name, j.ID, p.FullPath())
	s.render(pg, http.StatusOK, "artifacts", title, v)
	return nil
}

// artifactsDownload is GET …/-/jobs/:id/artifacts/download: the whole
// archive, with Range (http.ServeContent).
func (s *Server) artifactsDownload(pg *page) error {
	_, _, a, err := s.jobArchive(pg)
	if err != nil {
		return err
	}
	f, err := s.cfg.Blobs.Open(pg.ctx(), a.BlobKey)
	if errors.Is(err, fs.ErrNotExist) {
		return ci.ErrNotFoundGeneric
	}
	if err != nil {
		return fmt.Errorf("open artifact %d: %w", a.ID, err)
	}
	defer f.Close()
	httpx.ServeArchive(pg.w, pg.r, a.Filename, a.CreatedAt, f)
	return nil
}

// artifactsFile is GET …/-/jobs/:id/artifacts/file/:path and …/raw/:path:
// one file of the archive, as a download (the bytes are the job's: never
// rendered in Gantry's origin).
func (s *Server) artifactsFile(pg *page) error {
	_, _, a, err := s.jobArchive(pg)
	if err != nil {
		return err
	}
	name, err := artifactPath(pg)
	if err != nil {
		return err
	}
	z, err := s.openZip(pg, a)
	if errors.Is(err, blob.ErrNotZip) {
		return ci.ErrNotFoundGeneric
	}
	if err != nil {
		return err
	}
	defer z.Close()
	zf := z.Entry(name)
	if zf == nil {
		return ci.ErrNotFoundGeneric
	}
	return httpx.ServeZipEntry(pg.w, pg.r, zf)
}
