package gitrepo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// A checker is a long-lived git process of one repository: `git cat-file
// --batch-check` for ref and object lookups, `git update-ref --stdin` for
// ref updates. Starting git costs milliseconds of CPU (fork, exec, dynamic
// linking, reading the configuration), several times what resolving a ref
// costs; pipeline creation resolves a ref for every pipeline. The process
// answers one query at a time. It reads refs afresh for every query (loose
// refs are read from disk and packed-refs is checked for changes on each
// lookup) and rescans packs when an object is missing, so its answers are
// those a new process would give; a query that finds nothing is asked of a
// new process anyway (ResolveRef), so a miss is never only this one's word.
type checker struct {
	mu   sync.Mutex // one query at a time
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	idle *time.Timer
	dead bool
}

// checkers are the running long-lived processes by repository directory
// and kind (procCheck, procUpdate).
var checkers struct {
	mu sync.Mutex
	m  map[string]*checker
}

const (
	// checkerIdle ends a checker nobody asked for this long.
	checkerIdle = 30 * time.Second
	// checkerMax bounds the checkers running at once; beyond it queries
	// start a git process each, as without checkers.
	checkerMax = 32
	// checkerTimeout bounds one answer; a checker that does not answer in
	// time is killed.
	checkerTimeout = 10 * time.Second
)

// errNoChecker means no checker could be used; the caller runs git itself.
var errNoChecker = errors.New("gitrepo: no batch-check process")

// Kinds of long-lived processes.
const (
	// procCheck is `git cat-file --batch-check`: one answer line per query.
	procCheck = "check"
	// procUpdate is `git update-ref --stdin`: each transaction
	// (start, updates, commit) answers "start: ok" and "commit: ok", and
	// is applied as a one-shot update-ref would apply it.
	procUpdate = "update"
)

// check asks the repository's checker about each line of queries (object
// names or revisions, without newlines) and returns its answer lines.
func (r *Repo) check(ctx context.Context, queries []string) ([]string, error) {
	return r.ask(ctx, procCheck, queries, len(queries))
}

// ask writes lines to the repository's long-lived process of the kind and
// reads n answer lines.
func (r *Repo) ask(ctx context.Context, kind string, lines []string, n int) ([]string, error) {
	key := r.Dir + "\x00" + kind
	c, err := r.checker(kind, key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil, errNoChecker
	}
	c.idle.Reset(checkerIdle)
	// A checker that hangs (a huge repository, a stuck disk) must not hold
	// the caller forever: killing it makes the reads below fail.
	stop := context.AfterFunc(ctx, c.kill)
	defer stop()
	timer := time.AfterFunc(checkerTimeout, c.kill)
	defer timer.Stop()
	var b strings.Builder
	for _, q := range lines {
		b.WriteString(q)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(c.in, b.String()); err != nil {
		c.retire(key)
		return nil, fmt.Errorf("%w: %w", errNoChecker, err)
	}
	answers := make([]string, 0, n)
	for range n {
		line, err := c.out.ReadString('\n')
		if err != nil {
			c.retire(key)
			return nil, fmt.Errorf("%w: %w", errNoChecker, err)
		}
		answers = append(answers, strings.TrimSuffix(line, "\n"))
	}
	return answers, nil
}

// checker returns the running process of the kind for the repository,
// starting one.
func (r *Repo) checker(kind, key string) (*checker, error) {
	checkers.mu.Lock()
	defer checkers.mu.Unlock()
	if c := checkers.m[key]; c != nil {
		return c, nil
	}
	if len(checkers.m) >= checkerMax {
		return nil, errNoChecker
	}
	args := []string{"--git-dir=" + r.Dir, "cat-file", "--batch-check=%(objectname) %(objecttype)"}
	if kind == procUpdate {
		args = []string{"--git-dir=" + r.Dir, "update-ref", "-m", "gantry", "--stdin"}
	}
	// Not bound to a request's context: the process outlives the request.
	cmd := exec.Command("git", args...)
	cmd.Env = GitEnv()
	cmd.WaitDelay = waitDelay
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoChecker, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoChecker, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoChecker, err)
	}
	c := &checker{cmd: cmd, in: in, out: bufio.NewReader(out)}
	c.idle = time.AfterFunc(checkerIdle, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.retire(key)
	})
	if checkers.m == nil {
		checkers.m = map[string]*checker{}
	}
	checkers.m[key] = c
	return c, nil
}

// kill ends the process; a query waiting on it fails.
func (c *checker) kill() { _ = c.cmd.Process.Kill() }

// retire stops the checker and forgets it; c.mu is held.
func (c *checker) retire(key string) {
	if c.dead {
		return
	}
	c.dead = true
	c.idle.Stop()
	checkers.mu.Lock()
	if checkers.m[key] == c {
		delete(checkers.m, key)
	}
	checkers.mu.Unlock()
	_ = c.in.Close() // git exits at end of input
	go func() {
		timer := time.AfterFunc(waitDelay, c.kill)
		_ = c.cmd.Wait()
		timer.Stop()
	}()
}

// retire stops the repository's long-lived process of the kind, if any.
func (r *Repo) retire(kind string) {
	key := r.Dir + "\x00" + kind
	checkers.mu.Lock()
	c := checkers.m[key]
	checkers.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		c.retire(key)
		c.mu.Unlock()
	}
}
