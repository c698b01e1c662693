package runnerapi

import (
	"encoding/json"
	"github.com/gantryci/gantry/internal/testkit"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/auth"
	"github.com/gantryci/gantry/internal/ci"
	"github.com/gantryci/gantry/internal/ciconfig"
	"github.com/gantryci/gantry/internal/runnerproto"
)

func TestRequestJobNoJob(t *testing.T) { testkit.ForEachDB(t, testRequestJobNoJob) }

func testRequestJobNoJob(t *testing.T, db testkit.DB) {
	tests := []struct {
		name   string
		runner *ci.Runner
		token  string // overrides the runner's token
		jobs   []jobSpec
		status int
		// minWait is how long the answer must have been held (long poll).
		minWait time.Duration
	}{
		{name: "unknown token", token: "glrt-nope", status: http.StatusForbidden},
		{name: "paused answers at once", runner: &ci.Runner{RunUntagged: true, Paused: true},
			jobs: []jobSpec{{name: "a"}}, status: http.StatusNoContent},
		{name: "nothing pending waits", status: http.StatusNoContent, minWait: 3 * time.Second},
		{name: "untagged job needs run_untagged", runner: &ci.Runner{Tags: []string{"x"}},
			jobs: []jobSpec{{name: "a"}}, status: http.StatusNoContent},
		{name: "job tags must be runner tags", runner: &ci.Runner{Tags: []string{"x"}, RunUntagged: true},
			jobs: []jobSpec{{name: "a", tags: []string{"x", "y"}}}, status: http.StatusNoContent},
		{name: "ref_protected runner skips unprotected refs", runner: &ci.Runner{RunUntagged: true, AccessLevel: "ref_protected"},
			jobs: []jobSpec{{name: "a"}}, status: http.StatusNoContent},
		{name: "only pending jobs", jobs: []jobSpec{{name: "a", status: ci.StatusCreated}, {name: "b", status: ci.StatusManual}},
			status: http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A long poll far above any scheduling delay, so "answered at
			// once" and "held" cannot be confused on a loaded machine.
			e := newEnv(t, db, func(c *Config) { c.LongPoll = 3 * time.Second })
			token, _ := e.runner(tt.runner)
			if tt.token != "" {
				token = tt.token
			}
			if len(tt.jobs) > 0 {
				e.pipeline(nil, tt.jobs...)
			}
			start := time.Now()
			resp, body := e.request(token)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == http.StatusNoContent {
				if resp.Header.Get("X-GitLab-Last-Update") == "" {
					t.Error("204 without X-GitLab-Last-Update")
				}
				if d := time.Since(start); d < tt.minWait {
					t.Errorf("answered after %v, want a long poll of at least %v", d, tt.minWait)
				}
				if tt.minWait == 0 && time.Since(start) >= 3*time.Second && tt.runner != nil && tt.runner.Paused {
					t.Errorf("paused runner was held %v", time.Since(start))
				}
			}
		})
	}
}

func TestRequestJobClaims(t *testing.T) { testkit.ForEachDB(t, testRequestJobClaims) }

