package val24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

// Timeouts around the scenarios; the waits for end conditions have
// Lab.Timeout.
const (
	readyTimeout   = 10 * time.Second
	stopGrace      = 5 * time.Second
	killTimeout    = 5 * time.Second
	portsTimeout   = 5 * time.Second
	collectTimeout = 3 * time.Second
	observeTimeout = time.Second
)

// run is one scenario in progress.
type run struct {
	lab   *Lab
	def   Scenario
	dir   string // <evidence>/<S-X>
	work  string // short-path workdir: config, certs, ledger, socket
	start time.Time

	rec   ScenarioRecord
	obs   []Observation
	cfg   config.Config
	tls   labsetup.TLSPaths
	group harness.Group
	edged *harness.Process
	peers map[string]*harness.Process
	ctl   *control.Client
}

// setupError marks a failure before the scenario's actions began: its
// checks are ERROR.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

func setupErr(format string, args ...any) error {
	return setupError{fmt.Errorf(format, args...)}
}

// RunScenario runs s with fresh processes and saves its raw evidence to
// <evidence>/<s.Name>. What went wrong is recorded in scenario.json for the
// checks to judge.
func (l *Lab) RunScenario(ctx context.Context, s Scenario) {
	r := &run{
		lab: l, def: s,
		dir:   filepath.Join(l.EvidenceDir, s.Name),
		work:  filepath.Join(l.WorkRoot, strings.ToLower(s.Name)),
		start: time.Now(),
		group: harness.Group{Grace: stopGrace},
		peers: map[string]*harness.Process{},
	}
	r.rec = ScenarioRecord{Name: s.Name, Title: s.Title, Workdir: r.work, StartedAt: r.start}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		fmt.Fprintf(l.Progress.W, "[%s] cannot save evidence: %v\n", s.Name, err)
		return
	}
	defer r.finish()
	defer func() {
		if p := recover(); p != nil {
			r.rec.Error = fmt.Sprintf("orchestrator panic: %v", p)
		}
	}()

	var err error
	switch s.Name {
	case SA:
		err = r.ingress(ctx)
	case SB:
		err = r.perPeerLimit(ctx)
	case SC:
		err = r.quotaRestart(ctx)
	case SD:
		err = r.unitTests(ctx)
	default:
		err = setupErr("no steps for scenario %s", s.Name)
	}
	var se setupError
	switch {
	case errors.As(err, &se):
		r.rec.Error = se.Error()
	case err != nil && ctx.Err() != nil:
		r.rec.Error = fmt.Sprintf("interrupted: %v", err)
	case err != nil:
		r.problem(err)
	}
}

func (r *run) problem(err error) {
	r.rec.Problems = append(r.rec.Problems, err.Error())
	r.lab.Progress.Printf(r.def.Name, "problem: %v", err)
}

func (r *run) elapsed() time.Duration { return time.Since(r.start) }

// phase records a step; end it with the returned func and the step's error.
func (r *run) phase(name string) func(err error) {
	p := Phase{Name: name, StartedAt: time.Now()}
	return func(err error) {
		p.EndedAt = time.Now()
		if err == nil {
			at := p.EndedAt
			p.ReachedAt = &at
		} else {
			p.Error = err.Error()
		}
		r.rec.Phases = append(r.rec.Phases, p)
	}
}

// step runs fn as a phase.
func (r *run) step(name string, fn func() error) error {
	end := r.phase(name)
	err := fn()
	end(err)
	return err
}

func (r *run) save(name string, v any) {
	if err := writeJSON(r.dir, name, v); err != nil {
		r.problem(err)
	}
}

