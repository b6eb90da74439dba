package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel SIGKILL the node if the test binary dies first (a test
// timeout panics without running cleanups), so no chatd outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
