//go:build !unix

package runner

import (
	"os"
	"os/exec"
)

// Without process groups only the direct child can be stopped; the shell
// executor is meant for Unix hosts, this keeps the binary building elsewhere.

func setProcessGroup(*exec.Cmd) {}

func terminateGroup(p *os.Process) { _ = p.Kill() }

func killGroup(p *os.Process) { _ = p.Kill() }
