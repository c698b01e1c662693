package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

// The repository API (GitLab's lib/api/commits.rb, branches.rb, tags.rb,
// files.rb, repositories.rb and commit_statuses.rb): reads of the hosted
// repository that glab and python-gitlab use around pipelines.

// codeProject resolves :id for a route that reads the repository: GitLab's
// download_code ability (guests of private projects may not).
func (s *Server) codeProject(q *req) (*ci.Project, ci.AccessLevel, error) {
	p, lvl, err := s.project(q)
	if err != nil {
		return nil, 0, err
	}
	if err := access.Allowed(q.caller, p, lvl, access.ReadCode); err != nil {
		return nil, 0, err
	}
	return p, lvl, nil
}

// refOrDefault is the ref parameter k, or the default branch.
func refOrDefault(q *req, p *ci.Project, k string) string {
	if v := q.p.Str(k); v != "" {
		return v
	}
	return p.DefaultBranch
}

// gitNotFound maps a missing revision or path to resource's 404.
func gitNotFound(err error, resource string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ci.NotFound(resource)
	}
	return err
}

// paramTime reads an ISO 8601 date or time parameter (Grape's DateTime).
func paramTime(q *req, k string) (time.Time, error) {
	v := q.p.Str(k)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, ci.Invalid("%s is invalid", k)
}

// commitEntity renders a git commit as API::Entities::Commit. GitLab
// parses trailers only where it asks Gitaly for them (one commit, or a
// list with trailers=true); elsewhere they are empty.
func (s *Server) commitEntity(p *ci.Project, c *gitrepo.Commit, trailers bool) *Commit {
	if !trailers {
		c.Trailers = map[string]string{}
	}
	return s.commit(p, &store.Commit{ID: c.ID, ShortID: c.ShortID, Title: c.Title, Message: c.Message,
		ParentIDs: c.ParentIDs, AuthorName: c.AuthorName, AuthorEmail: c.AuthorEmail, AuthoredDate: c.AuthoredDate,
		CommitterName: c.CommitterName, CommitterEmail: c.CommitterEmail, CommittedDate: c.CommittedDate, Trailers: c.Trailers})
}

func (s *Server) listCommits(q *req) error {
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	since, err := paramTime(q, "since")
	if err != nil {
		return err
	}
	until, err := paramTime(q, "until")
	if err != nil {
		return err
	}
	// Trailers only when asked: GitLab parses them only with trailers=true.
	trailers, err := q.p.Bool("trailers", false)
	if err != nil {
		return err
	}
	ref := refOrDefault(q, p, "ref_name")
	opts := gitrepo.LogOptions{Path: q.p.Str("path"), Since: since, Until: until}
	repo := s.eng.Repo(p.ID)
	out := []*Commit{}
	total := 0
	if ref != "" {
		total, err = repo.CountCommits(q.ctx(), ref, opts)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil {
			opts.Skip, opts.Limit = pg.offset(), pg.PerPage
			commits, err := repo.Log(q.ctx(), ref, opts)
			if err != nil {
				return err
			}
			for _, c := range commits {
				out = append(out, s.commitEntity(p, c, trailers))
			}
		}
	}
	s.offsetHeaders(q, pg, pg.offset()+len(out) < total, total)
	return q.json(http.StatusOK, out)
}

// CommitStats is API::Entities::CommitStats.
type CommitStats struct {
	Additions int `json:"additions"`
	Deletions int `json:"deletions"`
	Total     int `json:"total"`
}

// CommitDetail is API::Entities::CommitDetail.
type CommitDetail struct {
	*Commit
	Stats        *CommitStats   `json:"stats,omitempty"`
	Status       *string        `json:"status"`
	ProjectID    int64          `json:"project_id"`
	LastPipeline *PipelineBasic `json:"last_pipeline"`
}

