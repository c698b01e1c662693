package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ciYAML is the 50-job configuration of the write benchmarks: one stage, so
// all 50 jobs are pending as soon as the pipeline exists. Pushes create no
// pipeline (workflow:rules), so only API calls do.
func ciYAML() string {
	var b strings.Builder
	b.WriteString(`workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
      when: never
    - when: always
stages: [test]
variables:
  GO_VERSION: "1.26"
.base:
  stage: test
  before_script: [echo setup, go version]
  script: ['echo "job $CI_JOB_NAME shard $SHARD"', make test]
  artifacts:
    paths: [out/]
    expire_in: 1 week
`)
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&b, "job-%02d:\n  extends: .base\n  variables:\n    SHARD: \"%d\"\n", i, i)
	}
	return b.String()
}

// wakeYAML holds 100 manual jobs: playing one makes exactly one job pending.
func wakeYAML() string {
	var b strings.Builder
	b.WriteString("workflow:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"push\"\n      when: never\n    - when: always\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&b, "manual-%03d:\n  script: [echo go]\n  when: manual\n", i)
	}
	return b.String()
}

// api is a small client of the user API with the root token; its requests
// go round robin to the coordinators.
type api struct {
	lb     *balancer
	token  string
	client *http.Client
}

func (a *api) call(ctx context.Context, method, path string, form url.Values, out any) (int, error) {
	var body []byte
	hdr := map[string]string{"PRIVATE-TOKEN": a.token}
	if form != nil {
		body = []byte(form.Encode())
		hdr["Content-Type"] = "application/x-www-form-urlencoded"
	}
	st, _, b, err := fetch(ctx, a.client, method, a.lb.next()+path, hdr, body)
	if err != nil {
		return 0, err
	}
	if st >= 300 {
		return st, fmt.Errorf("%s %s: %d %s", method, path, st, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return st, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return st, nil
}

// setupCIProject creates root/<name> and pushes main (50 jobs) and wake
// (100 manual jobs) with real git over smart HTTP.
func setupCIProject(ctx context.Context, a *api, work, name string) (int64, error) {
	var p struct {
		ID int64 `json:"id"`
	}
	if _, err := a.call(ctx, "POST", "/api/v4/projects", url.Values{"name": {name}}, &p); err != nil {
		return 0, err
	}
	dir := filepath.Join(work, "repo-"+name)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	u, _ := url.Parse(a.lb.urls[0]) // pushes go to one coordinator (docs/multi-coordinator.md)
	remote := fmt.Sprintf("http://oauth2:%s@%s/root/%s.git", a.token, u.Host, name)
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=Bench", "-c", "user.email=bench@example.com",
			"-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	steps := []func() error{
		func() error { return git("init", "-q") },
		func() error { return os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(ciYAML()), 0o644) },
		func() error { return os.WriteFile(filepath.Join(dir, "Makefile"), []byte("test:\n\ttrue\n"), 0o644) },
		func() error { return git("add", ".") },
		func() error { return git("commit", "-q", "-m", "CI with 50 jobs") },
		func() error { return git("checkout", "-q", "-b", "wake") },
		func() error { return os.WriteFile(filepath.Join(dir, ".gitlab-ci.yml"), []byte(wakeYAML()), 0o644) },
		func() error { return git("commit", "-q", "-am", "100 manual jobs") },
		func() error { return git("push", "-q", remote, "main", "wake") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return 0, err
		}
	}
	return p.ID, nil
}

// pipelineResult is the pipeline creation figure.
type pipelineResult struct {
	Pipelines   int     `json:"pipelines"`
	JobsEach    int     `json:"jobs_each"`
	Concurrency int     `json:"concurrency"`
	Latency     stats   `json:"latency"`
	PerSecond   float64 `json:"pipelines_per_second"`
	// CPUms is the coordinators' CPU per pipeline (user+system from
	// /proc; git processes they started are not in it).
	CPUms float64 `json:"server_cpu_ms_per_pipeline"`
}

