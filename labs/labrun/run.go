package labrun

import (
	"context"
	"edgelab/setup/labsetup"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/evidence"
	"edgelab/labs/harness"
)

// Timeouts around a scenario's processes; end conditions have Env.Timeout.
const (
	// ReadyTimeout bounds a process becoming ready.
	ReadyTimeout = 10 * time.Second
	// PortsTimeout bounds the wait for the lab's ports to be free again.
	PortsTimeout = 5 * time.Second
	// ObserveTimeout bounds one status poll.
	ObserveTimeout = time.Second
	// collectTimeout bounds what a lab asks the live daemon for before
	// stopping it (final status, ledger dump).
	collectTimeout = 3 * time.Second
	stopGrace      = 5 * time.Second
	// maxSocketPath: sun_path holds 108 bytes on Linux and 104 on the BSDs
	// and macOS, the terminating NUL included; a lab keeps to the smaller.
	maxSocketPath = 104
)

// SetupError marks a failure before the scenario's actions began: the lab
// could not run the scenario, so its checks are ERROR.
type SetupError struct{ err error }

func (e SetupError) Error() string { return e.err.Error() }
func (e SetupError) Unwrap() error { return e.err }

// SetupErr is fmt.Errorf as a SetupError.
func SetupErr(format string, args ...any) error {
	return SetupError{fmt.Errorf(format, args...)}
}

// Run is one scenario in progress: its evidence directory, its short-path
// workdir, its record and the processes it started. A lab's runner embeds
// it and adds the scenario's own steps.
type Run struct {
	*Env
	Scenario Scenario
	Dir      string // <evidence>/<S-X>
	Work     string // short-path workdir: config, certs, ledger, socket
	Start    time.Time
	// Rec is scenario.json as the run goes; Finish writes it.
	Rec *ScenarioRecord
	// Group holds every process the scenario started.
	Group harness.Group

	record any                // what Finish writes: Rec, or a lab's record around it
	ports  []string           // the lab's addresses, free before start and after teardown
	edged  *harness.Process   // the edged StartEdged started last
	peers  []*harness.Process // the peers StartPeer started, in order
}

// NewRun begins scenario s of the lab run env; ports are the addresses its
// processes listen on.
func NewRun(env *Env, s Scenario, ports ...string) *Run {
	r := &Run{
		Env: env, Scenario: s,
		Dir:   filepath.Join(env.EvidenceDir, s.Name),
		Work:  filepath.Join(env.WorkRoot, strings.ToLower(s.Name)),
		Start: time.Now(),
		Group: harness.Group{Grace: stopGrace},
		ports: ports,
	}
	r.Rec = &ScenarioRecord{Name: s.Name, Title: s.Title, Workdir: r.Work, StartedAt: r.Start}
	r.record = r.Rec
	return r
}

// KeepRecordIn makes scenario.json a lab's own record, which embeds base
// and adds fields: base takes what Rec holds so far and becomes Rec, and
// Finish writes record (a pointer to the lab's record).
func (r *Run) KeepRecordIn(base *ScenarioRecord, record any) {
	*base = *r.Rec
	r.Rec, r.record = base, record
}

// Execute runs the scenario's steps, then finish, on every path out, a
// panic included: evidence is saved and processes stopped whatever
// happens. A SetupError from steps means the scenario could not run;
// another error is a problem met while it ran, for the checks to judge.
func (r *Run) Execute(ctx context.Context, steps func(context.Context) error, finish func()) {
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		fmt.Fprintf(r.Progress.W, "[%s] cannot save evidence: %v\n", r.Scenario.Name, err)
		return
	}
	defer finish()
	defer func() {
		if p := recover(); p != nil {
			r.Rec.Error = fmt.Sprintf("orchestrator panic: %v", p)
		}
	}()
	err := steps(ctx)
	var se SetupError
	switch {
	case errors.As(err, &se):
		r.Rec.Error = se.Error()
	case err != nil && ctx.Err() != nil:
		r.Rec.Error = fmt.Sprintf("interrupted: %v", err)
	case err != nil:
		r.Problem(err)
	}
}

