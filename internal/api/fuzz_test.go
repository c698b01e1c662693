package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/api"
	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/testkit"
)

// FuzzAPIRequests throws arbitrary paths, queries and bodies at the API
// (authenticated as an admin, so checks go deep) and requires that nothing
// panics and nothing answers 500: bad input is always a 4xx.
func FuzzAPIRequests(f *testing.F) {
	k := testkit.NewEnv(f, testkit.SQLite, testkit.Options{Log: slog.New(slog.DiscardHandler)})
	root := k.User("root", true)
	const tok = "glpat-fuzz-000000000000"
	if err := k.Store.CreateToken(k.Ctx, &ci.PersonalAccessToken{UserID: root.ID, Name: "f", Scopes: []string{"api"}}, auth.Digest(tok)); err != nil {
		f.Fatal(err)
	}
	k.Project(&ci.Project{Namespace: "root", Path: "p", CreatorID: root.ID})
	h := api.New(api.Config{Store: k.Store, Engine: k.Engine, Blobs: k.Blobs, ExternalURL: "http://gantry.test", Log: k.Log})

	seeds := []struct{ method, path, query, body string }{
		{"GET", "/api/v4/projects/1/jobs", "scope[]=success&per_page=5", ""},
		{"GET", "/api/v4/projects/root%2Fp/jobs", "pagination=keyset&cursor=eyJpZCI6IjEwIn0", ""},
		{"GET", "/api/v4/projects/1/jobs/-5/trace", "byte_offset=-1&byte_limit=99999999", ""},
		{"POST", "/api/v4/projects/1/jobs/1/play", "", `{"job_variables_attributes":[{"key":1}]}`},
		{"POST", "/api/v4/projects/1/jobs/abc/cancel", "force=maybe", ""},
		{"GET", "/api/v4/projects/1/pipelines", "order_by=x&sort=sideways&updated_after=yesterday", ""},
		{"POST", "/api/v4/projects/1/pipeline", "", `{"ref":"main","variables":"nope"}`},
		{"GET", "/api/v4/projects/99999999999999999999/jobs", "", ""},
		{"POST", "/api/v4/projects", "", `{"name":"../../etc"}`},
		{"GET", "/api/v4/projects/1/jobs/artifacts/main/raw/../../x", "job=a", ""},
		{"POST", "/api/v4/user/runners", "", `{"runner_type":"project_type","project_id":"x"}`},
		{"PUT", "/api/v4/runners/1", "", `{"tag_list":{"a":1}}`},
		{"GET", "/api/v4/projects/1/jobs", "page=9223372036854775807&per_page=100", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		switch method {
		case "GET", "POST", "PUT", "DELETE", "PATCH":
		default:
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u := &url.URL{Path: path, RawQuery: query}
		if _, err := url.ParseRequestURI(u.String()); err != nil {
			return
		}
		req, err := http.NewRequest(method, "http://gantry.test"+u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("PRIVATE-TOKEN", tok)
		if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
			req.Header.Set("Content-Type", "application/json")
		} else if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s?%s %q → %d %s", method, path, query, body, rec.Code, rec.Body.String())
		}
	})
}