// createPipelines POSTs n pipelines on ref with c concurrent callers.
func createPipelines(ctx context.Context, a *api, projectID int64, ref string, n, c int, limit time.Duration) (stats, []int64, error) {
	var lat latencies
	var next, errs atomic.Int64
	var mu sync.Mutex
	var ids []int64
	var firstErr error
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				var pl struct {
					ID     int64  `json:"id"`
					Status string `json:"status"`
				}
				t0 := time.Now()
				_, err := a.call(ctx, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", projectID), url.Values{"ref": {ref}}, &pl)
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				lat.add(time.Since(t0))
				mu.Lock()
				ids = append(ids, pl.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := lat.stats(time.Since(start), int(errs.Load()))
	if st.N == 0 && firstErr != nil {
		return st, nil, firstErr
	}
	if firstErr != nil {
		logf("  pipeline create errors: %d, first: %v", errs.Load(), firstErr)
	}
	return st, ids, nil
}

// runnerClient speaks the runner protocol with one runner token; its
// requests go round robin to the coordinators.
type runnerClient struct {
	lb              *balancer
	token, systemID string
	client          *http.Client
}

func registerRunners(ctx context.Context, a *api, n int, client *http.Client) ([]*runnerClient, error) {
	var out []*runnerClient
	for i := range n {
		var r struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if _, err := a.call(ctx, "POST", "/api/v4/user/runners", url.Values{"runner_type": {"instance_type"},
			"description": {fmt.Sprintf("bench-runner-%d", i)}}, &r); err != nil {
			return nil, err
		}
		out = append(out, &runnerClient{lb: a.lb, token: r.Token, systemID: fmt.Sprintf("s_bench%06d", i), client: client})
	}
	return out, nil
}

type claimed struct {
	ID    int64
	Token string
}

var runnerInfo = map[string]any{"name": "gitlab-runner", "version": "17.11.0", "revision": "bench", "platform": "linux",
	"architecture": "amd64", "executor": "shell", "shell": "bash",
	"features": map[string]bool{"variables": true, "artifacts": true, "upload_multiple_artifacts": true, "upload_raw_artifacts": true,
		"refspecs": true, "masking": true, "raw_variables": true, "artifacts_exclude": true, "multi_build_steps": true,
		"trace_reset": true, "trace_checksum": true, "trace_size": true, "cancelable": true, "return_exit_code": true}}

// request is POST /jobs/request: a job, or nil on 204.
func (r *runnerClient) request(ctx context.Context) (*claimed, error) {
	body, _ := json.Marshal(map[string]any{"token": r.token, "system_id": r.systemID, "info": runnerInfo})
	st, _, b, err := fetch(ctx, r.client, "POST", r.lb.next()+"/api/v4/jobs/request", map[string]string{"Content-Type": "application/json"}, body)
	if err != nil {
		return nil, err
	}
	switch st {
	case 201:
		var j struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return nil, err
		}
		return &claimed{ID: j.ID, Token: j.Token}, nil
	case 204:
		return nil, nil
	}
	return nil, fmt.Errorf("jobs/request: %d %s", st, b)
}

// update is PUT /jobs/:id with a state.
func (r *runnerClient) update(ctx context.Context, j *claimed, state string) error {
	m := map[string]any{"token": j.Token, "state": state}
	if state == "success" {
		m["exit_code"] = 0
	}
	body, _ := json.Marshal(m)
	st, _, b, err := fetch(ctx, r.client, "PUT", fmt.Sprintf("%s/api/v4/jobs/%d", r.lb.next(), j.ID),
		map[string]string{"Content-Type": "application/json", "JOB-TOKEN": j.Token}, body)
	if err != nil {
		return err
	}
	if st != 200 {
		return fmt.Errorf("PUT job %d %s: %d %s", j.ID, state, st, b)
	}
	return nil
}

// patch is PATCH /jobs/:id/trace at offset; it returns the stored size.
func (r *runnerClient) patch(ctx context.Context, j *claimed, offset int64, data []byte) (int64, int, error) {
	hdr := map[string]string{"JOB-TOKEN": j.Token, "Content-Type": "text/plain",
		"Content-Range": fmt.Sprintf("%d-%d", offset, offset+int64(len(data))-1)}
	st, h, b, err := fetch(ctx, r.client, "PATCH", fmt.Sprintf("%s/api/v4/jobs/%d/trace", r.lb.next(), j.ID), hdr, data)
	if err != nil {
		return 0, 0, err
	}
	size := int64(-1)
	if rg := h.Get("Range"); rg != "" {
		if _, end, ok := strings.Cut(rg, "-"); ok {
			size, _ = strconv.ParseInt(end, 10, 64)
		}
	}
	if st != 202 {
		return size, st, fmt.Errorf("PATCH trace %d: %d %s", j.ID, st, b)
	}
	return size, st, nil
}

// pickupResult is the job pick-up figure.
type pickupResult struct {
	Jobs      int     `json:"jobs"`
	Runners   int     `json:"runners"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"jobs_per_second"`
	Request   stats   `json:"request"`
	Running   stats   `json:"put_running"`
	Trace     stats   `json:"patch_trace"`
	Success   stats   `json:"put_success"`
	Errors    int     `json:"errors"`
	CPUms     float64 `json:"server_cpu_ms_per_job"` // the coordinators' CPU per job
}

// pickup has the runners take, run and finish target pending jobs.
func pickup(ctx context.Context, rs []*runnerClient, target int) (pickupResult, error) {
	var lReq, lRun, lTrace, lOK latencies
	var taken, done, errs atomic.Int64
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	var firstErr atomic.Value
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	logLine := []byte("Running with gitlab-runner 17.11.0\nPreparing the \"shell\" executor\n$ make test\ntrue\nJob succeeded\n")
	start := time.Now()
	var last atomic.Int64
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			for taken.Load() < int64(target) && ctx.Err() == nil && errs.Load() < 100 {
				t0 := time.Now()
				j, err := r.request(reqCtx)
				if err != nil {
					if reqCtx.Err() == nil {
						fail(err)
					}
					continue
				}
				if j == nil {
					continue
				}
				lReq.add(time.Since(t0))
				if taken.Add(1) >= int64(target) {
					cancelReq() // release runners parked on an empty queue
				}
				t0 = time.Now()
				if err := r.update(ctx, j, "running"); err != nil {
					fail(err)
					continue
				}
				lRun.add(time.Since(t0))
				t0 = time.Now()
				if _, _, err := r.patch(ctx, j, 0, logLine); err != nil {
					fail(err)
					continue
				}
				lTrace.add(time.Since(t0))
				t0 = time.Now()
				if err := r.update(ctx, j, "success"); err != nil {
					fail(err)
					continue
				}
				lOK.add(time.Since(t0))
				done.Add(1)
				last.Store(int64(time.Since(start)))
			}
		})
	}
	wg.Wait()
	el := time.Duration(last.Load())
	res := pickupResult{Jobs: int(done.Load()), Runners: len(rs), Seconds: el.Seconds(), Errors: int(errs.Load()),
		Request: lReq.stats(el, 0), Running: lRun.stats(el, 0), Trace: lTrace.stats(el, 0), Success: lOK.stats(el, 0)}
	if el > 0 {
		res.PerSecond = float64(res.Jobs) / el.Seconds()
	}
	if e, ok := firstErr.Load().(error); ok {
		logf("  pick-up errors: %d, first: %v", errs.Load(), e)
	}
	return res, nil
}