// repoCommit resolves :sha (a sha, branch or tag) to a commit.
func (s *Server) repoCommit(q *req, p *ci.Project) (*gitrepo.Commit, error) {
	sha := q.r.PathValue("sha")
	if sha == "" || strings.HasPrefix(sha, "-") {
		return nil, ci.NotFound("Commit")
	}
	c, err := s.eng.Repo(p.ID).Commit(q.ctx(), sha)
	if err != nil {
		return nil, gitNotFound(err, "Commit")
	}
	return c, nil
}

func (s *Server) getCommit(q *req) error {
	p, lvl, err := s.codeProject(q)
	if err != nil {
		return err
	}
	withStats, err := q.p.Bool("stats", true)
	if err != nil {
		return err
	}
	c, err := s.repoCommit(q, p)
	if err != nil {
		return err
	}
	out := &CommitDetail{Commit: s.commitEntity(p, c, true), ProjectID: p.ID}
	if withStats {
		st, err := s.eng.Repo(p.ID).CommitStats(q.ctx(), c.ID)
		if err != nil {
			return err
		}
		out.Stats = &CommitStats{Additions: st.Additions, Deletions: st.Deletions, Total: st.Additions + st.Deletions}
	}
	if access.Allowed(q.caller, p, lvl, access.ReadPipeline) == nil {
		pls, err := s.store.ListPipelines(q.ctx(), store.PipelineFilter{ProjectID: p.ID, SHA: c.ID, ExcludeChildren: true, Limit: 1})
		if err != nil {
			return err
		}
		if len(pls) > 0 {
			st := string(pls[0].Status)
			out.Status, out.LastPipeline = &st, s.pipelineBasic(p, pls[0])
		}
	}
	return q.json(http.StatusOK, out)
}

// BasicRef is API::Entities::BasicRef.
type BasicRef struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

func (s *Server) commitRefs(q *req) error {
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	typ := q.p.Str("type")
	switch typ {
	case "":
		typ = "all"
	case "branch", "tag", "all":
	default:
		return ci.Invalid("type does not have a valid value")
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	c, err := s.repoCommit(q, p)
	if err != nil {
		return err
	}
	branches, tags, err := s.eng.Repo(p.ID).RefsContaining(q.ctx(), c.ID)
	if err != nil {
		return err
	}
	refs := []BasicRef{}
	if typ != "tag" {
		for _, b := range branches {
			refs = append(refs, BasicRef{"branch", b})
		}
	}
	if typ != "branch" {
		for _, t := range tags {
			refs = append(refs, BasicRef{"tag", t})
		}
	}
	return q.json(http.StatusOK, paged(s, q, pg, refs))
}

// paged answers one offset page of a list held in memory, with totals.
func paged[T any](s *Server, q *req, pg page, all []T) []T {
	lo, hi := pg.bounds(len(all))
	s.offsetHeaders(q, pg, hi < len(all), len(all))
	return all[lo:hi]
}

// CommitStatus is API::Entities::CommitStatus.
type CommitStatus struct {
	ID           int64      `json:"id"`
	SHA          string     `json:"sha"`
	Ref          string     `json:"ref"`
	Status       string     `json:"status"`
	Name         string     `json:"name"`
	TargetURL    *string    `json:"target_url"`
	Description  *string    `json:"description"`
	CreatedAt    Time       `json:"created_at"`
	StartedAt    *Time      `json:"started_at"`
	FinishedAt   *Time      `json:"finished_at"`
	AllowFailure bool       `json:"allow_failure"`
	Coverage     *float64   `json:"coverage"`
	PipelineID   int64      `json:"pipeline_id"`
	Author       *UserBasic `json:"author"`
}

// commitStatuses lists the jobs of the commit's pipelines (GitLab's
// read_commit_status: reporters, or anyone who may read builds).
func (s *Server) commitStatuses(q *req) error {
	p, lvl, err := s.project(q)
	if err != nil {
		return err
	}
	if err := access.Allowed(q.caller, p, lvl, access.ReadBuild); err != nil {
		return err
	}
	all, err := q.p.Bool("all", false)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	c, err := s.repoCommit(q, p)
	if err != nil {
		return err
	}
	pls, err := s.store.ListPipelines(q.ctx(), store.PipelineFilter{ProjectID: p.ID, SHA: c.ID, Limit: 100})
	if err != nil {
		return err
	}
	ref, stage, name := q.p.Str("ref"), q.p.Str("stage"), q.p.Str("name")
	out := []*CommitStatus{}
	users := map[int64]*UserBasic{}
	// Oldest pipeline first, jobs by id: GitLab's order (by id).
	for i := len(pls) - 1; i >= 0; i-- {
		jobs, err := s.store.PipelineJobs(q.ctx(), pls[i].ID)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if (j.Retried && !all) || (ref != "" && j.Ref != ref) || (stage != "" && j.Stage != stage) || (name != "" && j.Name != name) {
				continue
			}
			out = append(out, s.commitStatusEntity(q, c.ID, j, users))
		}
	}
	return q.json(http.StatusOK, paged(s, q, pg, out))
}