// Problem records something that went wrong while the scenario ran.
func (r *Run) Problem(err error) {
	r.Rec.Problems = append(r.Rec.Problems, err.Error())
	r.Progress.Printf(r.Scenario.Name, "problem: %v", err)
}

// Elapsed is the time since the scenario started.
func (r *Run) Elapsed() time.Duration { return time.Since(r.Start) }

// Phase records a step; end it with the returned func, saying whether the
// step reached what it was for and its error.
func (r *Run) Phase(name string) func(reached bool, err error) {
	p := evidence.Phase{Name: name, StartedAt: time.Now()}
	return func(reached bool, err error) {
		p.EndedAt = time.Now()
		if reached {
			at := p.EndedAt
			p.ReachedAt = &at
		}
		if err != nil {
			p.Error = err.Error()
		}
		r.Rec.Phases = append(r.Rec.Phases, p)
	}
}

// Step runs fn as a phase that is reached when fn succeeds.
func (r *Run) Step(name string, fn func() error) error {
	end := r.Phase(name)
	err := fn()
	end(err == nil, err)
	return err
}

// EndConditionReached records that the scenario's end condition holds now.
func (r *Run) EndConditionReached() {
	at := time.Now()
	r.Rec.ReachedAt = &at
	r.Progress.Printf(r.Scenario.Name, "end condition reached after %.1fs", at.Sub(r.Start).Seconds())
}

// WriteJSON saves v as the scenario's evidence file name.
func (r *Run) WriteJSON(name string, v any) error { return WriteJSON(r.Dir, name, v) }

// Save is WriteJSON for evidence whose loss is a problem, not a reason to
// stop.
func (r *Run) Save(name string, v any) {
	if err := r.WriteJSON(name, v); err != nil {
		r.Problem(err)
	}
}

// CopyIfExists copies src into the scenario's evidence as name, when there
// is a src: a process that never started wrote nothing.
func (r *Run) CopyIfExists(src, name string) {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := evidence.CopyFile(src, filepath.Join(r.Dir, name)); err != nil {
		r.Problem(err)
	}
}

// UseConfig checks that cfg's control socket path fits a unix socket
// address, saves the config file edged runs with as evidence (edge.toml)
// and returns the control client for it.
func (r *Run) UseConfig(cfg config.Config) (*control.Client, error) {
	if n := len(cfg.ControlSocket); n >= maxSocketPath {
		return nil, SetupErr("control socket path %s is %d bytes, too long for a unix socket", cfg.ControlSocket, n)
	}
	if err := evidence.CopyFile(cfg.File, filepath.Join(r.Dir, FileEdgeTOML)); err != nil {
		return nil, SetupErr("save edge.toml: %w", err)
	}
	return &control.Client{Socket: cfg.ControlSocket}, nil
}

// WaitPortsFree waits until the lab's ports can be bound, so the scenario
// does not race the last one's sockets.
func (r *Run) WaitPortsFree(ctx context.Context) error {
	if err := harness.WaitPortsFree(ctx, PortsTimeout, r.ports...); err != nil {
		return SetupErr("before start: %w", err)
	}
	return nil
}

// PeerSpec is a lab peer process to start.
type PeerSpec struct {
	// Name names the process; its output is <name>.log and its evidence
	// <name>-evidence.json in the scenario's evidence.
	Name   string
	ID     string // the peer id it serves as (its certificate's)
	Addr   string // where it listens
	TLSDir string
}

// StartPeer starts a lab peer; WaitPeerReady waits until it listens.
func (r *Run) StartPeer(p PeerSpec) (*harness.Process, error) {
	proc, err := r.Group.Start(harness.Spec{
		Name: p.Name, Path: r.Peer, Dir: r.Work, Log: filepath.Join(r.Dir, PeerLogFile(p.Name)),
		Args: []string{
			"--listen", p.Addr, "--id", p.ID, "--tls-dir", p.TLSDir,
			"--evidence", r.PeerEvidencePath(p.Name), "--ready-file", r.readyFile(p.Name),
		},
	})
	if err != nil {
		return nil, SetupErr("%w", err)
	}
	r.peers = append(r.peers, proc)
	return proc, nil
}

