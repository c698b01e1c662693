package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/events"
	"github.com/gantryci/gantry/internal/store"
	"github.com/gantryci/gantry/internal/store/sqlstore"
	"github.com/gantryci/gantry/internal/testkit"
)

// stepper drives one project's pipelines through the engine the way
// runners and users do, on a real store and a real git repository.
type stepper struct {
	*engineWithRepo
	st     *sqlstore.DB
	runner *ci.Runner
	// first is the pipeline the statuses refer to; last the newest one.
	first, last *ci.Pipeline
}

func newStepper(t *testing.T, db testkit.DB) *stepper {
	e, _ := newEngineWithRepo(t, db)
	r := &ci.Runner{Description: "steps", RunnerType: ci.RunnerInstance, RunUntagged: true}
	if err := e.Store.CreateRunner(t.Context(), r, "digest-"+t.Name()); err != nil {
		t.Fatal(err)
	}
	return &stepper{engineWithRepo: e, st: e.Store, runner: r}
}

// job is the latest job of that name in the first pipeline (or, for a
// name "new:x", in the newest).
func (s *stepper) job(name string) *ci.Job {
	s.T.Helper()
	p := s.first
	if n, ok := strings.CutPrefix(name, "new:"); ok {
		p, name = s.last, n
	}
	jobs, err := s.st.PipelineJobs(context.Background(), p.ID)
	if err != nil {
		s.T.Fatal(err)
	}
	for _, j := range slices.Backward(jobs) {
		if j.Name == name && !j.Retried {
			return j
		}
	}
	s.T.Fatalf("no job %q in pipeline %d", name, p.ID)
	return nil
}

// do carries out one step: "run X" (a runner takes X), "succeed X",
// "fail X", "play X", "retry X", "cancel X", "retry pipeline",
// "cancel pipeline", "push" (a new commit on the branch).
func (s *stepper) do(step, config string) {
	s.T.Helper()
	ctx := context.Background()
	verb, name, _ := strings.Cut(step, " ")
	var err error
	switch verb {
	case "run":
		var j *ci.Job
		id := s.job(name).ID // not read in Match: that runs inside the claim
		j, err = s.eng.ClaimJob(ctx, store.Claim{Runner: s.runner, Now: time.Now(),
			Match: func(c *ci.Job) bool { return c.ID == id }})
		if err == nil && j.Name != strings.TrimPrefix(name, "new:") {
			s.T.Fatalf("%s: claimed %s", step, j.Name)
		}
	case "succeed", "fail":
		code := 1
		err = s.eng.Finish(ctx, s.job(name), verb == "succeed", "", &code)
	case "play":
		_, err = s.eng.PlayJob(ctx, s.job(name), 1, nil)
	case "retry":
		if name == "pipeline" {
			_, err = s.eng.RetryPipeline(ctx, s.first.ID, 1)
		} else {
			_, err = s.eng.RetryJob(ctx, s.job(name), 1, nil)
		}
	case "cancel":
		if name == "pipeline" {
			_, err = s.eng.CancelPipeline(ctx, s.first.ID)
		} else {
			_, err = s.eng.CancelJob(ctx, s.job(name), false)
		}
	case "push":
		s.last = s.push(config)
	default:
		s.T.Fatalf("unknown step %q", step)
	}
	if err != nil {
		s.T.Fatalf("%s: %v", step, err)
	}
}

// check compares "pipeline=S name=S new=S new:name=S …" with the store.
func (s *stepper) check(step, want string) {
	s.T.Helper()
	ctx := context.Background()
	var got, exp []string
	for _, kv := range strings.Fields(want) {
		key, _, _ := strings.Cut(kv, "=")
		var have ci.Status
		switch key {
		case "pipeline", "new":
			id := s.first.ID
			if key == "new" {
				id = s.last.ID
			}
			p, err := s.st.PipelineByID(ctx, id)
			if err != nil {
				s.T.Fatal(err)
			}
			have = p.Status
		default:
			have = s.job(key).Status
		}
		got, exp = append(got, key+"="+string(have)), append(exp, kv)
	}
	if g, w := strings.Join(got, " "), strings.Join(exp, " "); g != w {
		s.T.Errorf("after %q:\n got %s\nwant %s", step, g, w)
	}
}

