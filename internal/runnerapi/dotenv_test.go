package runnerapi

import (
	"bytes"
	"compress/gzip"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"strings"
	"testing"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseDotenv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "K=V;…", or "error"
	}{
		{"A=1\nB = two words \r\n", "A=1;B=two words"},
		{"A=1\nA=2", "A=2"},
		{"A==x=", "A==x="},
		{"A=", "A="},
		{"\ufeffA=1", "A=1"},
		{"A=1\n\nB=2", "error"},
		{"# comment\nA=1", "error"},
		{"export A=1", "error"},
		{"NOEQUALS", "error"},
		{"=value", "error"},
		{strings.Repeat("K", 256) + "=1", "error"},
		{func() string {
			var b strings.Builder
			for i := range 21 {
				b.WriteString("V" + strings.Repeat("X", i) + "=1\n")
			}
			return b.String()
		}(), "error"},
	}
	for _, tt := range tests {
		vars, err := parseDotenv(gz(t, tt.in), "gzip")
		got := "error"
		if err == nil {
			var parts []string
			for _, v := range vars {
				parts = append(parts, v.Key+"="+v.Value)
			}
			got = strings.Join(parts, ";")
		}
		if got != tt.want {
			t.Errorf("parseDotenv(%q) = %q (%v), want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestDotenvReport: a dotenv report uploaded as gitlab-runner does (gzip)
// reaches the dependent job's variables above YAML variables and below
// project variables; a malformed report is refused at upload with 400.
func TestDotenvReport(t *testing.T) { testkit.ForEachDB(t, testDotenvReport) }

func testDotenvReport(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	if err := e.st.SetProjectVariable(e.ctx, &ci.ProjectVariable{ProjectID: e.proj.ID, Key: "FROM_PROJECT", Value: "project"}); err != nil {
		t.Fatal(err)
	}
	token, _ := e.runner(nil)
	_, jobs := e.pipeline(nil,
		jobSpec{name: "build", def: ciconfig.Job{Stage: "build"}},
		jobSpec{name: "deploy", stageIdx: 1, status: ci.StatusCreated, def: ciconfig.Job{Stage: "deploy",
			Variables: []ciconfig.Variable{{Key: "VERSION", Value: "yaml"}}}},
		jobSpec{name: "other", stageIdx: 1, status: ci.StatusCreated, def: ciconfig.Job{Stage: "deploy",
			Dependencies: []string{}}},
	)
	p := e.take(token)
	if p.ID != jobs[0].ID {
		t.Fatalf("took job %d, want %d", p.ID, jobs[0].ID)
	}
	upload := func(report string) int {
		body, ct := multipartBody(t, "file", "dotenv.gz", gz(t, report))
		resp, _ := e.upload(p.ID, p.Token, "?artifact_type=dotenv&artifact_format=gzip&expire_in=1+day", body, ct)
		return resp.StatusCode
	}
	if got := upload("VERSION=1.2.3\nnot a line\n"); got != http.StatusBadRequest {
		t.Errorf("malformed report: status %d, want 400", got)
	}
	if got := upload("VERSION=1.2.3\nFROM_PROJECT=dotenv\nEXTRA=x\n"); got != http.StatusCreated {
		t.Fatalf("report: status %d, want 201", got)
	}
	if resp, body := e.put(p.ID, map[string]any{"token": p.Token, "state": "success"}, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT success = %d %s", resp.StatusCode, body)
	}
	got := map[string]map[string]string{}
	for range 2 {
		next := e.take(token)
		vars := map[string]string{}
		for _, v := range next.Variables {
			vars[v.Key] = v.Value
		}
		got[next.JobInfo.Name] = vars
	}
	if d := got["deploy"]; d["VERSION"] != "1.2.3" || d["FROM_PROJECT"] != "project" || d["EXTRA"] != "x" {
		t.Errorf("deploy variables: VERSION=%q FROM_PROJECT=%q EXTRA=%q", d["VERSION"], d["FROM_PROJECT"], d["EXTRA"])
	}
	if o, ok := got["other"]; !ok || o["EXTRA"] != "" {
		t.Errorf("other (dependencies: []) got EXTRA=%q (taken: %v)", o["EXTRA"], ok)
	}
}
