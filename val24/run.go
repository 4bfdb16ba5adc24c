package val24

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

// killTimeout bounds the exit of edged after S-C's SIGKILL.
const killTimeout = 5 * time.Second

// run is one scenario in progress: labrun's run and what VAL24 keeps
// besides.
type run struct {
	*labrun.Run
	lab *Lab

	obs   []Observation
	cfg   config.Config
	tls   labsetup.TLSPaths
	edged *harness.Process
	peers map[string]*harness.Process
	ctl   *control.Client
}

// RunScenario runs s with fresh processes and saves its raw evidence to
// <evidence>/<s.Name>. What went wrong is recorded in scenario.json for the
// checks to judge.
func (l *Lab) RunScenario(ctx context.Context, s labrun.Scenario) {
	r := &run{Run: labrun.NewRun(l.Env, s, l.ports()...), lab: l, peers: map[string]*harness.Process{}}
	r.Execute(ctx, r.steps, r.finish)
}

func (r *run) steps(ctx context.Context) error {
	switch r.Scenario.Name {
	case SA:
		return r.ingress(ctx)
	case SB:
		return r.perPeerLimit(ctx)
	case SC:
		return r.quotaRestart(ctx)
	case SD:
		return r.unitTests(ctx)
	}
	return labrun.SetupErr("no steps for scenario %s", r.Scenario.Name)
}

// setup writes fresh certificates (the lab CA, edged, peer-a; peer-b's own
// directory; the senders' client certificates) and edge.toml with both
// peers, then starts both peers and edged.
func (r *run) setup(ctx context.Context, opts labsetup.ConfigOptions) error {
	err := r.Step("setup", func() error {
		if err := os.MkdirAll(r.Work, 0o755); err != nil {
			return labrun.SetupErr("workdir: %w", err)
		}
		var err error
		r.tls, err = labsetup.GenerateTLS(filepath.Join(r.Work, labsetup.DefaultTLSDir), labsetup.TLSOptions{NodeID: NodeID, PeerID: PeerA})
		if err != nil {
			return labrun.SetupErr("generate TLS: %w", err)
		}
		if _, err := labsetup.PeerTLSDir(r.tls.Dir, r.peerTLSDir(PeerB), PeerB, labsetup.CertOptions{}); err != nil {
			return labrun.SetupErr("TLS for %s: %w", PeerB, err)
		}
		opts.NodeID, opts.PeerID = NodeID, PeerA
		opts.Listen, opts.PeerAddr = r.lab.EdgedAddr, r.lab.PeerAAddr
		r.cfg, err = labsetup.WriteConfigWith(filepath.Join(r.Work, labrun.FileEdgeTOML), opts, func(c *config.Config) {
			c.Peers = append(c.Peers, config.Peer{ID: PeerB, Addr: r.lab.PeerBAddr, ServerName: PeerB})
		})
		if err != nil {
			return labrun.SetupErr("write config: %w", err)
		}
		r.ctl, err = r.UseConfig(r.cfg)
		return err
	})
	if err != nil {
		return err
	}
	return r.Step("start", func() error { return r.startAll(ctx) })
}

func (r *run) peerTLSDir(peer string) string {
	if peer == PeerA {
		return r.tls.Dir
	}
	return filepath.Join(r.Work, "tls-"+peer)
}

func (r *run) startAll(ctx context.Context) error {
	if err := r.WaitPortsFree(ctx); err != nil {
		return err
	}
	addrs := map[string]string{PeerA: r.lab.PeerAAddr, PeerB: r.lab.PeerBAddr}
	for _, peer := range []string{PeerA, PeerB} {
		p, err := r.StartPeer(labrun.PeerSpec{Name: peer, ID: peer, Addr: addrs[peer], TLSDir: r.peerTLSDir(peer)})
		if err != nil {
			return err
		}
		r.peers[peer] = p
	}
	if err := r.startEdged(ctx, labrun.FileEdgedLog); err != nil {
		return err
	}
	for _, p := range r.peers {
		if err := r.WaitPeerReady(ctx, p); err != nil {
			return err
		}
	}
	r.Progress.Printf(r.Scenario.Name, "edged (pid %d), %s (pid %d) and %s (pid %d) ready in %s",
		r.edged.Pid(), PeerA, r.peers[PeerA].Pid(), PeerB, r.peers[PeerB].Pid(), r.Work)
	return nil
}

