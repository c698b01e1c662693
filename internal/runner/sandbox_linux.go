package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// setSandboxAttrs makes cmd the init of new user, mount, pid, ipc and uts
// namespaces. The init is root of its user namespace, so it may mount.
// Run by an ordinary user, that root is the user itself, the only id it
// may map. Run by root, the namespace maps root and the job's uid to
// themselves: the init keeps root's access to files while it builds the
// sandbox, the job gets the job uid. The network is shared: jobs talk to
// the coordinator and fetch dependencies.
func setSandboxAttrs(cmd *exec.Cmd, s *sandbox) {
	uids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.uid, Size: 1}}
	gids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.gid, Size: 1}}
	if s.chown {
		uids = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: s.uid, HostID: s.uid, Size: 1}}
		gids = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: s.gid, HostID: s.gid, Size: 1}}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS,
		UidMappings: uids,
		GidMappings: gids,
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
}

// sandboxInit is the job's init: it builds the job's root, starts the
// command as an unprivileged user of a nested user namespace, and exits
// with its status. When it exits the kernel kills whatever the job left
// running in the pid namespace.
func sandboxInit(arg string) int {
	var spec sandboxSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil || len(spec.Argv) == 0 {
		fmt.Fprintf(os.Stderr, "gantry job sandbox: bad spec: %v\n", err)
		return sandboxSetupFailed
	}
	// Keep the job from ptracing its init, which holds the namespace's
	// capabilities.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0)
	if err := buildRoot(spec); err != nil {
		fmt.Fprintf(os.Stderr, "gantry job sandbox: %v\n", err)
		return sandboxSetupFailed
	}
	// Stop and cancel signals reach the job's process group directly; the
	// init outlives them only to report the status. Caught, not ignored:
	// an ignored signal would stay ignored in the job after exec.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)

	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.Workdir
	cmd.Env = os.Environ()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	// The job runs as an ordinary uid of a nested user namespace: it holds
	// no capability over the mount namespace, so it cannot undo the mounts
	// below, and uid 0 of the host is never its own.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: spec.UID, HostID: spec.OuterUID, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: spec.GID, HostID: spec.OuterGID, Size: 1}},
		Credential:  &syscall.Credential{Uid: uint32(spec.UID), Gid: uint32(spec.GID), NoSetGroups: true},
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "gantry job sandbox: %v\n", err)
		if strings.Contains(err.Error(), "executable file not found") || os.IsNotExist(err) {
			return 127
		}
		return sandboxSetupFailed
	}
	// As pid 1 the init reaps every orphan; it returns with its child.
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return sandboxSetupFailed
		}
		if pid != cmd.Process.Pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// systemDirs are shown read-only in every sandbox; symlinks among them