func timePtr(t *time.Time) *Time {
	if t == nil {
		return nil
	}
	return &Time{*t}
}

// Branch is API::Entities::Branch.
type Branch struct {
	Name               string  `json:"name"`
	Commit             *Commit `json:"commit"`
	Merged             bool    `json:"merged"`
	Protected          bool    `json:"protected"`
	DevelopersCanPush  bool    `json:"developers_can_push"`
	DevelopersCanMerge bool    `json:"developers_can_merge"`
	CanPush            bool    `json:"can_push"`
	Default            bool    `json:"default"`
	WebURL             string  `json:"web_url"`
}

// branches renders refs as branches; commits are read in one log call per
// branch head that is not yet known.
func (s *Server) branches(q *req, p *ci.Project, lvl ci.AccessLevel, refs []gitrepo.Ref) ([]*Branch, error) {
	repo := s.eng.Repo(p.ID)
	merged := map[string]bool{}
	if p.DefaultBranch != "" {
		m, err := repo.MergedBranches(q.ctx(), "refs/heads/"+p.DefaultBranch)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		merged = m
	}
	rules, err := s.store.ProtectedRefs(q.ctx(), p.ID)
	if err != nil {
		return nil, err
	}
	canPush := access.Allowed(q.caller, p, lvl, access.PushCode) == nil
	commits := map[string]*Commit{}
	out := make([]*Branch, 0, len(refs))
	for _, r := range refs {
		c, ok := commits[r.Commit]
		if !ok {
			gc, err := repo.Commit(q.ctx(), r.Commit)
			if err != nil {
				return nil, err
			}
			c = s.commitEntity(p, gc, false)
			commits[r.Commit] = c
		}
		isDefault := r.Name == p.DefaultBranch
		// developers_can_push/merge: a protected branch whose rules let
		// developers in (ProtectedBranch.developers_can?); false when
		// unprotected, as in GitLab.
		protected := rules.Protected(r.Name, false)
		out = append(out, &Branch{Name: r.Name, Commit: c, Merged: merged[r.Name] && !isDefault, Protected: protected,
			DevelopersCanPush:  protected && rules.Can(ci.BranchRef, r.Name, ci.ActionPush, ci.Developer),
			DevelopersCanMerge: protected && rules.Can(ci.BranchRef, r.Name, ci.ActionMerge, ci.Developer),
			CanPush:            canPush && rules.CanUpdate(r.Name, false, lvl),
			Default:            isDefault, WebURL: s.url(p.FullPath(), "-", "tree", r.Name)})
	}
	return out, nil
}

