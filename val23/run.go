package val23

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

// run is one scenario in progress: labrun's run and what VAL23 keeps
// besides.
type run struct {
	*labrun.Run
	lab *Lab
	def Scenario
	rec *ScenarioRecord // scenario.json, with VAL23's additions

	obs   []Observation
	last  *snapshot // the last complete observation
	cfg   config.Config
	edged *harness.Process
	peer  *harness.Process
	ctl   *control.Client
}

// RunScenario runs s with fresh processes and saves its raw evidence to
// <evidence>/<s.Name>. It never fails as such: what went wrong is recorded
// in scenario.json for the checks to judge.
func (l *Lab) RunScenario(ctx context.Context, s Scenario) {
	r := &run{Run: labrun.NewRun(l.Env, s.Scenario, l.EdgedAddr, l.PeerAddr), lab: l, def: s, rec: &ScenarioRecord{}}
	r.KeepRecordIn(&r.rec.ScenarioRecord, r.rec)
	r.Execute(ctx, r.steps, r.finish)
}

func (r *run) steps(ctx context.Context) error {
	if r.def.Name == SE {
		return r.unitTest(ctx)
	}
	return r.relayScenario(ctx)
}

// relayScenario is S-A..S-D: fresh certs, config, ledger and processes,
// then the scenario's own steps.
func (r *run) relayScenario(ctx context.Context) error {
	if err := r.setup(ctx); err != nil {
		return err
	}
	switch r.def.Name {
	case SA:
		return r.seedAndWait(ctx)
	case SB:
		if err := r.setBandwidth(ctx, rateLabel, "--bytes-per-second", fmt.Sprint(RateBytesPerSecond)); err != nil {
			r.Problem(err)
		}
		return r.seedAndWait(ctx)
	case SC:
		if err := r.setBandwidth(ctx, quotaLabel, "--bytes-per-second", "0", "--daily-quota-bytes", fmt.Sprint(QuotaBytes)); err != nil {
			r.Problem(err)
		}
		return r.seedAndWait(ctx)
	case SD:
		return r.hotReload(ctx)
	}
	return labrun.SetupErr("no steps for scenario %s", r.def.Name)
}

// configOptions is the scenario's edge.toml: the lab defaults (1 s tick,
// max_retry_count 3, backoff 1 s), S-D boots at 8 B/s with retries to spare.
func (r *run) configOptions() labsetup.ConfigOptions {
	opts := labsetup.DefaultConfigOptions()
	opts.NodeID, opts.PeerID = NodeID, PeerID
	opts.Listen, opts.PeerAddr = r.lab.EdgedAddr, r.lab.PeerAddr
	opts.TickInterval = time.Second
	opts.MaxRetryCount = 3
	opts.BackoffBaseSeconds = 1
	if r.def.Name == SD {
		opts.BytesPerSecond, opts.BurstBytes = BlockedRate, BlockedRate
		opts.MaxRetryCount = 5
	}
	return opts
}

func (r *run) setup(ctx context.Context) error {
	if err := r.Step("setup", r.prepareWorkdir); err != nil {
		return err
	}
	return r.Step("start", func() error { return r.startProcesses(ctx) })
}

func (r *run) prepareWorkdir() error {
	if err := os.MkdirAll(r.Work, 0o755); err != nil {
		return labrun.SetupErr("workdir: %w", err)
	}
	if _, err := labsetup.GenerateTLS(filepath.Join(r.Work, labsetup.DefaultTLSDir), labsetup.TLSOptions{NodeID: NodeID, PeerID: PeerID}); err != nil {
		return labrun.SetupErr("generate TLS: %w", err)
	}
	cfg, err := labsetup.WriteConfig(filepath.Join(r.Work, labrun.FileEdgeTOML), r.configOptions())
	if err != nil {
		return labrun.SetupErr("write config: %w", err)
	}
	r.cfg = cfg
	r.ctl, err = r.UseConfig(cfg)
	return err
}

