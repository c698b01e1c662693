package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/store"
)

// Limits of include:remote. GitLab fetches remote includes with
// Gitlab::HTTP under the external context's timeout
// (lib/gitlab/ci/config/external/context.rb); the body is capped like a
// configuration file.
const (
	defaultRemoteTimeout = 10 * time.Second
	maxRemoteInclude     = 1 << 20
	// remoteIncludeBudget bounds all remote fetches of one configuration,
	// so that 150 slow includes cannot hold a pipeline creation for long.
	remoteIncludeBudget = 30 * time.Second
)

// CodeAccess answers whether the user (0: anonymous) may read the code of a
// project (download_code), for include:project and include:component.
type CodeAccess func(ctx context.Context, userID int64, p *ci.Project) bool

// SetCodeAccess installs the access check used for includes from other
// projects. Without it, only public projects can be included.
func (s *Service) SetCodeAccess(fn CodeAccess) { s.codeAccess = fn }

// projectFiles reads other projects for the compiler on behalf of a user.
type projectFiles struct {
	ctx    context.Context
	s      *Service
	userID int64
	cache  map[string]*ci.Project
}

func (s *Service) projectFiles(ctx context.Context, userID int64) *projectFiles {
	return &projectFiles{ctx: ctx, s: s, userID: userID, cache: map[string]*ci.Project{}}
}

// project finds a project by full path and checks that the user may read
// its code; GitLab does not tell a missing project from a hidden one.
func (pf *projectFiles) project(path string) (*ci.Project, error) {
	if p, ok := pf.cache[path]; ok {
		if p == nil {
			return nil, ciconfig.ErrProjectNotFound
		}
		return p, nil
	}
	pf.cache[path] = nil
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return nil, ciconfig.ErrProjectNotFound
	}
	p, err := pf.s.store.ProjectByPath(pf.ctx, path[:i], path[i+1:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, ciconfig.ErrProjectNotFound
	}
	if err != nil {
		return nil, err
	}
	allowed := p.Visibility == ci.VisibilityPublic
	if pf.s.codeAccess != nil {
		allowed = pf.s.codeAccess(pf.ctx, pf.userID, p)
	}
	if !allowed {
		return nil, ciconfig.ErrProjectNotFound
	}
	pf.cache[path] = p
	return p, nil
}

// ResolveRef implements ciconfig.Projects: "" and HEAD are the default
// branch; otherwise a branch, a tag or a commit sha.
func (pf *projectFiles) ResolveRef(project, ref string) (string, error) {
	p, err := pf.project(project)
	if err != nil {
		return "", err
	}
	if ref == "" || ref == "HEAD" {
		ref = p.DefaultBranch
		if ref == "" {
			return "", ciconfig.ErrRefNotFound
		}
	}
	if strings.HasPrefix(ref, "refs/") || strings.HasPrefix(ref, "-") {
		return "", ciconfig.ErrRefNotFound
	}
	sha, err := pf.s.Repo(p.ID).ResolveRef(pf.ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ciconfig.ErrRefNotFound, err)
	}
	return sha, nil
}

// ReadFile implements ciconfig.Projects.
func (pf *projectFiles) ReadFile(project, sha, path string) ([]byte, error) {
	p, err := pf.project(project)
	if err != nil {
		return nil, fs.ErrNotExist
	}
	return pf.s.Repo(p.ID).ReadFile(pf.ctx, sha, path)
}

// ListFiles implements ciconfig.Projects.
func (pf *projectFiles) ListFiles(project, sha string) ([]string, error) {
	p, err := pf.project(project)
	if err != nil {
		return nil, err
	}
	return pf.s.Repo(p.ID).ListFiles(pf.ctx, sha)
}

// Tags implements ciconfig.Projects.
func (pf *projectFiles) Tags(project string) ([]string, error) {
	p, err := pf.project(project)
	if err != nil {
		return nil, err
	}
	refs, err := pf.s.Repo(p.ID).Tags(pf.ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.Name
	}
	return names, nil
}