func (s *Server) listBranches(q *req) error {
	p, lvl, err := s.codeProject(q)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	refs, err := s.eng.Repo(p.ID).Branches(q.ctx())
	if err != nil {
		return err
	}
	matched := searchRefs(refs, q.p.Str("search"))
	// Render only the page: each branch costs a commit read.
	lo, hi := pg.bounds(len(matched))
	out, err := s.branches(q, p, lvl, matched[lo:hi])
	if err != nil {
		return err
	}
	s.offsetHeaders(q, pg, hi < len(matched), len(matched))
	return q.json(http.StatusOK, out)
}

// searchRefs keeps the refs whose names match search.
func searchRefs(refs []gitrepo.Ref, search string) []gitrepo.Ref {
	matched := refs[:0]
	for _, r := range refs {
		if matchSearch(r.Name, search) {
			matched = append(matched, r)
		}
	}
	return matched
}

// matchSearch is GitLab's ref search: a substring, or ^prefix / suffix$.
func matchSearch(name, search string) bool {
	switch {
	case search == "":
		return true
	case strings.HasPrefix(search, "^") && strings.HasSuffix(search, "$") && len(search) > 1:
		return name == search[1:len(search)-1]
	case strings.HasPrefix(search, "^"):
		return strings.HasPrefix(name, search[1:])
	case strings.HasSuffix(search, "$"):
		return strings.HasSuffix(name, search[:len(search)-1])
	}
	return strings.Contains(name, search)
}

func (s *Server) getBranch(q *req) error {
	p, lvl, err := s.codeProject(q)
	if err != nil {
		return err
	}
	name := q.r.PathValue("branch")
	refs, err := s.eng.Repo(p.ID).Branches(q.ctx())
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.Name == name {
			out, err := s.branches(q, p, lvl, []gitrepo.Ref{r})
			if err != nil {
				return err
			}
			return q.json(http.StatusOK, out[0])
		}
	}
	return ci.NotFound("Branch")
}

// Tag is API::Entities::Tag.
type Tag struct {
	Name      string  `json:"name"`
	Message   *string `json:"message"`
	Target    string  `json:"target"`
	Commit    *Commit `json:"commit"`
	Release   any     `json:"release"`
	Protected bool    `json:"protected"`
	CreatedAt *Time   `json:"created_at"`
}

func (s *Server) tagEntities(q *req, p *ci.Project, refs []gitrepo.Ref) ([]*Tag, error) {
	repo := s.eng.Repo(p.ID)
	rules, err := s.store.ProtectedRefs(q.ctx(), p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*Tag, 0, len(refs))
	for _, r := range refs {
		gc, err := repo.Commit(q.ctx(), r.Commit)
		if err != nil {
			return nil, err
		}
		t := &Tag{Name: r.Name, Target: r.Target, Commit: s.commitEntity(p, gc, false), Protected: rules.Protected(r.Name, true)}
		if r.Annotated {
			msg := strings.TrimSuffix(r.Message, "\n")
			t.Message = &msg
			if !r.TaggedAt.IsZero() {
				t.CreatedAt = &Time{r.TaggedAt}
			}
		} else {
			empty := ""
			t.Message = &empty
		}
		out = append(out, t)
	}
	return out, nil
}

func (s *Server) listTags(q *req) error {
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	refs, err := s.eng.Repo(p.ID).Tags(q.ctx())
	if err != nil {
		return err
	}
	matched := searchRefs(refs, q.p.Str("search"))
	// GitLab orders tags by last update, newest first, by default.
	if q.p.Str("order_by") != "name" {
		for i, j := 0, len(matched)-1; i < j; i, j = i+1, j-1 {
			matched[i], matched[j] = matched[j], matched[i]
		}
	}
	lo, hi := pg.bounds(len(matched))
	out, err := s.tagEntities(q, p, matched[lo:hi])
	if err != nil {
		return err
	}
	s.offsetHeaders(q, pg, hi < len(matched), len(matched))
	return q.json(http.StatusOK, out)
}

