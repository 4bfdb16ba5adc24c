package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Spec is a long-running process to start.
type Spec struct {
	// Name labels the process in errors ("edged", "peer").
	Name string
	Path string
	Args []string
	Dir  string
	// Env is added to the orchestrator's environment.
	Env []string
	// Log receives stdout and stderr; it is created (truncated) at start.
	Log string
}

// Process is a started Spec. It runs in its own process group, so stopping
// it reaches every child it may have forked, and a Ctrl-C in the
// orchestrator's terminal does not reach it behind the orchestrator's back.
type Process struct {
	Spec Spec

	cmd      *exec.Cmd
	log      *os.File
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
	killed   bool // Kill ended it: its exit was asked for
}

// Start starts spec. The caller must Stop the process (a Group does it for
// every process it started).
func Start(spec Spec) (*Process, error) {
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = sysProcAttr()
	p := &Process{Spec: spec, cmd: cmd, done: make(chan struct{})}
	if spec.Log != "" {
		f, err := os.OpenFile(spec.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("start %s: log: %w", spec.Name, err)
		}
		p.log = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		p.closeLog()
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	go func() {
		// Kill whatever the child left in its group while its pid is still
		// reserved (it is a zombie until Wait): a kill after the reap could
		// reach a stranger's group that reused the number.
		waitExited(cmd)
		killGroup(cmd.Process.Pid)
		p.waitErr = cmd.Wait()
		p.closeLog()
		close(p.done)
	}()
	return p, nil
}

func (p *Process) closeLog() {
	if p.log != nil {
		p.log.Close()
	}
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive is nil while the process runs; once it has exited it is an Abort
// error saying how, so a poll waiting on the process gives up at once.
func (p *Process) Alive() error {
	select {
	case <-p.done:
		return Abort(fmt.Errorf("%s exited: %s", p.Spec.Name, ExitDescription(p.waitErr)))
	default:
		return nil
	}
}

// Exited reports whether the process has exited (without waiting).
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Killed reports whether Kill ended the process: a crash the caller made
// on purpose, not one that happened to it.
func (p *Process) Killed() bool { return p.killed }

// ExitErr is how the process ended (nil for exit status 0); only
// meaningful after Done.
func (p *Process) ExitErr() error { return p.waitErr }

// ExitDescription says how a process ended, given its wait error.
func ExitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Stop sends SIGTERM to the process group, waits up to grace for the
// process to exit, then SIGKILLs the group. Whatever the leader did, the
// group is SIGKILLed at the end so no child outlives it. Stop is idempotent;
// it returns an error only when the process had to be killed or could not
// be.
func (p *Process) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(grace) })
	return p.stopErr
}

func (p *Process) stop(grace time.Duration) error {
	pgid := p.Pid()
	select {
	case <-p.done:
		return nil // the wait goroutine killed the group before the reap
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: SIGTERM: %w", p.Spec.Name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	}
	killGroup(pgid)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("stop %s (pid %d): still running after SIGKILL", p.Spec.Name, pgid)
	}
	return fmt.Errorf("stop %s: no exit within %s of SIGTERM, killed", p.Spec.Name, grace)
}

func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// Group tracks started processes so that one call stops all of them: the
// teardown path of a lab, also on failure, panic or Ctrl-C.
type Group struct {
	Grace time.Duration

	mu    sync.Mutex
	procs []*Process
}

// Start starts spec as a member of g.
func (g *Group) Start(spec Spec) (*Process, error) {
	p, err := Start(spec)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// StopAll stops every member, newest first, concurrently bounded by Grace
// each, and forgets them. It returns every stop error joined.
func (g *Group) StopAll() error {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	grace := g.Grace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { errs[i] = p.Stop(grace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
