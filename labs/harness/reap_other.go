//go:build !linux

package harness

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a child in its own process group. Without Linux's
// Pdeathsig a child can outlive an orchestrator killed with SIGKILL; the
// next lab then names the stale process holding its port (ports.go).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// waitExited returns at once: elsewhere the group kill comes after the
// reap, as before.
func waitExited(*exec.Cmd) {}

// SignalWhenParentDies is a no-op off Linux.
func SignalWhenParentDies(syscall.Signal) error { return nil }
