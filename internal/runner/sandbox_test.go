package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSandboxView runs a job in the default sandbox and checks what it
// sees from inside: its own dirs writable (also through a symlinked builds
// dir), the system dirs read-only, a /proc without the runner, no uid 0,
// and nothing of the host's other files.
func TestSandboxView(t *testing.T) {
	t.Parallel()
	hostSecret := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(hostSecret, []byte("host-only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(what, cmd string) string {
		return fmt.Sprintf(`if %s >/dev/null 2>&1; then echo "yes %s"; else echo "no %s"; fi`, cmd, what, what)
	}
	job := shellJob(95, []string{
		check("project-write", `touch "$CI_PROJECT_DIR/f"`),
		check("home-write", `touch "$HOME/f"`),
		check("tmp-write", `touch /tmp/f`),
		check("file-var", `grep -q file-var-content "$FILE_VAR"`),
		check("usr-write", `touch /usr/gantry-test`),
		check("etc-write", `touch /etc/gantry-test`),
		check("host-file", fmt.Sprintf("cat %s", hostSecret)),
		check("runner-proc", fmt.Sprintf("test -e /proc/%d", os.Getpid())),
		check("uid0", `test "$(id -u)" = 0`),
		`echo "procs=$(ls -d /proc/[0-9]* | wc -l)"`,
	}, nil, Variable{Key: "FILE_VAR", Value: "file-var-content", File: true})
	s := newFakeServer(t, job)
	cfg := testConfig(t, s.srv.URL)
	link := filepath.Join(t.TempDir(), "builds-link")
	if err := os.Symlink(cfg.BuildsDir, link); err != nil {
		t.Fatal(err)
	}
	cfg.BuildsDir = link
	startRunner(t, cfg)
	s.waitFinal(t, 95, 20*time.Second)
	tr := s.trace(95)
	if st := s.finalPut(t, 95).state(); st != "success" {
		t.Fatalf("state %s:\n%s", st, tr)
	}
	for _, want := range []string{"yes project-write", "yes home-write", "yes tmp-write", "yes file-var",
		"no usr-write", "no etc-write", "no host-file", "no runner-proc", "no uid0"} {
		if !strings.Contains(tr, "\n"+want+"\n") {
			t.Errorf("trace lacks %q:\n%s", want, tr)
		}
	}
	// The init, the shell and ls: a handful, not the host's processes.
	var procs int
	if _, err := fmt.Sscanf(tr[strings.LastIndex(tr, "procs=")+len("procs="):], "%d", &procs); err != nil || procs > 10 {
		t.Errorf("job sees %d processes in /proc (%v):\n%s", procs, err, tr)
	}
	for _, p := range []string{"/usr/gantry-test", "/etc/gantry-test"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("job created %s on the host", p)
		}
	}
}