// stepCase is a configuration, then steps each followed by the statuses
// expected after it ("" as the step checks the pipeline just created).
type stepCase struct {
	name   string
	config string
	steps  [][2]string
}

// TestPipelineSteps steps pipelines through runner claims and reports,
// plays, retries and cancels, checking the pipeline's and its jobs'
// statuses after each step, on both databases.
func TestPipelineSteps(t *testing.T) {
	t.Parallel()
	const stages = `
stages: [build, test, deploy]
build: {stage: build, script: b}
test: {stage: test, script: t}
deploy: {stage: deploy, script: d}
`
	cases := []stepCase{
		{
			name: "stages, and a job taken by a runner runs its pipeline", config: stages,
			steps: [][2]string{
				{"", "pipeline=pending build=pending test=created deploy=created"},
				{"run build", "pipeline=running build=running test=created"},
				{"succeed build", "pipeline=running build=success test=pending deploy=created"},
				{"run test", "pipeline=running test=running"},
				{"fail test", "pipeline=failed test=failed deploy=skipped"},
				{"retry test", "pipeline=running test=pending deploy=created"},
				{"run test", "pipeline=running test=running"},
				{"succeed test", "pipeline=running test=success deploy=pending"},
				{"run deploy", "pipeline=running deploy=running"},
				{"succeed deploy", "pipeline=success build=success test=success deploy=success"},
			},
		},
		{
			name: "needs start jobs before their stage",
			config: `
stages: [build, test]
a: {stage: build, script: a}
slow: {stage: build, script: s}
b: {stage: test, script: b, needs: [a]}
c: {stage: test, script: c}
`,
			steps: [][2]string{
				{"", "pipeline=pending a=pending slow=pending b=created c=created"},
				{"run a", "pipeline=running a=running"},
				{"succeed a", "pipeline=running a=success b=pending slow=pending c=created"},
				{"run b", "pipeline=running b=running"},
				{"succeed b", "pipeline=running b=success c=created"},
				{"run slow", "pipeline=running slow=running"},
				{"succeed slow", "pipeline=running c=pending"},
				{"run c", "pipeline=running c=running"},
				{"succeed c", "pipeline=success"},
			},
		},
		{
			name: "a blocking manual job holds the pipeline",
			config: `
stages: [build, deploy, verify]
build: {stage: build, script: b}
deploy: {stage: deploy, script: d, when: manual, allow_failure: false}
verify: {stage: verify, script: v}
`,
			steps: [][2]string{
				{"run build", "pipeline=running build=running"},
				{"succeed build", "pipeline=manual deploy=manual verify=created"},
				{"play deploy", "pipeline=running deploy=pending verify=created"},
				{"run deploy", "pipeline=running deploy=running"},
				{"succeed deploy", "pipeline=running verify=pending"},
				{"run verify", "pipeline=running verify=running"},
				{"succeed verify", "pipeline=success"},
			},
		},
		{
			name: "an optional manual job does not hold the pipeline",
			config: `
stages: [build, deploy, verify]
build: {stage: build, script: b}
deploy: {stage: deploy, script: d, when: manual}
verify: {stage: verify, script: v}
`,
			steps: [][2]string{
				{"run build", "pipeline=running"},
				{"succeed build", "pipeline=running deploy=manual verify=pending"},
				{"run verify", "pipeline=running verify=running"},
				{"succeed verify", "pipeline=success deploy=manual"},
				{"play deploy", "pipeline=running deploy=pending"},
				{"run deploy", "pipeline=running deploy=running"},
				{"fail deploy", "pipeline=success deploy=failed"},
			},
		},
		{
			name: "when on_failure and always",
			config: `
stages: [build, deploy, cleanup]
build: {stage: build, script: b}
deploy: {stage: deploy, script: d}
rollback: {stage: deploy, script: r, when: on_failure}
cleanup: {stage: cleanup, script: c, when: always}
`,
			steps: [][2]string{
				{"", "pipeline=pending build=pending deploy=created rollback=created cleanup=created"},
				{"run build", "pipeline=running build=running"},
				{"fail build", "pipeline=running build=failed deploy=skipped rollback=pending cleanup=created"},
				{"run rollback", "pipeline=running rollback=running"},
				{"succeed rollback", "pipeline=running rollback=success cleanup=pending"},
				{"run cleanup", "pipeline=running cleanup=running"},
				{"succeed cleanup", "pipeline=failed cleanup=success deploy=skipped"},
			},
		},
		{
			name: "allow_failure lets the pipeline pass",
			config: `
stages: [test, deploy]
lint: {stage: test, script: l, allow_failure: true}
test: {stage: test, script: t}
deploy: {stage: deploy, script: d}
`,
			steps: [][2]string{
				{"run lint", "pipeline=running lint=running"},
				{"fail lint", "pipeline=running lint=failed deploy=created"},
				{"run test", "pipeline=running"},
				{"succeed test", "pipeline=running deploy=pending"},
				{"run deploy", "pipeline=running"},
				{"succeed deploy", "pipeline=success lint=failed"},
			},
		},
		{
			name: "a pipeline retry recreates a failed manual job as manual",
			config: `
stages: [build, deploy]
build: {stage: build, script: b}
deploy: {stage: deploy, script: d, when: manual, allow_failure: false}
`,
			steps: [][2]string{
				{"run build", "pipeline=running"},
				{"succeed build", "pipeline=manual deploy=manual"},
				{"play deploy", "pipeline=running deploy=pending"},
				{"run deploy", "pipeline=running deploy=running"},
				{"fail deploy", "pipeline=failed deploy=failed"},
				{"retry pipeline", "pipeline=manual build=success deploy=manual"},
				{"play deploy", "pipeline=running deploy=pending"},
				{"run deploy", "pipeline=running deploy=running"},
				{"succeed deploy", "pipeline=success deploy=success"},
			},
		},
		{
			name: "a retry of the manual job itself enqueues it",
			config: `
deploy: {script: d, when: manual, allow_failure: false}
`,
			steps: [][2]string{
				{"", "pipeline=manual deploy=manual"},
				{"play deploy", "pipeline=pending deploy=pending"},
				{"run deploy", "pipeline=running deploy=running"},
				{"fail deploy", "pipeline=failed deploy=failed"},
				{"retry deploy", "pipeline=running deploy=pending"},
			},
		},
		{
			name:   "a pipeline retry retries failed and canceled jobs and reopens skipped ones",
			config: stages,
			steps: [][2]string{
				{"run build", "pipeline=running"},
				{"fail build", "pipeline=failed build=failed test=skipped deploy=skipped"},
				{"retry pipeline", "pipeline=running build=pending test=created deploy=created"},
				{"cancel pipeline", "pipeline=canceled build=canceled test=canceled deploy=canceled"},
				{"retry pipeline", "pipeline=running build=pending test=created deploy=created"},
			},
		},
		{
			name: "cancels",
			config: `
stages: [test, deploy]
a: {stage: test, script: a}
b: {stage: test, script: b}
deploy: {stage: deploy, script: d}
`,
			steps: [][2]string{
				{"run a", "pipeline=running a=running b=pending"},
				{"cancel b", "pipeline=running a=running b=canceled deploy=created"},
				{"succeed a", "pipeline=canceled a=success b=canceled deploy=skipped"},
				{"retry b", "pipeline=running b=pending deploy=created"},
				{"run b", "pipeline=running"},
				{"cancel pipeline", "pipeline=canceled a=success b=canceled deploy=canceled"},
			},
		},
		{
			name: "on_job_failure all cancels the rest of the pipeline",
			config: `
workflow:
  auto_cancel:
    on_job_failure: all
stages: [test, deploy]
a: {stage: test, script: a}
b: {stage: test, script: b}
c: {stage: test, script: c}
deploy: {stage: deploy, script: d}
`,
			steps: [][2]string{
				{"run a", "pipeline=running"},
				{"run b", "pipeline=running"},
				{"fail a", "pipeline=failed a=failed b=canceled c=canceled deploy=canceled"},
			},
		},
		{
			name: "on_job_failure all ignores jobs allowed to fail",
			config: `
workflow:
  auto_cancel:
    on_job_failure: all
a: {script: a, allow_failure: true}
b: {script: b}
`,
			steps: [][2]string{
				{"run a", "pipeline=running"},
				{"run b", "pipeline=running"},
				{"fail a", "pipeline=running a=failed b=running"},
				{"succeed b", "pipeline=success"},
			},
		},
		{
			name: "on_job_failure from workflow rules",
			config: `
workflow:
  auto_cancel:
    on_job_failure: none
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
      auto_cancel:
        on_job_failure: all
    - when: always
a: {script: a}
b: {script: b}
`,
			steps: [][2]string{
				{"run a", "pipeline=running"},
				{"fail a", "pipeline=failed a=failed b=canceled"},
			},
		},
		{
			name: "without on_job_failure a failure cancels nothing",
			config: `
a: {script: a}
b: {script: b}
`,
			steps: [][2]string{
				{"run a", "pipeline=running"},
				{"run b", "pipeline=running"},
				{"fail a", "pipeline=running a=failed b=running"},
				{"succeed b", "pipeline=failed"},
			},
		},
	}
	cases = append(cases, onNewCommitCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
				s := newStepper(t, db)
				s.first = s.push(tc.config)
				s.last = s.first
				for _, st := range tc.steps {
					if st[0] != "" {
						s.do(st[0], tc.config)
					}
					s.check(st[0], st[1])
					if t.Failed() {
						return
					}
				}
			})
		})
	}
}