func testRequestJobClaims(t *testing.T, db testkit.DB) {
	tests := []struct {
		name    string
		runner  *ci.Runner
		project int // project build timeout, 0 = default 3600
		spec    jobSpec
		timeout int
	}{
		{name: "untagged", spec: jobSpec{name: "a"}, timeout: 3600},
		{name: "tag subset", runner: &ci.Runner{Tags: []string{"docker", "linux"}},
			spec: jobSpec{name: "a", tags: []string{"linux"}}, timeout: 3600},
		{name: "job timeout above project", project: 1200, spec: jobSpec{name: "a", def: ciconfig.Job{Timeout: 7200}}, timeout: 7200},
		{name: "runner maximum caps", runner: &ci.Runner{RunUntagged: true, MaximumTimeout: 900},
			spec: jobSpec{name: "a", def: ciconfig.Job{Timeout: 7200}}, timeout: 900},
		{name: "project timeout", project: 1800, spec: jobSpec{name: "a"}, timeout: 1800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, db)
			if tt.project != 0 {
				e.proj.BuildTimeout = tt.project
				if err := e.st.UpdateProject(e.ctx, e.proj); err != nil {
					t.Fatal(err)
				}
			}
			token, rn := e.runner(tt.runner)
			_, jobs := e.pipeline(nil, tt.spec)
			resp, body := e.request(token)
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status = %d %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var p runnerproto.Job
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			j := e.job(jobs[0].ID)
			// Running at assignment: 14.10 never acknowledges with a PUT.
			if p.ID != j.ID || j.Status != ci.StatusRunning || j.RunnerID != rn.ID || j.StartedAt == nil {
				t.Errorf("job after claim = %+v", j)
			}
			if j.Timeout != tt.timeout || p.RunnerInfo.Timeout != tt.timeout {
				t.Errorf("timeout = %d (payload %d), want %d", j.Timeout, p.RunnerInfo.Timeout, tt.timeout)
			}
			if byTok, err := e.st.JobByTokenDigest(e.ctx, auth.Digest(p.Token)); err != nil || byTok.ID != j.ID {
				t.Errorf("job token not stored: %v", err)
			}
			// The 14.10 poll has no system_id: its manager has an empty one.
			ms, err := e.st.ListRunnerManagers(e.ctx, rn.ID)
			if err != nil || len(ms) != 1 || ms[0].SystemID != "" || j.RunnerManagerID != ms[0].ID {
				t.Errorf("managers = %+v (%v), job manager %d", ms, err, j.RunnerManagerID)
			}
			// The job is handed out once.
			if resp, body := e.request(token); resp.StatusCode != http.StatusNoContent {
				t.Errorf("second request = %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestEffectiveTimeout(t *testing.T) {
	t.Parallel()
	// GitLab's truth table for the effective timeout (docs/runners.md,
	// "Timeout"; the project default always exists here).
	tests := []struct{ base, runnerMax, want int }{
		{100, 300, 100}, {100, 0, 100}, {200, 300, 200}, {200, 0, 200}, {100, 50, 50}, {200, 100, 100}, {0, 100, 100}, {0, 0, 0},
	}
	for _, tt := range tests {
		if got := (&ci.Runner{MaximumTimeout: tt.runnerMax}).EffectiveTimeout(tt.base); got != tt.want {
			t.Errorf("effectiveTimeout(%d, %d) = %d, want %d", tt.base, tt.runnerMax, got, tt.want)
		}
	}
}

// TestRequestJobHeaderToken covers 19.4: RUNNER-TOKEN header and system_id.
func TestRequestJobHeaderToken(t *testing.T) { testkit.ForEachDB(t, testRequestJobHeaderToken) }

func testRequestJobHeaderToken(t *testing.T, db testkit.DB) {
	e := newEnv(t, db)
	token, rn := e.runner(nil)
	e.pipeline(nil, jobSpec{name: "a"})
	resp, body := e.json(http.MethodPost, "/api/v4/jobs/request", map[string]any{
		"token": token, "system_id": "s_0123456789ab", "last_update": "abc",
		"info": map[string]any{"version": "19.4.0", "features": map[string]bool{"cancel_gracefully": true}},
	}, map[string]string{"RUNNER-TOKEN": token})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	ms, err := e.st.ListRunnerManagers(e.ctx, rn.ID)
	if err != nil || len(ms) != 1 || ms[0].SystemID != "s_0123456789ab" || !ms[0].Features["cancel_gracefully"] {
		t.Errorf("managers = %+v (%v)", ms, err)
	}
	if r, err := e.st.RunnerByID(e.ctx, rn.ID); err != nil || r.ContactedAt == nil {
		t.Errorf("runner contact not recorded: %+v %v", r, err)
	}
}

// TestLongPollWakes parks a request and makes a job pending: the request
// must answer with the job when it is woken, not at the poll's end.
func TestLongPollWakes(t *testing.T) { testkit.ForEachDB(t, testLongPollWakes) }

func testLongPollWakes(t *testing.T, db testkit.DB) {
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 5 * time.Second })
	token, _ := e.runner(nil)
	type result struct {
		status int
		at     time.Time
	}
	done := make(chan result, 1)
	go func() {
		resp, _ := e.request(token)
		done <- result{resp.StatusCode, time.Now()}
	}()
	waitParked(t, e.api, 1)
	created := time.Now()
	e.pipeline(nil, jobSpec{name: "late"}) // CreatePipeline fires OnJobPending
	select {
	case r := <-done:
		if r.status != http.StatusCreated {
			t.Fatalf("status = %d, want 201", r.status)
		}
		// A 201 before the 5 s poll ends can only come from the wake-up;
		// its latency is measured in bench/, not asserted here.
		t.Logf("woke %v after the job became pending", r.at.Sub(created))
	case <-time.After(4 * time.Second):
		t.Fatal("parked request was not woken")
	}
}

// waitParked waits until n requests are parked on the wake channel.
// The bound is generous: with every test of the package running in
// parallel on a loaded machine, reaching the park point takes seconds.
func waitParked(t *testing.T, a *API, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for a.parked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests parked, want %d", a.parked.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestNotifyCoalesces checks that a burst of notifications becomes one
// immediate wake-up plus at most one trailing one.
func TestNotifyCoalesces(t *testing.T) {
	t.Parallel()
	a := New(Config{})
	first, _ := a.waiter()
	for range 1000 {
		a.NotifyPending()
	}
	select {
	case <-first:
	default:
		t.Fatal("first notification did not wake at once")
	}
	time.Sleep(5 * wakeGap)
	a.wakeMu.Lock()
	gen := a.gen
	a.wakeMu.Unlock()
	if gen < 1 || gen > 2 {
		t.Errorf("1000 notifications made %d wake-ups, want 1 or 2", gen)
	}
	// A later notification still wakes immediately.
	w, _ := a.waiter()
	a.NotifyPending()
	select {
	case <-w:
	case <-time.After(wakeGap * 3):
		t.Error("notification after the gap did not wake")
	}
}

// TestConcurrentClaims: 50 HTTP clients race for 500 pending jobs; every
// job must be handed out exactly once.
func TestConcurrentClaims(t *testing.T) { testkit.ForEachDB(t, testConcurrentClaims) }

func testConcurrentClaims(t *testing.T, db testkit.DB) {
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 50 * time.Millisecond })
	token, _ := e.runner(nil)
	specs := make([]jobSpec, 0, 500)
	for i := range 500 {
		specs = append(specs, jobSpec{name: "job" + strconv.Itoa(i)})
	}
	// Ten pipelines of 50 jobs, so the claim crosses pipelines.
	for i := 0; i < len(specs); i += 50 {
		e.pipeline(nil, specs[i:i+50]...)
	}
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				resp, body := e.request(token)
				switch resp.StatusCode {
				case http.StatusCreated:
					var p runnerproto.Job
					if err := json.Unmarshal(body, &p); err != nil {
						errs.Add(1)
						return
					}
					mu.Lock()
					seen[p.ID]++
					mu.Unlock()
				case http.StatusNoContent:
					return
				default:
					errs.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	if errs.Load() > 0 {
		t.Errorf("%d failed requests", errs.Load())
	}
	if len(seen) != 500 {
		t.Errorf("%d distinct jobs handed out, want 500", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %d handed out %d times", id, n)
		}
	}
}

// TestWakeManyParked: one job becoming pending while 20 requests are
// parked goes to exactly one of them; the rest keep waiting and end in 204.
func TestWakeManyParked(t *testing.T) { testkit.ForEachDB(t, testWakeManyParked) }

func testWakeManyParked(t *testing.T, db testkit.DB) {
	// The long poll outlasts the time all 20 need to park (waitParked),
	// so that they are parked together when the job comes.
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 30 * time.Second })
	token, _ := e.runner(nil)
	statuses := make(chan int, 20)
	for range 20 {
		go func() {
			resp, _ := e.request(token)
			statuses <- resp.StatusCode
		}()
	}
	waitParked(t, e.api, 20)
	e.pipeline(nil, jobSpec{name: "only"})
	counts := map[int]int{}
	for range 20 {
		counts[<-statuses]++
	}
	if counts[http.StatusCreated] != 1 || counts[http.StatusNoContent] != 19 {
		t.Errorf("answers = %v, want one 201 and nineteen 204", counts)
	}
}