// setup writes fresh certificates (the lab CA, edged, peer-a; peer-b's own
// directory; the senders' client certificates) and edge.toml with both
// peers, then starts both peers and edged.
func (r *run) setup(ctx context.Context, opts labsetup.ConfigOptions) error {
	err := r.step("setup", func() error {
		if err := os.MkdirAll(r.work, 0o755); err != nil {
			return setupErr("workdir: %w", err)
		}
		var err error
		r.tls, err = labsetup.GenerateTLS(filepath.Join(r.work, labsetup.DefaultTLSDir), labsetup.TLSOptions{NodeID: NodeID, PeerID: PeerA})
		if err != nil {
			return setupErr("generate TLS: %w", err)
		}
		if _, err := labsetup.PeerTLSDir(r.tls.Dir, r.peerTLSDir(PeerB), PeerB, labsetup.CertOptions{}); err != nil {
			return setupErr("TLS for %s: %w", PeerB, err)
		}
		opts.NodeID, opts.PeerID = NodeID, PeerA
		opts.Listen, opts.PeerAddr = r.lab.EdgedAddr, r.lab.PeerAAddr
		cfgPath := filepath.Join(r.work, FileEdgeTOML)
		r.cfg, err = labsetup.WriteConfigWith(cfgPath, opts, func(c *config.Config) {
			c.Peers = append(c.Peers, config.Peer{ID: PeerB, Addr: r.lab.PeerBAddr, ServerName: PeerB})
		})
		if err != nil {
			return setupErr("write config: %w", err)
		}
		if n := len(r.cfg.ControlSocket); n >= 104 {
			return setupErr("control socket path %s is %d bytes, too long for a unix socket", r.cfg.ControlSocket, n)
		}
		r.ctl = &control.Client{Socket: r.cfg.ControlSocket}
		if err := evidence.CopyFile(cfgPath, filepath.Join(r.dir, FileEdgeTOML)); err != nil {
			return setupErr("save edge.toml: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.step("start", func() error { return r.startAll(ctx) })
}

func (r *run) peerTLSDir(peer string) string {
	if peer == PeerA {
		return r.tls.Dir
	}
	return filepath.Join(r.work, "tls-"+peer)
}

func (r *run) peerEvidencePath(peer string) string {
	return filepath.Join(r.work, PeerEvidenceFile(peer))
}

func (r *run) startAll(ctx context.Context) error {
	if err := harness.WaitPortsFree(ctx, portsTimeout, r.lab.EdgedAddr, r.lab.PeerAAddr, r.lab.PeerBAddr); err != nil {
		return setupErr("before start: %w", err)
	}
	addrs := map[string]string{PeerA: r.lab.PeerAAddr, PeerB: r.lab.PeerBAddr}
	for _, peer := range []string{PeerA, PeerB} {
		p, err := r.group.Start(harness.Spec{
			Name: peer, Path: r.lab.Peer, Dir: r.work, Log: filepath.Join(r.dir, PeerLogFile(peer)),
			Args: []string{
				"--listen", addrs[peer], "--id", peer, "--tls-dir", r.peerTLSDir(peer),
				"--evidence", r.peerEvidencePath(peer), "--ready-file", filepath.Join(r.work, peer+".ready"),
			},
		})
		if err != nil {
			return setupErr("%w", err)
		}
		r.peers[peer] = p
	}
	if err := r.startEdged(ctx, FileEdgedLog); err != nil {
		return err
	}
	for peer, p := range r.peers {
		if err := harness.WaitFile(ctx, readyTimeout, filepath.Join(r.work, peer+".ready"), p); err != nil {
			return setupErr("%s not ready: %w", peer, err)
		}
	}
	r.lab.Progress.Printf(r.def.Name, "edged (pid %d), %s (pid %d) and %s (pid %d) ready in %s",
		r.edged.Pid(), PeerA, r.peers[PeerA].Pid(), PeerB, r.peers[PeerB].Pid(), r.work)
	return nil
}

// startEdged starts edged with its output in log and waits until its
// control API answers.
func (r *run) startEdged(ctx context.Context, log string) error {
	var err error
	r.edged, err = r.group.Start(harness.Spec{
		Name: "edged", Path: r.lab.Edged, Dir: r.work, Log: filepath.Join(r.dir, log),
		Args: []string{"run", "--config", r.cfg.File},
	})
	if err != nil {
		return setupErr("%w", err)
	}
	_, err = harness.Until(ctx, harness.Poll{Timeout: readyTimeout, Interval: 20 * time.Millisecond},
		func(ctx context.Context) (api.Status, error) {
			if err := r.edged.Alive(); err != nil {
				return api.Status{}, err
			}
			return r.ctl.Status(ctx)
		},
		func(api.Status) bool { return true })
	if err != nil {
		return setupErr("edged not ready (control socket %s): %w", r.cfg.ControlSocket, err)
	}
	return nil
}

// status fetches edged's status under observeTimeout.
func (r *run) status(ctx context.Context) (api.Status, error) {
	octx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	return r.ctl.Status(octx)
}

// setBandwidth runs the real CLI against the live daemon and saves its
// output and exit status as set-bandwidth-<label>.json. wantExit is the exit
// status the step expects (1 for a change the daemon must refuse).
func (r *run) setBandwidth(ctx context.Context, label string, wantExit int, flags ...string) error {
	return r.step("set-bandwidth-"+label, func() error {
		args := append([]string{"relay", "config", "set-bandwidth", "--socket", r.cfg.ControlSocket, "--json"}, flags...)
		res := harness.RunCommand(ctx, r.work, r.lab.Edged, args...)
		if err := writeJSON(r.dir, SetBandwidthFile(label), res); err != nil {
			return setupErr("save set-bandwidth answer: %w", err)
		}
		if res.StartError != "" || res.ExitCode != wantExit {
			return fmt.Errorf("set-bandwidth %s: exit %d, want %d: %v", label, res.ExitCode, wantExit, res.Err())
		}
		var resp api.SetBandwidthResponse
		_ = json.Unmarshal([]byte(res.Stdout), &resp)
		r.lab.Progress.Printf(r.def.Name, "set-bandwidth %s: exit %d applied=%v", strings.Join(flags, " "), res.ExitCode, resp.Applied)
		return nil
	})
}

// observe polls edged's status and both peers' evidence once, appending the
// observation to the history. A process that exited aborts the wait.
func (r *run) observe(ctx context.Context, phase string) (api.Status, map[string]received.Evidence, error) {
	now := time.Now()
	o := Observation{At: now, Elapsed: now.Sub(r.start).Seconds(), Phase: phase, Peers: map[string]PeerObservation{}}
	defer func() { r.obs = append(r.obs, o) }()
	for _, p := range append([]*harness.Process{r.edged}, r.peers[PeerA], r.peers[PeerB]) {
		if err := p.Alive(); err != nil {
			o.StatusError = err.Error()
			return api.Status{}, nil, err
		}
	}
	var errs []error
	st, err := r.status(ctx)
	if err != nil {
		o.StatusError = err.Error()
		errs = append(errs, err)
	}
	evs := map[string]received.Evidence{}
	for _, peer := range []string{PeerA, PeerB} {
		ev, err := received.ReadFile(r.peerEvidencePath(peer))
		if err != nil {
			o.PeerError = err.Error()
			errs = append(errs, err)
		}
		evs[peer] = ev
	}
	o.Segments, o.Ingress = st.Segments, st.Ingress.Bytes
	for _, peer := range []string{PeerA, PeerB} {
		p := st.Peers[peer]
		o.Peers[peer] = PeerObservation{
			Delivered: p.DeliveredSegments, Pending: p.PendingSegments, Throttles: p.ThrottleCount,
			QuotaDrops: p.QuotaDropCount, DailyUsed: p.DailyUsedBytes, Received: len(evs[peer].Segments),
		}
	}
	return st, evs, errors.Join(errs...)
}

// poll is one observation: status and peer evidence.
type poll struct {
	status api.Status
	peers  map[string]received.Evidence
}

// waitFor polls until done holds, recording the end condition (what is
// also the scenario's, when final is set).
func (r *run) waitFor(ctx context.Context, phase, what string, final bool, done func(poll) bool) (poll, error) {
	if final {
		r.rec.EndCondition = what
	}
	end := r.phase(phase)
	last, err := harness.Until(ctx, harness.Poll{Timeout: r.lab.Timeout, Interval: r.lab.Interval},
		func(ctx context.Context) (poll, error) {
			st, evs, err := r.observe(ctx, phase)
			r.lab.Progress.Update(r.def.Name, phase, r.elapsed(), progressLine(st))
			return poll{st, evs}, err
		}, done)
	end(err)
	if err != nil {
		var timeout *harness.TimeoutError
		if errors.As(err, &timeout) && final {
			r.rec.TimedOut = true
		}
		return last, fmt.Errorf("%s: not reached within %s: %w", what, r.lab.Timeout, err)
	}
	if final {
		at := time.Now()
		r.rec.ReachedAt = &at
		r.lab.Progress.Printf(r.def.Name, "end condition reached after %.1fs", at.Sub(r.start).Seconds())
	}
	return last, nil
}

func progressLine(st api.Status) string {
	a, b := st.Peers[PeerA], st.Peers[PeerB]
	return fmt.Sprintf("delivered=%d pending=%d peer-a=%d(throttled %d, quota drops %d) peer-b=%d(throttled %d)",
		st.Segments.Delivered, st.Segments.Pending, a.DeliveredSegments, a.ThrottleCount, a.QuotaDropCount,
		b.DeliveredSegments, b.ThrottleCount)
}

// seed inserts the segments of batches in one transaction and records them
// in seeded.json (added to what earlier seeds recorded).
func (r *run) seed(ctx context.Context, seeded map[string][]string, batches ...labsetup.SeedOptions) error {
	return r.step("seed", func() error {
		ids, err := labsetup.SeedBatch(ctx, r.cfg.Ledger, batches...)
		if err != nil {
			return setupErr("seed: %w", err)
		}
		for i, b := range batches {
			seeded[b.TargetPeer] = append(seeded[b.TargetPeer], ids[i]...)
		}
		if err := writeJSON(r.dir, FileSeeded, seeded); err != nil {
			return setupErr("save seeded ids: %w", err)
		}
		return nil
	})
}

// finish collects what the live daemon knows, stops the processes (edged
// first, so the peers' evidence is final when copied), copies the files
// and writes the scenario record. It runs on every path out of RunScenario.
func (r *run) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	if r.edged != nil {
		end := r.phase("collect")
		r.collectLive(ctx)
		end(nil)
		r.stop(r.edged)
	}
	for _, peer := range []string{PeerA, PeerB} {
		if p := r.peers[peer]; p != nil {
			r.copyIfExists(r.peerEvidencePath(peer), PeerEvidenceFile(peer))
			r.stop(p)
		}
	}
	if err := r.group.StopAll(); err != nil {
		r.problem(err)
	}
	if r.cfg.AuditLog != "" {
		r.copyIfExists(r.cfg.AuditLog, FileAudit)
	}
	if r.edged != nil || len(r.peers) > 0 {
		if err := harness.WaitPortsFree(context.Background(), portsTimeout, r.lab.EdgedAddr, r.lab.PeerAAddr, r.lab.PeerBAddr); err != nil {
			r.problem(fmt.Errorf("after teardown: %w", err))
		}
	}
	r.rec.EndedAt = time.Now()
	if r.obs != nil {
		r.save(FileObservations, r.obs)
	}
	if err := writeJSON(r.dir, FileScenario, r.rec); err != nil {
		fmt.Fprintf(r.lab.Progress.W, "[%s] cannot save %s: %v\n", r.def.Name, FileScenario, err)
	}
	verdict := "done"
	if r.rec.Error != "" {
		verdict = "could not run: " + r.rec.Error
	}
	r.lab.Progress.Printf(r.def.Name, "%s in %.1fs", verdict, r.rec.EndedAt.Sub(r.start).Seconds())
}

func (r *run) stop(p *harness.Process) {
	if err := p.Stop(stopGrace); err != nil {
		r.problem(err)
	}
	if r.rec.Exits == nil {
		r.rec.Exits = map[string]string{}
	}
	name := p.Spec.Name
	if _, taken := r.rec.Exits[name]; taken {
		name += " (restarted)"
	}
	r.rec.Exits[name] = harness.ExitDescription(p.ExitErr())
}

// collectLive saves the final status and the ledger dump from the running
// daemon.
func (r *run) collectLive(ctx context.Context) {
	if err := r.edged.Alive(); err != nil {
		r.problem(fmt.Errorf("final status: %w", err))
		return
	}
	st, err := r.ctl.Status(ctx)
	if err != nil {
		r.problem(fmt.Errorf("final status: %w", err))
	} else {
		r.save(FileStatus, st)
	}
	led, err := r.ctl.Ledger(ctx)
	if err != nil {
		r.problem(fmt.Errorf("ledger dump: %w", err))
		return
	}
	r.save(FileLedger, led)
}

func (r *run) copyIfExists(src, name string) {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := evidence.CopyFile(src, filepath.Join(r.dir, name)); err != nil {
		r.problem(err)
	}
}

// configOptions are the lab's edge.toml defaults: unlimited, a 1 s tick,
// three attempts with a 1 s backoff.
func configOptions() labsetup.ConfigOptions {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = time.Second
	opts.MaxRetryCount = 3
	opts.BackoffBaseSeconds = 1
	return opts
}
