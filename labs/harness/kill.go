package harness

import (
	"fmt"
	"syscall"
	"time"
)

// Kill ends the process group with SIGKILL at once, as a crash would: no
// handler runs, nothing is flushed or closed by the process. It waits up to
// timeout for the exit to be reaped and returns how the process ended
// ("signal: killed" when the kill did it). Stop afterwards is a no-op.
func (p *Process) Kill(timeout time.Duration) (string, error) {
	select {
	case <-p.done:
		return ExitDescription(p.waitErr), fmt.Errorf("kill %s: it had already exited (%s)", p.Spec.Name, ExitDescription(p.waitErr))
	default:
	}
	p.killed = true
	if err := syscall.Kill(-p.Pid(), syscall.SIGKILL); err != nil {
		return "", fmt.Errorf("kill %s (pid %d): %w", p.Spec.Name, p.Pid(), err)
	}
	select {
	case <-p.done:
		return ExitDescription(p.waitErr), nil
	case <-time.After(timeout):
		return "", fmt.Errorf("kill %s (pid %d): still running %s after SIGKILL", p.Spec.Name, p.Pid(), timeout)
	}
}
