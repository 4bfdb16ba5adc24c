package val25

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

// killTimeout bounds the exit of edged after a SIGKILL.
const killTimeout = 5 * time.Second

// tick is the executor's tick: seeded segments are found within one.
const tick = 250 * time.Millisecond

// run is one scenario in progress: labrun's run and what VAL25 keeps
// besides.
type run struct {
	*labrun.Run
	lab *Lab

	obs      []Observation
	moves    []ClockMove
	seeded   map[string][]string
	cfg      config.Config
	tls      labsetup.TLSPaths
	edged    *harness.Process
	peer     *harness.Process
	ctl      *control.Client
	labClock bool
}

// RunScenario runs s with fresh processes and saves its raw evidence to
// <evidence>/<s.Name>.
func (l *Lab) RunScenario(ctx context.Context, s labrun.Scenario) {
	r := &run{Run: labrun.NewRun(l.Env, s, l.ports()...), lab: l, seeded: map[string][]string{}}
	r.Execute(ctx, r.steps, r.finish)
}

func (r *run) steps(ctx context.Context) error {
	switch r.Scenario.Name {
	case SA:
		return r.dailyWindow(ctx)
	case SB:
		return r.dstPeriods(ctx)
	case SC:
		return r.periodRestart(ctx)
	case SD:
		return r.requeue(ctx)
	case SE:
		return r.partialUpdate(ctx)
	case SF:
		return r.ingressReport(ctx)
	case SG:
		return r.quotaHold(ctx)
	case SH:
		return r.timetable(ctx)
	}
	return labrun.SetupErr("no steps for scenario %s", r.Scenario.Name)
}

// setup writes fresh certificates and edge.toml (opts, then edit), starts
// the peer unless startPeer is false, then edged (with --lab-clock when
// labClock).
func (r *run) setup(ctx context.Context, opts labsetup.ConfigOptions, edit func(*config.Config), startPeer, labClock bool) error {
	r.labClock = labClock
	err := r.Step("setup", func() error {
		if err := os.MkdirAll(r.Work, 0o755); err != nil {
			return labrun.SetupErr("workdir: %w", err)
		}
		var err error
		r.tls, err = labsetup.GenerateTLS(filepath.Join(r.Work, labsetup.DefaultTLSDir), labsetup.TLSOptions{NodeID: NodeID, PeerID: Peer})
		if err != nil {
			return labrun.SetupErr("generate TLS: %w", err)
		}
		opts.NodeID, opts.PeerID = NodeID, Peer
		opts.Listen, opts.PeerAddr = r.lab.EdgedAddr, r.lab.PeerAddr
		if edit == nil {
			edit = func(*config.Config) {}
		}
		r.cfg, err = labsetup.WriteConfigWith(filepath.Join(r.Work, labrun.FileEdgeTOML), opts, edit)
		if err != nil {
			return labrun.SetupErr("write config: %w", err)
		}
		r.ctl, err = r.UseConfig(r.cfg)
		return err
	})
	if err != nil {
		return err
	}
	return r.Step("start", func() error {
		if err := r.WaitPortsFree(ctx); err != nil {
			return err
		}
		if startPeer {
			if err := r.startPeer(ctx); err != nil {
				return err
			}
		}
		if err := r.startEdged(ctx, labrun.FileEdgedLog); err != nil {
			return err
		}
		r.Progress.Printf(r.Scenario.Name, "edged (pid %d) ready in %s (lab clock %v, peer started %v)", r.edged.Pid(), r.Work, labClock, startPeer)
		return nil
	})
}

func (r *run) startPeer(ctx context.Context) error {
	p, err := r.StartPeer(labrun.PeerSpec{Name: Peer, ID: Peer, Addr: r.lab.PeerAddr, TLSDir: r.tls.Dir})
	if err != nil {
		return err
	}
	r.peer = p
	return r.WaitPeerReady(ctx, p)
}

// startEdged starts edged with its output in log and waits until its
// control API answers.
func (r *run) startEdged(ctx context.Context, log string) error {
	var extra []string
	if r.labClock {
		extra = append(extra, "--lab-clock")
	}
	var err error
	r.edged, err = r.StartEdged(ctx, r.cfg.File, r.ctl, log, extra...)
	return err
}

// status fetches edged's status under labrun.ObserveTimeout.
func (r *run) status(ctx context.Context) (api.Status, error) {
	octx, cancel := context.WithTimeout(ctx, labrun.ObserveTimeout)
	defer cancel()
	return r.ctl.Status(octx)
}

// snapshot saves edged's current status as status-<label>.json.
func (r *run) snapshot(ctx context.Context, label string) (api.Status, error) {
	st, err := r.status(ctx)
	if err != nil {
		return st, fmt.Errorf("status for %s: %w", label, err)
	}
	r.Save(StatusFile(label), st)
	return st, nil
}

