package api_test

import (
	"encoding/json"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
)

func TestRunnerCreate(t *testing.T) { testkit.ForEachDB(t, testRunnerCreate) }

func testRunnerCreate(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	pid := e.proj.ID

	e.do("POST", "/user/runners", "", map[string]any{"runner_type": "instance_type"}).
		want(t, 401, `{"message":"401 Unauthorized"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{}).want(t, 400, `{"error":"runner_type is missing"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "shared"}).
		want(t, 400, `{"error":"runner_type does not have a valid value"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type"}).
		want(t, 400, `{"error":"project_id is missing"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": "x"}).
		want(t, 400, `{"error":"project_id is invalid"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "group_type"}).
		want(t, 400, `{"error":"group_id is missing"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "group_type", "group_id": 5}).
		want(t, 400, `{"message":"400 Bad request - Missing/invalid group"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": pid, "access_level": "x"}).
		want(t, 400, `{"error":"access_level does not have a valid value"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": pid, "paused": "maybe"}).
		want(t, 400, `{"error":"paused is invalid"}`)
	// CreateRunnerService: an unknown project is a validation error (400),
	// not a 404.
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": 9999}).
		want(t, 400, `{"message":"400 Bad request - Missing/invalid project"}`)
	e.do("POST", "/user/runners", "dev", map[string]any{"runner_type": "project_type", "project_id": pid}).
		want(t, 403, `{"message":"403 Forbidden - Insufficient permissions"}`)
	e.do("POST", "/user/runners", "stranger", map[string]any{"runner_type": "project_type", "project_id": pid}).
		want(t, 403, `{"message":"403 Forbidden - Insufficient permissions"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "instance_type"}).
		want(t, 403, `{"message":"403 Forbidden - Insufficient permissions"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": pid, "maximum_timeout": 100}).
		want(t, 400, `{"message":"400 Bad request - Maximum timeout needs to be at least 10 minutes"}`)
	e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": pid, "run_untagged": false}).
		want(t, 400, `{"message":"400 Bad request - Tags list can not be empty when runner is not allowed to pick untagged jobs"}`)

	// A maintainer creates a project runner; tag_list as a comma string.
	r := e.do("POST", "/user/runners", "maint", map[string]any{"runner_type": "project_type", "project_id": pid,
		"description": "builder", "tag_list": "linux, docker,linux", "run_untagged": false, "locked": true,
		"access_level": "ref_protected", "maximum_timeout": 3600, "maintenance_note": "rack 3"})
	r.want(t, 201, "")
	if got := raKeys(t, r.body); !slices.Equal(got, []string{"id", "token", "token_expires_at"}) {
		t.Fatalf("keys %v", got)
	}
	var created struct {
		ID             int64   `json:"id"`
		Token          string  `json:"token"`
		TokenExpiresAt *string `json:"token_expires_at"`
	}
	r.decode(t, &created)
	if !strings.HasPrefix(created.Token, "glrt-") || created.TokenExpiresAt != nil || created.ID == 0 {
		t.Fatalf("created %+v", created)
	}
	got, err := e.st.RunnerByTokenDigest(e.ctx, auth.Digest(created.Token))
	if err != nil {
		t.Fatalf("runner by token: %v", err)
	}
	if got.ID != created.ID || got.RunnerType != ci.RunnerProject || !slices.Equal(got.ProjectIDs, []int64{pid}) ||
		!slices.Equal(got.Tags, []string{"docker", "linux"}) || got.RunUntagged || !got.Locked ||
		got.AccessLevel != "ref_protected" || got.MaximumTimeout != 3600 || got.MaintenanceNote != "rack 3" ||
		got.Description != "builder" || got.CreatedByID != e.users["maint"].ID || got.Paused {
		t.Fatalf("stored runner %+v", got)
	}

	// An admin creates an instance runner; tag_list as an array, paused.
	r = e.do("POST", "/user/runners", "admin", map[string]any{"runner_type": "instance_type", "tag_list": []string{"b", "a"},
		"paused": true})
	r.want(t, 201, "")
	r.decode(t, &created)
	got, err = e.st.RunnerByID(e.ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RunnerType != ci.RunnerInstance || !got.Paused || !got.RunUntagged || got.Locked || len(got.ProjectIDs) != 0 ||
		!slices.Equal(got.Tags, []string{"a", "b"}) || got.AccessLevel != "not_protected" {
		t.Fatalf("stored instance runner %+v", got)
	}
	// Form-encoded bodies work too.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v4/user/runners",
		strings.NewReader("runner_type=project_type&project_id="+strconv.FormatInt(pid, 10)+"&tag_list[]=x&tag_list[]=y"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Private-Token", e.tokens["admin"])
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("form create: %d", resp.StatusCode)
	}
}

func TestRunnerList(t *testing.T) { testkit.ForEachDB(t, testRunnerList) }

func testRunnerList(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	now := time.Now().UTC()
	old := now.Add(-30 * 24 * time.Hour)
	recent := now.Add(-time.Minute)
	shared := e.runner(&ci.Runner{Description: "shared", RunnerType: ci.RunnerInstance, RunUntagged: true,
		CreatedByID: e.users["admin"].ID, ContactedAt: &recent})
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID},
		Tags: []string{"docker", "linux"}, CreatedByID: e.users["maint"].ID})
	paused := e.runner(&ci.Runner{Description: "paused", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID},
		Paused: true, Tags: []string{"linux"}, CreatedAt: old})
	theirs := e.runner(&ci.Runner{Description: "theirs", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.otherProj.ID}})
	// TouchRunner makes "shared" online.
	if err := e.st.TouchRunner(e.ctx, shared.ID, recent); err != nil {
		t.Fatal(err)
	}

	e.do("GET", "/runners", "", nil).want(t, 401, "")
	if got := raIDs(t, e.do("GET", "/runners", "maint", nil)); !slices.Equal(got, []int64{mine.ID, paused.ID}) {
		t.Fatalf("maint owns %v", got)
	}
	if got := raIDs(t, e.do("GET", "/runners", "other", nil)); !slices.Equal(got, []int64{theirs.ID}) {
		t.Fatalf("other owns %v", got)
	}
	e.do("GET", "/runners", "dev", nil).want(t, 200, "[]")
	e.do("GET", "/runners", "stranger", nil).want(t, 200, "[]")

	// Filters.
	for q, want := range map[string][]int64{
		"?paused=true":             {paused.ID},
		"?paused=false":            {mine.ID},
		"?tag_list=linux":          {mine.ID, paused.ID},
		"?tag_list=linux,docker":   {mine.ID},
		"?tag_list[]=docker":       {mine.ID},
		"?type=project_type":       {mine.ID, paused.ID},
		"?type=instance_type":      {},
		"?status=stale":            {paused.ID},
		"?status=never_contacted":  {mine.ID, paused.ID},
		"?status=paused":           {paused.ID},
		"?scope=active":            {mine.ID},
		"?per_page=1&page=2":       {paused.ID},
		"?version_prefix=16.":      {},
		"?status=online&paused=no": {},
	} {
		if got := raIDs(t, e.do("GET", "/runners"+q, "maint", nil)); !slices.Equal(got, want) {
			t.Errorf("GET /runners%s = %v, want %v", q, got, want)
		}
	}
	r := e.do("GET", "/runners?per_page=1", "maint", nil)
	if r.header.Get("X-Total") != "2" || r.header.Get("X-Total-Pages") != "2" || r.header.Get("X-Next-Page") != "2" {
		t.Fatalf("pagination headers %v", r.header)
	}
	e.do("GET", "/runners?type=shared", "maint", nil).want(t, 400, `{"error":"type does not have a valid value"}`)
	e.do("GET", "/runners?status=busy", "maint", nil).want(t, 400, `{"error":"status does not have a valid value"}`)
	e.do("GET", "/runners?scope=bogus", "maint", nil).want(t, 400, `{"error":"scope does not have a valid value"}`)
	e.do("GET", "/runners?paused=perhaps", "maint", nil).want(t, 400, `{"error":"paused is invalid"}`)
	e.do("GET", "/runners?version_prefix=abc", "maint", nil).want(t, 400, `{"error":"version_prefix is invalid"}`)
	// Type scopes make no sense for owned runners.
	e.do("GET", "/runners?scope=shared", "maint", nil).want(t, 400, `{"message":"Scope contains invalid value"}`)

	// /runners/all is for admins.
	e.do("GET", "/runners/all", "maint", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	e.do("GET", "/runners/all?type=x", "maint", nil).want(t, 400, `{"error":"type does not have a valid value"}`)
	if got := raIDs(t, e.do("GET", "/runners/all", "admin", nil)); !slices.Equal(got, []int64{shared.ID, mine.ID, paused.ID, theirs.ID}) {
		t.Fatalf("all %v", got)
	}
	for q, want := range map[string][]int64{
		"?scope=shared":               {shared.ID},
		"?scope=specific":             {mine.ID, paused.ID, theirs.ID},
		"?status=online":              {shared.ID},
		"?type=instance_type":         {shared.ID},
		"?per_page=2&page=2":          {paused.ID, theirs.ID},
		"?tag_list=linux":             {mine.ID, paused.ID},
		"?scope=project_type":         {mine.ID, paused.ID, theirs.ID},
		"?scope=offline":              {},
		"?status=active&per_page=100": {shared.ID, mine.ID, theirs.ID},
	} {
		if got := raIDs(t, e.do("GET", "/runners/all"+q, "admin", nil)); !slices.Equal(got, want) {
			t.Errorf("GET /runners/all%s = %v, want %v", q, got, want)
		}
	}

	// The Runner entity, in GitLab's key order.
	r = e.do("GET", "/runners/all?scope=shared", "admin", nil)
	var list []json.RawMessage
	r.decode(t, &list)
	if got := raKeys(t, list[0]); !slices.Equal(got, []string{"id", "description", "ip_address", "active", "paused",
		"is_shared", "runner_type", "name", "online", "created_by", "created_at", "status", "job_execution_status"}) {
		t.Fatalf("runner keys %v", got)
	}
	var ent struct {
		Description string `json:"description"`
		IsShared    bool   `json:"is_shared"`
		Online      bool   `json:"online"`
		Status      string `json:"status"`
		Active      bool   `json:"active"`
		CreatedBy   struct {
			Username string `json:"username"`
		} `json:"created_by"`
		JobExecutionStatus string `json:"job_execution_status"`
	}
	if err := json.Unmarshal(list[0], &ent); err != nil {
		t.Fatal(err)
	}
	if ent.Description != "shared" || !ent.IsShared || !ent.Online || ent.Status != "online" || !ent.Active ||
		ent.CreatedBy.Username != "admin" || ent.JobExecutionStatus != "idle" {
		t.Fatalf("entity %s", list[0])
	}
}

func TestRunnerProjectRunners(t *testing.T) { testkit.ForEachDB(t, testRunnerProjectRunners) }

func testRunnerProjectRunners(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	shared := e.runner(&ci.Runner{Description: "shared", RunnerType: ci.RunnerInstance, RunUntagged: true})
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID}})
	e.runner(&ci.Runner{Description: "theirs", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.otherProj.ID}})
	path := "/projects/" + strconv.FormatInt(e.proj.ID, 10) + "/runners"

	e.do("GET", path, "", nil).want(t, 401, "")
	if got := raIDs(t, e.do("GET", path, "maint", nil)); !slices.Equal(got, []int64{shared.ID, mine.ID}) {
		t.Fatalf("project runners %v", got)
	}
	if got := raIDs(t, e.do("GET", "/projects/maint%2Fdemo/runners?type=project_type", "maint", nil)); !slices.Equal(got, []int64{mine.ID}) {
		t.Fatalf("project runners by path %v", got)
	}
	if got := raIDs(t, e.do("GET", path+"?scope=shared", "admin", nil)); !slices.Equal(got, []int64{shared.ID}) {
		t.Fatalf("admin shared %v", got)
	}
	e.do("GET", path, "dev", nil).want(t, 403, `{"message":"403 Forbidden"}`)
	// The before filter (project, permission) runs ahead of validation.
	e.do("GET", path+"?type=bogus", "dev", nil).want(t, 403, "")
	e.do("GET", path+"?type=bogus", "maint", nil).want(t, 400, `{"error":"type does not have a valid value"}`)
	e.do("GET", path, "stranger", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
	e.do("GET", "/projects/9999/runners", "admin", nil).want(t, 404, `{"message":"404 Project Not Found"}`)
}

