package app_test

import (
	"io"
	"strings"
	"testing"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// TestOfficialGoClient drives the API with GitLab's official Go client:
// every call must succeed and parse.
func TestOfficialGoClient(t *testing.T) { forEachDB(t, testOfficialGoClient) }

func testOfficialGoClient(t *testing.T, o serverOpts) {
	f := newJobsFixture(t, o)
	gl, err := gitlab.NewClient(rootToken, gitlab.WithBaseURL(f.s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	pid := int(f.pid)

	me, _, err := gl.Users.CurrentUser()
	if err != nil || me.Username != "root" || !me.IsAdmin {
		t.Fatalf("CurrentUser: %v %+v", err, me)
	}
	// glab reports every command through the internal-events endpoint and
	// prints an error when it fails (cmd/glab/telemetry.go).
	if _, err := gl.UsageData.TrackEvent(&gitlab.TrackEventOptions{Event: "gitlab_cli_command_used",
		AdditionalProperties: map[string]string{"label": "ci"}}); err != nil {
		t.Fatalf("TrackEvent: %v", err)
	}
	if _, err := gl.UsageData.TrackEvent(&gitlab.TrackEventOptions{}); err == nil {
		t.Fatal("TrackEvent without an event: no error")
	}
	proj, _, err := gl.Projects.GetProject("root/api", nil)
	if err != nil || proj.PathWithNamespace != "root/api" || proj.DefaultBranch != "main" {
		t.Fatalf("GetProject: %v %+v", err, proj)
	}
	jobs, resp, err := gl.Jobs.ListProjectJobs(pid, &gitlab.ListJobsOptions{
		Scope: &[]gitlab.BuildStateValue{gitlab.Success, gitlab.Running}, ListOptions: gitlab.ListOptions{PerPage: 1}})
	if err != nil || len(jobs) != 1 || resp.NextPage != 2 {
		t.Fatalf("ListProjectJobs: %v len=%d next=%d", err, len(jobs), resp.NextPage)
	}
	all, err := gitlab.ScanAndCollect(func(p gitlab.PaginationOptionFunc) ([]*gitlab.Job, *gitlab.Response, error) {
		return gl.Jobs.ListProjectJobs(pid, &gitlab.ListJobsOptions{ListOptions: gitlab.ListOptions{PerPage: 1}}, p)
	})
	if err != nil || len(all) != 3 {
		t.Fatalf("paginated ListProjectJobs: %v, %d jobs", err, len(all))
	}
	a, _, err := gl.Jobs.GetJob(pid, f.a)
	if err != nil || a.Status != "success" || a.Pipeline.ID != f.pipeline || a.Commit == nil || a.User == nil || a.StartedAt == nil {
		t.Fatalf("GetJob: %v %+v", err, a)
	}
	tr, _, err := gl.Jobs.GetTraceFile(pid, f.a)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(tr); !strings.Contains(string(b), "line two") {
		t.Errorf("trace %q", b)
	}
	pjobs, _, err := gl.Jobs.ListPipelineJobs(pid, f.pipeline, &gitlab.ListJobsOptions{IncludeRetried: gitlab.Ptr(true)})
	if err != nil || len(pjobs) != 3 {
		t.Fatalf("ListPipelineJobs: %v %d", err, len(pjobs))
	}
	bridges, _, err := gl.Jobs.ListPipelineBridges(pid, f.pipeline, nil)
	if err != nil || len(bridges) != 1 || bridges[0].Status != "created" {
		t.Fatalf("ListPipelineBridges: %v %+v", err, bridges)
	}
	canceled, _, err := gl.Jobs.CancelJob(pid, f.b)
	if err != nil || canceled.Status != "canceling" {
		t.Fatalf("CancelJob: %v %+v", err, canceled)
	}
	// The runner acknowledges the cancel; b (allowed to fail) ends canceled
	// and the deploy stage opens: m becomes manual.
	(&fakeRunner{s: f.s}).finish(f.b, f.aToken, "failed", "unknown_failure")
	retried, _, err := gl.Jobs.RetryJob(pid, f.a)
	if err != nil || retried.ID == f.a {
		t.Fatalf("RetryJob: %v %+v", err, retried)
	}
	erased, _, err := gl.Jobs.EraseJob(pid, f.a)
	if err != nil || erased.ErasedAt == nil {
		t.Fatalf("EraseJob: %v %+v", err, erased)
	}
	played, _, err := gl.Jobs.PlayJob(pid, f.m, &gitlab.PlayJobOptions{JobVariablesAttributes: &[]*gitlab.JobVariableOptions{
		{Key: gitlab.Ptr("TARGET"), Value: gitlab.Ptr("prod"), VariableType: gitlab.Ptr(gitlab.EnvVariableType)}}})
	if err != nil || played.ID != f.m || played.Status != "pending" {
		t.Fatalf("PlayJob: %v %+v", err, played)
	}
	_, _, err = gl.Jobs.PlayJob(pid, f.a, nil)
	if er, ok := err.(*gitlab.ErrorResponse); !ok || er.Response.StatusCode != 400 || !strings.Contains(er.Message, "Unplayable Job") {
		t.Errorf("PlayJob on a build: %v", err)
	}

	pl, _, err := gl.Pipelines.GetPipeline(pid, f.pipeline)
	if err != nil || pl.ID != f.pipeline || pl.Ref != "main" || pl.DetailedStatus == nil {
		t.Fatalf("GetPipeline: %v %+v", err, pl)
	}
	pls, _, err := gl.Pipelines.ListProjectPipelines(pid, &gitlab.ListProjectPipelinesOptions{Ref: gitlab.Ptr("main")})
	if err != nil || len(pls) != 1 {
		t.Fatalf("ListProjectPipelines: %v %d", err, len(pls))
	}
	created, _, err := gl.Pipelines.CreatePipeline(pid, &gitlab.CreatePipelineOptions{Ref: gitlab.Ptr("main"),
		Variables: &[]*gitlab.PipelineVariableOptions{{Key: gitlab.Ptr("X"), Value: gitlab.Ptr("1")}}})
	if err != nil || created.Source != "api" {
		t.Fatalf("CreatePipeline: %v %+v", err, created)
	}
	vars, _, err := gl.Pipelines.GetPipelineVariables(pid, created.ID)
	if err != nil || len(vars) != 1 || vars[0].Key != "X" {
		t.Fatalf("GetPipelineVariables: %v %+v", err, vars)
	}
	if _, _, err := gl.Pipelines.CancelPipelineBuild(pid, created.ID); err != nil {
		t.Fatalf("CancelPipelineBuild: %v", err)
	}
	if _, _, err := gl.Pipelines.RetryPipelineBuild(pid, created.ID); err != nil {
		t.Fatalf("RetryPipelineBuild: %v", err)
	}
	latest, _, err := gl.Pipelines.GetLatestPipeline(pid, nil)
	if err != nil || latest.ID != created.ID {
		t.Fatalf("GetLatestPipeline: %v %+v", err, latest)
	}
	if _, err := gl.Pipelines.DeletePipeline(pid, created.ID); err != nil {
		t.Fatalf("DeletePipeline: %v", err)
	}
	_, r404, err := gl.Jobs.GetJob(pid, 424242)
	if err == nil || r404 == nil || r404.StatusCode != 404 {
		t.Errorf("GetJob unknown: %v", err)
	}
}