// TestContactThrottled: polls record the manager and runner contact at
// most once per contactEvery, unless the reported info changes.
func TestContactThrottled(t *testing.T) { testkit.ForEachDB(t, testContactThrottled) }

func testContactThrottled(t *testing.T, db testkit.DB) {
	e := newEnv(t, db, func(c *Config) { c.LongPoll = 10 * time.Millisecond })
	token, rn := e.runner(nil)
	base := time.Now().UTC().Truncate(time.Second)
	now := base
	e.api.now = func() time.Time { return now }
	contacted := func() time.Time {
		t.Helper()
		ms, err := e.st.ListRunnerManagers(e.ctx, rn.ID)
		if err != nil || len(ms) != 1 || ms[0].ContactedAt == nil {
			t.Fatalf("managers = %+v (%v)", ms, err)
		}
		return *ms[0].ContactedAt
	}
	steps := []struct {
		name    string
		advance time.Duration
		version string
		want    time.Duration // expected contacted_at - base
	}{
		{"first poll writes", 0, "14.10.0", 0},
		{"poll within the window is skipped", 5 * time.Second, "14.10.0", 0},
		{"changed info writes at once", 1 * time.Second, "15.0.0", 6 * time.Second},
		{"window passed writes", contactEvery, "15.0.0", 6*time.Second + contactEvery},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		resp, body := e.json(http.MethodPost, "/api/v4/jobs/request", map[string]any{"token": token,
			"info": map[string]any{"version": s.version}}, nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %d %s", s.name, resp.StatusCode, body)
		}
		if got := contacted().Sub(base); got != s.want {
			t.Errorf("%s: contacted_at = base%+v, want base%+v", s.name, got, s.want)
		}
	}
	if r, err := e.st.RunnerByID(e.ctx, rn.ID); err != nil || r.ContactedAt == nil || !r.ContactedAt.Equal(base.Add(6*time.Second+contactEvery)) {
		t.Errorf("runner contacted_at = %v (%v)", r.ContactedAt, err)
	}
}