func (s *Server) getTag(q *req) error {
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	name := q.r.PathValue("tag_name")
	refs, err := s.eng.Repo(p.ID).Tags(q.ctx())
	if err != nil {
		return err
	}
	for _, r := range refs {
		if r.Name == name {
			out, err := s.tagEntities(q, p, []gitrepo.Ref{r})
			if err != nil {
				return err
			}
			return q.json(http.StatusOK, out[0])
		}
	}
	return ci.NotFound("Tag")
}

// TreeEntry is an entry of GET …/repository/tree.
type TreeEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Path string `json:"path"`
	Mode string `json:"mode"`
}

func (s *Server) listTree(q *req) error {
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	recursive, err := q.p.Bool("recursive", false)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	ref := refOrDefault(q, p, "ref")
	if ref == "" {
		return ci.NotFound("Tree")
	}
	entries, err := s.eng.Repo(p.ID).Tree(q.ctx(), ref, q.p.Str("path"), recursive)
	if err != nil {
		return gitNotFound(err, "Tree")
	}
	out := make([]TreeEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, TreeEntry{ID: e.ID, Name: e.Name, Type: e.Type, Path: e.Path, Mode: e.Mode})
	}
	return q.json(http.StatusOK, paged(s, q, pg, out))
}

// RepoFile is the answer of GET …/repository/files/:file_path.
type RepoFile struct {
	FileName        string `json:"file_name"`
	FilePath        string `json:"file_path"`
	Size            int64  `json:"size"`
	Encoding        string `json:"encoding"`
	ContentSHA256   string `json:"content_sha256"`
	Ref             string `json:"ref"`
	BlobID          string `json:"blob_id"`
	CommitID        string `json:"commit_id"`
	LastCommitID    string `json:"last_commit_id"`
	ExecuteFilemode bool   `json:"execute_filemode"`
	Content         string `json:"content"`
}

// maxFileRead bounds a file read through the files API: content is
// answered whole, base64 in JSON.
const maxFileRead = 32 << 20

// repoFile reads :file_path at ref (required unless raw), with GitLab's
// X-Gitlab-* headers.
func (s *Server) repoFile(q *req, refRequired bool) (*RepoFile, []byte, error) {
	p, _, err := s.codeProject(q)
	if err != nil {
		return nil, nil, err
	}
	ref := q.p.Str("ref")
	if ref == "" {
		if refRequired {
			return nil, nil, ci.Invalid("ref is missing")
		}
		ref = p.DefaultBranch
	}
	path := q.r.PathValue("file_path")
	repo := s.eng.Repo(p.ID)
	c, err := repo.Commit(q.ctx(), ref)
	if err != nil {
		return nil, nil, gitNotFound(err, "File")
	}
	e, err := repo.Blob(q.ctx(), c.ID, path)
	if err != nil {
		return nil, nil, gitNotFound(err, "File")
	}
	if e.Size > maxFileRead {
		return nil, nil, &ci.Error{Code: ci.ETooLarge, Message: "413 Request Entity Too Large - file is larger than " + strconv.Itoa(maxFileRead>>20) + " MiB"}
	}
	data, err := repo.ReadFile(q.ctx(), c.ID, e.Path)
	if err != nil {
		return nil, nil, gitNotFound(err, "File")
	}
	last, err := repo.LastCommitFor(q.ctx(), c.ID, e.Path)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(data)
	f := &RepoFile{FileName: e.Name, FilePath: e.Path, Size: e.Size, Encoding: "base64", ContentSHA256: hex.EncodeToString(sum[:]),
		Ref: ref, BlobID: e.ID, CommitID: c.ID, LastCommitID: last, ExecuteFilemode: e.Mode == "100755"}
	h := q.w.Header()
	h.Set("X-Gitlab-Blob-Id", f.BlobID)
	h.Set("X-Gitlab-Commit-Id", f.CommitID)
	h.Set("X-Gitlab-Content-Sha256", f.ContentSHA256)
	h.Set("X-Gitlab-Encoding", f.Encoding)
	h.Set("X-Gitlab-File-Name", f.FileName)
	h.Set("X-Gitlab-File-Path", f.FilePath)
	h.Set("X-Gitlab-Last-Commit-Id", f.LastCommitID)
	h.Set("X-Gitlab-Ref", f.Ref)
	h.Set("X-Gitlab-Size", strconv.FormatInt(f.Size, 10))
	h.Set("X-Gitlab-Execute-Filemode", strconv.FormatBool(f.ExecuteFilemode))
	return f, data, nil
}