func TestRunnerGet(t *testing.T) { testkit.ForEachDB(t, testRunnerGet) }

func testRunnerGet(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	shared := e.runner(&ci.Runner{Description: "shared", RunnerType: ci.RunnerInstance, RunUntagged: true,
		MaintenanceNote: "admins only", CreatedByID: e.users["admin"].ID})
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID, e.otherProj.ID},
		Tags: []string{"linux"}, RunUntagged: true, Locked: true, MaximumTimeout: 7200, MaintenanceNote: "rack 3",
		AccessLevel: "ref_protected"})
	early := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	late := early.Add(30 * time.Minute)
	for _, m := range []*ci.RunnerManager{
		{RunnerID: mine.ID, SystemID: "s_old", Version: "16.0.0", Revision: "aaa", Platform: "linux", Architecture: "arm64", ContactedAt: &early},
		{RunnerID: mine.ID, SystemID: "s_new", Version: "17.1.0", Revision: "bbb", Platform: "linux", Architecture: "amd64", ContactedAt: &late},
	} {
		if err := e.st.UpsertRunnerManager(e.ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.TouchRunner(e.ctx, mine.ID, late); err != nil {
		t.Fatal(err)
	}
	path := "/runners/" + strconv.FormatInt(mine.ID, 10)

	e.do("GET", path, "", nil).want(t, 401, "")
	e.do("GET", "/runners/x", "maint", nil).want(t, 400, `{"error":"id is invalid"}`)
	e.do("GET", "/runners/9999", "maint", nil).want(t, 404, `{"message":"404 Runner Not Found"}`)
	e.do("GET", path, "dev", nil).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	e.do("GET", path, "stranger", nil).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)

	r := e.do("GET", path, "maint", nil)
	r.want(t, 200, "")
	if got := raKeys(t, r.body); !slices.Equal(got, []string{"id", "description", "ip_address", "active", "paused",
		"is_shared", "runner_type", "name", "online", "created_at", "status", "job_execution_status", "tag_list",
		"run_untagged", "locked", "maximum_timeout", "access_level", "version", "revision", "platform", "architecture",
		"contacted_at", "maintenance_note", "projects", "groups"}) {
		t.Fatalf("details keys %v", got)
	}
	var d struct {
		ID              int64    `json:"id"`
		TagList         []string `json:"tag_list"`
		Locked          bool     `json:"locked"`
		MaximumTimeout  *int     `json:"maximum_timeout"`
		AccessLevel     string   `json:"access_level"`
		Version         *string  `json:"version"`
		Revision        *string  `json:"revision"`
		Architecture    *string  `json:"architecture"`
		ContactedAt     *string  `json:"contacted_at"`
		MaintenanceNote *string  `json:"maintenance_note"`
		Online          bool     `json:"online"`
		Projects        []struct {
			ID                int64  `json:"id"`
			Description       string `json:"description"`
			Name              string `json:"name"`
			NameWithNamespace string `json:"name_with_namespace"`
			Path              string `json:"path"`
			PathWithNamespace string `json:"path_with_namespace"`
		} `json:"projects"`
	}
	r.decode(t, &d)
	if d.ID != mine.ID || !slices.Equal(d.TagList, []string{"linux"}) || !d.Locked || d.MaximumTimeout == nil ||
		*d.MaximumTimeout != 7200 || d.AccessLevel != "ref_protected" || d.Version == nil || *d.Version != "17.1.0" ||
		*d.Revision != "bbb" || *d.Architecture != "amd64" || d.ContactedAt == nil || d.MaintenanceNote == nil ||
		*d.MaintenanceNote != "rack 3" || !d.Online {
		t.Fatalf("details %s", r.body)
	}
	// maint is not a member of otherProj: only demo is listed.
	if len(d.Projects) != 1 || d.Projects[0].ID != e.proj.ID || d.Projects[0].PathWithNamespace != "maint/demo" ||
		d.Projects[0].NameWithNamespace != "Maint / demo" || d.Projects[0].Description != "demo project" {
		t.Fatalf("projects %+v", d.Projects)
	}
	r = e.do("GET", path, "admin", nil)
	r.decode(t, &d)
	if len(d.Projects) != 2 {
		t.Fatalf("admin sees projects %+v", d.Projects)
	}

	// Instance runners are visible to any user, without the note.
	r = e.do("GET", "/runners/"+strconv.FormatInt(shared.ID, 10), "stranger", nil)
	r.want(t, 200, "")
	d.MaintenanceNote, d.Version, d.MaximumTimeout = nil, nil, nil
	r.decode(t, &d)
	if d.MaintenanceNote != nil || d.Version != nil || d.MaximumTimeout != nil || d.Projects == nil {
		t.Fatalf("shared details %s", r.body)
	}
	if !strings.Contains(string(r.body), `"created_by":{"id":`) {
		t.Fatalf("created_by missing: %s", r.body)
	}
	r = e.do("GET", "/runners/"+strconv.FormatInt(shared.ID, 10), "admin", nil)
	r.decode(t, &d)
	if d.MaintenanceNote == nil || *d.MaintenanceNote != "admins only" {
		t.Fatalf("admin shared details %s", r.body)
	}
}