// startEdged starts edged with its output in log and waits until its
// control API answers.
func (r *run) startEdged(ctx context.Context, log string) error {
	var err error
	r.edged, err = r.StartEdged(ctx, r.cfg.File, r.ctl, log)
	return err
}

// status fetches edged's status under labrun.ObserveTimeout.
func (r *run) status(ctx context.Context) (api.Status, error) {
	octx, cancel := context.WithTimeout(ctx, labrun.ObserveTimeout)
	defer cancel()
	return r.ctl.Status(octx)
}

// setBandwidth changes a bandwidth setting through the real CLI
// (labrun's SetBandwidth); wantExit is 1 for a change the daemon must
// refuse.
func (r *run) setBandwidth(ctx context.Context, label string, wantExit int, flags ...string) error {
	return r.SetBandwidth(ctx, r.cfg.ControlSocket, label, wantExit, flags...)
}

// observe polls edged's status and both peers' evidence once, appending the
// observation to the history. A process that exited aborts the wait.
func (r *run) observe(ctx context.Context, phase string) (api.Status, map[string]received.Evidence, error) {
	now := time.Now()
	o := Observation{At: now, Elapsed: now.Sub(r.Start).Seconds(), Phase: phase, Peers: map[string]PeerObservation{}}
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
		ev, err := received.ReadFile(r.PeerEvidencePath(peer))
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
		r.Rec.EndCondition = what
	}
	end := r.Phase(phase)
	last, err := harness.Until(ctx, harness.Poll{Timeout: r.Timeout, Interval: r.Interval},
		func(ctx context.Context) (poll, error) {
			st, evs, err := r.observe(ctx, phase)
			r.Progress.Update(r.Scenario.Name, phase, r.Elapsed(), progressLine(st))
			return poll{st, evs}, err
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

func progressLine(st api.Status) string {
	a, b := st.Peers[PeerA], st.Peers[PeerB]
	return fmt.Sprintf("delivered=%d pending=%d peer-a=%d(throttled %d, quota drops %d) peer-b=%d(throttled %d)",
		st.Segments.Delivered, st.Segments.Pending, a.DeliveredSegments, a.ThrottleCount, a.QuotaDropCount,
		b.DeliveredSegments, b.ThrottleCount)
}

// seed inserts the segments of batches in one transaction and records them
// in seeded.json (added to what earlier seeds recorded).
func (r *run) seed(ctx context.Context, seeded map[string][]string, batches ...labsetup.SeedOptions) error {
	return r.Step("seed", func() error {
		ids, err := r.Seed(ctx, r.cfg.Ledger, batches...)
		if err != nil {
			return labrun.SetupErr("seed: %w", err)
		}
		for i, b := range batches {
			seeded[b.TargetPeer] = append(seeded[b.TargetPeer], ids[i]...)
		}
		if err := r.WriteJSON(labrun.FileSeeded, seeded); err != nil {
			return labrun.SetupErr("save seeded ids: %w", err)
		}
		return nil
	})
}

// finish saves the poll history and ends the scenario through labrun's
// Finish: collect from the live daemon, stop edged, then the peers, save
// their evidence and the scenario record. It runs on every path out of
// RunScenario.
func (r *run) finish() {
	if r.obs != nil {
		r.Save(labrun.FileObservations, r.obs)
	}
	r.Finish(func(ctx context.Context) { r.CollectLive(ctx, r.edged, r.ctl) }, r.cfg.AuditLog)
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
