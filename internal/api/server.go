// Package api serves GitLab's REST API v4 for users and their tools: jobs,
// pipelines, projects, users, runners and artifacts. Routes live in one
// table (routes.go); errors are ci.Error values that httpx maps to statuses.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gantryci/gantry/internal/access"
	"github.com/gantryci/gantry/internal/blob"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/pipeline"
	"github.com/gantryci/gantry/internal/store"
)

// Config wires the API.
type Config struct {
	Store       store.Store
	Engine      *pipeline.Service
	Blobs       blob.Store
	ExternalURL string
	Log         *slog.Logger
	// Extra routes served by other packages (the runner protocol); routes.go
	// lists them in the route table.
	Extra []httpx.Route
	// Git serves smart-HTTP paths; may be nil.
	Git http.Handler
	// IsGitPath selects the requests Git serves.
	IsGitPath func(string) bool
	// Policy is the access policy; nil builds one on Store.
	Policy *access.Policy
	// RunnerRegistrationToken enables legacy runner registration.
	RunnerRegistrationToken string
	// Now is the clock (nil: the system's); tests move it.
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	cfg   Config
	store store.Store
	eng   *pipeline.Service
	log   *slog.Logger
	mux   *http.ServeMux
	// policy answers who is calling and what they may do.
	policy *access.Policy
}

// New builds the server and its route table.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, store: cfg.Store, eng: cfg.Engine, log: cfg.Log, mux: http.NewServeMux()}
	s.policy = cfg.Policy
	if s.policy == nil {
		s.policy = access.New(cfg.Store, s.now)
	}
	for _, r := range s.routes() {
		s.mux.HandleFunc(r.Method+" "+r.Pattern, r.Handler)
	}
	return s
}

// ServeHTTP dispatches git paths, then the route table, with panic recovery;
// routes.go documents the whole dispatch order.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			httpx.WriteError(w, r, s.log, ci.ErrInternal)
		}
	}()
	p := r.URL.Path
	if s.cfg.Git != nil && !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/-/") && s.cfg.IsGitPath(p) {
		httpx.Info(r.Context()).SetRoute(gitRoute(p))
		s.cfg.Git.ServeHTTP(w, r)
		return
	}
	if strings.HasPrefix(p, "/api/v3/") {
		httpx.Info(r.Context()).SetRoute("/api/v3/...")
		httpx.WriteError(w, r, s.log, &ci.Error{Code: ci.EGone, Message: "API V3 is no longer supported. Use API V4 instead."})
		return
	}
	// Handler only finds the pattern; ServeHTTP sets the path values.
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// gitRoute names a git smart HTTP request for the request log and metrics
// by its operation, as the route table's head lists them (never the
// project path).
func gitRoute(p string) string {
	switch {
	case strings.HasSuffix(p, "/info/refs"):
		return "/{project}.git/info/refs"
	case strings.HasSuffix(p, "/git-upload-pack"):
		return "/{project}.git/git-upload-pack"
	case strings.HasSuffix(p, "/git-receive-pack"):
		return "/{project}.git/git-receive-pack"
	}
	return "/{project}.git"
}

// notFound answers unknown routes as Grape does.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	httpx.WriteError(w, r, s.log, ci.ErrRouteNotFound)
}

// fail writes err; context cancellations from gone clients are not logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		err = ci.ErrNotFoundRecord
	}
	httpx.WriteError(w, r, s.log, err)
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now().UTC()
	}
	return time.Now().UTC()
}
