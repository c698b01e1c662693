package app_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/testkit/gittest"
	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// testClock is a coordinator clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// pushSchedRepo pushes a config whose job prints $GREETING to main, a
// branch feature and a tag v1.
func pushSchedRepo(t *testing.T, s *server, project string) *gittest.Work {
	t.Helper()
	w := gittest.NewWork(t)
	w.Write(map[string]string{".gitlab-ci.yml": "build:\n  script: [echo $GREETING]\n"})
	w.Commit("CI")
	w.Git("tag", "v1")
	remote := strings.Replace(s.URL, "http://", "http://oauth2:"+rootToken+"@", 1) + "/" + project + ".git"
	w.Git("push", "-q", remote, "HEAD:refs/heads/main", "HEAD:refs/heads/feature", "v1")
	return w
}

func glClient(t *testing.T, s *server, token string) *gitlab.Client {
	t.Helper()
	gl, err := gitlab.NewClient(token, gitlab.WithBaseURL(s.URL+"/api/v4"))
	if err != nil {
		t.Fatal(err)
	}
	return gl
}

var scheduleIDRe = regexp.MustCompile(`"(id|project_id|iid)":\d+`)

// normalizeSchedule pins ids besides the golden normalizers' times and ports.
func normalizeSchedule(b []byte) []byte {
	return scheduleIDRe.ReplaceAll(b, []byte(`"$1":"<id>"`))
}

// TestPipelineSchedules drives /projects/:id/pipeline_schedules through
// GitLab's Go client and by hand: CRUD with GitLab's ref expansion,
// validation messages and abilities, variables, take_ownership, play, and
// the scheduler: a due schedule makes one pipeline of source schedule as
// its owner with its variables, which a runner runs; a schedule missed for
// many periods runs once; an owner who lost access deactivates it.
func TestPipelineSchedules(t *testing.T) { forEachDB(t, testPipelineSchedules) }