// onNewCommitCases: a new commit on the branch cancels what the older
// pipeline's workflow:auto_cancel:on_new_commit allows.
func onNewCommitCases() []stepCase {
	config := func(mode string) string {
		wf := ""
		if mode != "" {
			wf = "workflow:\n  auto_cancel:\n    on_new_commit: " + mode + "\n"
		}
		return wf + `
stages: [build, test]
safe: {stage: build, script: s, interruptible: true}
unsafe: {stage: build, script: u}
later: {stage: test, script: l, interruptible: true}
`
	}
	return []stepCase{
		{
			name: "conservative by default: cancels a pipeline whose started jobs are interruptible", config: config(""),
			steps: [][2]string{
				{"run safe", "pipeline=running safe=running"},
				{"push", "pipeline=canceled safe=canceled unsafe=canceled later=canceled new=pending"},
			},
		},
		{
			name: "conservative: keeps a pipeline that started a non-interruptible job", config: config("conservative"),
			steps: [][2]string{
				{"run unsafe", "pipeline=running"},
				{"push", "pipeline=running safe=pending unsafe=running later=created new=pending"},
			},
		},
		{
			name: "interruptible: cancels only interruptible jobs", config: config("interruptible"),
			steps: [][2]string{
				{"run unsafe", "pipeline=running"},
				{"run safe", "pipeline=running"},
				{"push", "pipeline=running safe=canceled unsafe=running later=canceled new=pending"},
				{"succeed unsafe", "pipeline=canceled unsafe=success"},
			},
		},
		{
			name: "none: cancels nothing", config: config("none"),
			steps: [][2]string{
				{"run safe", "pipeline=running"},
				{"push", "pipeline=running safe=running unsafe=pending later=created new=pending"},
				{"run new:safe", "new=running new:safe=running safe=running"},
			},
		},
	}
}

// TestEventsPublished: the store publishes each committed job change and
// pipeline change on its bus, so long polls and pages can follow them.
func TestEventsPublished(t *testing.T) {
	testkit.ForEachDB(t, func(t *testing.T, db testkit.DB) {
		s := newStepper(t, db)
		ch, cancel := s.st.Events().Subscribe(nil, 256)
		defer cancel()
		s.first = s.push("a: {script: a}\n")
		s.do("run a", "")
		s.do("succeed a", "")
		var seen []string
		for len(ch) > 0 {
			e := <-ch
			switch e.Kind {
			case events.JobChanged:
				seen = append(seen, fmt.Sprintf("job %s→%s", e.From, e.Status))
			case events.PipelineChanged:
				seen = append(seen, "pipeline "+string(e.Status))
			}
		}
		want := []string{"job →created", "pipeline created", "job created→pending", "pipeline pending",
			"job pending→running", "pipeline running", "job running→success", "pipeline success"}
		if !slices.Equal(seen, want) {
			t.Errorf("events:\n got %q\nwant %q", seen, want)
		}
	})
}