// (merged /usr) are recreated as symlinks.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// buildRoot replaces the init's view of the filesystem with a fresh tmpfs
// root holding the system dirs read-only, a minimal /dev, a /proc of the
// new pid namespace, empty /tmp and $HOME, and the job's own dirs, then
// detaches the host's tree entirely.
func buildRoot(spec sandboxSpec) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// The new root: a tmpfs mounted on /tmp becomes "/" and the host's tree
	// moves to /oldroot, its own /tmp uncovered again.
	if err := syscall.Mount("tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount new root: %w", err)
	}
	if err := os.Mkdir("/tmp/oldroot", 0o700); err != nil {
		return err
	}
	if err := syscall.PivotRoot("/tmp", "/tmp/oldroot"); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	for _, d := range systemDirs {
		src := "/oldroot" + d
		fi, err := os.Lstat(src)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, d); err != nil {
				return err
			}
			continue
		}
		if !fi.IsDir() {
			continue
		}
		if err := bindMount(src, d, true); err != nil {
			return err
		}
	}
	// A resolv.conf that points into /run (systemd-resolved) needs its
	// directory too, or name resolution breaks.
	if t, err := os.Readlink("/oldroot/etc/resolv.conf"); err == nil && strings.HasPrefix(t, "/run/") {
		if dir := filepath.Dir(t); dirExists("/oldroot" + dir) {
			if err := bindMount("/oldroot"+dir, dir, true); err != nil {
				return err
			}
		}
	}
	if err := buildDev(); err != nil {
		return err
	}
	if err := mkdirMount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := mkdirMount("tmpfs", "/tmp", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	if spec.Home != "" && !dirExists(spec.Home) {
		opts := fmt.Sprintf("mode=0700,uid=%d,gid=%d", spec.OuterUID, spec.OuterGID)
		if err := mkdirMount("tmpfs", spec.Home, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
			return err
		}
	}
	// The job's own dirs.
	for _, b := range spec.Binds {
		if err := bindMount("/oldroot"+b.Src, b.Dst, false); err != nil {
			return err
		}
	}
	for _, h := range spec.Hide {
		if err := hide(h); err != nil {
			return err
		}
	}
	if err := syscall.Unmount("/oldroot", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Remove("/oldroot"); err != nil {
		return err
	}
	// Best effort: the root tmpfs read-only, so the job writes only where
	// it may (its dirs, /tmp, $HOME).
	_ = syscall.Mount("", "/", "", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, "")
	return nil
}

// buildDev creates /dev with the harmless device nodes of the host.
func buildDev() error {
	if err := mkdirMount("tmpfs", "/dev", "tmpfs", syscall.MS_NOSUID, "mode=0755"); err != nil {
		return err
	}
	for _, n := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		src := "/oldroot/dev/" + n
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := os.WriteFile("/dev/"+n, nil, 0o644); err != nil {
			return err
		}
		if err := syscall.Mount(src, "/dev/"+n, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	for link, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, "/dev/"+link); err != nil {
			return err
		}
	}
	return mkdirMount("tmpfs", "/dev/shm", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777")
}

// hide covers p with an empty read-only tmpfs (a directory) or /dev/null
// (a file) if it is visible in the sandbox.
func hide(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return nil // not visible: nothing to hide
	}
	if fi.IsDir() {
		if err := syscall.Mount("tmpfs", p, "tmpfs", syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0000"); err != nil {
			return fmt.Errorf("hide %s: %w", p, err)
		}
		return nil
	}
	if err := syscall.Mount("/dev/null", p, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("hide %s: %w", p, err)
	}
	return nil
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func mkdirMount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	return nil
}

// Statfs flags (statvfs ST_*), which Linux's syscall package does not name.
const (
	stNosuid     = 0x2
	stNodev      = 0x4
	stNoexec     = 0x8
	stNoatime    = 0x400
	stNodiratime = 0x800
	stRelatime   = 0x1000
)

// bindMount binds src (recursively) on dst, read-only if ro. A read-only
// remount in a user namespace must keep the flags the kernel locked on the
// source mount (nosuid, nodev, noexec, atime), so they are carried over.
func bindMount(src, dst string, ro bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	if !ro {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dst, &st); err != nil {
		return err
	}
	flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
	for _, m := range [][2]uintptr{{stNosuid, syscall.MS_NOSUID}, {stNodev, syscall.MS_NODEV},
		{stNoexec, syscall.MS_NOEXEC}, {stNoatime, syscall.MS_NOATIME},
		{stNodiratime, syscall.MS_NODIRATIME}, {stRelatime, syscall.MS_RELATIME}} {
		if uintptr(st.Flags)&m[0] != 0 {
			flags |= m[1]
		}
	}
	if err := syscall.Mount("", dst, "", flags, ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", dst, err)
	}
	return nil
}

// probeSandbox runs /bin/sh -c : in a sandbox over a throwaway build dir.
func probeSandbox(s *sandbox) error {
	dir, err := os.MkdirTemp("", "gantry-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := s.own(dir); err != nil {
		return err
	}
	cmd, err := s.command(dir, []string{"PATH=/usr/bin:/bin"}, []string{dir}, "/bin/sh", "-c", ":")
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