// PeerEvidencePath is where the peer called name keeps its evidence while
// it runs; Finish copies it into the scenario's evidence once edged has
// stopped.
func (r *Run) PeerEvidencePath(name string) string {
	return filepath.Join(r.Work, PeerEvidenceFile(name))
}

func (r *Run) readyFile(name string) string { return filepath.Join(r.Work, name+".ready") }

// WaitPeerReady waits for the ready file the peer writes once it listens.
func (r *Run) WaitPeerReady(ctx context.Context, p *harness.Process) error {
	if err := harness.WaitFile(ctx, ReadyTimeout, r.readyFile(p.Spec.Name), p); err != nil {
		return SetupErr("%s not ready: %w", p.Spec.Name, err)
	}
	return nil
}

// StartEdged starts edged on cfgFile with its output in the scenario's
// evidence file log, and waits until its control API answers through ctl.
// The process is returned whenever it started, ready or not: it is the
// edged Finish collects from and stops (a restart replaces the one before,
// which the lab stops itself). extra are further flags of `edged run`
// (VAL25's --lab-clock).
func (r *Run) StartEdged(ctx context.Context, cfgFile string, ctl *control.Client, log string, extra ...string) (*harness.Process, error) {
	p, err := r.Group.Start(harness.Spec{
		Name: "edged", Path: r.Edged, Dir: r.Work, Log: filepath.Join(r.Dir, log),
		Args: append([]string{"run", "--config", cfgFile}, extra...),
	})
	r.edged = p
	if err != nil {
		return nil, SetupErr("%w", err)
	}
	_, err = harness.Until(ctx, harness.Poll{Timeout: ReadyTimeout, Interval: 20 * time.Millisecond},
		func(ctx context.Context) (api.Status, error) {
			if err := p.Alive(); err != nil {
				return api.Status{}, err
			}
			return ctl.Status(ctx)
		},
		func(api.Status) bool { return true })
	if err != nil {
		return p, SetupErr("edged not ready (control socket %s): %w", ctl.Socket, err)
	}
	return p, nil
}

// SetBandwidthRun is the evidence file of one set-bandwidth CLI run
// (set-bandwidth-<label>.json): the command and its output (stdout is the
// api.SetBandwidthResponse JSON), with what a check needs to judge the
// change: the status just before the call (what "previous" must say) and
// the caller's uid (what the audit actor must name). The call's window is
// StartedAt .. StartedAt + Seconds.
type SetBandwidthRun struct {
	harness.CommandResult
	CallerUID int `json:"caller_uid"`
	// StatusBefore is the status read right before the CLI ran; nil with
	// StatusBeforeError when it could not be read.
	StatusBefore      *api.Status `json:"status_before,omitempty"`
	StatusBeforeError string      `json:"status_before_error,omitempty"`
}

// EndedAt is when the CLI call returned.
func (s SetBandwidthRun) EndedAt() time.Time {
	return s.StartedAt.Add(time.Duration(s.Seconds * float64(time.Second)))
}

// Response decodes the CLI's --json answer.
func (s SetBandwidthRun) Response() (api.SetBandwidthResponse, error) {
	var resp api.SetBandwidthResponse
	if err := json.Unmarshal([]byte(s.Stdout), &resp); err != nil {
		return resp, fmt.Errorf("stdout is not a set-bandwidth answer: %v (exit %d, stdout %q, stderr %q)", err, s.ExitCode, s.Stdout, s.Stderr)
	}
	return resp, nil
}

