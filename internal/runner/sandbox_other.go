//go:build !linux

package runner

import (
	"errors"
	"os/exec"
)

// Namespaces are Linux's; elsewhere only IsolationNone can run jobs.

func setSandboxAttrs(*exec.Cmd, *sandbox) {}

func sandboxInit(string) int { return sandboxSetupFailed }

func probeSandbox(*sandbox) error {
	return errors.New("job isolation needs Linux namespaces")
}