func testPipelineSchedules(t *testing.T, o serverOpts) {
	start := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	clock := newTestClock(start)
	o.now = clock.Now
	s := startServer(t, o)
	pid := s.project("sched", "private")
	pushSchedRepo(t, s, "root/sched")
	devID, devTok := s.user("dev")
	dev2ID, dev2Tok := s.user("dev2")
	maintID, maintTok := s.user("maint")
	repID, repTok := s.user("rep")
	_, strangerTok := s.user("stranger")
	s.member(pid, devID, 30)
	s.member(pid, dev2ID, 30)
	s.member(pid, maintID, 40)
	s.member(pid, repID, 20)
	dev, maint := glClient(t, s, devTok), glClient(t, s, maintTok)
	base := fmt.Sprintf("/api/v4/projects/%d/pipeline_schedules", pid)

	// Create: a short ref becomes a full one; next_run_at is the next minute.
	sc, _, err := dev.PipelineSchedules.CreatePipelineSchedule(pid, &gitlab.CreatePipelineScheduleOptions{
		Description: gitlab.Ptr("every minute"), Ref: gitlab.Ptr("feature"), Cron: gitlab.Ptr("* * * * *")})
	if err != nil {
		t.Fatal(err)
	}
	wantNext := start.Truncate(time.Minute).Add(time.Minute)
	if sc.Ref != "refs/heads/feature" || sc.CronTimezone != "UTC" || !sc.Active || sc.Owner == nil || sc.Owner.ID != devID ||
		sc.NextRunAt == nil || !sc.NextRunAt.Equal(wantNext) || sc.Variables != nil {
		t.Fatalf("created %+v (next %v, want %v)", sc, sc.NextRunAt, wantNext)
	}
	tagged, _, err := dev.PipelineSchedules.CreatePipelineSchedule(pid, &gitlab.CreatePipelineScheduleOptions{
		Description: gitlab.Ptr("tag"), Ref: gitlab.Ptr("v1"), Cron: gitlab.Ptr("0 1 * * *"),
		CronTimezone: gitlab.Ptr("Asia/Tokyo"), Active: gitlab.Ptr(false)})
	if err != nil || tagged.Ref != "refs/tags/v1" || tagged.Active {
		t.Fatalf("tag schedule: %v %+v", err, tagged)
	}

	// A full ref is taken as given, existing or not (it may be pushed later).
	gone, _, err := dev.PipelineSchedules.CreatePipelineSchedule(pid, &gitlab.CreatePipelineScheduleOptions{
		Description: gitlab.Ptr("gone"), Ref: gitlab.Ptr("refs/heads/gone"), Cron: gitlab.Ptr("* * * * *")})
	if err != nil || gone.Ref != "refs/heads/gone" {
		t.Fatalf("schedule of a missing branch: %v %+v", err, gone)
	}

	for _, tc := range []struct {
		name, token string
		body        map[string]any
		status      int
		want        string
	}{
		{"invalid cron", devTok, map[string]any{"description": "x", "ref": "feature", "cron": "invalid-cron"}, 400,
			`{"message":{"cron":[" is invalid syntax"]}}`},
		{"invalid zone", devTok, map[string]any{"description": "x", "ref": "feature", "cron": "* * * * *", "cron_timezone": "Mars/Olympus"}, 400,
			`{"message":{"cron_timezone":["syntax is invalid"]}}`},
		{"unknown ref", devTok, map[string]any{"description": "x", "ref": "nope", "cron": "* * * * *"}, 400,
			`{"message":{"ref":["is ambiguous"]}}`},
		{"blank description", devTok, map[string]any{"description": "", "ref": "feature", "cron": "* * * * *"}, 400,
			`{"message":{"description":["can't be blank"]}}`},
		{"missing", devTok, map[string]any{}, 400, `{"error":"description is missing, ref is missing, cron is missing"}`},
		// The default branch is protected: developers may not push to it.
		{"protected ref", devTok, map[string]any{"description": "x", "ref": "main", "cron": "* * * * *"}, 400,
			`{"message":{"base":["The current user is not authorized to create the pipeline schedule"]}}`},
		{"reporter", repTok, map[string]any{"description": "x", "ref": "feature", "cron": "* * * * *"}, 403, `{"message":"403 Forbidden"}`},
		{"stranger", strangerTok, map[string]any{"description": "x", "ref": "feature", "cron": "* * * * *"}, 404, `{"message":"404 Project Not Found"}`},
	} {
		r := s.do("POST", base, tc.token, tc.body)
		if r.Status != tc.status || strings.TrimSpace(string(r.Body)) != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
	var mainSched struct{ ID int64 }
	s.must(201, "POST", base, maintTok, map[string]any{"description": "main", "ref": "main", "cron": "0 0 * * *", "active": false}).json(t, &mainSched)
	// Playing it needs the right to update main too.
	if r := s.do("POST", fmt.Sprintf("%s/%d/play", base, mainSched.ID), devTok, nil); r.Status != 403 {
		t.Errorf("developer plays a schedule of the protected default branch: %d %s", r.Status, r.Body)
	}

	// Variables: developers who may update the schedule set them.
	v, _, err := dev.PipelineSchedules.CreatePipelineScheduleVariable(pid, sc.ID, &gitlab.CreatePipelineScheduleVariableOptions{
		Key: gitlab.Ptr("GREETING"), Value: gitlab.Ptr("hello")})
	if err != nil || v.Key != "GREETING" || v.Value != "hello" || v.VariableType != "env_var" {
		t.Fatalf("CreatePipelineScheduleVariable: %v %+v", err, v)
	}
	golden(t, "pipeline_schedule_variable", s.must(201, "POST", fmt.Sprintf("%s/%d/variables", base, sc.ID), devTok,
		map[string]any{"key": "EXTRA", "value": "x", "variable_type": "file"}).Body)
	v, _, err = dev.PipelineSchedules.EditPipelineScheduleVariable(pid, sc.ID, "EXTRA", &gitlab.EditPipelineScheduleVariableOptions{
		Value: gitlab.Ptr("y"), VariableType: gitlab.Ptr(gitlab.EnvVariableType)})
	if err != nil || v.Value != "y" || v.VariableType != "env_var" {
		t.Fatalf("EditPipelineScheduleVariable: %v %+v", err, v)
	}
	for _, tc := range []struct {
		name, method, path, token string
		body                      map[string]any
		status                    int
		want                      string
	}{
		{"taken key", "POST", "/variables", devTok, map[string]any{"key": "GREETING", "value": "x"}, 400, `{"message":{"key":["has already been taken"]}}`},
		{"bad key", "POST", "/variables", devTok, map[string]any{"key": "!?", "value": "x"}, 400, `{"message":{"key":["can contain only letters, digits and '_'."]}}`},
		{"not the owner", "POST", "/variables", dev2Tok, map[string]any{"key": "K", "value": "x"}, 403, `{"message":"403 Forbidden"}`},
		{"unknown key", "PUT", "/variables/NOPE", devTok, map[string]any{"value": "x"}, 404, `{"message":"404 Pipeline Schedule Variable Not Found"}`},
		{"unknown schedule", "GET", "/999999", devTok, nil, 404, `{"message":"404 Pipeline Schedule Not Found"}`},
		{"update by a maintainer who does not own it", "PUT", "", maintTok, map[string]any{"description": "x"}, 403, `{"message":"403 Forbidden"}`},
		{"take ownership as a developer", "POST", "/take_ownership", dev2Tok, nil, 403, `{"message":"403 Forbidden"}`},
		{"delete as another developer", "DELETE", "", dev2Tok, nil, 403, `{"message":"403 Forbidden"}`},
		{"bad scope", "GET", "?scope=all", devTok, nil, 400, `{"error":"scope does not have a valid value"}`},
		{"blank ref on update", "PUT", "", devTok, map[string]any{"ref": ""}, 400, `{"message":{"ref":["is ambiguous"]}}`},
		{"protected ref on update", "PUT", "", devTok, map[string]any{"ref": "main"}, 400,
			`{"message":{"base":["The current user is not authorized to update the pipeline schedule"]}}`},
		{"invalid cron on update", "PUT", "", devTok, map[string]any{"cron": "61 * * * *", "cron_timezone": "Nowhere"}, 400,
			`{"message":{"cron":[" is invalid syntax"],"cron_timezone":["syntax is invalid"]}}`},
	} {
		path := fmt.Sprintf("%s/%d%s", base, sc.ID, tc.path)
		if strings.HasPrefix(tc.path, "/999999") || strings.HasPrefix(tc.path, "?") {
			path = base + tc.path
		}
		r := s.do(tc.method, path, tc.token, tc.body)
		if r.Status != tc.status || strings.TrimSpace(string(r.Body)) != tc.want {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.want)
		}
	}
	deleted := s.must(202, "DELETE", fmt.Sprintf("%s/%d/variables/EXTRA", base, sc.ID), devTok, nil)
	if !strings.Contains(string(deleted.Body), `"key":"EXTRA"`) {
		t.Errorf("deleted variable: %s", deleted.Body)
	}

	// Reads: the owner sees the variables, a reporter does not.
	got, _, err := dev.PipelineSchedules.GetPipelineSchedule(pid, sc.ID)
	if err != nil || len(got.Variables) != 1 || got.Variables[0].Value != "hello" {
		t.Fatalf("GetPipelineSchedule: %v %+v", err, got)
	}
	if r := s.must(200, "GET", fmt.Sprintf("%s/%d", base, sc.ID), repTok, nil); strings.Contains(string(r.Body), `"variables"`) {
		t.Errorf("a reporter sees the variables: %s", r.Body)
	}
	inactive, _, err := dev.PipelineSchedules.ListPipelineSchedules(pid, &gitlab.ListPipelineSchedulesOptions{
		Scope: gitlab.Ptr(gitlab.PipelineScheduleScopeValue("inactive"))})
	if err != nil || len(inactive) != 2 || inactive[0].ID != tagged.ID || inactive[1].ID != mainSched.ID {
		t.Fatalf("inactive schedules: %v %+v", err, inactive)
	}
	ed, _, err := dev.PipelineSchedules.EditPipelineSchedule(pid, sc.ID, &gitlab.EditPipelineScheduleOptions{Description: gitlab.Ptr("minutely")})
	if err != nil || ed.Description != "minutely" || ed.Ref != "refs/heads/feature" {
		t.Fatalf("EditPipelineSchedule: %v %+v", err, ed)
	}

	// take_ownership: 201 the first time, 200 when owned already.
	own, r, err := maint.PipelineSchedules.TakeOwnershipOfPipelineSchedule(pid, sc.ID)
	if err != nil || r.StatusCode != 201 || own.Owner.ID != maintID {
		t.Fatalf("TakeOwnership: %v %+v", err, own)
	}
	if _, r, err = maint.PipelineSchedules.TakeOwnershipOfPipelineSchedule(pid, sc.ID); err != nil || r.StatusCode != 200 {
		t.Fatalf("TakeOwnership again: %v %d", err, r.StatusCode)
	}

	// play runs it now, as the caller.
	playRes := s.must(201, "POST", fmt.Sprintf("%s/%d/play", base, sc.ID), devTok, nil)
	if strings.TrimSpace(string(playRes.Body)) != `{"message":"201 Created"}` {
		t.Errorf("play: %s", playRes.Body)
	}
	if _, err := dev.PipelineSchedules.RunPipelineSchedule(pid, tagged.ID); err != nil {
		t.Fatalf("RunPipelineSchedule: %v", err)
	}
	if r := s.do("POST", fmt.Sprintf("%s/%d/play", base, sc.ID), repTok, nil); r.Status != 403 {
		t.Errorf("play as a reporter: %d %s", r.Status, r.Body)
	}
	pls, _, err := dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, sc.ID, nil)
	if err != nil || len(pls) != 1 || pls[0].Source != "schedule" || pls[0].Ref != "feature" {
		t.Fatalf("schedule pipelines after play: %v %+v", err, pls)
	}
	played, _, err := dev.Pipelines.GetPipeline(pid, pls[0].ID)
	if err != nil || played.User == nil || played.User.ID != devID {
		t.Fatalf("played pipeline user: %v %+v", err, played)
	}
	tagPls, _, err := dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, tagged.ID, nil)
	if err != nil || len(tagPls) != 1 || tagPls[0].Ref != "v1" {
		t.Fatalf("tag schedule pipelines: %v %+v", err, tagPls)
	}

	// The scheduler: once due, one pipeline as the owner, with the
	// schedule's variables, which a runner runs.
	runner := s.registerRunner()
	// The pushes' and the played pipelines' jobs first.
	for j := runner.request(); j != nil; j = runner.request() {
		runner.finish(int64(j["id"].(float64)), j["token"].(string), "success", "")
	}
	clock.Set(wantNext.Add(time.Second))
	var sched []*gitlab.Pipeline
	waitFor(t, "the scheduled pipeline", 30*time.Second, func() bool {
		sched, _, err = dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, sc.ID, nil)
		return err == nil && len(sched) == 2
	})
	fired, _, err := dev.Pipelines.GetPipeline(pid, sched[1].ID)
	if err != nil || fired.Source != "schedule" || fired.User == nil || fired.User.ID != maintID {
		t.Fatalf("scheduled pipeline: %v %+v", err, fired)
	}
	vars, _, err := dev.Pipelines.GetPipelineVariables(pid, fired.ID)
	if err != nil || len(vars) != 1 || vars[0].Key != "GREETING" || vars[0].Value != "hello" {
		t.Fatalf("scheduled pipeline variables: %v %+v", err, vars)
	}
	// The schedule whose branch does not exist ran too: no pipeline, still
	// active, next_run_at moved on.
	waitFor(t, "the schedule of a missing branch to move on", 30*time.Second, func() bool {
		g, _, err := dev.PipelineSchedules.GetPipelineSchedule(pid, gone.ID)
		return err == nil && g.NextRunAt.After(clock.Now())
	})
	if g, _, err := dev.PipelineSchedules.GetPipelineSchedule(pid, gone.ID); err != nil || !g.Active || g.LastPipeline != nil {
		t.Errorf("schedule of a missing branch after its run: %v %+v", err, g)
	}
	job := runner.request()
	if job == nil {
		t.Fatal("the scheduled pipeline's job was not handed out")
	}
	jobVars := map[string]any{}
	for _, v := range job["variables"].([]any) {
		kv := v.(map[string]any)
		jobVars[kv["key"].(string)] = kv["value"]
	}
	if jobVars["GREETING"] != "hello" || jobVars["CI_PIPELINE_SOURCE"] != "schedule" || jobVars["GITLAB_USER_LOGIN"] != "maint" ||
		jobVars["CI_PIPELINE_SCHEDULE_DESCRIPTION"] != "minutely" {
		t.Errorf("job variables: %v", jobVars)
	}
	runner.finish(int64(job["id"].(float64)), job["token"].(string), "success", "")
	s.waitJob(pid, "build", "success")
	after, _, err := dev.PipelineSchedules.GetPipelineSchedule(pid, sc.ID)
	if err != nil || after.NextRunAt == nil || !after.NextRunAt.After(clock.Now()) || after.LastPipeline == nil ||
		after.LastPipeline.ID != fired.ID || after.LastPipeline.Status != "success" {
		t.Fatalf("after the run: %v %+v", err, after)
	}
	golden(t, "pipeline_schedule_details", normalizeSchedule(s.must(200, "GET", fmt.Sprintf("%s/%d", base, sc.ID), maintTok, nil).Body))
	golden(t, "pipeline_schedule", normalizeSchedule(s.must(200, "GET", base+"?scope=inactive&per_page=1", devTok, nil).Body))

	// Missed for ten periods: one catch-up run, next_run_at in the future.
	clock.Set(clock.Now().Add(10 * time.Minute))
	waitFor(t, "the catch-up run", 30*time.Second, func() bool {
		sched, _, err = dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, sc.ID, nil)
		got, _, gerr := dev.PipelineSchedules.GetPipelineSchedule(pid, sc.ID)
		return err == nil && gerr == nil && len(sched) >= 3 && got.NextRunAt.After(clock.Now())
	})
	// The clock stands still, so nothing is due any more: the count is final.
	if sched, _, err = dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, sc.ID, nil); err != nil || len(sched) != 3 {
		t.Fatalf("after ten missed periods: %v, %d pipelines, want 3", err, len(sched))
	}

	// An owner who lost access: the schedule is deactivated, nothing runs.
	s.must(204, "DELETE", fmt.Sprintf("/api/v4/projects/%d/members/%d", pid, maintID), rootToken, nil)
	clock.Set(clock.Now().Add(2 * time.Minute))
	waitFor(t, "the schedule to be deactivated", 30*time.Second, func() bool {
		got, _, err := dev.PipelineSchedules.GetPipelineSchedule(pid, sc.ID)
		return err == nil && !got.Active
	})
	if sched, _, err = dev.PipelineSchedules.ListPipelinesTriggeredBySchedule(pid, sc.ID, nil); err != nil || len(sched) != 3 {
		t.Fatalf("an owner without access ran the schedule: %v, %d", err, len(sched))
	}

	// Delete: 204, its pipelines stay.
	if _, err := dev.PipelineSchedules.DeletePipelineSchedule(pid, sc.ID); err == nil {
		t.Error("a developer deleted a schedule owned by someone else")
	}
	s.member(pid, maintID, 40)
	if _, err := maint.PipelineSchedules.DeletePipelineSchedule(pid, sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dev.Pipelines.GetPipeline(pid, fired.ID); err != nil {
		t.Errorf("the schedule's pipeline went with it: %v", err)
	}
}