func TestRunnerUpdate(t *testing.T) { testkit.ForEachDB(t, testRunnerUpdate) }

func testRunnerUpdate(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	shared := e.runner(&ci.Runner{Description: "shared", RunnerType: ci.RunnerInstance, RunUntagged: true})
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID},
		RunUntagged: true, Tags: []string{"old"}})
	path := "/runners/" + strconv.FormatInt(mine.ID, 10)

	e.do("PUT", path, "", map[string]any{"description": "x"}).want(t, 401, "")
	e.do("PUT", path, "maint", map[string]any{}).want(t, 400, `{"error":"description, active, paused, tag_list, `+
		`run_untagged, locked, access_level, maximum_timeout, maintenance_note are missing, at least one parameter must be provided"}`)
	e.do("PUT", path, "maint", map[string]any{"active": true, "paused": true}).
		want(t, 400, `{"error":"active, paused are mutually exclusive"}`)
	e.do("PUT", path, "maint", map[string]any{"access_level": "everyone"}).
		want(t, 400, `{"error":"access_level does not have a valid value"}`)
	e.do("PUT", path, "maint", map[string]any{"maximum_timeout": "soon"}).want(t, 400, `{"error":"maximum_timeout is invalid"}`)
	e.do("PUT", "/runners/9999", "maint", map[string]any{"description": "x"}).want(t, 404, `{"message":"404 Runner Not Found"}`)
	e.do("PUT", path, "dev", map[string]any{"description": "x"}).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	e.do("PUT", "/runners/"+strconv.FormatInt(shared.ID, 10), "maint", map[string]any{"description": "x"}).
		want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	// Model validations answer render_validation_error!'s shape.
	e.do("PUT", path, "maint", map[string]any{"maximum_timeout": 60}).
		want(t, 400, `{"message":{"maximum_timeout":["needs to be at least 10 minutes"]}}`)
	e.do("PUT", path, "maint", map[string]any{"tag_list": []string{}, "run_untagged": false}).
		want(t, 400, `{"message":{"tags_list":["can not be empty when runner is not allowed to pick untagged jobs"]}}`)
	e.do("PUT", path, "maint", map[string]any{"maintenance_note": strings.Repeat("n", 1025)}).
		want(t, 400, `{"message":{"maintenance_note":["is too long (maximum is 1024 characters)"]}}`)

	r := e.do("PUT", path, "maint", map[string]any{"description": "renamed", "paused": true, "tag_list": "a,b",
		"run_untagged": false, "locked": true, "access_level": "ref_protected", "maximum_timeout": 900,
		"maintenance_note": "moved"})
	r.want(t, 200, "")
	var d struct {
		Description     string   `json:"description"`
		Paused          bool     `json:"paused"`
		Active          bool     `json:"active"`
		Status          string   `json:"status"`
		TagList         []string `json:"tag_list"`
		MaintenanceNote string   `json:"maintenance_note"`
	}
	r.decode(t, &d)
	if d.Description != "renamed" || !d.Paused || d.Active || d.Status != "paused" || !slices.Equal(d.TagList, []string{"a", "b"}) ||
		d.MaintenanceNote != "moved" {
		t.Fatalf("updated %s", r.body)
	}
	got, err := e.st.RunnerByID(e.ctx, mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "renamed" || !got.Paused || got.RunUntagged || !got.Locked || got.AccessLevel != "ref_protected" ||
		got.MaximumTimeout != 900 || !slices.Equal(got.Tags, []string{"a", "b"}) || !slices.Equal(got.ProjectIDs, []int64{e.proj.ID}) {
		t.Fatalf("stored %+v", got)
	}
	// active is paused's deprecated inverse; a blank maximum_timeout clears it.
	e.do("PUT", path, "maint", map[string]any{"active": true, "maximum_timeout": nil}).want(t, 200, "")
	if got, _ = e.st.RunnerByID(e.ctx, mine.ID); got.Paused || got.MaximumTimeout != 0 {
		t.Fatalf("after active=true %+v", got)
	}
	// Admins update instance runners.
	e.do("PUT", "/runners/"+strconv.FormatInt(shared.ID, 10), "admin", map[string]any{"description": "big"}).want(t, 200, "")
}

