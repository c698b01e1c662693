// Package web is Gantry's browser UI: server-rendered pages at GitLab's
// paths (so every web_url the API prints opens a page), the live log and
// status streams (Server-Sent Events) and browser sign-in. Routes live in
// one table (routes.go), one file per page, templates and assets embedded.
// Every page asks the one Policy before it shows or does anything.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
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

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config wires the UI.
type Config struct {
	Store       store.Store
	Engine      *pipeline.Service
	Blobs       blob.Store
	ExternalURL string
	Log         *slog.Logger
	// Hub signals changes to open pages; nil disables live updates.
	Hub *Hub
	// Policy answers every access question; nil builds one on Store.
	Policy *access.Policy
	// IsGitPath selects git smart-HTTP requests, which the UI never serves.
	IsGitPath func(string) bool
}

// Server is the web UI handler.
type Server struct {
	cfg    Config
	st     store.Store
	eng    *pipeline.Service
	log    *slog.Logger
	policy *access.Policy
	hub    *Hub
	mux    *http.ServeMux
	pages  map[string]*template.Template
	limit  *signInLimiter
	now    func() time.Time
	// blobIndex holds the line index of recently read archived logs.
	blobIndex blobIndexes
}

// New builds the UI and its route table.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Policy == nil {
		cfg.Policy = access.New(cfg.Store, nil)
	}
	if cfg.Hub == nil {
		cfg.Hub = NewHub()
	}
	if cfg.IsGitPath == nil {
		cfg.IsGitPath = func(string) bool { return false }
	}
	s := &Server{cfg: cfg, st: cfg.Store, eng: cfg.Engine, log: cfg.Log, policy: cfg.Policy, hub: cfg.Hub,
		mux: http.NewServeMux(), limit: newSignInLimiter(), now: func() time.Time { return time.Now().UTC() }}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	for _, r := range s.routes() {
		s.mux.HandleFunc(r.Method+" "+r.Pattern, r.Handler)
	}
	return s, nil
}

// parseTemplates parses each page template together with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// Handles reports whether the UI serves r: a page route, never the API,
// the health checks or git smart HTTP.
func (s *Server) Handles(r *http.Request) bool {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/-/") || s.cfg.IsGitPath(p) {
		return false
	}
	_, pattern := s.mux.Handler(r)
	return pattern != ""
}

// ServeHTTP serves a page with the security headers every answer carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("web panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		}
	}()
	h := w.Header()
	// No inline script or style anywhere: both are files under /assets/.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// page is what a handler gets: the request, the signed-in user (nil when
// signed out) and the session.
type page struct {
	w    http.ResponseWriter
	r    *http.Request
	user *ci.User
	sess *store.WebSession
	// csrf is the token forms carry: the session's, or the sign-in
	// form's cookie token when signed out.
	csrf string
}

func (pg *page) ctx() context.Context { return pg.r.Context() }

// handle adapts a page handler: it loads the session, checks the CSRF
// token of state-changing requests and renders errors as pages.
func (s *Server) handle(fn func(*page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg := &page{w: w, r: r}
		if err := s.loadSession(pg); err != nil {
			s.fail(pg, err)
			return
		}
		if pg.user != nil {
			httpx.Info(r.Context()).SetUser(pg.user.ID)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.checkCSRF(pg) {
			s.fail(pg, &ci.Error{Code: ci.EUnprocessable, Message: "422 The change you requested was rejected (invalid CSRF token). Reload the page and try again."})
			return
		}
		if err := fn(pg); err != nil {
			s.fail(pg, err)
		}
	}
}

// errorView is the error page's data.
type errorView struct {
	Status  int
	Title   string
	Message string
}

// fail renders err as an HTML error page with its HTTP status.
func (s *Server) fail(pg *page, err error) {
	if errors.Is(err, context.Canceled) && pg.r.Context().Err() != nil {
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		err = ci.ErrNotFoundGeneric
	}
	var e *ci.Error
	if !errors.As(err, &e) {
		s.log.Error("web request failed", "method", pg.r.Method, "path", pg.r.URL.Path, "err", err)
		e = ci.ErrInternal
	}
	v := errorView{Message: e.Message}
	switch e.Code {
	case ci.ENotFound, ci.ERouteNotFound:
		v.Status, v.Title = http.StatusNotFound, "Page not found"
		v.Message = "Make sure the address is correct and the page hasn't moved."
		if pg.user == nil {
			v.Message += " Please sign in if you think you should see it."
		}
	case ci.EForbidden:
		v.Status, v.Title = http.StatusForbidden, "Access denied"
		v.Message = "You don't have the permission to do this."
	case ci.EUnprocessable:
		v.Status, v.Title = http.StatusUnprocessableEntity, "Rejected"
	case ci.EBadRequest, ci.EInvalid:
		v.Status, v.Title = http.StatusBadRequest, "Bad request"
	case ci.ETooManyRequest:
		v.Status, v.Title = http.StatusTooManyRequests, "Too many requests"
	default:
		v.Status, v.Title = statusOfCode(e.Code), "Something went wrong"
	}
	s.render(pg, v.Status, "error", v.Title, v)
}

func statusOfCode(c ci.ErrorCode) int {
	switch c {
	case ci.EConflict:
		return http.StatusConflict
	case ci.EUnauthorized:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// layoutView wraps every page's data for the layout template.
type layoutView struct {
	Title   string
	User    *ci.User
	CSRF    string
	Project *ci.Project
	// Nav is the active project tab: pipelines, jobs.
	Nav  string
	Data any
}

// render executes a page template inside the layout.
func (s *Server) render(pg *page, status int, name, title string, data any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(pg.w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	v := layoutView{Title: title, User: pg.user, CSRF: pg.csrf, Data: data}
	if pv, ok := data.(interface{ project() (*ci.Project, string) }); ok {
		v.Project, v.Nav = pv.project()
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("render", "page", name, "err", err)
		http.Error(pg.w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := pg.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	pg.w.WriteHeader(status)
	_, _ = pg.w.Write([]byte(b.String()))
}

// redirect answers a form post with 303 See Other.
func (pg *page) redirect(to string) error {
	http.Redirect(pg.w, pg.r, to, http.StatusSeeOther)
	return nil
}

// static serves the embedded assets with a long cache lifetime: their URLs
// carry the binary's build so a new binary busts the cache.
func (s *Server) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fsrv.ServeHTTP(w, r)
	})
}
