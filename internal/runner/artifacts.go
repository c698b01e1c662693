package runner

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bmatcuk/doublestar/v4"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ---- dependencies (docs/runner-protocol.md, "Artifacts") ----

// downloadDependencies fetches and extracts every dependency's archive.
func (j *jobRun) downloadDependencies() error {
	var deps []Dependency
	for _, d := range j.job.Dependencies {
		if d.ArtifactsFile.Filename != "" {
			deps = append(deps, d)
		}
	}
	if len(deps) == 0 {
		return nil
	}
	end := j.section("download_artifacts", "Downloading artifacts")
	defer end()
	for _, d := range deps {
		j.printf("Downloading artifacts for %s (%d)...", d.Name, d.ID)
		token := d.Token
		if token == "" {
			token = j.job.Token
		}
		file, status, err := j.r.c.downloadArtifacts(j.scriptCtx, d.ID, token, j.tmpDir)
		if err != nil {
			if j.scriptCtx.Err() != nil {
				return err
			}
			j.errorf("Downloading artifacts from coordinator... failed  id=%d status=%d: %v", d.ID, status, err)
			return &scriptError{msg: fmt.Sprintf("downloading artifacts of %s (%d): %v", d.Name, d.ID, err)}
		}
		j.printf("Downloading artifacts from coordinator... ok  id=%d responseStatus=%d", d.ID, status)
		err = extractZip(file, j.projectDir)
		_ = os.Remove(file)
		if err == nil {
			err = j.r.sb.ownTree(j.projectDir)
		}
		if err != nil {
			j.errorf("Extracting artifacts of %s (%d) failed: %v", d.Name, d.ID, err)
			return &scriptError{msg: fmt.Sprintf("extracting artifacts of %s (%d): %v", d.Name, d.ID, err)}
		}
	}
	return nil
}