func TestRunnerDelete(t *testing.T) { testkit.ForEachDB(t, testRunnerDelete) }

func testRunnerDelete(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	shared := e.runner(&ci.Runner{Description: "shared", RunnerType: ci.RunnerInstance, RunUntagged: true})
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID}})
	both := e.runner(&ci.Runner{Description: "both", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID, e.otherProj.ID}})
	id := func(r *ci.Runner) string { return "/runners/" + strconv.FormatInt(r.ID, 10) }

	e.do("DELETE", id(mine), "", nil).want(t, 401, "")
	e.do("DELETE", "/runners/abc", "maint", nil).want(t, 400, `{"error":"id is invalid"}`)
	e.do("DELETE", "/runners/9999", "maint", nil).want(t, 404, `{"message":"404 Runner Not Found"}`)
	e.do("DELETE", id(mine), "dev", nil).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	e.do("DELETE", id(shared), "maint", nil).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	e.do("DELETE", id(both), "maint", nil).want(t, 403, `{"message":"403 Forbidden - Runner associated with more than one project"}`)

	r := e.do("DELETE", id(mine), "maint", nil)
	r.want(t, 204, "")
	if len(r.body) != 0 {
		t.Fatalf("204 with body %q", r.body)
	}
	e.do("GET", id(mine), "maint", nil).want(t, 404, `{"message":"404 Runner Not Found"}`)
	e.do("DELETE", id(both), "admin", nil).want(t, 204, "")
	e.do("DELETE", id(shared), "admin", nil).want(t, 204, "")
	e.do("GET", "/runners/all", "admin", nil).want(t, 200, "[]")
}