// startProcesses starts peer and edged together and waits until both are
// ready: edged's control API answers and the peer's ready file exists.
func (r *run) startProcesses(ctx context.Context) error {
	if err := r.WaitPortsFree(ctx); err != nil {
		return err
	}
	var err error
	r.peer, err = r.StartPeer(labrun.PeerSpec{
		Name: peerProcess, ID: PeerID, Addr: r.lab.PeerAddr, TLSDir: filepath.Join(r.Work, labsetup.DefaultTLSDir),
	})
	if err != nil {
		return err
	}
	if r.edged, err = r.StartEdged(ctx, r.cfg.File, r.ctl, labrun.FileEdgedLog); err != nil {
		return err
	}
	if err := r.WaitPeerReady(ctx, r.peer); err != nil {
		return err
	}
	r.Progress.Printf(r.def.Name, "edged (pid %d) and peer (pid %d) ready in %s", r.edged.Pid(), r.peer.Pid(), r.Work)
	return nil
}

func (r *run) peerEvidencePath() string { return r.PeerEvidencePath(peerProcess) }

// seed inserts the scenario's PENDING segments through setup and records
// their ids.
func (r *run) seed(ctx context.Context) error {
	end := r.Phase("seed")
	ids, err := r.Seed(ctx, r.cfg.Ledger, labsetup.SeedOptions{
		Prefix: r.def.Prefix, Count: r.def.Count, Size: SegmentSize, TargetPeer: PeerID,
	})
	end(err == nil, err)
	if err != nil {
		return labrun.SetupErr("seed: %w", err)
	}
	if err := r.WriteJSON(labrun.FileSeeded, ids[0]); err != nil {
		return labrun.SetupErr("save seeded ids: %w", err)
	}
	return nil
}

// setBandwidth changes the bandwidth through the real CLI (labrun's
// SetBandwidth), which must accept it.
func (r *run) setBandwidth(ctx context.Context, label string, flags ...string) error {
	return r.SetBandwidth(ctx, r.cfg.ControlSocket, label, 0, flags...)
}

func (r *run) seedAndWait(ctx context.Context) error {
	if err := r.seed(ctx); err != nil {
		return err
	}
	return r.waitTerminal(ctx)
}

// snapshot is one poll: edged's status and the peer's evidence.
type snapshot struct {
	at      time.Time
	status  api.Status
	peerIDs []string
}

// observe polls status and peer evidence once and appends the observation
// to the history. A process that exited aborts the wait.
func (r *run) observe(ctx context.Context, phase string) (snapshot, error) {
	now := time.Now()
	o := Observation{At: now, Elapsed: now.Sub(r.Start).Seconds(), Phase: phase}
	snap := snapshot{at: now}
	var errs []error
	if err := r.edged.Alive(); err != nil {
		o.StatusError = err.Error()
		r.obs = append(r.obs, o)
		return snap, err
	}
	if err := r.peer.Alive(); err != nil {
		o.PeerError = err.Error()
		r.obs = append(r.obs, o)
		return snap, err
	}
	octx, cancel := context.WithTimeout(ctx, labrun.ObserveTimeout)
	st, err := r.ctl.Status(octx)
	cancel()
	if err != nil {
		o.StatusError = err.Error()
		errs = append(errs, err)
	} else {
		snap.status = st
		o.Delivered, o.Pending, o.Deadletter = st.Segments.Delivered, st.Segments.Pending, st.Segments.Deadletter
		o.BlockedOversize = st.Segments.BlockedOversize
		o.Throttle, o.QuotaDrops, o.DailyUsed = st.ThrottleCount, st.QuotaDropCount, st.DailyUsedBytes
		o.ExecutorCycles, o.LastCycleThrottled = st.ExecutorCycles, st.LastCycleThrottled
	}
	ev, err := received.ReadFile(r.peerEvidencePath())
	if err != nil {
		o.PeerError = err.Error()
		errs = append(errs, err)
	} else {
		snap.peerIDs = ev.IDs()
		o.PeerCount = len(snap.peerIDs)
	}
	r.obs = append(r.obs, o)
	if err := errors.Join(errs...); err != nil {
		return snap, err
	}
	r.last = &snap
	r.rec.Last = &o
	return snap, nil
}

