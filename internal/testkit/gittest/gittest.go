// Package gittest runs real git for tests, isolated from the user's and the
// system's configuration, with a fixed identity and no prompts.
//
// It imports nothing of Gantry's, so that every package's tests can use it
// (internal/gitrepo's included, which internal/testkit imports indirectly).
// Test code only: an import test keeps it out of production packages.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Author is the identity of the commits made through this package, unless
// a test passes its own GIT_AUTHOR_*/GIT_COMMITTER_* variables.
const (
	AuthorName  = "Dev"
	AuthorEmail = "dev@example.com"
)

// Env is git's environment for tests: the process's, without its GIT_*
// and locale variables, with no user or system configuration (so no
// credential helper, signing or hooks of the machine interfere), no
// prompts (a missing credential fails at once), the C locale (messages
// tests match on), a fixed identity, then extra (a later entry wins).
func Env(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+len(extra)+10)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LC_ALL=C", "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME="+AuthorName, "GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName, "GIT_COMMITTER_EMAIL="+AuthorEmail)
	return append(env, extra...)
}

// Try runs git in dir with env (nil for Env()) and returns its combined
// output; the error is non-nil when git failed. For tests that expect
// failures.
func Try(dir string, env []string, args ...string) (string, error) {
	if env == nil {
		env = Env()
	}
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Run runs git in dir with env (nil for Env()) and returns its trimmed
// output, failing t when git fails.
func Run(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := Try(dir, env, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// Work is a fresh git work tree on branch main in a temporary directory.
type Work struct {
	t   testing.TB
	Dir string
	// Env is the environment of every git run in the work tree.
	Env []string
}

// NewWork runs git init in a new temporary directory; extra is added to
// Env() for every git command of the work tree.
func NewWork(t testing.TB, extra ...string) *Work {
	t.Helper()
	w := &Work{t: t, Dir: t.TempDir(), Env: Env(extra...)}
	w.Git("init", "-q", "-b", "main")
	return w
}

// Git runs git in the work tree and returns its trimmed output, failing
// the test when git fails.
func (w *Work) Git(args ...string) string {
	w.t.Helper()
	return Run(w.t, w.Dir, w.Env, args...)
}

// Try runs git in the work tree and returns its output and error.
func (w *Work) Try(args ...string) (string, error) {
	return Try(w.Dir, w.Env, args...)
}

// Write writes files (path → content, directories created) into the work
// tree.
func (w *Work) Write(files map[string]string) {
	w.t.Helper()
	for name, content := range files {
		p := filepath.Join(w.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
}

// Commit stages everything and commits it (an empty commit when nothing
// changed), returning the new HEAD's SHA.
func (w *Work) Commit(msg string) string {
	w.t.Helper()
	w.Git("add", "-A")
	w.Git("commit", "-q", "--allow-empty", "-m", msg)
	return w.Git("rev-parse", "HEAD")
}