func TestRunnerJobs(t *testing.T) { testkit.ForEachDB(t, testRunnerJobs) }

func testRunnerJobs(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID, e.otherProj.ID}})
	other := e.runner(&ci.Runner{Description: "other", RunnerType: ci.RunnerInstance, RunUntagged: true})
	if err := e.st.UpsertRunnerManager(e.ctx, &ci.RunnerManager{RunnerID: mine.ID, SystemID: "s_1"}); err != nil {
		t.Fatal(err)
	}
	ms, _ := e.st.ListRunnerManagers(e.ctx, mine.ID)
	mk := func(name string, st ci.Status, runner, manager int64) *ci.Job {
		return &ci.Job{Name: name, Stage: "test", Status: st, Ref: "main", When: "on_success", RunnerID: runner,
			RunnerManagerID: manager, Definition: []byte(`{}`)}
	}
	jobs := []*ci.Job{
		mk("a", ci.StatusSuccess, mine.ID, ms[0].ID),
		mk("b", ci.StatusFailed, mine.ID, 0),
		mk("c", ci.StatusSuccess, other.ID, 0),
		mk("d", ci.StatusRunning, mine.ID, ms[0].ID),
		mk("e", ci.StatusPending, 0, 0),
	}
	pl := &ci.Pipeline{ProjectID: e.proj.ID, Ref: "main", SHA: strings.Repeat("a", 40), Source: "push", Status: ci.StatusRunning}
	if err := e.st.CreatePipeline(e.ctx, pl, jobs); err != nil {
		t.Fatal(err)
	}
	otherJob := mk("z", ci.StatusSuccess, mine.ID, 0)
	if err := e.st.CreatePipeline(e.ctx, &ci.Pipeline{ProjectID: e.otherProj.ID, Ref: "main", SHA: strings.Repeat("b", 40),
		Source: "push", Status: ci.StatusSuccess}, []*ci.Job{otherJob}); err != nil {
		t.Fatal(err)
	}
	path := "/runners/" + strconv.FormatInt(mine.ID, 10) + "/jobs"
	a, b, d := jobs[0].ID, jobs[1].ID, jobs[3].ID

	e.do("GET", path, "", nil).want(t, 401, "")
	e.do("GET", "/runners/9999/jobs", "maint", nil).want(t, 404, `{"message":"404 Runner Not Found"}`)
	e.do("GET", path, "dev", nil).want(t, 403, `{"message":"403 Forbidden - No access granted"}`)
	e.do("GET", path+"?status=bogus", "maint", nil).want(t, 400, `{"error":"status does not have a valid value"}`)
	e.do("GET", path+"?order_by=name", "maint", nil).want(t, 400, `{"error":"order_by does not have a valid value"}`)
	e.do("GET", path+"?sort=up", "maint", nil).want(t, 400, `{"error":"sort does not have a valid value"}`)
	// Instance runners' jobs are for admins.
	e.do("GET", "/runners/"+strconv.FormatInt(other.ID, 10)+"/jobs", "maint", nil).want(t, 403, "")

	// maint is not a reporter of otherProj: its job is hidden.
	r := e.do("GET", path, "maint", nil)
	if got := raIDs(t, r); !slices.Equal(got, []int64{d, b, a}) {
		t.Fatalf("maint runner jobs %v", got)
	}
	if r.header.Get("X-Total") != "3" {
		t.Fatalf("X-Total %q", r.header.Get("X-Total"))
	}
	if got := raIDs(t, e.do("GET", path, "admin", nil)); !slices.Equal(got, []int64{otherJob.ID, d, b, a}) {
		t.Fatalf("admin runner jobs %v", got)
	}
	for q, want := range map[string][]int64{
		"?status=success":             {a},
		"?status=running":             {d},
		"?order_by=id&sort=asc":       {a, b, d},
		"?sort=asc":                   {d, b, a}, // sort needs order_by
		"?per_page=2&page=2":          {a},
		"?system_id=s_1":              {d, a},
		"?system_id=s_unknown":        {},
		"?status=failed&sort=desc":    {b},
		"?order_by=id&sort=desc":      {d, b, a},
		"?status=canceled":            {},
		"?system_id=s_1&per_page=1":   {d},
		"?status=success&order_by=id": {a},
	} {
		if got := raIDs(t, e.do("GET", path+q, "maint", nil)); !slices.Equal(got, want) {
			t.Errorf("GET %s%s = %v, want %v", path, q, got, want)
		}
	}
	if h := e.do("GET", path+"?system_id=s_1", "maint", nil).header; h.Get("X-Total") != "" {
		t.Errorf("system_id lists count: X-Total %q", h.Get("X-Total"))
	}

	// JobBasicWithProject: JobBasic with the project's identity.
	var list []json.RawMessage
	e.do("GET", path+"?status=success", "maint", nil).decode(t, &list)
	keys := raKeys(t, list[0])
	if keys[0] != "id" || keys[len(keys)-1] != "project" || slices.Contains(keys, "artifacts") {
		t.Fatalf("job keys %v", keys)
	}
	var j struct {
		ID       int64  `json:"id"`
		Name     string `json:"name"`
		Status   string `json:"status"`
		Pipeline struct {
			ID int64 `json:"id"`
		} `json:"pipeline"`
		Project struct {
			ID                int64  `json:"id"`
			Name              string `json:"name"`
			NameWithNamespace string `json:"name_with_namespace"`
			PathWithNamespace string `json:"path_with_namespace"`
			CreatedAt         string `json:"created_at"`
		} `json:"project"`
	}
	if err := json.Unmarshal(list[0], &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != a || j.Name != "a" || j.Status != "success" || j.Pipeline.ID != pl.ID || j.Project.ID != e.proj.ID ||
		j.Project.PathWithNamespace != "maint/demo" || j.Project.NameWithNamespace != "Maint / demo" || j.Project.CreatedAt == "" {
		t.Fatalf("job entity %s", list[0])
	}

	// A running job makes its runner "active".
	var rd struct {
		JobExecutionStatus string `json:"job_execution_status"`
	}
	e.do("GET", "/runners/"+strconv.FormatInt(mine.ID, 10), "maint", nil).decode(t, &rd)
	if rd.JobExecutionStatus != "active" {
		t.Fatalf("job_execution_status %q", rd.JobExecutionStatus)
	}
}

func TestRunnerReadOnlyToken(t *testing.T) { testkit.ForEachDB(t, testRunnerReadOnlyToken) }

func testRunnerReadOnlyToken(t *testing.T, db testkit.DB) {
	e := newRAEnv(t, db)
	mine := e.runner(&ci.Runner{Description: "mine", RunnerType: ci.RunnerProject, ProjectIDs: []int64{e.proj.ID}})
	// read_api reads runners but cannot change them.
	e.do("GET", "/runners/"+strconv.FormatInt(mine.ID, 10), "reader", nil).want(t, 200, "")
	e.do("PUT", "/runners/"+strconv.FormatInt(mine.ID, 10), "reader", map[string]any{"description": "x"}).want(t, 403, "")
	e.do("POST", "/user/runners", "reader", map[string]any{"runner_type": "project_type", "project_id": e.proj.ID}).want(t, 403, "")
}
