// Package gitrepo performs read and ref operations on hosted bare git
// repositories by running the system git binary.
//
// Every call runs git with a cancellable context, an environment without
// any inherited GIT_* variables (so a developer's or an operator's shell
// cannot redirect a command to another repository or object store) and
// LC_ALL=C (so messages we inspect are not translated).
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ZeroSHA is the all-zero object name git uses for "no object": the old
// value of a created ref and the new value of a deleted one.
const ZeroSHA = "0000000000000000000000000000000000000000"

// IsZeroSHA reports whether sha is empty or consists only of zeros, which
// covers both SHA-1 and SHA-256 repositories.
func IsZeroSHA(sha string) bool {
	return strings.Trim(sha, "0") == ""
}

// GitEnv returns the environment git commands should run with: the
// process environment without GIT_* variables and locale settings, plus
// LC_ALL=C and a disabled terminal prompt (a server has no terminal, and a
// prompt would hang the request). extra entries are appended last.
func GitEnv(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+len(extra)+2)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	return append(env, extra...)
}

// waitDelay bounds how long we wait for git's output pipes to close after
// the context killed it; a grandchild holding the pipe must not hang us.
const waitDelay = 5 * time.Second

// gitError describes a failed git command with its stderr, which is where
// git explains what went wrong.
type gitError struct {
	args   []string
	err    error
	stderr string
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", strings.Join(e.args, " "), e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.err }

// exitCode returns git's exit status when err came from a git process that
// ran and failed, and -1 otherwise.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// run executes git in the repository and returns its stdout. stdin may be
// nil.
func (r *Repo) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"--git-dir=" + r.Dir}, args...)
	return runGit(ctx, stdin, full...)
}

func runGit(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = GitEnv()
	cmd.Stdin = stdin
	cmd.WaitDelay = waitDelay
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return stdout.Bytes(), &gitError{args: args, err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.Bytes(), nil
}
