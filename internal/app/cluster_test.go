package app_test

// Several coordinators sharing one PostgreSQL database and one data dir, each
// a separate OS process (this test binary re-executed as a coordinator, see
// TestMain), driven by fake runners speaking the runner protocol over plain
// HTTP. These tests run only when GANTRY_TEST_DATABASE_URL is set.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantryci/gantry/internal/app"
	"github.com/gantryci/gantry/internal/testkit/pgtest"
)

// envChild makes the test binary run one coordinator (its JSON config is
// the value) instead of the tests.
const envChild = "GANTRY_TEST_COORDINATOR"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envChild); cfg != "" {
		os.Exit(runChild(cfg))
	}
	os.Exit(m.Run())
}

// coordConfig is what a coordinator process gets from its test.
type coordConfig struct {
	Database      string
	DataDir       string
	LongPoll      time.Duration
	SweepInterval time.Duration
	StuckRunning  time.Duration
	// ClockFile, when set, holds the coordinators' clock (RFC 3339); the
	// system's clock while it is missing.
	ClockFile string
	// HoldPushPipelines stops the coordinator between recording a push
	// and creating its pipelines (app.Config.HoldPushPipelines).
	HoldPushPipelines bool
}

// runChild serves one coordinator until SIGTERM. It prints
// "READY <addr> <pid>" on stdout once serving.
func runChild(js string) int {
	var c coordConfig
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := make(chan string, 1)
	go func() {
		addr := <-ready
		fmt.Printf("READY %s %d\n", addr, os.Getpid())
	}()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var now func() time.Time
	if c.ClockFile != "" {
		now = func() time.Time { return fileClock(c.ClockFile) }
	}
	err := app.Run(ctx, app.Config{Now: now, Listen: "127.0.0.1:0", DataDir: c.DataDir, DatabaseURL: c.Database,
		RootToken: rootToken, RegistrationToken: registrationToken, LongPoll: c.LongPoll,
		SweepInterval: c.SweepInterval, StuckRunning: c.StuckRunning, Log: log, Ready: ready,
		MaxTraceSize: 1 << 20, MaxArtifact: 10 << 20, HoldPushPipelines: c.HoldPushPipelines})
	if err != nil {
		fmt.Fprintln(os.Stderr, "coordinator:", err)
		return 1
	}
	return 0
}

// coordinator is one coordinator process.
type coordinator struct {
	*server
	Pid    int
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// cluster is a set of coordinators on one database and one data dir.
type cluster struct {
	t     *testing.T
	db    *sql.DB // the cluster's database, behind the API
	cfg   coordConfig
	nodes []*coordinator
}

// newCluster starts n coordinator processes at once on a new database and
// a shared data dir (they race to migrate and bootstrap).
func newCluster(t *testing.T, n int, cfg coordConfig) *cluster {
	t.Helper()
	pgtest.Require(t)
	if testing.Short() {
		t.Skip("starts coordinator processes")
	}
	dsn := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	cfg.Database, cfg.DataDir = dsn, t.TempDir()
	cl := &cluster{t: t, db: db, cfg: cfg, nodes: make([]*coordinator, n)}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { cl.nodes[i], errs[i] = cl.start(i) })
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range cl.nodes {
			if c != nil {
				c.stop()
			}
		}
		if t.Failed() {
			cl.dumpState()
			cl.dumpLogs()
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("coordinator %d: %v", i, err)
		}
	}
	return cl
}

func (cl *cluster) start(i int) (*coordinator, error) {
	js, _ := json.Marshal(cl.cfg)
	logPath := filepath.Join(cl.t.TempDir(), fmt.Sprintf("coordinator-%d.log", i))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(js))
	// A test binary killed by its timeout takes its coordinators along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = logf
	if os.Getenv("GANTRY_TEST_LOG") != "" {
		cmd.Stderr = io.MultiWriter(logf, os.Stderr)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &coordinator{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				line <- sc.Text()
			}
		}
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		c.Pid, _ = strconv.Atoi(f[2])
		c.server = &server{t: cl.t, URL: "http://" + f[1], Data: cl.cfg.DataDir}
		return c, nil
	case <-c.exited:
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("exited before serving:\n%s", b)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("not ready after 60s")
	}
}

