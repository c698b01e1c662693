package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Isolation modes of the built-in runner (Config.Isolation).
const (
	// IsolationNamespaces runs every process of a job (git, scripts) in its
	// own user, mount, pid, ipc and uts namespaces, under a root that holds
	// only the system directories (read-only) and the job's own build and
	// temp dirs. It is the default; Run refuses to start when the kernel
	// does not allow it.
	IsolationNamespaces = "namespaces"
	// IsolationNone runs jobs as the runner's own user with the runner's
	// view of the filesystem, like gitlab-runner's shell executor. Only for
	// machines that trust every job as much as the runner itself.
	IsolationNone = "none"
)

// nobodyID is the host uid and gid jobs get when the runner runs as root
// and no other was configured (Debian's nobody/nogroup).
const nobodyID = 65534

// sandboxArg0 is argv[0] of a re-executed runner binary that must act as a
// job's init instead of running its main; see init below.
const sandboxArg0 = "gantry-job-init"

// sandboxSetupFailed is the init's exit code when it could not build the
// sandbox; runs report it as a system failure, not a script failure.
const sandboxSetupFailed = 250

func init() {
	// The runner re-executes its own binary (/proc/self/exe) as the init of
	// each job's namespaces. Doing this from a package init makes it work in
	// every binary that links the runner (gantry itself and test binaries)
	// without each main having to dispatch a hidden subcommand first.
	if len(os.Args) == 2 && os.Args[0] == sandboxArg0 {
		os.Exit(sandboxInit(os.Args[1]))
	}
}

// sandboxSpec is what the runner hands its re-executed init (as argv[1]).
type sandboxSpec struct {
	// Binds are directories the job may write, mounted at the same path
	// (Dst) from their host path with symlinks resolved (Src), since
	// absolute symlinks would not resolve under the init's view of the
	// host tree.
	Binds []bind `json:"binds"`
	// Hide lists host paths that must stay invisible even when they lie
	// below a system directory the sandbox shows read-only.
	Hide    []string `json:"hide,omitempty"`
	Home    string   `json:"home,omitempty"`
	Workdir string   `json:"workdir"`
	// UID and GID are the ids the job's processes see as their own; they map
	// to OuterUID and OuterGID of the init's user namespace, which are the
	// job's host uid and gid.
	UID      int      `json:"uid"`
	GID      int      `json:"gid"`
	OuterUID int      `json:"outer_uid"`
	OuterGID int      `json:"outer_gid"`
	Argv     []string `json:"argv"`
}

// bind is a directory shown read-write in the sandbox.
type bind struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// sandbox starts a job's processes under its isolation mode.
type sandbox struct {
	isolate bool
	// uid and gid are the host ids of job processes.
	uid, gid int
	// chown: the runner is root and jobs are not, so directories the
	// runner creates for a job are handed to the job's uid. The init then
	// keeps root's file access (inside its user namespace) to build the
	// sandbox, and only the job drops to uid.
	chown bool
	hide  []string
}

// newSandbox checks the isolation mode against what this machine allows.
func newSandbox(cfg Config) (*sandbox, error) {
	switch cfg.Isolation {
	case IsolationNone:
		return &sandbox{}, nil
	case "", IsolationNamespaces:
	default:
		return nil, fmt.Errorf("runner: unknown isolation %q (want %q or %q)", cfg.Isolation, IsolationNamespaces, IsolationNone)
	}
	s := &sandbox{isolate: true, uid: os.Getuid(), gid: os.Getgid(), hide: cfg.HidePaths}
	if s.uid == 0 {
		s.uid, s.gid, s.chown = nobodyID, nobodyID, true
		if cfg.JobUser != "" {
			u, g, err := parseJobUser(cfg.JobUser)
			if err != nil {
				return nil, err
			}
			s.uid, s.gid = u, g
		}
	} else if cfg.JobUser != "" {
		return nil, fmt.Errorf("runner: a job user (%s) can only be set when the runner runs as root", cfg.JobUser)
	}
	if err := checkIsolation(s); err != nil {
		return nil, err
	}
	return s, nil
}

