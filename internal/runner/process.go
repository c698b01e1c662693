package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// pipeDrainTimeout bounds how long we wait for the output pipe to close
// after the process group was killed; only processes that escaped the group
// (setsid daemons) can hold it longer.
const pipeDrainTimeout = 2 * time.Second

// runProcess runs cmd (prepared by sandbox.command: its own process group,
// and namespaces when isolated), streaming stdout and stderr to out. When ctx is done the whole group gets SIGTERM
// and, after grace, SIGKILL (at once when the cause is errAborted). Once the
// main process has exited, whatever it left behind in its group is killed,
// so `cmd &` in a script cannot outlive its stage. A ctx-induced failure is
// returned wrapping context.Cause(ctx).
func runProcess(ctx context.Context, grace time.Duration, cmd *exec.Cmd, out io.Writer, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not started: %w", context.Cause(ctx))
	}
	// An *os.File pipe keeps os/exec from adding its own copy goroutine,
	// whose Wait would otherwise block on background children.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	_ = pw.Close() // the children hold the only write ends now
	proc := cmd.Process

	copyDone := make(chan struct{})
	go func() {
		defer close(copyDone)
		_, _ = io.Copy(out, pr)
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var waitErr error
	killedByCtx := false
	select {
	case waitErr = <-waitDone:
	case <-ctx.Done():
		killedByCtx = true
		if errors.Is(context.Cause(ctx), errAborted) {
			killGroup(proc)
			waitErr = <-waitDone
			break
		}
		terminateGroup(proc)
		t := time.NewTimer(grace)
		select {
		case waitErr = <-waitDone:
			t.Stop()
		case <-t.C:
			killGroup(proc)
			waitErr = <-waitDone
		}
	}
	// Leftover background processes of this stage die with it.
	killGroup(proc)
	t := time.NewTimer(pipeDrainTimeout)
	select {
	case <-copyDone:
		t.Stop()
	case <-t.C:
		_ = pr.Close() // unblocks the copy goroutine
		<-copyDone
	}
	_ = pr.Close()
	if killedByCtx || (waitErr != nil && ctx.Err() != nil) {
		return fmt.Errorf("%s killed: %w", name, context.Cause(ctx))
	}
	return waitErr
}

// exitCode extracts a process exit status from err, or returns -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