// downloadArtifacts GETs /jobs/:id/artifacts into a temp file in dir and
// returns its path. Redirects are followed; the job token is only sent to
// the coordinator's own host.
func (c *client) downloadArtifacts(ctx context.Context, depID int64, token, dir string) (string, int, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "jobs/"+strconv.FormatInt(depID, 10)+"/artifacts", nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set(headerJobToken, token)
	hc := *c.http
	origHost := req.URL.Host
	hc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if r.URL.Host != origHost {
			r.Header.Del(headerJobToken) // object storage must not see it
		}
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("download artifacts of job %d: %w", depID, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, fmt.Errorf("download artifacts of job %d: %s%s", depID, resp.Status, errorMessage(resp))
	}
	f, err := os.CreateTemp(dir, "artifacts-*.zip")
	if err != nil {
		return "", resp.StatusCode, fmt.Errorf("create artifacts file: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", resp.StatusCode, fmt.Errorf("download artifacts of job %d: %w", depID, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", resp.StatusCode, fmt.Errorf("write artifacts file: %w", err)
	}
	return f.Name(), resp.StatusCode, nil
}

// errorMessage extracts a JSON {"message": …} from an error response.
func errorMessage(resp *http.Response) string {
	if !isJSON(resp) {
		return ""
	}
	var m struct {
		Message any `json:"message"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&m) != nil || m.Message == nil {
		return ""
	}
	return fmt.Sprintf(" (%v)", m.Message)
}

// withinDir reports whether target is dir or below it, lexically.
func withinDir(dir, target string) bool {
	rel, err := filepath.Rel(dir, target)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// extractZip unpacks archive into dir, refusing entries that would land
// outside it, directly or through a symlink the archive created.
func extractZip(archive, dir string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("open archive (only zip is supported): %w", err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", dir, err)
	}
	for _, f := range zr.File {
		name := filepath.FromSlash(path.Clean("/" + strings.ReplaceAll(f.Name, `\`, "/")))[1:]
		if name == "" {
			continue
		}
		target := filepath.Join(realDir, name)
		if !withinDir(realDir, target) {
			return fmt.Errorf("entry %q escapes the project dir", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return fmt.Errorf("create parent of %s: %w", name, err)
		}
		if parent, err := filepath.EvalSymlinks(filepath.Dir(target)); err != nil || !withinDir(realDir, parent) {
			return fmt.Errorf("entry %q escapes the project dir through a symlink", f.Name)
		}
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
		case mode&fs.ModeSymlink != 0:
			link, err := readZipEntry(f, 4096)
			if err != nil {
				return err
			}
			_ = os.RemoveAll(target)
			if err := os.Symlink(string(link), target); err != nil {
				return fmt.Errorf("create symlink %s: %w", name, err)
			}
		default:
			if err := writeZipFile(f, target, mode.Perm()|0o200); err != nil {
				return err
			}
		}
	}
	return nil
}

func readZipEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name, err)
	}
	return b, nil
}

func writeZipFile(f *zip.File, target string, perm fs.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Name, err)
	}
	defer rc.Close()
	// Remove first so an existing symlink is replaced, not written through.
	_ = os.Remove(target)
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", target, err)
	}
	if _, err := io.Copy(out, rc); err != nil {
		_ = out.Close()
		return fmt.Errorf("extract %s: %w", f.Name, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("extract %s: %w", f.Name, err)
	}
	if !f.Modified.IsZero() {
		_ = os.Chtimes(target, f.Modified, f.Modified)
	}
	return nil
}

// ---- upload (docs/runner-protocol.md, "Artifacts") ----

// uploadArtifacts uploads each artifacts entry whose when matches the job
// outcome. The first failed upload is returned after all were attempted.
func (j *jobRun) uploadArtifacts(success bool) error {
	var todo []Artifact
	for _, a := range j.job.Artifacts {
		when := a.When
		if when == "" {
			when = "on_success"
		}
		match := false
		switch when {
		case "always":
			match = true
		case "on_success":
			match = success
		case "on_failure":
			match = !success
		}
		if match && (len(a.Paths) > 0 || len(a.Exclude) > 0 || a.Untracked) {
			todo = append(todo, a)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	name, title := "upload_artifacts_on_success", "Uploading artifacts for successful job"
	if !success {
		name, title = "upload_artifacts_on_failure", "Uploading artifacts for failed job"
	}
	end := j.section(name, title)
	defer end()
	var firstErr error
	for _, a := range todo {
		if err := j.uploadArtifact(a); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (j *jobRun) uploadArtifact(a Artifact) error {
	ctx := j.hardCtx
	format := a.ArtifactFormat
	if format == "" {
		format = "zip"
	}
	typ := a.ArtifactType
	if typ == "" {
		typ = "archive"
	}
	j.printf("Uploading artifacts...")
	files, err := j.selectArtifactFiles(a)
	if err != nil {
		j.errorf("Uploading artifacts as %q failed: %v", typ, err)
		return &scriptError{msg: fmt.Sprintf("uploading artifacts as %q: %v", typ, err)}
	}
	if len(files) == 0 {
		j.errorf("No files to upload")
		return nil // like gitlab-runner: a warning, not a failure
	}

	base := a.Name
	archive, err := os.CreateTemp(j.tmpDir, "upload-*")
	if err != nil {
		return fmt.Errorf("create artifact archive: %w", err)
	}
	defer os.Remove(archive.Name())
	var fileName string
	switch format {
	case "zip":
		if base == "" {
			base = "artifacts"
		}
		fileName = base + ".zip"
		err = writeZip(archive, j.projectDir, files)
	case "gzip":
		if base == "" {
			base = "artifacts"
		}
		fileName = base + ".gz"
		err = writeGzip(archive, j.projectDir, files)
	case "raw":
		regular := regularFiles(j.projectDir, files)
		if len(regular) != 1 {
			err = fmt.Errorf("raw format needs exactly one file, found %d", len(regular))
			break
		}
		fileName = base
		if fileName == "" {
			fileName = path.Base(regular[0])
		}
		err = copyFileTo(archive, filepath.Join(j.projectDir, filepath.FromSlash(regular[0])))
	default:
		err = fmt.Errorf("unsupported artifact_format %q", format)
	}
	if cerr := archive.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write artifact archive: %w", cerr)
	}
	if err != nil {
		j.errorf("Uploading artifacts as %q failed: %v", typ, err)
		return &scriptError{msg: fmt.Sprintf("uploading artifacts as %q: %v", typ, err)}
	}

	q := url.Values{}
	q.Set("artifact_format", format)
	q.Set("artifact_type", typ)
	if a.ExpireIn != "" {
		q.Set("expire_in", a.ExpireIn)
	}
	status, err := j.r.c.uploadArtifact(ctx, j.job.ID, j.job.Token, archive.Name(), fileName, q)
	switch {
	case err == nil:
		j.printf("Uploading artifacts as %q to coordinator... %d %s  id=%d", typ, status, http.StatusText(status), j.job.ID)
		return nil
	case status == http.StatusRequestEntityTooLarge:
		j.errorf("Uploading artifacts as %q to coordinator... too large archive  id=%d responseStatus=413 Request Entity Too Large", typ, j.job.ID)
		j.errorf("The artifacts archive is larger than the server's maximum artifacts size; reduce artifacts:paths or raise the limit")
		return &scriptError{msg: fmt.Sprintf("uploading artifacts as %q: too large archive", typ)}
	default:
		if ctx.Err() != nil {
			return err
		}
		j.errorf("Uploading artifacts as %q to coordinator... failed  id=%d: %v", typ, j.job.ID, err)
		return &scriptError{msg: fmt.Sprintf("uploading artifacts as %q: %v", typ, err)}
	}
}

// uploadArtifact POSTs the archive as the single multipart field "file",
// streamed (chunked) like gitlab-runner. It returns the final status.
func (c *client) uploadArtifact(ctx context.Context, jobID int64, token, file, fileName string, q url.Values) (int, error) {
	target := c.base + "jobs/" + strconv.FormatInt(jobID, 10) + "/artifacts?" + q.Encode()
	attempt, limit := 0, 3
	backoff := 500 * time.Millisecond
	for {
		attempt++
		status, location, err := c.postArtifact(ctx, target, token, file, fileName)
		if err == nil && status == http.StatusCreated {
			return status, nil
		}
		if err == nil {
			switch status {
			case http.StatusTemporaryRedirect:
				if location == "" {
					return status, errors.New("307 without Location")
				}
				// Retry against the Location's scheme and host, as
				// gitlab-runner does (docs/runner-protocol.md, "Artifacts").
				loc, perr := url.Parse(location)
				cur, _ := url.Parse(target)
				if perr != nil || cur == nil {
					return status, fmt.Errorf("bad redirect location %q", location)
				}
				cur.Scheme, cur.Host = loc.Scheme, loc.Host
				target = cur.String()
				if attempt < 5 {
					continue
				}
				return status, errors.New("too many redirects")
			case http.StatusForbidden:
				return status, errors.New("403 Forbidden")
			case http.StatusRequestEntityTooLarge:
				return status, errors.New("413 Request Entity Too Large")
			case http.StatusServiceUnavailable:
				limit = 6
			}
			err = fmt.Errorf("unexpected status %d", status)
		}
		if attempt >= limit || ctx.Err() != nil {
			return status, err
		}
		if !sleepCtx(ctx, backoff) {
			return status, ctx.Err()
		}
		backoff *= 2
	}
}

func (c *client) postArtifact(ctx context.Context, target, token, file, fileName string) (int, string, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, "", fmt.Errorf("open artifact archive: %w", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", fileName)
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, pr)
	if err != nil {
		_ = pr.Close()
		return 0, "", fmt.Errorf("build artifact upload: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("X-Request-Id", newRequestID())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(headerJobToken, token)
	resp, err := c.http.Do(req)
	_ = pr.Close() // stop the writer if the server answered early
	if err != nil {
		return 0, "", fmt.Errorf("upload artifacts: %w", err)
	}
	defer drain(resp)
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// ---- selecting files ----

// hasMeta reports whether a path segment is a glob pattern.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[{\`) }

// globMatch matches a slash-separated name against an artifact path
// pattern with doublestar, as gitlab-runner does: `**` spans directories and
// `{a,b}` are alternatives (the same library matches rules:changes globs).
func globMatch(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return err == nil && ok
}

// matchesSelfOrParent reports whether pattern matches name or one of its
// parent directories (a matched directory stands for its whole tree).
func matchesSelfOrParent(pattern, name string) bool {
	if pattern == "." {
		return true // the project dir itself
	}
	for n := name; n != "." && n != ""; n = path.Dir(n) {
		if globMatch(pattern, n) {
			return true
		}
	}
	return false
}

// normalizePattern expands variables and makes a pattern relative to the
// project dir; ok is false for patterns outside it.
func (j *jobRun) normalizePattern(p string) (string, bool) {
	p = expandValue(p, j.vars)
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(j.projectDir, p)
		if err != nil {
			return "", false
		}
		p = rel
	}
	p = path.Clean(filepath.ToSlash(p))
	if p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return "", false
	}
	return p, true
}

// selectArtifactFiles returns the sorted relative paths (files, dirs and
// symlinks) that an artifacts entry covers.
func (j *jobRun) selectArtifactFiles(a Artifact) ([]string, error) {
	var includes, excludes []string
	for _, raw := range a.Paths {
		p, ok := j.normalizePattern(raw)
		if !ok {
			j.warnf("%s: artifact path is not a subpath of project directory: %s", raw, j.projectDir)
			continue
		}
		includes = append(includes, p)
	}
	for _, raw := range a.Exclude {
		if p, ok := j.normalizePattern(raw); ok {
			excludes = append(excludes, p)
		}
	}
	selected := map[string]bool{}
	excluded := func(rel string) bool {
		for _, e := range excludes {
			if matchesSelfOrParent(e, rel) {
				return true
			}
		}
		return false
	}
	nExcluded := 0
	for _, p := range includes {
		entries, err := walkPattern(j.projectDir, p)
		if err != nil {
			return nil, err
		}
		found := 0
		for _, rel := range entries {
			if !matchesSelfOrParent(p, rel) {
				continue
			}
			if excluded(rel) {
				nExcluded++
				continue
			}
			found++
			selected[rel] = true
		}
		if found == 0 {
			j.warnf("%s: no matching files. Ensure that the artifact path is relative to the working directory (%s)", p, j.projectDir)
		} else {
			j.printf("%s: found %d matching artifact files and directories", p, found)
		}
	}
	if a.Untracked {
		untracked, err := j.untrackedFiles()
		if err != nil {
			j.warnf("untracked: %v", err)
		}
		found := 0
		for _, rel := range untracked {
			if !excluded(rel) {
				selected[rel] = true
				found++
			}
		}
		j.printf("untracked: found %d files", found)
	}
	if nExcluded > 0 {
		j.printf("%d files and directories excluded by artifacts:exclude", nExcluded)
	}
	out := make([]string, 0, len(selected))
	for rel := range selected {
		out = append(out, rel)
	}
	sort.Strings(out)
	return out, nil
}

// walkPattern lists the entries below the pattern's literal prefix, so a
// pattern like "out/**/*.txt" only walks out/.
func walkPattern(root, pattern string) ([]string, error) {
	segs := strings.Split(pattern, "/")
	prefix := []string{}
	for _, s := range segs {
		if hasMeta(s) || s == "**" {
			break
		}
		prefix = append(prefix, s)
	}
	start := filepath.Join(root, filepath.FromSlash(path.Join(prefix...)))
	if _, err := os.Lstat(start); err != nil {
		return nil, nil // nothing there; reported as "no matching files"
	}
	var out []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return fmt.Errorf("relative path of %s: %w", p, rerr)
		}
		if rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", start, err)
	}
	return out, nil
}

// untrackedFiles lists files git does not track, ignored ones included,
// as artifacts:untracked does.
func (j *jobRun) untrackedFiles() ([]string, error) {
	var buf bytes.Buffer
	if err := j.run(j.hardCtx, j.env, &buf, "git", "ls-files", "-o", "-z"); err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var out []string
	for _, f := range strings.Split(buf.String(), "\x00") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out, nil
}

func regularFiles(root string, rels []string) []string {
	var out []string
	for _, rel := range rels {
		if fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); err == nil && fi.Mode().IsRegular() {
			out = append(out, rel)
		}
	}
	return out
}

// writeZip archives rels (relative to root) into w, keeping modes and
// symlinks.
func writeZip(w io.Writer, root string, rels []string) error {
	zw := zip.NewWriter(w)
	for _, rel := range rels {
		full := filepath.Join(root, filepath.FromSlash(rel))
		fi, err := os.Lstat(full)
		if err != nil {
			return fmt.Errorf("stat %s: %w", rel, err)
		}
		hdr, err := zip.FileInfoHeader(fi)
		if err != nil {
			return fmt.Errorf("zip header for %s: %w", rel, err)
		}
		hdr.Name = rel
		switch {
		case fi.IsDir():
			hdr.Name += "/"
			hdr.Method = zip.Store
			if _, err := zw.CreateHeader(hdr); err != nil {
				return fmt.Errorf("zip %s: %w", rel, err)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(full)
			if err != nil {
				return fmt.Errorf("read link %s: %w", rel, err)
			}
			hdr.Method = zip.Store
			zf, err := zw.CreateHeader(hdr)
			if err != nil {
				return fmt.Errorf("zip %s: %w", rel, err)
			}
			if _, err := io.WriteString(zf, target); err != nil {
				return fmt.Errorf("zip %s: %w", rel, err)
			}
		case fi.Mode().IsRegular():
			hdr.Method = zip.Deflate
			zf, err := zw.CreateHeader(hdr)
			if err != nil {
				return fmt.Errorf("zip %s: %w", rel, err)
			}
			if err := copyFileTo(zf, full); err != nil {
				return err
			}
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish zip: %w", err)
	}
	return nil
}

// writeGzip writes one gzip member per regular file, named after it, which
// is how gitlab-runner produces gzip report artifacts.
func writeGzip(w io.Writer, root string, rels []string) error {
	for _, rel := range regularFiles(root, rels) {
		gz := gzip.NewWriter(w)
		gz.Name = rel
		if err := copyFileTo(gz, filepath.Join(root, filepath.FromSlash(rel))); err != nil {
			return err
		}
		if err := gz.Close(); err != nil {
			return fmt.Errorf("gzip %s: %w", rel, err)
		}
	}
	return nil
}

func copyFileTo(w io.Writer, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("copy %s: %w", file, err)
	}
	return nil
}