// moveClock moves the lab clock through the control API and records the
// move in clock-moves.json.
func (r *run) moveClock(ctx context.Context, label string, req api.LabClockRequest) error {
	return r.Step("clock-"+label, func() error {
		m := ClockMove{Label: label, Request: req, SysBefore: time.Now()}
		cctx, cancel := context.WithTimeout(ctx, labrun.ObserveTimeout)
		resp, err := r.ctl.MoveLabClock(cctx, req)
		cancel()
		m.SysAfter = time.Now()
		if err != nil {
			m.Error = err.Error()
		} else {
			m.Now, m.Response = resp.Now, &resp
		}
		r.moves = append(r.moves, m)
		r.Save(FileClock, r.moves)
		if err != nil {
			return fmt.Errorf("move the lab clock (%s): %w", label, err)
		}
		r.Progress.Printf(r.Scenario.Name, "lab clock %s: now %s (%s)", label, resp.Now.UTC().Format(time.RFC3339), resp.Now.In(Zone()).Format("2006-01-02 15:04:05 MST"))
		return nil
	})
}

// setClock sets the lab clock to t.
func (r *run) setClock(ctx context.Context, label string, t time.Time) error {
	return r.moveClock(ctx, label, api.LabClockRequest{Set: t.UTC().Format(time.RFC3339Nano)})
}

// labNow is the lab clock's reading now, from the last move.
func (r *run) labNow() time.Time {
	m := r.moves[len(r.moves)-1]
	return m.Now.Add(time.Since(m.SysAfter))
}

// seed inserts the segments of batches in one transaction through the
// setup binary and records them in seeded.json.
func (r *run) seed(ctx context.Context, batches ...labsetup.SeedOptions) error {
	return r.Step("seed", func() error {
		ids, err := r.Seed(ctx, r.cfg.Ledger, batches...)
		if err != nil {
			return labrun.SetupErr("seed: %w", err)
		}
		for i, b := range batches {
			r.seeded[b.TargetPeer] = append(r.seeded[b.TargetPeer], ids[i]...)
		}
		if err := r.WriteJSON(labrun.FileSeeded, r.seeded); err != nil {
			return labrun.SetupErr("save seeded ids: %w", err)
		}
		return nil
	})
}

func (r *run) seedN(ctx context.Context, prefix string, start, count int) error {
	return r.seed(ctx, labsetup.SeedOptions{Prefix: prefix, Start: start, Count: count, Size: SegmentSize, TargetPeer: Peer})
}

// poll is one observation: status, the ledger when asked for, and the
// peer's evidence.
type poll struct {
	status api.Status
	ledger api.Ledger
	peer   received.Evidence
}

// held is how many of ids the peer holds.
func (p poll) held(ids ...string) int {
	n := 0
	for _, s := range p.peer.Segments {
		for _, id := range ids {
			if s.ID == id {
				n++
			}
		}
	}
	return n
}

// state is the ledger state of id ("" when absent).
func (p poll) state(id string) string {
	for _, s := range p.ledger.Segments {
		if s.ID == id {
			return s.State
		}
	}
	return ""
}

// observe polls edged's status (and ledger) and the peer's evidence once,
// appending the observation to the history. A process that exited aborts
// the wait.
func (r *run) observe(ctx context.Context, phase string) (poll, error) {
	now := time.Now()
	o := Observation{At: now, Elapsed: now.Sub(r.Start).Seconds(), Phase: phase}
	defer func() { r.obs = append(r.obs, o) }()
	procs := []*harness.Process{r.edged}
	if r.peer != nil {
		procs = append(procs, r.peer)
	}
	for _, p := range procs {
		if err := p.Alive(); err != nil {
			o.StatusError = err.Error()
			return poll{}, err
		}
	}
	var p poll
	var errs []error
	var err error
	if p.status, err = r.status(ctx); err != nil {
		o.StatusError = err.Error()
		errs = append(errs, err)
	}
	octx, cancel := context.WithTimeout(ctx, labrun.ObserveTimeout)
	p.ledger, err = r.ctl.Ledger(octx)
	cancel()
	if err != nil {
		errs = append(errs, err)
	}
	if r.peer != nil {
		if p.peer, err = received.ReadFile(r.PeerEvidencePath(Peer)); err != nil {
			o.PeerError = err.Error()
			errs = append(errs, err)
		}
	}
	o.Segments, o.QuotaDrops, o.DailyUsed, o.Received = p.status.Segments, p.status.QuotaDropCount, p.status.DailyUsedBytes, len(p.peer.Segments)
	return p, errors.Join(errs...)
}

