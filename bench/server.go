package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildBinaries builds `gantry` (and the profiling wrapper when asked)
// into dir and returns the path of the server binary to run.
func buildBinaries(root, dir string, profiled bool) (string, error) {
	pkg, name := "./cmd/gantry", "gantry"
	if profiled {
		pkg, name = "./bench/gantryprof", "gantryprof"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return out, nil
}

// freePort returns a free loopback address.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// gantry is a running `gantry serve` subprocess.
type gantry struct {
	cmd      *exec.Cmd
	URL      string
	Pid      int
	ReadyIn  time.Duration
	pprof    string // base URL of the profiling wrapper's side listener
	logPath  string
	profiled bool

	exitMu   sync.Mutex
	exitErr  error
	exitDone bool
}

// startGantry runs `bin serve` on dataDir and waits for 200 on /-/readiness.
func startGantry(ctx context.Context, bin, dataDir, rootToken, logPath string, profiled bool, extra ...string) (*gantry, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	// Seeded jobs are old: without long stuck timeouts the sweeper would
	// fail the seeded running and pending jobs while reads measure them.
	args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--long-poll", "10s",
		"--stuck-running-timeout", "100000h", "--stuck-pending-timeout", "100000h"}
	g := &gantry{URL: "http://" + addr, logPath: logPath, profiled: profiled}
	if profiled {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, "--pprof", pp)
		g.pprof = "http://" + pp
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GANTRY_ROOT_TOKEN="+rootToken, "GANTRY_LOG_LEVEL=warn")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	client := &http.Client{Timeout: time.Second}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	lf.Close()
	g.cmd, g.Pid = cmd, cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		resp, err := client.Get(g.URL + "/-/readiness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				g.ReadyIn = time.Since(start)
				break
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("gantry exited before ready: %v (log %s)", err, logPath)
		case <-ctx.Done():
			g.stopWith(exited)
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > 2*time.Minute {
			g.stopWith(exited)
			return nil, fmt.Errorf("gantry not ready after 2 minutes (log %s)", logPath)
		}
	}
	go func() { // keep the exit status for stop
		err := <-exited
		g.exitMu.Lock()
		g.exitErr, g.exitDone = err, true
		g.exitMu.Unlock()
	}()
	return g, nil
}

// stop sends SIGTERM and waits up to 30 s, then kills.
func (g *gantry) stop() {
	if g == nil || g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		g.exitMu.Lock()
		done := g.exitDone
		g.exitMu.Unlock()
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = g.cmd.Process.Kill()
}

func (g *gantry) stopWith(exited chan error) {
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
	}
}

// cpuProfile starts (file != "") or stops the profiling wrapper's CPU
// profile; a no-op for a plain gantry.
func (g *gantry) cpuProfile(file string) {
	if g == nil || !g.profiled {
		return
	}
	u := g.pprof + "/cpu/stop"
	if file != "" {
		u = g.pprof + "/cpu/start?file=" + file
	}
	resp, err := http.Post(u, "text/plain", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		return
	}
	resp.Body.Close()
}

// procStatus reads a field of /proc/<pid>/status in kB.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}

// rssMB is the process's resident set now, in MB.
func rssMB(pid int) float64 { return float64(procStatus(pid, "VmRSS")) / 1024 }

// rssSampler tracks the peak VmRSS (summed over pids) until stopped.
type rssSampler struct {
	stopc chan struct{}
	done  chan float64
}

func sampleRSS(pids ...int) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), done: make(chan float64, 1)}
	go func() {
		peak := rssMBs(pids)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				s.done <- max(peak, rssMBs(pids))
				return
			case <-t.C:
				peak = max(peak, rssMBs(pids))
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() float64 {
	close(s.stopc)
	return <-s.done
}

// cpuSeconds is the user+system CPU time a process has used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// cluster is the coordinators of one run: one `gantry serve` on SQLite, or
// -coordinators N of them sharing one PostgreSQL schema and one data dir.
// The load generator spreads its requests over them round robin (see
// balancer), as a load balancer in front of them would.
type cluster []*gantry

// startCluster starts n coordinators on dataDir (and dbURL when set) one
// after the other; each is ready before the next starts, so the first's
// ReadyIn is a single start's.
func startCluster(ctx context.Context, n int, bin, dataDir, dbURL, rootToken, logPath string, profiled bool) (cluster, error) {
	var extra []string
	if dbURL != "" {
		extra = append(extra, "--database", dbURL)
	}
	var c cluster
	for range max(1, n) {
		g, err := startGantry(ctx, bin, dataDir, rootToken, logPath, profiled, extra...)
		if err != nil {
			c.stop()
			return nil, err
		}
		c = append(c, g)
	}
	return c, nil
}

// stop stops every coordinator (all at once).
func (c cluster) stop() {
	var wg sync.WaitGroup
	for _, g := range c {
		wg.Go(g.stop)
	}
	wg.Wait()
}

func (c cluster) urls() []string {
	var u []string
	for _, g := range c {
		u = append(u, g.URL)
	}
	return u
}

func (c cluster) pids() []int {
	var p []int
	for _, g := range c {
		p = append(p, g.Pid)
	}
	return p
}

// cpuSeconds is the CPU time the coordinators have used so far (not the
// database server's: PostgreSQL's backends are other processes).
func (c cluster) cpuSeconds() float64 {
	var t float64
	for _, g := range c {
		t += cpuSeconds(g.Pid)
	}
	return t
}

// readyIn is the first coordinator's start → ready time.
func (c cluster) readyIn() time.Duration {
	if len(c) == 0 {
		return 0
	}
	return c[0].ReadyIn
}

// cpuProfile starts or stops a CPU profile on every coordinator; with
// several, coordinator i writes FILE with ".c<i>" before ".pprof".
func (c cluster) cpuProfile(file string) {
	for i, g := range c {
		f := file
		if f != "" && len(c) > 1 {
			f = strings.TrimSuffix(f, ".pprof") + fmt.Sprintf(".c%d.pprof", i)
		}
		g.cpuProfile(f)
	}
}

// rssMBs is the summed VmRSS of the processes.
func rssMBs(pids []int) float64 {
	var s float64
	for _, p := range pids {
		s += rssMB(p)
	}
	return s
}