// SetBandwidth runs the real CLI (`edged relay config set-bandwidth`)
// against the live daemon on socket and saves a SetBandwidthRun as
// set-bandwidth-<label>.json. wantExit is the exit status the step expects
// (1 for a change the daemon must refuse).
func (r *Run) SetBandwidth(ctx context.Context, socket, label string, wantExit int, flags ...string) error {
	return r.Step("set-bandwidth-"+label, func() error {
		run := SetBandwidthRun{CallerUID: os.Getuid()}
		sctx, cancel := context.WithTimeout(ctx, ObserveTimeout)
		st, err := (&control.Client{Socket: socket}).Status(sctx)
		cancel()
		if err != nil {
			run.StatusBeforeError = err.Error()
		} else {
			run.StatusBefore = &st
		}
		args := append([]string{"relay", "config", "set-bandwidth", "--socket", socket}, flags...)
		args = append(args, "--json")
		run.CommandResult = harness.RunCommand(ctx, r.Work, r.Edged, args...)
		if err := r.WriteJSON(SetBandwidthFile(label), run); err != nil {
			return SetupErr("save set-bandwidth answer: %w", err)
		}
		res := run.CommandResult
		if res.StartError != "" || res.ExitCode != wantExit {
			return fmt.Errorf("set-bandwidth %s: exit %d, want %d: %v", label, res.ExitCode, wantExit, res.Err())
		}
		resp, _ := run.Response()
		r.Progress.Printf(r.Scenario.Name, "set-bandwidth %s: exit %d applied=%v", strings.Join(flags, " "), res.ExitCode, resp.Applied)
		return nil
	})
}

// Seed inserts batches as PENDING segments into the ledger at ledgerPath
// through the setup binary (`setup seed --batch …`, one transaction) and
// returns each batch's ids. The ids are the deterministic ones
// (labsetup.CheckSeed); setup must list exactly them.
func (r *Run) Seed(ctx context.Context, ledgerPath string, batches ...labsetup.SeedOptions) ([][]string, error) {
	args := []string{"seed", "--ledger", ledgerPath}
	var ids [][]string
	var want []string
	for i, b := range batches {
		batch, err := labsetup.CheckSeed(b)
		if err != nil {
			return nil, fmt.Errorf("seed batch %d: %w", i+1, err)
		}
		ids = append(ids, batch)
		want = append(want, batch...)
		start := max(b.Start, 1)
		args = append(args, "--batch", fmt.Sprintf("%s:%d:%d:%s:%d", b.Prefix, b.Count, b.Size, b.TargetPeer, start))
	}
	res := harness.RunCommand(ctx, r.Work, r.Setup, args...)
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("setup seed: %w", err)
	}
	var got []string
	for _, line := range strings.Split(res.Stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "sha256=") {
			got = append(got, f[0])
		}
	}
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("setup seed inserted %v, want %v", got, want)
	}
	return ids, nil
}

// CollectLive saves what every lab reads from the live daemon once its
// scenario is over: the final status (relay-status.json), the limiter
// journal and the ledger dump. A daemon no longer running, or an answer
// that cannot be had, is a problem of the scenario.
func (r *Run) CollectLive(ctx context.Context, edged *harness.Process, ctl *control.Client) {
	if err := edged.Alive(); err != nil {
		r.Problem(fmt.Errorf("final status: %w", err))
		return
	}
	st, err := ctl.Status(ctx)
	if err != nil {
		r.Problem(fmt.Errorf("final status: %w", err))
	} else {
		r.Save(FileStatus, st)
	}
	r.CollectDecisions(ctx, ctl)
	r.CollectLedger(ctx, ctl)
}

// CollectLedger saves the live daemon's ledger dump (ledger-dump.json); a
// dump that could not be read is a problem.
func (r *Run) CollectLedger(ctx context.Context, ctl *control.Client) {
	led, err := ctl.Ledger(ctx)
	if err != nil {
		r.Problem(fmt.Errorf("ledger dump: %w", err))
		return
	}
	r.Save(FileLedger, led)
}

// CollectDecisions saves edged's limiter journal (decisions.json) from the
// live daemon; a journal that could not be read is a problem.
func (r *Run) CollectDecisions(ctx context.Context, ctl *control.Client) {
	d, err := ctl.Decisions(ctx)
	if err != nil {
		r.Problem(fmt.Errorf("decision journal: %w", err))
		return
	}
	r.Save(FileDecisions, d)
}

