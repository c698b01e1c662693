package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/api"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/testkit"
)

// raEnv is the API over a real store (testkit, on one database), blob
// directory and engine, with a fixed cast: an admin; maint, dev, rep and
// guest on proj (owned by maint); stranger with no role; and other,
// maintainer of otherProj.
// (The ra prefix keeps these helpers apart from other test files.)
type raEnv struct {
	*testkit.Env
	t         *testing.T
	ctx       context.Context
	st        *sqlstore.DB
	blobs     blob.FS
	srv       *testkit.Server
	users     map[string]*ci.User
	tokens    map[string]string
	proj      *ci.Project
	otherProj *ci.Project
}

func newRAEnv(t *testing.T, db testkit.DB) *raEnv {
	t.Helper()
	srv := testkit.NewServer(t)
	k := testkit.NewEnv(t, db, testkit.Options{ExternalURL: srv.URL})
	srv.SetHandler(api.New(api.Config{Store: k.Store, Engine: k.Engine, Blobs: k.Blobs, ExternalURL: srv.URL, Log: k.Log}))
	e := &raEnv{Env: k, t: t, ctx: k.Ctx, st: k.Store, blobs: k.Blobs, srv: srv, users: map[string]*ci.User{}, tokens: map[string]string{}}
	for _, name := range []string{"admin", "maint", "dev", "rep", "guest", "stranger", "other"} {
		e.user(name, name == "admin", ci.ScopeAPI)
	}
	e.user("reader", false, ci.ScopeReadAPI)
	e.proj = e.project("maint", "demo")
	e.otherProj = e.project("other", "elsewhere")
	e.member(e.proj, "maint", ci.Maintainer)
	e.member(e.proj, "dev", ci.Developer)
	e.member(e.proj, "rep", ci.Reporter)
	e.member(e.proj, "guest", ci.Guest)
	e.member(e.proj, "reader", ci.Maintainer)
	e.member(e.otherProj, "other", ci.Maintainer)
	return e
}

func (e *raEnv) user(name string, admin bool, scopes ...string) {
	e.t.Helper()
	u := e.User(name, admin)
	e.users[name], e.tokens[name] = u, e.Token(u, scopes...)
}

func (e *raEnv) project(owner, path string) *ci.Project {
	e.t.Helper()
	return e.Project(&ci.Project{Namespace: owner, Path: path, Description: path + " project", CreatorID: e.users[owner].ID})
}

func (e *raEnv) member(p *ci.Project, user string, lvl ci.AccessLevel) {
	e.t.Helper()
	e.Member(p, e.users[user], lvl)
}

// runner stores a runner directly.
func (e *raEnv) runner(r *ci.Runner) *ci.Runner {
	e.t.Helper()
	if r.AccessLevel == "" {
		r.AccessLevel = "not_protected"
	}
	_, r = e.Runner(r)
	return r
}

// raResp is a response with its body read.
type raResp struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as user (a name from the cast, "" for anonymous, or
// "job:<token>" for a job token). A map or slice body is sent as JSON.
func (e *raEnv) do(method, path, user string, body any, hdr ...string) raResp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.srv.URL+"/api/v4"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(user, "job:"):
		req.Header.Set("Job-Token", strings.TrimPrefix(user, "job:"))
	case user != "":
		tok, ok := e.tokens[user]
		if !ok {
			e.t.Fatalf("no user %q", user)
		}
		req.Header.Set("Private-Token", tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, b := e.srv.Do(e.t, req)
	return raResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// want checks the status and, when body is not "", the exact JSON body.
func (r raResp) want(t *testing.T, status int, body string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if body != "" && strings.TrimSpace(string(r.body)) != body {
		t.Fatalf("body %s, want %s", r.body, body)
	}
}

// decode unmarshals the body into v.
func (r raResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// keys lists a JSON object's keys in order.
func raKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// ids reads the id of each element of a JSON array.
func raIDs(t *testing.T, r raResp) []int64 {
	t.Helper()
	var xs []struct {
		ID int64 `json:"id"`
	}
	r.decode(t, &xs)
	out := []int64{}
	for _, x := range xs {
		out = append(out, x.ID)
	}
	return out
}