func (s *Server) getFile(q *req) error {
	f, data, err := s.repoFile(q, true)
	if err != nil {
		return err
	}
	f.Content = base64.StdEncoding.EncodeToString(data)
	return q.json(http.StatusOK, f)
}

func (s *Server) getRawFile(q *req) error {
	_, data, err := s.repoFile(q, false)
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	q.w.Header().Set("X-Content-Type-Options", "nosniff")
	q.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	q.w.WriteHeader(http.StatusOK)
	_, _ = q.w.Write(data)
	return nil
}

// archiveFormats are the formats of GET …/repository/archive[.format] that
// git archive writes itself.
var archiveFormats = map[string]struct{ git, mime string }{
	"tar.gz": {"tar.gz", "application/gzip"},
	"tgz":    {"tar.gz", "application/gzip"},
	"gz":     {"tar.gz", "application/gzip"},
	"tar":    {"tar", "application/x-tar"},
	"zip":    {"zip", "application/zip"},
}

// repositoryArchive serves GET …/repository/archive and archive.<format>.
func (s *Server) repositoryArchive(q *req) error {
	name := q.r.PathValue("archive")
	format := "tar.gz"
	if rest, ok := strings.CutPrefix(name, "archive."); ok {
		format = rest
	} else if name != "archive" {
		return ci.ErrRouteNotFound
	}
	f, ok := archiveFormats[format]
	if !ok {
		return ci.ErrRouteNotFound
	}
	p, _, err := s.codeProject(q)
	if err != nil {
		return err
	}
	ref := refOrDefault(q, p, "sha")
	if ref == "" {
		return ci.NotFound("File")
	}
	repo := s.eng.Repo(p.ID)
	c, err := repo.Commit(q.ctx(), ref)
	if err != nil {
		return gitNotFound(err, "File")
	}
	path := q.p.Str("path")
	if path != "" {
		// Check before streaming: once bytes are out, no 404 can follow.
		if _, err := repo.Tree(q.ctx(), c.ID, path, false); err != nil {
			if _, berr := repo.Blob(q.ctx(), c.ID, path); berr != nil {
				return gitNotFound(err, "File")
			}
		}
	}
	slug := strings.NewReplacer("/", "-", "\\", "-").Replace(ref)
	prefix := p.Path + "-" + slug
	if slug != c.ID {
		prefix += "-" + c.ID
	}
	q.w.Header().Set("Content-Type", f.mime)
	q.w.Header().Set("Content-Disposition", `attachment; filename="`+prefix+"."+format+`"`)
	q.w.Header().Set("Content-Transfer-Encoding", "binary")
	q.w.WriteHeader(http.StatusOK)
	if err := repo.Archive(q.ctx(), q.w, c.ID, f.git, prefix, path); err != nil {
		s.log.Warn("archive cut short", "project", p.ID, "ref", ref, "err", err)
	}
	return nil
}

// listMergeRequests answers [] and getMergeRequest 404: Gantry has no
// merge requests, and glab falls back to them when a branch has no
// pipeline.
func (s *Server) listMergeRequests(q *req) error {
	if _, _, err := s.project(q); err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	s.offsetHeaders(q, pg, false, 0)
	return q.json(http.StatusOK, []any{})
}

func (s *Server) getMergeRequest(q *req) error {
	if _, _, err := s.project(q); err != nil {
		return err
	}
	if _, err := q.pathInt("merge_request_iid"); err != nil {
		return err
	}
	return ci.ErrNotFoundGeneric
}
