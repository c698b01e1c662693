package testkit

import (
	"cmp"
	"encoding/json"
	"strings"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
)

// SHA is the commit of Pipeline fixtures that name none.
const SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"

// User stores a user named name (display name capitalised, e-mail
// name@example.com).
func (e *Env) User(name string, admin bool) *ci.User {
	e.T.Helper()
	u := &ci.User{Username: name, Name: strings.ToUpper(name[:1]) + name[1:], Email: name + "@example.com", Admin: admin}
	if err := e.Store.CreateUser(e.Ctx, u); err != nil {
		e.T.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// Token stores a personal access token of u with scopes and returns it.
func (e *Env) Token(u *ci.User, scopes ...string) string {
	e.T.Helper()
	tok := auth.NewToken(auth.PrefixPAT, 20)
	if err := e.Store.CreateToken(e.Ctx, &ci.PersonalAccessToken{UserID: u.ID, Name: "t", Scopes: scopes}, auth.Digest(tok)); err != nil {
		e.T.Fatalf("create token of %s: %v", u.Username, err)
	}
	return tok
}

// Project stores p, filling in what is empty: path demo in namespace grp,
// its name from its path, private, default branch main.
func (e *Env) Project(p *ci.Project) *ci.Project {
	e.T.Helper()
	if p == nil {
		p = &ci.Project{}
	}
	p.Namespace = cmp.Or(p.Namespace, "grp")
	p.Path = cmp.Or(p.Path, "demo")
	p.Name = cmp.Or(p.Name, p.Path)
	p.Visibility = cmp.Or(p.Visibility, ci.VisibilityPrivate)
	p.DefaultBranch = cmp.Or(p.DefaultBranch, "main")
	if err := e.Store.CreateProject(e.Ctx, p); err != nil {
		e.T.Fatalf("create project %s: %v", p.FullPath(), err)
	}
	return p
}

// Member gives u the access level lvl in p.
func (e *Env) Member(p *ci.Project, u *ci.User, lvl ci.AccessLevel) {
	e.T.Helper()
	if err := e.Store.SetMember(e.Ctx, &ci.Member{ProjectID: p.ID, UserID: u.ID, AccessLevel: lvl}); err != nil {
		e.T.Fatalf("set member %s of %s: %v", u.Username, p.FullPath(), err)
	}
}

// Runner stores r (nil: an instance runner taking untagged jobs; an empty
// type is instance_type) with a new token, and returns the token.
func (e *Env) Runner(r *ci.Runner) (string, *ci.Runner) {
	e.T.Helper()
	if r == nil {
		r = &ci.Runner{RunUntagged: true}
	}
	r.RunnerType = cmp.Or(r.RunnerType, ci.RunnerInstance)
	token := auth.NewToken(auth.PrefixRunner, 20)
	if err := e.Store.CreateRunner(e.Ctx, r, auth.Digest(token)); err != nil {
		e.T.Fatalf("create runner: %v", err)
	}
	return token, r
}

// Job is a job for Pipeline named name whose stored definition is def
// with its name set and, when empty, stage test, when on_success and a
// script echoing the name. Stage, stage index and when are copied to the
// job.
func Job(name string, def ciconfig.Job) *ci.Job {
	def.Name = name
	def.Stage = cmp.Or(def.Stage, "test")
	def.When = cmp.Or(def.When, ci.WhenOnSuccess)
	if def.Script == nil {
		def.Script = []string{"echo " + name}
	}
	b, err := json.Marshal(def)
	if err != nil {
		panic("testkit: marshal job definition: " + err.Error())
	}
	return &ci.Job{Name: name, Stage: def.Stage, StageIdx: def.StageIdx, When: def.When, Definition: b}
}

// Pipeline stores pl with jobs in project p, filling in what is empty: ref
// main, SHA, source push, status pending; for each job its pipeline's ref
// and tag, stage test, when on_success, its pipeline's status, and the
// definition of Job(name).
func (e *Env) Pipeline(p *ci.Project, pl *ci.Pipeline, jobs ...*ci.Job) *ci.Pipeline {
	e.T.Helper()
	if pl == nil {
		pl = &ci.Pipeline{}
	}
	pl.ProjectID = p.ID
	pl.Ref = cmp.Or(pl.Ref, "main")
	pl.SHA = cmp.Or(pl.SHA, SHA)
	pl.Source = cmp.Or(pl.Source, "push")
	pl.Status = cmp.Or(pl.Status, ci.StatusPending)
	for _, j := range jobs {
		if j.Ref == "" {
			j.Ref, j.Tag = pl.Ref, pl.Tag
		}
		j.Stage = cmp.Or(j.Stage, "test")
		j.When = cmp.Or(j.When, ci.WhenOnSuccess)
		j.Status = cmp.Or(j.Status, pl.Status)
		if j.Definition == nil {
			j.Definition = Job(j.Name, ciconfig.Job{Stage: j.Stage, StageIdx: j.StageIdx, When: j.When}).Definition
		}
	}
	if err := e.Store.CreatePipeline(e.Ctx, pl, jobs); err != nil {
		e.T.Fatalf("create pipeline: %v", err)
	}
	return pl
}

// ReadJob reads a job back from the store.
func (e *Env) ReadJob(id int64) *ci.Job {
	e.T.Helper()
	j, err := e.Store.JobByID(e.Ctx, id)
	if err != nil {
		e.T.Fatalf("job %d: %v", id, err)
	}
	return j
}