// fetchRemote implements include:remote with the engine's HTTP client, a
// timeout and a size cap, mapping failures onto the compiler's errors.
func (s *Service) fetchRemote(ctx context.Context) func(url string) ([]byte, error) {
	end := time.Now().Add(remoteIncludeBudget)
	return func(url string) ([]byte, error) {
		timeout := s.cfg.RemoteIncludeTimeout
		if timeout <= 0 {
			timeout = defaultRemoteTimeout
		}
		timeout = min(timeout, time.Until(end))
		if timeout <= 0 {
			return nil, fmt.Errorf("%w: include budget spent", ciconfig.ErrRemoteTimeout)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		client := s.cfg.HTTPClient
		if client == nil {
			client = http.DefaultClient
		}
		if !s.cfg.AllowLocalRequests && !sameOrigin(url, s.cfg.ExternalURL) {
			if err := checkRemoteURL(ctx, url); err != nil {
				return nil, err
			}
			client = guardedClient(client)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, remoteError(ctx, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			return nil, &ciconfig.RemoteStatusError{Code: resp.StatusCode}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxRemoteInclude+1))
		if err != nil {
			return nil, remoteError(ctx, err)
		}
		if len(body) > maxRemoteInclude {
			return nil, fmt.Errorf("%w: larger than %d bytes", ciconfig.ErrRemoteHTTP, maxRemoteInclude)
		}
		return body, nil
	}
}

func remoteError(ctx context.Context, err error) error {
	var be *ciconfig.RemoteBlockedError
	if errors.As(err, &be) {
		return be
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %w", ciconfig.ErrRemoteTimeout, err)
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return err // socket error
	}
	return fmt.Errorf("%w: %w", ciconfig.ErrRemoteHTTP, err)
}

// LintRequest is a CI Lint call (POST/GET /projects/:id/ci/lint).
type LintRequest struct {
	Project *ci.Project
	// Content is the configuration to check; nil reads the project's
	// config file at Ref.
	Content []byte
	// Ref is the branch or tag; "" is the default branch.
	Ref string
	// RefType is dry_run_ref_type: "branch" (default) or "tag".
	RefType string
	UserID  int64
	// DryRun simulates pipeline creation for Ref (rules evaluated);
	// otherwise the configuration is only validated.
	DryRun bool
}

// Lint validates a configuration with includes resolved as a pipeline of
// req.Ref would resolve them; with DryRun it also evaluates workflow and
// job rules with the ref's predefined variables (Ci::Lint).
func (s *Service) Lint(ctx context.Context, req LintRequest) (ciconfig.LintResult, error) {
	invalid := func(msg string) (ciconfig.LintResult, error) {
		return ciconfig.LintResult{Errors: []string{msg}, Warnings: []string{}}, nil
	}
	cr := CreateRequest{Project: req.Project, Ref: req.Ref, Source: "push", UserID: req.UserID, Tag: req.RefType == "tag"}
	if cr.Ref == "" {
		cr.Ref = req.Project.DefaultBranch
	}
	repo := s.Repo(req.Project.ID)
	var commit *gitrepo.Commit
	if cr.Ref != "" && !strings.HasPrefix(cr.Ref, "-") {
		full := "refs/heads/" + cr.Ref
		if cr.Tag {
			full = "refs/tags/" + cr.Ref
		}
		sha, err := repo.ResolveRef(ctx, full)
		if err != nil && !req.DryRun {
			// Static lint also reads a commit given by sha.
			sha, err = repo.ResolveRef(ctx, cr.Ref)
		}
		if err == nil {
			cr.SHA = sha
			commit, _ = repo.Commit(ctx, sha)
		}
	}
	if commit == nil {
		if req.DryRun {
			return invalid("Reference not found")
		}
		// Static lint of given content works without a commit.
		commit = &gitrepo.Commit{}
	}
	content := req.Content
	if content == nil {
		if cr.SHA == "" {
			return invalid(msgEmptyConfig)
		}
		c, err := repo.ReadFile(ctx, cr.SHA, s.configPath(req.Project))
		if err != nil {
			return invalid(msgEmptyConfig)
		}
		content = c
	}
	cr.BeforeSHA = ZeroSHA
	// The simulated pipeline sees protected variables as the real one
	// would: when its ref is protected.
	protected, err := s.RefProtected(ctx, req.Project.ID, cr.Ref, cr.Tag)
	if err != nil {
		return ciconfig.LintResult{}, err
	}
	vars, err := s.rulesVariables(ctx, cr, protected, commit)
	if err != nil {
		return ciconfig.LintResult{}, err
	}
	src := s.configSource(ctx, cr, content, vars, nil)
	if cr.SHA == "" {
		src.ReadFile = func(string) ([]byte, error) { return nil, fs.ErrNotExist }
		src.Exists = nil
	}
	var res ciconfig.LintResult
	if req.DryRun {
		res = ciconfig.DryRun(ctx, src)
	} else {
		res = ciconfig.Lint(ctx, src)
	}
	if err := ctx.Err(); err != nil {
		// The client went away: its answer is nobody's.
		return ciconfig.LintResult{}, fmt.Errorf("lint: %w", err)
	}
	return res, nil
}

// msgEmptyConfig is the loader's answer for a missing configuration.
const msgEmptyConfig = "Please provide content of .gitlab-ci.yml"
