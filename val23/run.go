package val23

import (
	"context"
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
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

// Timeouts around the scenarios; the end conditions have Lab.Timeout.
const (
	readyTimeout   = 10 * time.Second
	stopGrace      = 5 * time.Second
	portsTimeout   = 5 * time.Second
	collectTimeout = 3 * time.Second
	observeTimeout = time.Second
	unlimitedLabel = "unlimited"
	peerReadyFile  = "peer.ready"
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
	last  *snapshot // the last complete observation
	cfg   config.Config
	group harness.Group
	edged *harness.Process
	peer  *harness.Process
	ctl   *control.Client
}

// setupError marks a failure before the scenario's actions began: the lab
// could not run the scenario, so its checks are ERROR.
type setupError struct{ err error }

func (e setupError) Error() string { return e.err.Error() }
func (e setupError) Unwrap() error { return e.err }

func setupErr(format string, args ...any) error {
	return setupError{fmt.Errorf(format, args...)}
}

// RunScenario runs s with fresh processes and saves its raw evidence to
// <evidence>/<s.Name>. It never fails as such: what went wrong is recorded
// in scenario.json for the checks to judge.
func (l *Lab) RunScenario(ctx context.Context, s Scenario) {
	r := &run{
		lab: l, def: s,
		dir:   filepath.Join(l.EvidenceDir, s.Name),
		work:  filepath.Join(l.WorkRoot, strings.ToLower(s.Name)),
		start: time.Now(),
		group: harness.Group{Grace: stopGrace},
	}
	r.rec = ScenarioRecord{Name: s.Name, Title: s.Title, Workdir: r.work, StartedAt: r.start}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		fmt.Fprintf(l.Progress.W, "[%s] cannot save evidence: %v\n", s.Name, err)
		return
	}
	// Evidence is saved and processes stopped whatever happens below,
	// a panic included.
	defer r.finish()
	defer func() {
		if p := recover(); p != nil {
			r.rec.Error = fmt.Sprintf("orchestrator panic: %v", p)
		}
	}()

	var err error
	switch s.Name {
	case SE:
		err = r.unitTest(ctx)
	default:
		err = r.relayScenario(ctx)
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
func (r *run) phase(name string) func(reached bool, err error) {
	p := Phase{Name: name, StartedAt: time.Now()}
	return func(reached bool, err error) {
		p.EndedAt = time.Now()
		if reached {
			at := p.EndedAt
			p.ReachedAt = &at
		}
		if err != nil {
			p.Error = err.Error()
		}
		r.rec.Phases = append(r.rec.Phases, p)
	}
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
		if err := r.setBandwidth(ctx, "rate-64", "--bytes-per-second", fmt.Sprint(RateBytesPerSecond)); err != nil {
			r.problem(err)
		}
		return r.seedAndWait(ctx)
	case SC:
		if err := r.setBandwidth(ctx, "quota-128", "--bytes-per-second", "0", "--daily-quota-bytes", fmt.Sprint(QuotaBytes)); err != nil {
			r.problem(err)
		}
		return r.seedAndWait(ctx)
	case SD:
		return r.hotReload(ctx)
	}
	return setupErr("no steps for scenario %s", r.def.Name)
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
	end := r.phase("setup")
	err := r.prepareWorkdir()
	end(err == nil, err)
	if err != nil {
		return err
	}
	end = r.phase("start")
	err = r.startProcesses(ctx)
	end(err == nil, err)
	return err
}

func (r *run) prepareWorkdir() error {
	if err := os.MkdirAll(r.work, 0o755); err != nil {
		return setupErr("workdir: %w", err)
	}
	if _, err := labsetup.GenerateTLS(filepath.Join(r.work, labsetup.DefaultTLSDir), labsetup.TLSOptions{NodeID: NodeID, PeerID: PeerID}); err != nil {
		return setupErr("generate TLS: %w", err)
	}
	cfgPath := filepath.Join(r.work, FileEdgeTOML)
	cfg, err := labsetup.WriteConfig(cfgPath, r.configOptions())
	if err != nil {
		return setupErr("write config: %w", err)
	}
	r.cfg = cfg
	r.ctl = &control.Client{Socket: cfg.ControlSocket}
	if n := len(cfg.ControlSocket); n >= 104 {
		return setupErr("control socket path %s is %d bytes, too long for a unix socket", cfg.ControlSocket, n)
	}
	if err := evidence.CopyFile(cfgPath, filepath.Join(r.dir, FileEdgeTOML)); err != nil {
		return setupErr("save edge.toml: %w", err)
	}
	return nil
}

// startProcesses starts peer and edged together and waits until both are
// ready: the peer's ready file exists and edged's control API answers.
func (r *run) startProcesses(ctx context.Context) error {
	if err := harness.WaitPortsFree(ctx, portsTimeout, r.lab.EdgedAddr, r.lab.PeerAddr); err != nil {
		return setupErr("before start: %w", err)
	}
	var err error
	r.peer, err = r.group.Start(harness.Spec{
		Name: "peer", Path: r.lab.Peer, Dir: r.work, Log: filepath.Join(r.dir, FilePeerLog),
		Args: []string{
			"--listen", r.lab.PeerAddr, "--id", PeerID,
			"--tls-dir", filepath.Join(r.work, labsetup.DefaultTLSDir),
			"--evidence", r.peerEvidencePath(),
			"--ready-file", filepath.Join(r.work, peerReadyFile),
		},
	})
	if err != nil {
		return setupErr("%w", err)
	}
	r.edged, err = r.group.Start(harness.Spec{
		Name: "edged", Path: r.lab.Edged, Dir: r.work, Log: filepath.Join(r.dir, FileEdgedLog),
		Args: []string{"run", "--config", r.cfg.File},
	})
	if err != nil {
		return setupErr("%w", err)
	}
	if err := harness.WaitFile(ctx, readyTimeout, filepath.Join(r.work, peerReadyFile), r.peer); err != nil {
		return setupErr("peer not ready: %w", err)
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
	r.lab.Progress.Printf(r.def.Name, "edged (pid %d) and peer (pid %d) ready in %s", r.edged.Pid(), r.peer.Pid(), r.work)
	return nil
}

func (r *run) peerEvidencePath() string { return filepath.Join(r.work, FilePeer) }

// seed inserts the scenario's PENDING segments through setup and records
// their ids.
func (r *run) seed(ctx context.Context) error {
	end := r.phase("seed")
	ids, err := labsetup.Seed(ctx, r.cfg.Ledger, labsetup.SeedOptions{
		Prefix: r.def.Prefix, Count: r.def.Count, Size: SegmentSize, TargetPeer: PeerID,
	})
	end(err == nil, err)
	if err != nil {
		return setupErr("seed: %w", err)
	}
	if err := writeJSON(r.dir, FileSeeded, ids); err != nil {
		return setupErr("save seeded ids: %w", err)
	}
	return nil
}

// setBandwidth runs the real CLI against the live daemon and saves its
// stdout, stderr and exit status as set-bandwidth-<label>.json.
func (r *run) setBandwidth(ctx context.Context, label string, flags ...string) error {
	end := r.phase("set-bandwidth-" + label)
	args := append([]string{"relay", "config", "set-bandwidth", "--socket", r.cfg.ControlSocket}, flags...)
	args = append(args, "--json")
	res := harness.RunCommand(ctx, r.work, r.lab.Edged, args...)
	err := res.Err()
	end(err == nil, err)
	if werr := writeJSON(r.dir, SetBandwidthFile(label), res); werr != nil {
		return setupErr("save set-bandwidth answer: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("set-bandwidth %s: %w", label, err)
	}
	var resp api.SetBandwidthResponse
	_ = json.Unmarshal([]byte(res.Stdout), &resp)
	r.lab.Progress.Printf(r.def.Name, "set-bandwidth %s: applied=%v", strings.Join(flags, " "), resp.Applied)
	return nil
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
	o := Observation{At: now, Elapsed: now.Sub(r.start).Seconds(), Phase: phase}
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
	octx, cancel := context.WithTimeout(ctx, observeTimeout)
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
	r.rec.EndCondition = fmt.Sprintf("all %d seeded segments terminal in relay status (delivered + deadletter = %d, pending = 0) "+
		"and the peer evidence holds every delivered one", n, n)
	const phase = "wait-delivery"
	end := r.phase(phase)
	_, err := harness.Until(ctx, harness.Poll{Timeout: r.lab.Timeout, Interval: r.lab.Interval},
		func(ctx context.Context) (snapshot, error) {
			s, err := r.observe(ctx, phase)
			extra := fmt.Sprintf("delivered=%d/%d", len(s.peerIDs), n)
			if s.status.Segments.Deadletter > 0 || r.def.Name == SC {
				extra += fmt.Sprintf(" deadletter=%d", s.status.Segments.Deadletter)
			}
			r.lab.Progress.Update(r.def.Name, phase, r.elapsed(), extra)
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
		at := time.Now()
		r.rec.ReachedAt = &at
		r.lab.Progress.Printf(r.def.Name, "end condition reached after %.1fs", at.Sub(r.start).Seconds())
		return nil
	}
	var timeout *harness.TimeoutError
	if errors.As(err, &timeout) {
		r.rec.TimedOut = true
		return fmt.Errorf("end condition not reached within %s: %w", r.lab.Timeout, err)
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
	if werr := writeJSON(r.dir, FilePreReload, pre); werr != nil {
		return setupErr("save pre-reload evidence: %w", werr)
	}
	if err != nil {
		r.problem(err)
	}
	if err := r.setBandwidth(ctx, unlimitedLabel, "--bytes-per-second", "0", "--daily-quota-bytes", "0"); err != nil {
		r.problem(err)
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
	end := r.phase(phase)
	base, err := harness.Until(ctx, harness.Poll{Timeout: readyTimeout, Interval: 20 * time.Millisecond},
		func(ctx context.Context) (snapshot, error) { return r.observe(ctx, phase) },
		func(snapshot) bool { return true })
	if err != nil {
		end(false, err)
		pre.Error = fmt.Sprintf("no baseline status after seeding: %v", err)
		return pre, errors.New(pre.Error)
	}
	pre.BaselineAt, pre.Baseline = base.at, base.status
	seeded := r.def.IDs()
	last, err := harness.Until(ctx, harness.Poll{Timeout: r.lab.Timeout, Interval: r.lab.Interval},
		func(ctx context.Context) (snapshot, error) {
			s, err := r.observe(ctx, phase)
			cycles := s.status.ExecutorCycles - base.status.ExecutorCycles
			r.lab.Progress.Update(r.def.Name, phase, r.elapsed(), fmt.Sprintf("cycles=%d throttled=%d throttle_count=%d peer=%d/%d",
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
	r.lab.Progress.Printf(r.def.Name, "blocked: %d cycles after seeding throttled all %d, throttle_count=%d, peer holds 0; reloading",
		last.status.ExecutorCycles-base.status.ExecutorCycles, n, last.status.ThrottleCount)
	return pre, nil
}

// finish collects what the live daemon knows, stops the processes (edged
// first, so the peer's evidence is final when copied), copies the files and
// writes the scenario record. It runs on every path out of RunScenario.
func (r *run) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	if r.edged != nil {
		end := r.phase("collect")
		r.collectLive(ctx)
		end(true, nil)
		r.stop(r.edged)
	}
	if r.peer != nil {
		r.copyIfExists(r.peerEvidencePath(), FilePeer)
		r.stop(r.peer)
	}
	if err := r.group.StopAll(); err != nil {
		r.problem(err)
	}
	if r.cfg.AuditLog != "" {
		r.copyIfExists(r.cfg.AuditLog, FileAudit)
	}
	if r.edged != nil || r.peer != nil {
		if err := harness.WaitPortsFree(context.Background(), portsTimeout, r.lab.EdgedAddr, r.lab.PeerAddr); err != nil {
			r.problem(fmt.Errorf("after teardown: %w", err))
		}
	}
	r.rec.EndedAt = time.Now()
	if r.obs != nil {
		if err := writeJSON(r.dir, FileObservations, r.obs); err != nil {
			r.problem(err)
		}
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

// stop ends p (SIGTERM, then SIGKILL after the grace) and records how it
// exited.
func (r *run) stop(p *harness.Process) {
	if err := p.Stop(stopGrace); err != nil {
		r.problem(err)
	}
	if r.rec.Exits == nil {
		r.rec.Exits = map[string]string{}
	}
	r.rec.Exits[p.Spec.Name] = harness.ExitDescription(p.ExitErr())
}

// collectLive saves the final status and the ledger dump from the running
// daemon; if it no longer answers, the last observed status stands in and
// the record says so.
func (r *run) collectLive(ctx context.Context) {
	st, err := r.ctl.Status(ctx)
	switch {
	case err == nil:
		r.rec.StatusFrom = "final"
		r.save(FileStatus, st)
	case r.last != nil:
		r.rec.StatusFrom = "last-observation"
		r.problem(fmt.Errorf("final status: %w (relay-status.json is the last observed one)", err))
		r.save(FileStatus, r.last.status)
	default:
		r.problem(fmt.Errorf("final status: %w", err))
	}
	ledger, err := r.ctl.Ledger(ctx)
	if err != nil {
		r.problem(fmt.Errorf("ledger dump: %w", err))
		return
	}
	r.save(FileLedger, ledger)
}

func (r *run) save(name string, v any) {
	if err := writeJSON(r.dir, name, v); err != nil {
		r.problem(err)
	}
}

func (r *run) copyIfExists(src, name string) {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return
	}
	if err := evidence.CopyFile(src, filepath.Join(r.dir, name)); err != nil {
		r.problem(err)
	}
}

// unitTest is S-E: the limiter's 24 h reset test, run by go test from the
// module root; its JSON stream is the evidence.
func (r *run) unitTest(ctx context.Context) error {
	r.rec.EndCondition = "go test exits"
	end := r.phase("go-test")
	res := harness.RunCommand(ctx, r.lab.ModuleRoot, "go", "test", "-json", "-count=1",
		"-run", "^"+UnitTest+"$", UnitTestPackage)
	end(res.StartError == "", res.Err())
	if res.StartError != "" {
		return setupErr("go test: %s", res.StartError)
	}
	if err := evidence.WriteFile(filepath.Join(r.dir, FileGoTest), []byte(res.Stdout)); err != nil {
		return setupErr("save go test output: %w", err)
	}
	run := res
	run.Stdout = "(in " + FileGoTest + ")"
	r.save(FileGoTestRun, run)
	at := time.Now()
	r.rec.ReachedAt = &at
	events, _ := parseTestEvents([]byte(res.Stdout))
	if pass, detail := unitTestVerdict(events); pass {
		r.lab.Progress.Printf(r.def.Name, "%s passed", UnitTest)
	} else {
		r.lab.Progress.Printf(r.def.Name, "%s: %s", UnitTest, detail)
	}
	return res.Err()
}