// kill ends the coordinator with SIGKILL: no shutdown of any kind.
func (c *coordinator) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop ends the coordinator with SIGTERM (a clean shutdown), or SIGKILL
// when that takes too long.
func (c *coordinator) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.kill()
	}
}

func (cl *cluster) dumpLogs() {
	for i, c := range cl.nodes {
		if c == nil {
			continue
		}
		b, _ := os.ReadFile(c.log)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		cl.t.Logf("coordinator %d (pid %d) log tail:\n%s", i, c.Pid, b)
	}
}

// dumpState logs what the database holds, to tell a stuck pipeline's cause.
func (cl *cluster) dumpState() {
	for _, q := range []string{
		`SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM pipelines`,
		`SELECT string_agg(s, ' ') FROM (SELECT status || '=' || count(*) AS s FROM jobs GROUP BY status) x`,
		`SELECT coalesce(string_agg(id || ' ' || name || ' ' || status || ' runner=' || runner_id || ' retried=' || retried, '; ' ORDER BY id), '') FROM jobs WHERE status NOT IN ('success', 'failed', 'skipped')`,
		`SELECT coalesce(string_agg(name || '=' || owner, ' '), '') FROM locks`,
	} {
		cl.t.Logf("%s\n  → %s", q, cl.query(q))
	}
}

// query reads one value of the cluster's database behind the API.
func (cl *cluster) query(q string, args ...any) (out string) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v any
	if err := cl.db.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
		cl.t.Fatalf("%s: %v", q, err)
	}
	return fmt.Sprint(v)
}

// sweeperPid is the pid in the owner of the sweeper lease (owners are
// host-pid-random), 0 when nobody holds it.
func (cl *cluster) sweeperPid() int {
	owner := cl.query(`SELECT coalesce((SELECT owner FROM locks WHERE name = 'sweeper'), '')`)
	f := strings.Split(owner, "-")
	if len(f) < 3 {
		return 0
	}
	pid, _ := strconv.Atoi(f[len(f)-2])
	return pid
}

// createPipeline starts a pipeline on main through coordinator c.
func createPipeline(c *coordinator, project int64) int64 {
	var p struct{ ID int64 }
	c.must(201, "POST", fmt.Sprintf("/api/v4/projects/%d/pipeline", project), rootToken, map[string]any{"ref": "main"}).json(c.t, &p)
	return p.ID
}

func latestPipelineID(s *server, project int64) int64 {
	return int64(s.latestPipeline(project)["id"].(float64))
}

func pipelineStatus(c *coordinator, project, id int64) string {
	var p struct{ Status string }
	c.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/pipelines/%d", project, id), rootToken, nil).json(c.t, &p)
	return p.Status
}

// ---- a fleet of fake runners ----

// fleet is many concurrent runner clients sharing one runner token, spread
// over the coordinators. A client whose coordinator stops answering moves
// to the next one and repeats the request there, as behind a load balancer.
type fleet struct {
	t     *testing.T
	urls  []string
	token string
	hc    *http.Client
	hold  time.Duration // between taking a job and finishing it

	handed   sync.Map // job id → coordinator index that handed it out
	dups     atomic.Int64
	finished atomic.Int64
	// acked holds the jobs whose log PATCH (value: the log) and success
	// PUT were both acknowledged.
	acked sync.Map
	// lostRequests counts jobs/request calls per coordinator that got no
	// answer (the coordinator died): the only way a claim can be lost.
	lostRequests []atomic.Int64
	// movedJobs counts jobs handed out by one coordinator and finished
	// through another.
	movedJobs atomic.Int64
}

func newFleet(t *testing.T, cl *cluster, token string) *fleet {
	f := &fleet{t: t, token: token, lostRequests: make([]atomic.Int64, len(cl.nodes)),
		hc: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0}}}
	for _, c := range cl.nodes {
		f.urls = append(f.urls, c.URL)
	}
	t.Cleanup(f.hc.CloseIdleConnections)
	return f
}

