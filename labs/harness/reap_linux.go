//go:build linux

package harness

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts a child in its own process group and has the kernel
// SIGKILL it when the orchestrator dies, even by SIGKILL (a CI timeout):
// no edged or peer is left holding the lab's ports.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitExited blocks until the child has exited and leaves it unreaped: its
// pid, and so its process group id, cannot be reused until Wait reaps it,
// so a group kill in between reaches only its own group.
func waitExited(cmd *exec.Cmd) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// SignalWhenParentDies has the kernel send sig to the calling process
// when its parent exits: `go run` killed by a CI timeout then ends the
// orchestrator too (SIGTERM: it stops its processes and saves its
// evidence), and the orchestrator's children die with it in turn.
func SignalWhenParentDies(sig syscall.Signal) error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0)
}