// waitFor polls until done holds, recording the end condition (the
// scenario's, when final is set).
func (r *run) waitFor(ctx context.Context, phase, what string, final bool, done func(poll) bool) (poll, error) {
	if final {
		r.Rec.EndCondition = what
	}
	end := r.Phase(phase)
	last, err := harness.Until(ctx, harness.Poll{Timeout: r.Timeout, Interval: r.Interval},
		func(ctx context.Context) (poll, error) {
			p, err := r.observe(ctx, phase)
			r.Progress.Update(r.Scenario.Name, phase, r.Elapsed(), fmt.Sprintf("delivered=%d pending=%d deadletter=%d quota_drops=%d used=%dB peer=%d",
				p.status.Segments.Delivered, p.status.Segments.Pending, p.status.Segments.Deadletter, p.status.QuotaDropCount, p.status.DailyUsedBytes, len(p.peer.Segments)))
			return p, err
		}, done)
	end(err == nil, err)
	if err != nil {
		var timeout *harness.TimeoutError
		if errors.As(err, &timeout) && final {
			r.Rec.TimedOut = true
		}
		return last, fmt.Errorf("%s: not reached within %s: %w", what, r.Timeout, err)
	}
	if final {
		r.EndConditionReached()
	}
	return last, nil
}

// killAndRestart ends edged with SIGKILL, records it in kill.json, and
// restarts it on the same ledger once its port is free.
func (r *run) killAndRestart(ctx context.Context) error {
	err := r.Step("kill-9", func() error {
		rec := KillRecord{At: time.Now(), Pid: r.edged.Pid(), Signal: "SIGKILL"}
		var err error
		rec.ExitedAs, err = r.edged.Kill(killTimeout)
		if err != nil {
			rec.Error = err.Error()
		}
		r.Save(FileKill, rec)
		r.Progress.Printf(r.Scenario.Name, "edged (pid %d) killed with SIGKILL: %s", rec.Pid, rec.ExitedAs)
		return err
	})
	if err != nil {
		return err
	}
	r.Stop(r.edged) // records its exit; the process is gone already
	return r.Step("restart", func() error {
		if err := harness.WaitPortsFree(ctx, labrun.PortsTimeout, r.lab.EdgedAddr); err != nil {
			return fmt.Errorf("edged's port after the kill: %w", err)
		}
		if err := r.startEdged(ctx, FileEdgedRestart); err != nil {
			return err
		}
		r.Progress.Printf(r.Scenario.Name, "edged restarted (pid %d) on the same ledger", r.edged.Pid())
		return nil
	})
}

// edgedCLI runs `edged args…` against the live daemon's socket and saves
// the command as name; wantOK says whether it must exit 0.
func (r *run) edgedCLI(ctx context.Context, name string, wantOK bool, args ...string) (CLIRun, error) {
	var res CLIRun
	err := r.Step(name, func() error {
		args = append(args, "--socket", r.cfg.ControlSocket, "--json")
		res = CLIRun{CommandResult: harness.RunCommand(ctx, r.Work, r.Edged, args...), CallerUID: os.Getuid()}
		r.Save(name, res)
		switch {
		case res.StartError != "":
			return fmt.Errorf("edged %v: %s", args, res.StartError)
		case wantOK && res.ExitCode != 0:
			return fmt.Errorf("edged %v: exit %d: %v", args, res.ExitCode, res.CommandResult.Err())
		case !wantOK && res.ExitCode == 0:
			return fmt.Errorf("edged %v: exit 0, want it refused", args)
		}
		r.Progress.Printf(r.Scenario.Name, "edged %v: exit %d", args[:3], res.ExitCode)
		return nil
	})
	return res, err
}

// finish saves the poll history and ends the scenario through labrun's
// Finish.
func (r *run) finish() {
	if r.obs != nil {
		r.Save(labrun.FileObservations, r.obs)
	}
	r.Finish(func(ctx context.Context) { r.CollectLive(ctx, r.edged, r.ctl) }, r.cfg.AuditLog)
}

// configOptions are the lab's edge.toml defaults: unlimited, a short tick,
// retries every second.
func configOptions(maxRetry int) labsetup.ConfigOptions {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = tick
	opts.MaxRetryCount = maxRetry
	opts.BackoffBaseSeconds = 1
	return opts
}

// dayPeriod makes every quota window the day from 04:00 Europe/Berlin.
func dayPeriod(c *config.Config) {
	c.Relay.Bandwidth.QuotaPeriod = "day"
	c.Relay.Bandwidth.QuotaStart = PeriodStart
	c.Relay.Bandwidth.TimeZone = ZoneName
}