// waitTerminal waits until every seeded segment is terminal in edged's
// status (delivered or deadletter, none pending) and the peer's evidence
// holds at least every delivered one: after that nothing more happens.
func (r *run) waitTerminal(ctx context.Context) error {
	n := int64(r.def.Count)
	r.Rec.EndCondition = fmt.Sprintf("all %d seeded segments terminal in relay status (delivered + deadletter = %d, pending = 0) "+
		"and the peer evidence holds every delivered one", n, n)
	const phase = "wait-delivery"
	end := r.Phase(phase)
	_, err := harness.Until(ctx, harness.Poll{Timeout: r.Timeout, Interval: r.Interval},
		func(ctx context.Context) (snapshot, error) {
			s, err := r.observe(ctx, phase)
			extra := fmt.Sprintf("delivered=%d/%d", len(s.peerIDs), n)
			if s.status.Segments.Deadletter > 0 || r.def.Name == SC {
				extra += fmt.Sprintf(" deadletter=%d", s.status.Segments.Deadletter)
			}
			r.Progress.Update(r.def.Name, phase, r.Elapsed(), extra)
			return s, err
		},
		func(s snapshot) bool {
			seg := s.status.Segments
			return seg.Pending == 0 && seg.Delivered+seg.Deadletter >= n && int64(len(s.peerIDs)) >= seg.Delivered
		})
	return r.endCondition(end, err)
}

// endCondition records how the scenario's end condition wait ended.
func (r *run) endCondition(end func(bool, error), err error) error {
	end(err == nil, err)
	if err == nil {
		r.EndConditionReached()
		return nil
	}
	var timeout *harness.TimeoutError
	if errors.As(err, &timeout) {
		r.Rec.TimedOut = true
		return fmt.Errorf("end condition not reached within %s: %w", r.Timeout, err)
	}
	return fmt.Errorf("end condition: %w", err)
}

// hotReload is S-D: seed under 8 B/s, prove that whole executor cycles
// throttled all six and nothing reached the peer, then set unlimited live
// and wait for all six.
func (r *run) hotReload(ctx context.Context) error {
	if err := r.seed(ctx); err != nil {
		return err
	}
	pre, err := r.waitBlocked(ctx)
	if werr := r.WriteJSON(FilePreReload, pre); werr != nil {
		return labrun.SetupErr("save pre-reload evidence: %w", werr)
	}
	if err != nil {
		r.Problem(err)
	}
	if err := r.setBandwidth(ctx, unlimitedLabel, "--bytes-per-second", "0", "--daily-quota-bytes", "0"); err != nil {
		r.Problem(err)
	}
	return r.waitTerminal(ctx)
}

