package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/gitrepo"
	"github.com/gantryci/gantry/internal/runnerproto"
	"github.com/gantryci/gantry/internal/store"
)

// Version is the GitLab version Gantry reports (CI_SERVER_VERSION, /version).
const (
	Version  = "17.11.0"
	Revision = "gantry"
)

// varList keeps variables in order, a later Set replacing an earlier one in
// place, which is how GitLab's precedence layers resolve.
type varList struct {
	vars  []runnerproto.Variable
	index map[string]int
}

func (l *varList) set(v runnerproto.Variable) {
	if l.index == nil {
		l.index = map[string]int{}
	}
	if i, ok := l.index[v.Key]; ok {
		l.vars[i] = v
		return
	}
	l.index[v.Key] = len(l.vars)
	l.vars = append(l.vars, v)
}

func (l *varList) pub(k, v string) { l.set(runnerproto.Variable{Key: k, Value: v, Public: true}) }

func (l *varList) env() map[string]string {
	m := make(map[string]string, len(l.vars))
	for _, v := range l.vars {
		m[v.Key] = v.Value
	}
	return m
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// Slug is GitLab's ref slug: lowercased, non-alphanumerics to "-", at most
// 63 bytes, no leading or trailing "-".
func Slug(s string) string {
	s = slugRe.ReplaceAllString(strings.ToLower(s), "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-")
}

// serverVars are the CI_SERVER_* and project variables.
func (s *Service) serverVars(l *varList, p *ci.Project) {
	u, _ := url.Parse(s.cfg.ExternalURL)
	host, port, proto := "", "", "http"
	if u != nil {
		host, port, proto = u.Hostname(), u.Port(), u.Scheme
		if port == "" {
			port = map[string]string{"https": "443"}[proto]
			if port == "" {
				port = "80"
			}
		}
	}
	base := strings.TrimRight(s.cfg.ExternalURL, "/")
	l.pub("CI", "true")
	l.pub("GITLAB_CI", "true")
	l.pub("CI_SERVER_URL", base)
	l.pub("CI_SERVER_HOST", host)
	l.pub("CI_SERVER_PORT", port)
	l.pub("CI_SERVER_PROTOCOL", proto)
	l.pub("CI_SERVER_FQDN", u.Host)
	l.pub("CI_SERVER_NAME", "GitLab")
	l.pub("CI_SERVER_VERSION", Version)
	parts := strings.SplitN(Version, ".", 3)
	l.pub("CI_SERVER_VERSION_MAJOR", parts[0])
	l.pub("CI_SERVER_VERSION_MINOR", parts[1])
	l.pub("CI_SERVER_VERSION_PATCH", parts[2])
	l.pub("CI_SERVER_REVISION", Revision)
	l.pub("CI_API_V4_URL", base+"/api/v4")
	l.pub("CI_API_GRAPHQL_URL", base+"/api/graphql")
	l.pub("CI_PROJECT_ID", strconv.FormatInt(p.ID, 10))
	l.pub("CI_PROJECT_NAME", p.Path)
	l.pub("CI_PROJECT_TITLE", p.Name)
	l.pub("CI_PROJECT_DESCRIPTION", p.Description)
	l.pub("CI_PROJECT_PATH", p.FullPath())
	l.pub("CI_PROJECT_PATH_SLUG", Slug(p.FullPath()))
	l.pub("CI_PROJECT_NAMESPACE", p.Namespace)
	l.pub("CI_PROJECT_ROOT_NAMESPACE", p.Namespace)
	l.pub("CI_PROJECT_URL", base+"/"+p.FullPath())
	l.pub("CI_PROJECT_VISIBILITY", p.Visibility)
	l.pub("CI_DEFAULT_BRANCH", p.DefaultBranch)
	l.pub("CI_CONFIG_PATH", s.configPath(p))
}

func (s *Service) commitVars(l *varList, ref string, tag, protected bool, sha, before, source string, c *store.Commit) {
	l.pub("CI_COMMIT_SHA", sha)
	if len(sha) >= 8 {
		l.pub("CI_COMMIT_SHORT_SHA", sha[:8])
	}
	l.pub("CI_COMMIT_BEFORE_SHA", before)
	l.pub("CI_COMMIT_REF_NAME", ref)
	l.pub("CI_COMMIT_REF_SLUG", Slug(ref))
	if tag {
		l.pub("CI_COMMIT_TAG", ref)
	} else {
		l.pub("CI_COMMIT_BRANCH", ref)
	}
	l.pub("CI_COMMIT_REF_PROTECTED", strconv.FormatBool(protected))
	if c != nil {
		l.pub("CI_COMMIT_MESSAGE", c.Message)
		l.pub("CI_COMMIT_TITLE", c.Title)
		desc := ""
		if i := strings.IndexByte(c.Message, '\n'); i >= 0 {
			desc = strings.TrimLeft(c.Message[i+1:], "\n")
		}
		l.pub("CI_COMMIT_DESCRIPTION", desc)
		l.pub("CI_COMMIT_AUTHOR", fmt.Sprintf("%s <%s>", c.AuthorName, c.AuthorEmail))
		l.pub("CI_COMMIT_TIMESTAMP", c.CommittedDate.Format(time.RFC3339))
	}
	l.pub("CI_PIPELINE_SOURCE", source)
}

// scheduleVars is CI_PIPELINE_SCHEDULE_DESCRIPTION, a pre-pipeline
// variable of scheduled pipelines only.
func scheduleVars(l *varList, description string) {
	if description != "" {
		l.pub("CI_PIPELINE_SCHEDULE_DESCRIPTION", description)
	}
}

func (s *Service) userVars(ctx context.Context, l *varList, userID int64) {
	if userID == 0 {
		return
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return
	}
	l.pub("GITLAB_USER_ID", strconv.FormatInt(u.ID, 10))
	l.pub("GITLAB_USER_LOGIN", u.Username)
	l.pub("GITLAB_USER_NAME", u.Name)
	l.pub("GITLAB_USER_EMAIL", u.Email)
}

// instanceVars layers the instance's CI/CD variables, the lowest of the
// user-defined ones (GitLab's secret_instance_variables: after YAML and
// dotenv variables, before group and project ones); protected ones only
// for a protected ref.
func (s *Service) instanceVars(ctx context.Context, l *varList, protected bool) error {
	ivs, err := s.store.ListInstanceVariables(ctx)
	if err != nil {
		return err
	}
	for _, v := range ivs {
		if v.Protected && !protected {
			continue
		}
		l.set(runnerproto.Variable{Key: v.Key, Value: v.Value, Public: false, Masked: v.Masked, File: v.File, Raw: v.Raw})
	}
	return nil
}

// projectVars layers the project's CI/CD variables; protected ones only
// for a protected ref, and of each key the one whose environment scope
// fits env best ("" for a job without environment: "*" only), as
// Project#ci_variables_for does.
func (s *Service) projectVars(ctx context.Context, l *varList, projectID int64, protected bool, env string) error {
	pvs, err := s.store.ListProjectVariables(ctx, projectID)
	if err != nil {
		return err
	}
	if !protected {
		// Protected ones are out before the scopes compete: an unprotected
		// ref falls back to the best unprotected scope.
		open := pvs[:0:0]
		for _, v := range pvs {
			if !v.Protected {
				open = append(open, v)
			}
		}
		pvs = open
	}
	for _, v := range ci.ScopedVariables(pvs, env) {
		if v.Protected && !protected {
			continue
		}
		l.set(runnerproto.Variable{Key: v.Key, Value: v.Value, Public: false, Masked: v.Masked, File: v.File, Raw: v.Raw})
	}
	return nil
}

func pipelineVars(l *varList, vs []ci.Variable) {
	for _, v := range vs {
		l.set(runnerproto.Variable{Key: v.Key, Value: v.Value, Public: false, Masked: v.Masked, File: v.VariableType == "file", Raw: v.Raw})
	}
}

// rulesVariables are what rules:if sees at creation: predefined pre-pipeline
// variables, project variables and the pipeline's own.
func (s *Service) rulesVariables(ctx context.Context, req CreateRequest, protected bool, c *gitrepo.Commit) (map[string]string, error) {
	var l varList
	s.serverVars(&l, req.Project)
	s.commitVars(&l, req.Ref, req.Tag, protected, req.SHA, req.BeforeSHA, req.Source, toStoreCommit(c))
	scheduleVars(&l, req.ScheduleDescription)
	s.userVars(ctx, &l, req.UserID)
	if err := s.instanceVars(ctx, &l, protected); err != nil {
		return nil, err
	}
	if err := s.projectVars(ctx, &l, req.Project.ID, protected, ""); err != nil {
		return nil, err
	}
	pipelineVars(&l, req.Variables)
	return l.env(), nil
}

// RefProtected reports whether a branch (or tag) of the project is
// protected now (Project#protected_for?).
func (s *Service) RefProtected(ctx context.Context, projectID int64, ref string, tag bool) (bool, error) {
	rules, err := s.store.ProtectedRefs(ctx, projectID)
	if err != nil {
		return false, fmt.Errorf("protected refs: %w", err)
	}
	return rules.Protected(ref, tag), nil
}

// JobEnv is what the runner payload needs to build a job's variables.
type JobEnv struct {
	Job      *ci.Job
	Pipeline *ci.Pipeline
	Project  *ci.Project
	Runner   *ci.Runner
	Token    string
	Def      *ciconfig.Job
	// Dotenv holds the dotenv report variables of the job's dependencies.
	Dotenv []runnerproto.Variable
}

// JobVariables builds a job's variables in GitLab's precedence order:
// predefined, YAML global then job variables, dependencies' dotenv reports,
// instance variables, project variables, pipeline variables, then
// play-time variables.
func (s *Service) JobVariables(ctx context.Context, e JobEnv) ([]runnerproto.Variable, error) {
	var l varList
	j, p := e.Job, e.Pipeline
	s.serverVars(&l, e.Project)
	commit, err := s.commitRow(ctx, p.ProjectID, p.SHA)
	if err != nil {
		return nil, err
	}
	// Whether the ref is protected is asked when the job starts, not when
	// the pipeline was created (Ci::Pipeline#protected_ref?): unprotecting
	// a branch stops its protected variables at once.
	protected, err := s.RefProtected(ctx, p.ProjectID, p.Ref, p.Tag)
	if err != nil {
		return nil, err
	}
	s.commitVars(&l, p.Ref, p.Tag, protected, p.SHA, p.BeforeSHA, p.Source, commit)
	base := strings.TrimRight(s.cfg.ExternalURL, "/")
	id := strconv.FormatInt(j.ID, 10)
	l.pub("CI_PIPELINE_ID", strconv.FormatInt(p.ID, 10))
	l.pub("CI_PIPELINE_IID", strconv.FormatInt(p.IID, 10))
	l.pub("CI_PIPELINE_URL", fmt.Sprintf("%s/%s/-/pipelines/%d", base, e.Project.FullPath(), p.ID))
	l.pub("CI_PIPELINE_CREATED_AT", p.CreatedAt.UTC().Format(time.RFC3339))
	if p.PipelineScheduleID != 0 {
		if sc, err := s.store.PipelineScheduleByID(ctx, p.ProjectID, p.PipelineScheduleID); err == nil {
			scheduleVars(&l, sc.Description)
		}
	}
	if p.Name != "" {
		l.pub("CI_PIPELINE_NAME", p.Name)
	}
	l.pub("CI_JOB_ID", id)
	l.pub("CI_JOB_NAME", j.Name)
	l.pub("CI_JOB_NAME_SLUG", Slug(j.Name))
	l.pub("CI_JOB_STAGE", j.Stage)
	l.pub("CI_JOB_URL", fmt.Sprintf("%s/%s/-/jobs/%d", base, e.Project.FullPath(), j.ID))
	if j.StartedAt != nil {
		l.pub("CI_JOB_STARTED_AT", j.StartedAt.UTC().Format(time.RFC3339))
	}
	if j.When == ci.WhenManual {
		l.pub("CI_JOB_MANUAL", "true")
	}
	l.set(runnerproto.Variable{Key: "CI_JOB_TOKEN", Value: e.Token, Masked: true})
	l.pub("CI_JOB_TIMEOUT", strconv.Itoa(j.Timeout))
	l.pub("CI_NODE_TOTAL", "1")
	if e.Def != nil {
		if e.Def.ParallelTotal > 0 {
			l.pub("CI_NODE_INDEX", strconv.Itoa(e.Def.ParallelIndex))
			l.pub("CI_NODE_TOTAL", strconv.Itoa(e.Def.ParallelTotal))
		}
		if e.Def.Image != nil {
			l.pub("CI_JOB_IMAGE", e.Def.Image.Name)
		}
		if e.Def.Environment != "" {
			l.pub("CI_ENVIRONMENT_NAME", e.Def.Environment)
			l.pub("CI_ENVIRONMENT_SLUG", envSlug(e.Def.Environment))
		}
	}
	l.set(runnerproto.Variable{Key: "CI_REGISTRY_USER", Value: "gitlab-ci-token", Public: true})
	l.set(runnerproto.Variable{Key: "CI_REGISTRY_PASSWORD", Value: e.Token, Masked: true})
	l.set(runnerproto.Variable{Key: "CI_REPOSITORY_URL", Value: s.RepoURLWithToken(e.Project, e.Token)})
	if e.Runner != nil {
		l.pub("CI_RUNNER_ID", strconv.FormatInt(e.Runner.ID, 10))
		l.pub("CI_RUNNER_DESCRIPTION", e.Runner.Description)
		tags, _ := json.Marshal(e.Runner.Tags)
		l.pub("CI_RUNNER_TAGS", string(tags))
	}
	s.userVars(ctx, &l, j.UserID)
	if e.Def != nil {
		yv := e.Def.YAMLVariables
		if yv == nil {
			yv = e.Def.Variables
		}
		for _, v := range yv {
			l.set(runnerproto.Variable{Key: v.Key, Value: v.Value, Public: true, Raw: v.Raw})
		}
	}
	for _, v := range e.Dotenv {
		l.set(v)
	}
	if err := s.instanceVars(ctx, &l, protected); err != nil {
		return nil, err
	}
	env := ""
	if e.Def != nil {
		env = e.Def.Environment
	}
	if err := s.projectVars(ctx, &l, p.ProjectID, protected, env); err != nil {
		return nil, err
	}
	pipelineVars(&l, p.Variables)
	pipelineVars(&l, j.JobVariables)
	return l.vars, nil
}

func envSlug(s string) string {
	s = Slug(s)
	if len(s) > 24 {
		s = strings.Trim(s[:24], "-")
	}
	return s
}

// RepoURL is the project's clone URL.
func (s *Service) RepoURL(p *ci.Project) string {
	return strings.TrimRight(s.cfg.ExternalURL, "/") + "/" + p.FullPath() + ".git"
}

// RepoURLWithToken is the clone URL carrying job-token credentials.
func (s *Service) RepoURLWithToken(p *ci.Project, token string) string {
	u, err := url.Parse(s.RepoURL(p))
	if err != nil {
		return s.RepoURL(p)
	}
	u.User = url.UserPassword("gitlab-ci-token", token)
	return u.String()
}