func (f *fleet) do(ctx context.Context, node int, method, path string, hdr map[string]string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, f.urls[node]+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := f.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return res.StatusCode, res.Header, b, nil
}

// send repeats a request on the next coordinator while none answers.
// ok is false when ctx ended first.
func (f *fleet) send(ctx context.Context, node *int, method, path string, hdr map[string]string, body []byte) (st int, h http.Header, b []byte, retried, ok bool) {
	for {
		st, h, b, err := f.do(ctx, *node, method, path, hdr, body)
		if err == nil {
			return st, h, b, retried, true
		}
		if ctx.Err() != nil {
			return 0, nil, nil, retried, false
		}
		retried = true
		*node = (*node + 1) % len(f.urls)
		time.Sleep(10 * time.Millisecond)
	}
}

type handedJob struct {
	ID    int64
	Token string
	Name  string
	From  int // coordinator index
}

// request asks coordinator *node for a job; nil when none came.
func (f *fleet) request(ctx context.Context, node *int) *handedJob {
	body, _ := json.Marshal(map[string]any{"token": f.token, "info": map[string]any{"name": "fleet", "version": "17.0.0"}})
	from := *node
	st, _, b, err := f.do(ctx, from, "POST", "/api/v4/jobs/request", map[string]string{"Content-Type": "application/json"}, body)
	if err != nil {
		if ctx.Err() == nil {
			f.lostRequests[from].Add(1)
			*node = (from + 1) % len(f.urls)
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}
	if st == 204 {
		return nil
	}
	if st != 201 {
		f.t.Errorf("jobs/request on coordinator %d: %d %s", from, st, b)
		time.Sleep(100 * time.Millisecond)
		return nil
	}
	var j struct {
		ID      int64
		Token   string
		JobInfo struct{ Name string } `json:"job_info"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		f.t.Errorf("job payload: %v", err)
		return nil
	}
	if prev, dup := f.handed.LoadOrStore(j.ID, from); dup {
		f.dups.Add(1)
		f.t.Errorf("job %d handed out twice (by coordinators %v and %d)", j.ID, prev, from)
	}
	return &handedJob{ID: j.ID, Token: j.Token, Name: j.JobInfo.Name, From: from}
}

// patch appends data at offset to the job's log; true when acknowledged.
func (f *fleet) patch(ctx context.Context, node *int, j *handedJob, offset int, data string) bool {
	st, _, b, retried, ok := f.send(ctx, node, "PATCH", fmt.Sprintf("/api/v4/jobs/%d/trace", j.ID),
		map[string]string{"JOB-TOKEN": j.Token, "Content-Type": "text/plain",
			"Content-Range": fmt.Sprintf("%d-%d", offset, offset+len(data)-1)}, []byte(data))
	switch {
	case !ok:
		return false
	case st == 202:
		return true
	case retried && st == 416: // the lost attempt was applied
		return false
	}
	f.t.Errorf("PATCH trace of job %d: %d %s", j.ID, st, b)
	return false
}

// succeed reports the job successful; true when acknowledged.
func (f *fleet) succeed(ctx context.Context, node *int, j *handedJob) bool {
	body, _ := json.Marshal(map[string]any{"token": j.Token, "state": "success"})
	st, _, b, retried, ok := f.send(ctx, node, "PUT", fmt.Sprintf("/api/v4/jobs/%d", j.ID),
		map[string]string{"Content-Type": "application/json"}, body)
	switch {
	case !ok:
		return false
	case st == 200:
		return true
	case retried && st == 403: // the lost attempt finished it
		return false
	}
	f.t.Errorf("PUT success of job %d: %d %s", j.ID, st, b)
	return false
}

// run executes one job: a log line, then success.
func (f *fleet) run(ctx context.Context, node *int, j *handedJob) {
	log := fmt.Sprintf("job %d (%s) handed out by coordinator %d\n", j.ID, j.Name, j.From)
	if f.hold > 0 {
		time.Sleep(f.hold)
	}
	patched := f.patch(ctx, node, j, 0, log)
	if ctx.Err() != nil {
		return
	}
	done := f.succeed(ctx, node, j)
	if ctx.Err() != nil {
		return
	}
	f.finished.Add(1)
	if *node != j.From {
		f.movedJobs.Add(1)
	}
	if patched && done {
		f.acked.Store(j.ID, log)
	}
}

// work runs clients until ctx ends; client i starts on coordinator i mod n.
func (f *fleet) work(ctx context.Context, clients int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			node := i % len(f.urls)
			for ctx.Err() == nil {
				if j := f.request(ctx, &node); j != nil {
					f.run(ctx, &node, j)
				}
			}
		})
	}
	return &wg
}

func (f *fleet) handedCount() int {
	n := 0
	f.handed.Range(func(any, any) bool { n++; return true })
	return n
}

// verifyAcked reads back, through coordinator c, every acknowledged log
// and checks every acknowledged job succeeded.
func (f *fleet) verifyAcked(c *coordinator, project int64) int {
	n := 0
	f.acked.Range(func(k, v any) bool {
		id := k.(int64)
		var j struct{ Status string }
		c.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d", project, id), rootToken, nil).json(f.t, &j)
		if j.Status != "success" {
			f.t.Errorf("job %d acknowledged success is %s", id, j.Status)
		}
		tr := c.must(200, "GET", fmt.Sprintf("/api/v4/projects/%d/jobs/%d/trace", project, id), rootToken, nil)
		if string(tr.Body) != v.(string) {
			f.t.Errorf("job %d log = %q, want the acknowledged %q", id, tr.Body, v)
		}
		n++
		return true
	})
	return n
}

// parallelConfig is a pipeline of two stages of n parallel jobs each; a
// job dropped as stuck (its claim answer lost with a killed coordinator)
// is retried automatically, as GitLab does.
func parallelConfig(n int) string {
	return fmt.Sprintf(`
stages: [build, test]
default:
  retry:
    max: 2
    when: [stuck_or_timeout_failure]
build:
  stage: build
  parallel: %d
  script: echo build
test:
  stage: test
  parallel: %d
  script: echo test
`, n, n)
}

// waitPipelines waits until every pipeline has finished and returns their
// statuses.
func waitPipelines(t *testing.T, c *coordinator, project int64, ids []int64, within time.Duration) []string {
	t.Helper()
	var st []string
	waitFor(t, "pipelines to finish", within, func() bool {
		st = st[:0]
		for _, id := range ids {
			s := pipelineStatus(c, project, id)
			st = append(st, s)
			if !slices.Contains([]string{"success", "failed", "canceled", "skipped"}, s) {
				return false
			}
		}
		return true
	})
	return st
}

// envInt reads a positive integer from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestClusterJobsRunExactlyOnce runs thousands of jobs through three
// coordinators with many runner clients spread over them: every job must be
// handed out exactly once, and every pipeline must succeed.
func TestClusterJobsRunExactlyOnce(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, coordConfig{LongPoll: 2 * time.Second, SweepInterval: time.Second})
	a := cl.nodes[0]
	const perStage = 100 // 200 jobs a pipeline
	pipelines := envInt("GANTRY_CLUSTER_PIPELINES", 10)
	project := a.project("load", "private")
	f := newFleet(t, cl, a.registerRunner().token)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wg := f.work(ctx, envInt("GANTRY_CLUSTER_CLIENTS", 24))

	start := time.Now()
	a.push("root/load", map[string]string{".gitlab-ci.yml": parallelConfig(perStage)})
	ids := []int64{latestPipelineID(a.server, project)}
	for i := 1; i < pipelines; i++ {
		ids = append(ids, createPipeline(cl.nodes[i%3], project))
	}
	statuses := waitPipelines(t, cl.nodes[1], project, ids, 5*time.Minute)
	elapsed := time.Since(start)
	cancel()
	wg.Wait()

	total := pipelines * 2 * perStage
	for i, s := range statuses {
		if s != "success" {
			t.Errorf("pipeline %d: %s", ids[i], s)
		}
	}
	if got := f.handedCount(); got != total || f.dups.Load() != 0 {
		t.Errorf("%d distinct jobs handed out (%d twice), want %d", got, f.dups.Load(), total)
	}
	if got := cl.query(`SELECT count(*) FROM jobs WHERE status = 'success'`); got != strconv.Itoa(total) {
		t.Errorf("%s successful jobs in the database, want %d", got, total)
	}
	perNode := make([]int, len(cl.nodes))
	f.handed.Range(func(_, v any) bool { perNode[v.(int)]++; return true })
	t.Logf("%d jobs in %d pipelines through 3 coordinators in %v: %.0f jobs/s (handed out per coordinator: %v)",
		total, pipelines, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), perNode)
}

// TestClusterLongPollWakeup parks a runner on coordinator A and creates a
// pipeline through coordinator B: the runner must get the job within
// milliseconds (LISTEN/NOTIFY), long before its long poll ends.
func TestClusterLongPollWakeup(t *testing.T) {
	t.Parallel()
	const longPoll = 20 * time.Second
	cl := newCluster(t, 2, coordConfig{LongPoll: longPoll, SweepInterval: time.Second})
	a, b := cl.nodes[0], cl.nodes[1]
	project := a.project("wake", "private")
	r := a.registerRunner()
	a.push("root/wake", map[string]string{".gitlab-ci.yml": "job:\n  script: echo hi\n"})
	id, tok := r.take("job")
	r.finish(id, tok, "success", "")

	var lat []time.Duration
	for round := range 5 {
		got := make(chan map[string]any, 1)
		go func() { got <- r.request() }()
		time.Sleep(300 * time.Millisecond) // parked by now
		select {
		case j := <-got:
			t.Fatalf("round %d: answered before any pipeline: %v", round, j)
		default:
		}
		createPipeline(b, project)
		created := time.Now()
		select {
		case j := <-got:
			d := time.Since(created)
			if j == nil {
				t.Fatalf("round %d: long poll ended without a job", round)
			}
			lat = append(lat, d)
			r.finish(int64(j["id"].(float64)), j["token"].(string), "success", "")
		case <-time.After(longPoll + 5*time.Second):
			t.Fatalf("round %d: no answer", round)
		}
	}
	slices.Sort(lat)
	t.Logf("wake-up latency across coordinators (pipeline created on B → job handed out on A), 5 rounds: min %v median %v max %v",
		lat[0].Round(time.Microsecond), lat[2].Round(time.Microsecond), lat[4].Round(time.Microsecond))
	if lat[4] > 2*time.Second {
		t.Errorf("a parked runner woke %v after the pipeline was created elsewhere (long poll %v)", lat[4], longPoll)
	}
}

// TestClusterSweeperFailover stops the coordinator holding the sweeper
// lease while a delayed job waits: another coordinator takes the lease
// over and enqueues the job.
func TestClusterSweeperFailover(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 2, coordConfig{LongPoll: 2 * time.Second, SweepInterval: 200 * time.Millisecond})
	var leader, survivor *coordinator
	waitFor(t, "a sweeper leader", 10*time.Second, func() bool {
		pid := cl.sweeperPid()
		for i, c := range cl.nodes {
			if c.Pid == pid {
				leader, survivor = c, cl.nodes[1-i]
				return true
			}
		}
		return false
	})
	project := survivor.project("delayed", "private")
	survivor.push("root/delayed", map[string]string{".gitlab-ci.yml": `
later:
  when: delayed
  start_in: 1 second
  script: echo later
`})
	survivor.waitJob(project, "later", "scheduled")
	leader.kill()
	killed := time.Now()
	waitFor(t, "the sweeper lease to move", 10*time.Second, func() bool { return cl.sweeperPid() == survivor.Pid })
	moved := time.Since(killed)
	survivor.waitJob(project, "later", "pending")
	r := survivor.registerRunner()
	id, tok := r.take("later")
	if got := r.finish(id, tok, "success", ""); got.Status != 200 {
		t.Fatalf("finish: %d %s", got.Status, got.Body)
	}
	survivor.waitJob(project, "later", "success")
	t.Logf("sweeper lease moved %v after the leader was killed (interval 200ms, lease 600ms)", moved.Round(time.Millisecond))
}

// TestClusterKill9 kills one of three coordinators with SIGKILL under load:
// the runners move to the others, the jobs it had handed out finish
// through them, no acknowledged write is lost, and every pipeline succeeds.
func TestClusterKill9(t *testing.T) {
	t.Parallel()
	cl := newCluster(t, 3, coordConfig{LongPoll: 2 * time.Second, SweepInterval: 500 * time.Millisecond,
		StuckRunning: 5 * time.Second})
	victim, b, c := cl.nodes[0], cl.nodes[1], cl.nodes[2]
	const perStage = 100
	project := b.project("kill", "private")
	f := newFleet(t, cl, b.registerRunner().token)
	f.hold = 5 * time.Millisecond // keep jobs in flight on every coordinator
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	b.push("root/kill", map[string]string{".gitlab-ci.yml": parallelConfig(perStage)})
	ids := []int64{latestPipelineID(b.server, project), createPipeline(c, project)}
	total := len(ids) * 2 * perStage
	wg := f.work(ctx, 12)

	waitFor(t, "a quarter of the jobs", 2*time.Minute, func() bool { return f.finished.Load() >= int64(total/4) })
	// Three jobs handed out by the victim, with half of their log
	// acknowledged by it, when it dies.
	var held []*handedJob
	for node := 0; len(held) < 3; node = 0 {
		if j := f.request(ctx, &node); j != nil {
			if !f.patch(ctx, &node, j, 0, "first half, through the victim\n") || node != 0 {
				t.Fatalf("patch through the victim failed")
			}
			held = append(held, j)
		}
	}
	victim.kill()
	killedAt := f.finished.Load()
	for i, j := range held {
		node := 1 + i%2
		if !f.patch(ctx, &node, j, len("first half, through the victim\n"), "second half, elsewhere\n") || !f.succeed(ctx, &node, j) {
			t.Fatalf("held job %d could not finish through coordinator %d", j.ID, node)
		}
		f.acked.Store(j.ID, "first half, through the victim\nsecond half, elsewhere\n")
	}

	statuses := waitPipelines(t, b, project, ids, 3*time.Minute)
	cancel()
	wg.Wait()
	for i, s := range statuses {
		if s != "success" {
			t.Errorf("pipeline %d: %s", ids[i], s)
		}
	}
	// A claim is lost only with its answer: jobs dropped as stuck (and
	// retried) were never received by any runner, and there are no more
	// of them than unanswered requests to the victim.
	var stuck []int64
	for _, s := range strings.Fields(cl.query(`SELECT coalesce(string_agg(id::text, ' '), '') FROM jobs WHERE failure_reason = 'stuck_or_timeout_failure'`)) {
		id, _ := strconv.ParseInt(s, 10, 64)
		stuck = append(stuck, id)
		if _, ok := f.handed.Load(id); ok {
			t.Errorf("job %d, which a runner held, was dropped as stuck", id)
		}
	}
	if lost := f.lostRequests[0].Load(); int64(len(stuck)) > lost {
		t.Errorf("%d jobs dropped as stuck, but only %d requests to the victim went unanswered", len(stuck), lost)
	}
	if f.dups.Load() != 0 {
		t.Errorf("%d jobs handed out twice", f.dups.Load())
	}
	if left := cl.query(`SELECT count(*) FROM jobs WHERE status NOT IN ('success', 'failed')`); left != "0" {
		t.Errorf("%s jobs neither succeeded nor failed", left)
	}
	checked := f.verifyAcked(c, project)
	t.Logf("%d jobs, victim killed after %d finished; %d jobs finished through another coordinator than the one that handed them out; "+
		"%d unanswered requests to the victim, %d claims lost with them (dropped as stuck and retried: %v); %d acknowledged writes read back",
		total, killedAt, f.movedJobs.Load()+int64(len(held)), f.lostRequests[0].Load(), len(stuck), stuck, checked)
}