// wakeResult is the long-poll wake-up figure.
type wakeResult struct {
	Samples int   `json:"samples"`
	Parked  int   `json:"parked_runners"`
	Wake    stats `json:"trigger_to_job_ms"`
	Play    stats `json:"play_call"`
}

// wake parks len(rs) runners, then plays one manual job at a time and
// measures from sending the play call to a runner holding the job.
func wake(ctx context.Context, a *api, rs []*runnerClient, projectID int64, samples int) (wakeResult, error) {
	st, ids, err := createPipelines(ctx, a, projectID, "wake", 1, 1, time.Minute)
	if err != nil || len(ids) != 1 {
		return wakeResult{}, fmt.Errorf("wake pipeline: %v (%v)", err, st)
	}
	var jobs []struct {
		ID int64 `json:"id"`
	}
	if _, err := a.call(ctx, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d/jobs?per_page=100", projectID, ids[0]), nil, &jobs); err != nil {
		return wakeResult{}, err
	}
	samples = min(samples, len(jobs))
	got := make(chan time.Time, len(rs))
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			for pctx.Err() == nil {
				j, err := r.request(pctx)
				if err != nil || j == nil {
					continue
				}
				got <- time.Now()
				_ = r.update(ctx, j, "success")
			}
		})
	}
	var lWake, lPlay latencies
	for i := range samples {
		time.Sleep(150 * time.Millisecond) // everyone parked again
		t0 := time.Now()
		if _, err := a.call(ctx, "POST", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/play", projectID, jobs[i].ID), nil, nil); err != nil {
			cancel()
			wg.Wait()
			return wakeResult{}, err
		}
		lPlay.add(time.Since(t0))
		select {
		case t1 := <-got:
			lWake.add(t1.Sub(t0))
		case <-time.After(15 * time.Second):
			cancel()
			wg.Wait()
			return wakeResult{}, errors.New("no runner got the played job within 15 s")
		}
	}
	cancel()
	wg.Wait()
	return wakeResult{Samples: samples, Parked: len(rs), Wake: lWake.stats(0, 0), Play: lPlay.stats(0, 0)}, nil
}