// parseJobUser parses "UID" or "UID:GID"; uid 0 is refused, since a job
// must never be the host's root.
func parseJobUser(v string) (int, int, error) {
	us, gs, hasGID := strings.Cut(v, ":")
	var uid, gid int
	if _, err := fmt.Sscanf(us, "%d", &uid); err != nil || uid <= 0 {
		return 0, 0, fmt.Errorf("runner: job user %q: want a numeric uid above 0, optionally :gid", v)
	}
	gid = uid
	if hasGID {
		if _, err := fmt.Sscanf(gs, "%d", &gid); err != nil || gid <= 0 {
			return 0, 0, fmt.Errorf("runner: job user %q: want a numeric gid above 0", v)
		}
	}
	return uid, gid, nil
}

var (
	probeMu  sync.Mutex
	probeErr = map[[2]int]error{}
)

// CheckIsolation reports whether this machine can run jobs under mode (and
// jobUser, see Config.JobUser); the error says why not and names the
// setting that accepts the risk. The coordinator calls it before it
// starts an embedded runner.
func CheckIsolation(mode, jobUser string) error {
	_, err := newSandbox(Config{Isolation: mode, JobUser: jobUser})
	return err
}

// checkIsolation builds one real sandbox for s's job user (the probe runs
// /bin/sh -c : in it) once per process, and explains a failure.
func checkIsolation(s *sandbox) error {
	probeMu.Lock()
	defer probeMu.Unlock()
	key := [2]int{s.uid, s.gid}
	err, done := probeErr[key]
	if !done {
		if err = probeSandbox(s); err != nil {
			err = fmt.Errorf("runner: cannot isolate jobs on this machine: %w%s; "+
				"jobs would run with the runner's own privileges (they could read its files, the coordinator's "+
				"database and environment). Allow unprivileged user namespaces, or accept that risk with "+
				"--runner-isolation=none (gantry serve) or --isolation=none (gantry runner)", err, userNSHint())
		}
		probeErr[key] = err
	}
	return err
}

// userNSHint names the kernel setting that forbids user namespaces, if one
// does: Debian's kernel.unprivileged_userns_clone, user.max_user_namespaces,
// and Ubuntu's AppArmor restriction.
func userNSHint() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var hints []string
	if read("/proc/sys/kernel/unprivileged_userns_clone") == "0" && os.Getuid() != 0 {
		hints = append(hints, "sysctl kernel.unprivileged_userns_clone is 0")
	}
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		hints = append(hints, "sysctl user.max_user_namespaces is 0")
	}
	if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
		hints = append(hints, "sysctl kernel.apparmor_restrict_unprivileged_userns is 1")
	}
	if len(hints) == 0 {
		return ""
	}
	return " (" + strings.Join(hints, ", ") + ")"
}

// command returns the command that runs name with args for a job in dir:
// directly without isolation, else through the re-executed init. rw lists
// the directories the job may write.
func (s *sandbox) command(dir string, env []string, rw []string, name string, args ...string) (*exec.Cmd, error) {
	if !s.isolate {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = env
		setProcessGroup(cmd)
		return cmd, nil
	}
	spec := sandboxSpec{Hide: s.hide, Workdir: dir, UID: s.uid, GID: s.gid, Argv: append([]string{name}, args...)}
	for _, d := range rw {
		src, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("job sandbox: %w", err)
		}
		spec.Binds = append(spec.Binds, bind{Src: src, Dst: d})
	}
	if s.chown {
		spec.OuterUID, spec.OuterGID = s.uid, s.gid
	}
	for _, kv := range env {
		if h, ok := strings.CutPrefix(kv, "HOME="); ok && filepath.IsAbs(h) {
			spec.Home = h
		}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: []string{sandboxArg0, string(b)}, Env: env}
	setSandboxAttrs(cmd, s)
	return cmd, nil
}

// own hands paths the runner created to the job's uid when the runner is
// root and jobs are not.
func (s *sandbox) own(paths ...string) error {
	if !s.chown {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, s.uid, s.gid); err != nil {
			return fmt.Errorf("hand %s to the job user: %w", p, err)
		}
	}
	return nil
}

// ownTree is own for dir and everything below it (symlinks themselves,
// never their targets).
func (s *sandbox) ownTree(dir string) error {
	if !s.chown {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return s.own(p)
	})
}
