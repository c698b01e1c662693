package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/httpx"
	"github.com/gantryci/gantry/internal/store"
)

// req is one API request in flight.
type req struct {
	w      http.ResponseWriter
	r      *http.Request
	p      *httpx.Params
	caller *Caller
}

func (q *req) ctx() context.Context { return q.r.Context() }

// handler options.
type hopts struct {
	auth     bool // 401 without credentials
	jobToken bool // job tokens accepted
	// scope is a token scope that grants the route besides api (and
	// read_api on reads), e.g. create_runner.
	scope string
}

// handle wraps a handler with GitLab's order of checks: authentication
// (401) before parameter validation (400) before lookups. The caller is
// known before the body is read: credentials come from the headers and the
// query string only, so an anonymous body on an authenticated route is
// refused unread. Bodies are capped at httpx.MaxParamBody (413 beyond),
// chunked or not.
func (s *Server) handle(o hopts, fn func(q *req) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpx.LimitBody(w, r, httpx.MaxParamBody)
		qp, err := httpx.ParseParams(&http.Request{Method: http.MethodGet, URL: r.URL})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		c, err := s.authenticate(w, r, qp, o)
		if err != nil {
			var we writtenError
			if !errors.As(err, &we) {
				s.fail(w, r, err)
			}
			return
		}
		noteCaller(r, c)
		if o.auth && c == nil {
			s.fail(w, r, ci.ErrUnauthorized)
			return
		}
		p, err := httpx.ParseParams(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := fn(&req{w: w, r: r, p: p, caller: c}); err != nil {
			s.fail(w, r, err)
		}
	}
}

// noteCaller tells the request log who called and which job the route
// names.
func noteCaller(r *http.Request, c *Caller) {
	info := httpx.Info(r.Context())
	if info == nil {
		return
	}
	if c != nil && c.User != nil {
		info.SetUser(c.User.ID)
	}
	if c != nil && c.Job != nil {
		info.SetJob(c.Job.ID)
	}
	if id, err := strconv.ParseInt(r.PathValue("job_id"), 10, 64); err == nil {
		info.SetJob(id)
	}
}

// pathInt reads an Integer route parameter: non-integers are Grape's
// "<name> is invalid" (400).
func (q *req) pathInt(name string) (int64, error) {
	v := q.r.PathValue(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, ci.Invalid("%s is invalid", name)
	}
	return n, nil
}

// project resolves :id (a numeric id or a URL-encoded full path) to a
// project the caller can see, with the caller's role. Invisible projects are
// "404 Project Not Found", never 403.
func (s *Server) project(q *req) (*ci.Project, ci.AccessLevel, error) {
	ctx := q.ctx()
	p, err := s.projectByParam(q)
	if err != nil {
		return nil, 0, err
	}
	lvl, err := s.policy.Role(ctx, q.caller, p)
	if err != nil {
		return nil, 0, err
	}
	if err := s.policy.Visible(ctx, q.caller, p, lvl); err != nil {
		return nil, 0, err
	}
	return p, lvl, nil
}

func isInteger(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// page is offset pagination as Kaminari applies it.
type page struct {
	Page, PerPage int
}

func (q *req) page() (page, error) {
	pg, err := q.p.Int("page", 1)
	if err != nil {
		return page{}, err
	}
	pp, err := q.p.Int("per_page", 20)
	if err != nil {
		return page{}, err
	}
	if pp == 0 {
		return page{}, ci.Invalid("per_page has a value not allowed")
	}
	if pp < 0 {
		pp = 20
	}
	if pp > 100 {
		pp = 100
	}
	if pg < 1 {
		pg = 1
	}
	if pg > 1<<31 {
		pg = 1 << 31
	}
	return page{Page: int(pg), PerPage: int(pp)}, nil
}

func (pg page) offset() int { return (pg.Page - 1) * pg.PerPage }

// bounds are the indexes [lo, hi) of the page in a list of n items.
func (pg page) bounds(n int) (lo, hi int) {
	lo = min(pg.offset(), n)
	return lo, min(lo+pg.PerPage, n)
}

// linkURL builds a pagination link: the request URL on the external host,
// with the params (route id included) sorted as Rails' to_query does.
func (s *Server) linkURL(q *req, set map[string]string) string {
	vals := url.Values{}
	if id := q.r.PathValue("id"); id != "" {
		vals.Set("id", id)
	}
	for k, vs := range q.r.URL.Query() {
		vals[k] = vs
	}
	for k, v := range set {
		vals.Set(k, v)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range vals[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	base := strings.TrimRight(s.cfg.ExternalURL, "/") + q.r.URL.EscapedPath()
	return base + "?" + strings.Join(parts, "&")
}

// offsetHeaders writes X-Page & co and Link; total < 0 means "without
// count" (no X-Total, X-Total-Pages or rel="last").
func (s *Server) offsetHeaders(q *req, pg page, hasNext bool, total int) {
	h := q.w.Header()
	h.Set("X-Per-Page", strconv.Itoa(pg.PerPage))
	h.Set("X-Page", strconv.Itoa(pg.Page))
	next, prev := "", ""
	if hasNext {
		next = strconv.Itoa(pg.Page + 1)
	}
	if pg.Page > 1 {
		prev = strconv.Itoa(pg.Page - 1)
	}
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	pp := strconv.Itoa(pg.PerPage)
	var links []string
	if prev != "" {
		links = append(links, "<"+s.linkURL(q, map[string]string{"page": prev, "per_page": pp})+`>; rel="prev"`)
	}
	if next != "" {
		links = append(links, "<"+s.linkURL(q, map[string]string{"page": next, "per_page": pp})+`>; rel="next"`)
	}
	links = append(links, "<"+s.linkURL(q, map[string]string{"page": "1", "per_page": pp})+`>; rel="first"`)
	if total >= 0 && total <= 10000 {
		pages := max(1, (total+pg.PerPage-1)/pg.PerPage)
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		links = append(links, "<"+s.linkURL(q, map[string]string{"page": strconv.Itoa(pages), "per_page": pp})+`>; rel="last"`)
	}
	h.Set("Link", strings.Join(links, ", "))
}

// json answers 200 (or status) with v.
func (q *req) json(status int, v any) error {
	httpx.WriteJSON(q.w, status, v)
	return nil
}

// projectByParam finds the :id project (id or URL-encoded path) without
// asking whether the caller may see it (GitLab's find_project).
func (s *Server) projectByParam(q *req) (*ci.Project, error) {
	id := q.r.PathValue("id")
	var p *ci.Project
	var err error
	switch {
	case isInteger(id):
		n, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil {
			return nil, ci.ErrProjectNotFound
		}
		p, err = s.store.ProjectByID(q.ctx(), n)
	case strings.Contains(id, "/"):
		i := strings.LastIndexByte(id, '/')
		p, err = s.store.ProjectByPath(q.ctx(), id[:i], id[i+1:])
	default:
		return nil, ci.ErrProjectNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ci.ErrProjectNotFound
		}
		return nil, err
	}
	return p, nil
}