// GoTest is a scenario of unit tests: `go test -json -count=1 -run
// pattern pkgs` from the module root, its JSON stream saved as
// go-test.json and the command as go-test-command.json; the end condition
// is that go test exits. The error is a SetupError when go test could not
// run or its output could not be saved; res.Err() says whether the tests
// passed.
func (r *Run) GoTest(ctx context.Context, pattern string, pkgs ...string) (res harness.CommandResult, err error) {
	r.Rec.EndCondition = "go test exits"
	end := r.Phase("go-test")
	args := append([]string{"test", "-json", "-count=1", "-run", pattern}, pkgs...)
	res = harness.RunCommand(ctx, r.ModuleRoot, "go", args...)
	end(res.StartError == "", res.Err())
	if res.StartError != "" {
		return res, SetupErr("go test: %s", res.StartError)
	}
	if err := evidence.WriteFile(filepath.Join(r.Dir, FileGoTest), []byte(res.Stdout)); err != nil {
		return res, SetupErr("save go test output: %w", err)
	}
	saved := res
	saved.Stdout = "(in " + FileGoTest + ")"
	r.Save(FileGoTestRun, saved)
	at := time.Now()
	r.Rec.ReachedAt = &at
	return res, nil
}

// Stop ends p (SIGTERM, then SIGKILL after the grace) and records how it
// exited; a name stopped before (edged, restarted) is recorded as
// "<name> (restarted)". A process that had exited before the lab stopped
// it (and not by the lab's own Kill), or that exited with an error when
// asked to stop, is a problem: it died, and the checks must not pass over
// it.
func (r *Run) Stop(p *harness.Process) {
	died := p.Exited() && !p.Killed()
	if err := p.Stop(stopGrace); err != nil {
		r.Problem(err)
	}
	if r.Rec.Exits == nil {
		r.Rec.Exits = map[string]string{}
	}
	name := p.Spec.Name
	if _, taken := r.Rec.Exits[name]; taken {
		name += " (restarted)"
	}
	exit := harness.ExitDescription(p.ExitErr())
	r.Rec.Exits[name] = exit
	switch {
	case died:
		r.Problem(fmt.Errorf("%s exited before the lab stopped it: %s", p.Spec.Name, exit))
	case p.ExitErr() != nil && !p.Killed():
		r.Problem(fmt.Errorf("%s ended with %s when stopped (SIGTERM)", p.Spec.Name, exit))
	}
}

// Finish ends the scenario; a lab's finish, which Execute runs on every
// path out, calls it. While edged still runs, collect saves what only the
// live daemon knows (final status, ledger dump), in a "collect" phase. Then
// edged is stopped first, so the peers' evidence is final when copied;
// each peer's evidence is copied and the peer stopped; whatever else runs
// is stopped; edged's audit log (auditLog, when the config names one) is
// copied; the lab's ports must be free again; and scenario.json is written.
func (r *Run) Finish(collect func(context.Context), auditLog string) {
	if r.edged != nil {
		ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
		end := r.Phase("collect")
		collect(ctx)
		end(true, nil)
		cancel()
		r.Stop(r.edged)
	}
	for _, p := range r.peers {
		r.CopyIfExists(r.PeerEvidencePath(p.Spec.Name), PeerEvidenceFile(p.Spec.Name))
		r.Stop(p)
	}
	if err := r.Group.StopAll(); err != nil {
		r.Problem(err)
	}
	if auditLog != "" {
		r.CopyIfExists(auditLog, FileAudit)
	}
	if r.edged != nil || len(r.peers) > 0 {
		if err := harness.WaitPortsFree(context.Background(), PortsTimeout, r.ports...); err != nil {
			r.Problem(fmt.Errorf("after teardown: %w", err))
		}
	}
	r.Rec.EndedAt = time.Now()
	if err := r.WriteJSON(FileScenario, r.record); err != nil {
		fmt.Fprintf(r.Progress.W, "[%s] cannot save %s: %v\n", r.Scenario.Name, FileScenario, err)
	}
	verdict := "done"
	if r.Rec.Error != "" {
		verdict = "could not run: " + r.Rec.Error
	}
	r.Progress.Printf(r.Scenario.Name, "%s in %.1fs", verdict, r.Rec.EndedAt.Sub(r.Start).Seconds())
}