// ingestResult is the log ingest figure at one concurrency.
type ingestResult struct {
	Jobs        int     `json:"jobs"`
	ChunkBytes  int     `json:"chunk_bytes"`
	IntervalMs  int     `json:"interval_ms"` // 0: as fast as possible
	Seconds     float64 `json:"seconds"`
	Bytes       int64   `json:"bytes"`
	MBps        float64 `json:"mb_per_second"`
	Patch       stats   `json:"patch"`
	Verified    int     `json:"jobs_verified"`
	Mismatched  int     `json:"jobs_mismatched"`
	LostBytes   int64   `json:"lost_bytes"`
	PatchErrors int     `json:"patch_errors"`
	CPUms       float64 `json:"server_cpu_ms_per_patch"` // the coordinators' CPU per PATCH
}

// claimJobs creates enough pipelines and has the runners claim n jobs.
func claimJobs(ctx context.Context, a *api, rs []*runnerClient, projectID int64, n int) ([]*claimed, []*runnerClient, error) {
	if _, _, err := createPipelines(ctx, a, projectID, "main", (n+49)/50, 2, 5*time.Minute); err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var js []*claimed
	var owners []*runnerClient
	var wg sync.WaitGroup
	var errs atomic.Int64
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, r := range rs {
		wg.Go(func() {
			for errs.Load() < 10 && rctx.Err() == nil {
				j, err := r.request(rctx)
				if err != nil {
					if rctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				if j == nil {
					return
				}
				mu.Lock()
				js = append(js, j)
				owners = append(owners, r)
				if len(js) >= n {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(js) < n {
		return nil, nil, fmt.Errorf("claimed %d jobs, want %d", len(js), n)
	}
	return js[:n], owners[:n], nil
}

// ingest streams logs into k running jobs, then reads every log back.
func ingest(ctx context.Context, a *api, rs []*runnerClient, projectID int64, k, chunk int, interval, dur time.Duration, cpu func() float64) (ingestResult, error) {
	js, owners, err := claimJobs(ctx, a, rs, projectID, k)
	if err != nil {
		return ingestResult{}, err
	}
	cpu0 := cpu()
	// Each job streams its own deterministic text; sent[i] hashes what the
	// server acknowledged.
	pattern := logBytes(256<<10, 9)
	var lat latencies
	var total, perrs atomic.Int64
	acked := make([]int64, k)
	hashes := make([][32]byte, k)
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i := range js {
		wg.Go(func() {
			j, r := js[i], owners[i]
			h := sha256.New()
			var off int64
			shift := (i * 997) % len(pattern)
			if interval > 0 {
				// Real runners are not synchronised: spread the jobs'
				// first PATCHes over one interval (job i at i·interval/k)
				// instead of sending k at the same instant every interval.
				time.Sleep(time.Duration(i) * interval / time.Duration(k))
			}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				lo := (shift + int(off)) % (len(pattern) - chunk)
				data := pattern[lo : lo+chunk]
				t0 := time.Now()
				size, _, err := r.patch(ctx, j, off, data)
				if err != nil {
					perrs.Add(1)
					if size >= 0 && size != off {
						break // the stored log is no longer what we sent
					}
					continue
				}
				lat.add(time.Since(t0))
				h.Write(data)
				off += int64(len(data))
				total.Add(int64(len(data)))
				if interval > 0 {
					time.Sleep(interval - time.Since(t0)%interval)
				}
			}
			acked[i] = off
			copy(hashes[i][:], h.Sum(nil))
		})
	}
	wg.Wait()
	el := time.Since(start)
	cpuUsed := cpu() - cpu0
	res := ingestResult{Jobs: k, ChunkBytes: chunk, IntervalMs: int(interval / time.Millisecond), Seconds: el.Seconds(),
		Bytes: total.Load(), Patch: lat.stats(el, int(perrs.Load())), PatchErrors: int(perrs.Load())}
	res.MBps = float64(res.Bytes) / (1 << 20) / el.Seconds()
	if n := res.Patch.N + res.PatchErrors; n > 0 {
		res.CPUms = 1000 * cpuUsed / float64(n)
	}
	// Read every log back through the Jobs API and compare.
	hdr := map[string]string{"PRIVATE-TOKEN": a.token}
	for i, j := range js {
		st, _, b, err := fetch(ctx, a.client, "GET", fmt.Sprintf("%s/api/v4/projects/%d/jobs/%d/trace", a.lb.next(), projectID, j.ID), hdr, nil)
		if err != nil || st != 200 {
			return res, fmt.Errorf("read back trace %d: %d %v", j.ID, st, err)
		}
		res.Verified++
		if int64(len(b)) != acked[i] || sha256.Sum256(b) != hashes[i] {
			res.Mismatched++
			res.LostBytes += max(0, acked[i]-int64(len(b)))
		}
	}
	return res, nil
}