// waitBlocked takes a baseline status after seeding, then polls until at
// least two more executor cycles ran, the latest throttled all seeded
// segments, throttle_count reached two per segment, and neither edged nor
// the peer shows a delivery. A delivery ends the wait at once: blocking is
// then disproved.
func (r *run) waitBlocked(ctx context.Context) (PreReload, error) {
	const phase = "wait-blocked"
	n := int64(r.def.Count)
	var pre PreReload
	end := r.Phase(phase)
	base, err := harness.Until(ctx, harness.Poll{Timeout: labrun.ReadyTimeout, Interval: 20 * time.Millisecond},
		func(ctx context.Context) (snapshot, error) { return r.observe(ctx, phase) },
		func(snapshot) bool { return true })
	if err != nil {
		end(false, err)
		pre.Error = fmt.Sprintf("no baseline status after seeding: %v", err)
		return pre, errors.New(pre.Error)
	}
	pre.BaselineAt, pre.Baseline = base.at, base.status
	seeded := r.def.IDs()
	last, err := harness.Until(ctx, harness.Poll{Timeout: r.Timeout, Interval: r.Interval},
		func(ctx context.Context) (snapshot, error) {
			s, err := r.observe(ctx, phase)
			cycles := s.status.ExecutorCycles - base.status.ExecutorCycles
			r.Progress.Update(r.def.Name, phase, r.Elapsed(), fmt.Sprintf("cycles=%d throttled=%d throttle_count=%d peer=%d/%d",
				cycles, s.status.LastCycleThrottled, s.status.ThrottleCount, len(s.peerIDs), n))
			if err != nil {
				return s, err
			}
			if s.status.Segments.Delivered > 0 || slices.ContainsFunc(s.peerIDs, func(id string) bool { return slices.Contains(seeded, id) }) {
				return s, harness.Abort(fmt.Errorf("delivery before the reload: edged delivered %d, peer holds %v",
					s.status.Segments.Delivered, s.peerIDs))
			}
			return s, nil
		},
		func(s snapshot) bool {
			return s.status.ExecutorCycles-base.status.ExecutorCycles >= 2 &&
				s.status.LastCycleThrottled == n && s.status.ThrottleCount >= 2*n
		})
	if r.last != nil {
		// The last complete poll before the reload, even on abort.
		last = *r.last
	}
	pre.LastAt, pre.Last, pre.PeerIDs = last.at, last.status, last.peerIDs
	if pre.PeerIDs == nil {
		pre.PeerIDs = []string{}
	}
	end(err == nil, err)
	if err != nil {
		pre.Error = err.Error()
		return pre, fmt.Errorf("blocking before the reload not shown: %w", err)
	}
	pre.Reached = true
	r.Progress.Printf(r.def.Name, "blocked: %d cycles after seeding throttled all %d, throttle_count=%d, peer holds 0; reloading",
		last.status.ExecutorCycles-base.status.ExecutorCycles, n, last.status.ThrottleCount)
	return pre, nil
}

// finish saves the poll history and ends the scenario through labrun's
// Finish: collect from the live daemon, stop edged, then the peers, save
// their evidence and the scenario record. It runs on every path out of
// RunScenario.
func (r *run) finish() {
	if r.obs != nil {
		r.Save(labrun.FileObservations, r.obs)
	}
	r.Finish(r.collectLive, r.cfg.AuditLog)
}

// collectLive saves the final status and the ledger dump from the running
// daemon; if it no longer answers, the last observed status stands in and
// the record says so.
func (r *run) collectLive(ctx context.Context) {
	st, err := r.ctl.Status(ctx)
	switch {
	case err == nil:
		r.rec.StatusFrom = "final"
		r.Save(labrun.FileStatus, st)
	case r.last != nil:
		r.rec.StatusFrom = "last-observation"
		r.Problem(fmt.Errorf("final status: %w (relay-status.json is the last observed one)", err))
		r.Save(labrun.FileStatus, r.last.status)
	default:
		r.Problem(fmt.Errorf("final status: %w", err))
	}
	r.CollectDecisions(ctx, r.ctl)
	r.CollectLedger(ctx, r.ctl)
}

// unitTest is S-E: the limiter's 24 h reset test, run by go test from the
// module root; its JSON stream is the evidence.
func (r *run) unitTest(ctx context.Context) error {
	res, err := r.GoTest(ctx, "^"+UnitTest+"$", UnitTestPackage)
	if err != nil {
		return err
	}
	events, _ := harness.ParseTestEvents([]byte(res.Stdout))
	if pass, detail := unitTestVerdict(events); pass {
		r.Progress.Printf(r.def.Name, "%s passed", UnitTest)
	} else {
		r.Progress.Printf(r.def.Name, "%s: %s", UnitTest, detail)
	}
	return res.Err()
}
