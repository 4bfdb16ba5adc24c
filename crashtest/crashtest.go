// Package crashtest is the crash-safety harness of issue #6: it relays
// segments from a real edged to a real lab peer (separate processes, mutual
// TLS on free loopback ports, segments seeded into the ledger by another
// process's code path) while SIGKILLing one of them at random moments and
// starting it again, then collects what the ledger and the peer's evidence
// say, so the caller can check that nothing was lost, duplicated or torn.
package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/control"
	"edgelab/edged/daemon"
	"edgelab/edged/ledger"
	"edgelab/labs/harness"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
)

// Victims: the process a run kills.
const (
	Edged = "edged"
	Peer  = "peer"
)

// Identities and files of a run.
const (
	NodeID       = "edge-crash"
	PeerID       = "peer-crash"
	SegPrefix    = "crash"
	evidenceFile = "peer-evidence.json"
	readyFile    = "peer.ready"
)

// DailyQuota is large enough never to refuse a run's segments, and set so
// that the daily usage is tracked and can be checked against the ledger.
const DailyQuota = 1 << 30

// Options configures a run.
type Options struct {
	Victim   string // Edged or Peer
	Segments int    // seeded, in up to four batches during the run
	Size     int    // bytes per segment
	Cycles   int    // kill-and-restart cycles
	Seed     uint64 // of the kill schedule; the same seed gives the same schedule
	Dir      string // work directory (short: the control socket lives in it)
	Edged    string // binaries
	Peer     string
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Result is what a run observed after both processes stopped cleanly.
type Result struct {
	Options  Options
	Seeded   []string
	Kills    []Kill
	Duration time.Duration

	Final     api.Status       // edged's status once everything was delivered
	Ledger    []ledger.Segment // every row with its History, after edged stopped
	Usage     ledger.Usage     // the global quota usage stored in the ledger
	Integrity string           // PRAGMA integrity_check
	Evidence  received.Evidence
	// EvidenceErr is why the final evidence file could not be read or is
	// not valid; empty when it is.
	EvidenceErr string
	TempFiles   []string // evidence temp files left beside the file
}

// Kill is one SIGKILL of the victim.
type Kill struct {
	Cycle int
	// Delivered is the DELIVERED count edged reported last before the kill
	// (-1 when the kill came while the victim was starting).
	Delivered int64
	Starting  bool // killed before it was ready
}

// Run performs a run in opts.Dir. Its error means the run itself could not
// be carried out (a process did not start, a wait timed out); what it
// observed is checked by Violations.
func Run(ctx context.Context, opts Options) (res Result, err error) {
	if opts.Victim != Edged && opts.Victim != Peer {
		return res, fmt.Errorf("victim %q: want %q or %q", opts.Victim, Edged, Peer)
	}
	if opts.Segments < 1 || opts.Size < 1 || opts.Cycles < 0 {
		return res, fmt.Errorf("segments %d, size %d, cycles %d: want positive counts", opts.Segments, opts.Size, opts.Cycles)
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	r := &run{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		ctl: &control.Client{Socket: filepath.Join(opts.Dir, "ctl.sock")}}
	res.Options = opts
	start := time.Now()
	defer func() {
		// Whatever happened, no process outlives the run.
		for _, p := range []*harness.Process{r.edged, r.peer} {
			if p != nil {
				if serr := p.Stop(10 * time.Second); serr != nil && err == nil {
					err = serr
				}
			}
		}
		res.Duration = time.Since(start)
	}()
	if err := r.prepare(); err != nil {
		return res, err
	}
	if err := r.startPeer(ctx, true); err != nil {
		return res, err
	}
	if err := r.startEdged(ctx, true); err != nil {
		return res, err
	}

	batches := min(4, max(1, opts.Cycles))
	perBatch := (opts.Segments + batches - 1) / batches
	seedAt := map[int]bool{}
	for b := range batches {
		seedAt[b*opts.Cycles/batches] = true
	}
	for cycle := range opts.Cycles {
		if seedAt[cycle] && len(r.seeded) < opts.Segments {
			if err := r.seed(ctx, min(perBatch, opts.Segments-len(r.seeded))); err != nil {
				return res, err
			}
		}
		// The kills until the next batch share the segments seeded so far.
		left := 1
		for c := cycle + 1; c < opts.Cycles && !seedAt[c]; c++ {
			left++
		}
		k, err := r.killCycle(ctx, cycle, left)
		if err != nil {
			return res, fmt.Errorf("cycle %d: %w", cycle, err)
		}
		res.Kills = append(res.Kills, k)
	}
	for len(r.seeded) < opts.Segments {
		if err := r.seed(ctx, min(perBatch, opts.Segments-len(r.seeded))); err != nil {
			return res, err
		}
	}
	res.Seeded = r.seeded

	// Both processes run again: everything seeded must arrive.
	if err := r.waitReady(ctx); err != nil {
		return res, err
	}
	n := int64(len(r.seeded))
	res.Final, err = harness.Until(ctx, harness.Poll{Timeout: 60*time.Second + time.Duration(n)*50*time.Millisecond, Interval: 50 * time.Millisecond},
		r.observe, func(st api.Status) bool {
			return st.Segments.Delivered+st.Segments.Deadletter == n && st.Segments.Pending == 0
		})
	if err != nil {
		return res, fmt.Errorf("wait for all %d segments to be delivered (last status: segments=%+v): %w", n, res.Final.Segments, err)
	}
	opts.Logf("all %d segments settled after %d kills of %s: %+v", n, len(res.Kills), opts.Victim, res.Final.Segments)

	// A clean stop of both, then read what they left on disk.
	for _, p := range []*harness.Process{r.edged, r.peer} {
		if err := p.Stop(10 * time.Second); err != nil {
			return res, err
		}
		if err := p.ExitErr(); err != nil {
			return res, fmt.Errorf("%s did not exit cleanly on SIGTERM: %s", p.Spec.Name, harness.ExitDescription(err))
		}
	}
	return res, r.collect(ctx, &res)
}

type run struct {
	opts   Options
	rng    *rand.Rand
	ctl    *control.Client
	edged  *harness.Process
	peer   *harness.Process
	addr   string // the peer's address, kept across its restarts
	config string
	seeded []string
	starts map[string]int
}

func (r *run) path(name string) string { return filepath.Join(r.opts.Dir, name) }

func (r *run) prepare() error {
	if _, err := labsetup.GenerateTLS(r.path("tls"), labsetup.TLSOptions{NodeID: NodeID, PeerID: PeerID}); err != nil {
		return err
	}
	r.starts = map[string]int{}
	r.config = r.path("edge.toml")
	return nil
}

func (r *run) writeConfig() error {
	opts := labsetup.DefaultConfigOptions()
	opts.NodeID, opts.PeerID, opts.PeerAddr = NodeID, PeerID, r.addr
	opts.Listen = "127.0.0.1:0" // a free port: 19054/19055 belong to the VAL23 lab
	opts.TickInterval = 100 * time.Millisecond
	// While the peer is down every due segment fails; with no backoff and
	// retries beyond reach, those failures cost neither minutes of backoff
	// nor a DEADLETTER, and every segment must still arrive.
	opts.MaxRetryCount = 1_000_000
	opts.BackoffBaseSeconds = 0
	opts.DailyQuotaBytes = DailyQuota
	_, err := labsetup.WriteConfig(r.config, opts)
	return err
}

// startPeer starts the peer: on a free port the first time, then on the
// same address, as edged's config names it. wait waits until it listens.
func (r *run) startPeer(ctx context.Context, wait bool) error {
	listen := r.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ready := r.path(readyFile)
	// A SIGKILLed peer leaves its ready file behind.
	if err := os.Remove(ready); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r.starts[Peer]++
	p, err := harness.Start(harness.Spec{
		Name: "peer", Path: r.opts.Peer, Dir: r.opts.Dir,
		Log: r.path(fmt.Sprintf("peer-%02d.log", r.starts[Peer])),
		Args: []string{"--listen", listen, "--id", PeerID, "--tls-dir", r.path("tls"),
			"--evidence", r.path(evidenceFile), "--ready-file", ready},
	})
	if err != nil {
		return err
	}
	r.peer = p
	if !wait && r.addr != "" {
		return nil
	}
	if err := harness.WaitFile(ctx, 15*time.Second, ready, p); err != nil {
		return fmt.Errorf("peer start %d: %w (log %s)", r.starts[Peer], err, p.Spec.Log)
	}
	if r.addr == "" {
		data, err := os.ReadFile(ready)
		if err != nil {
			return err
		}
		r.addr = strings.TrimSpace(string(data))
		if err := r.writeConfig(); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) startEdged(ctx context.Context, wait bool) error {
	r.starts[Edged]++
	p, err := harness.Start(harness.Spec{
		Name: "edged", Path: r.opts.Edged, Dir: r.opts.Dir,
		Log:  r.path(fmt.Sprintf("edged-%02d.log", r.starts[Edged])),
		Args: []string{"run", "--config", r.config},
	})
	if err != nil {
		return err
	}
	r.edged = p
	if !wait {
		return nil
	}
	_, err = harness.Until(ctx, harness.Poll{Timeout: 15 * time.Second, Interval: 10 * time.Millisecond}, r.observe,
		func(api.Status) bool { return true })
	if err != nil {
		return fmt.Errorf("edged start %d: control socket does not answer: %w (log %s)", r.starts[Edged], err, p.Spec.Log)
	}
	return nil
}

// waitReady waits until both processes serve (after a restart whose
// readiness was not awaited).
func (r *run) waitReady(ctx context.Context) error {
	if err := harness.WaitFile(ctx, 15*time.Second, r.path(readyFile), r.peer); err != nil {
		return fmt.Errorf("peer start %d: %w (log %s)", r.starts[Peer], err, r.peer.Spec.Log)
	}
	_, err := harness.Until(ctx, harness.Poll{Timeout: 15 * time.Second, Interval: 10 * time.Millisecond}, r.observe,
		func(api.Status) bool { return true })
	if err != nil {
		return fmt.Errorf("edged start %d: control socket does not answer: %w (log %s)", r.starts[Edged], err, r.edged.Spec.Log)
	}
	return nil
}

// observe reads edged's status; a dead process aborts the wait at once.
func (r *run) observe(ctx context.Context) (api.Status, error) {
	for _, p := range []*harness.Process{r.edged, r.peer} {
		if err := p.Alive(); err != nil {
			return api.Status{}, fmt.Errorf("%w (log %s)", err, p.Spec.Log)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return r.ctl.Status(ctx)
}

func (r *run) seed(ctx context.Context, n int) error {
	ids, err := seed.Seed(ctx, r.path("ledger.db"), labsetup.SeedOptions{
		Prefix: SegPrefix, Start: len(r.seeded) + 1, Count: n, Size: r.opts.Size, TargetPeer: PeerID,
	})
	if err != nil {
		return err
	}
	r.seeded = append(r.seeded, ids...)
	r.opts.Logf("seeded %d segments (%s..%s) into the ledger", n, ids[0], ids[len(ids)-1])
	return nil
}

// killCycle kills the victim at a random moment and starts it again. One
// kill in ten comes while the victim is starting (opening the ledger,
// loading evidence); the others once edged reported a random number of
// further deliveries, plus a random fraction of a delivery, so kills land
// anywhere in the delivery path: before the PUT, while the peer writes its
// evidence, between the peer's answer and the DELIVERED mark.
//
// The number of further deliveries is drawn uniformly from [0, 2·pending/
// kills), pending being what is seeded and not yet delivered and kills the
// kills left before the next batch is seeded, so the kills spread over the
// run rather than bunching up once everything is delivered.
func (r *run) killCycle(ctx context.Context, cycle, kills int) (Kill, error) {
	k := Kill{Cycle: cycle, Delivered: -1}
	victim := r.edged
	if r.opts.Victim == Peer {
		victim = r.peer
	}
	starting := r.rng.IntN(10) == 0
	if starting {
		k.Starting = true
		sleep(ctx, time.Duration(r.rng.IntN(60))*time.Millisecond)
	} else {
		if err := r.waitReady(ctx); err != nil {
			return k, err
		}
		st, err := r.observe(ctx)
		if err != nil {
			return k, err
		}
		pending := max(0, int64(len(r.seeded))-st.Segments.Delivered)
		target := st.Segments.Delivered + r.rng.Int64N(max(1, 2*pending/int64(kills)))
		target = min(target, int64(len(r.seeded)))
		last, err := harness.Until(ctx, harness.Poll{Timeout: 60 * time.Second, Interval: 5 * time.Millisecond}, r.observe,
			func(st api.Status) bool { return st.Segments.Delivered >= target })
		if err != nil {
			return k, fmt.Errorf("wait for %d delivered (last status: segments=%+v): %w", target, last.Segments, err)
		}
		k.Delivered = last.Segments.Delivered
		sleep(ctx, time.Duration(r.rng.IntN(30_000))*time.Microsecond)
	}
	if err := syscall.Kill(-victim.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return k, fmt.Errorf("SIGKILL %s: %w", victim.Spec.Name, err)
	}
	select {
	case <-victim.Done():
	case <-time.After(10 * time.Second):
		return k, fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", victim.Spec.Name, victim.Pid())
	}
	r.opts.Logf("cycle %d/%d: SIGKILLed %s (pid %d) at delivered=%d starting=%v", cycle+1, r.opts.Cycles, victim.Spec.Name, victim.Pid(), k.Delivered, k.Starting)
	// Started again without waiting: the next cycle may kill it while it
	// is still starting.
	if r.opts.Victim == Peer {
		return k, r.startPeer(ctx, false)
	}
	return k, r.startEdged(ctx, false)
}

// sleep is the kill schedule's random delay, not a wait for a condition.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *run) collect(ctx context.Context, res *Result) error {
	l, err := ledger.Open(r.path("ledger.db"))
	if err != nil {
		return err
	}
	defer l.Close()
	if res.Integrity, err = l.IntegrityCheck(ctx); err != nil {
		return err
	}
	if res.Ledger, err = l.ListHistory(ctx); err != nil {
		return err
	}
	if res.Usage, err = l.Usage(ctx, ""); err != nil {
		return err
	}
	ev, err := received.ReadFile(r.path(evidenceFile))
	if err == nil {
		err = ev.Validate()
	}
	if err != nil {
		res.EvidenceErr = err.Error()
	}
	res.Evidence = ev
	res.TempFiles, _ = filepath.Glob(r.path("." + evidenceFile + ".tmp-*"))
	return nil
}

// Redeliveries is how many deliveries the peer counted beyond one per
// segment it holds.
func (res Result) Redeliveries() int {
	n := 0
	for _, s := range res.Evidence.Segments {
		n += s.Deliveries - 1
	}
	return n
}

// FailedAttempts is the number of failed delivery attempts the ledger
// recorded (attempts beyond the successful one).
func (res Result) FailedAttempts() int {
	n := 0
	for _, s := range res.Ledger {
		n += max(0, s.Attempts-1)
	}
	return n
}

// Violations lists every way the run's outcome breaks the crash-safety
// contract; none means it held.
//
// "Exactly once" is checked on both sides: the ledger holds each seeded id
// once, DELIVERED (the state moves PENDING → DELIVERED once, in the same
// transaction that counts its bytes against the quota); the peer holds
// each seeded id once with the seeded content. A kill can leave deliveries
// the peer stored but edged never recorded (up to daemon.RelayInFlight are
// under way at once); edged delivers them again and the peer answers 200
// and counts them in deliveries. So deliveries beyond one per segment are
// allowed, at most daemon.RelayInFlight per kill, and the peer's ingress
// bytes must count each of them.
func (res Result) Violations() []string {
	var v []string
	add := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	size := int64(res.Options.Size)
	seeded := map[string]bool{}
	for _, id := range res.Seeded {
		seeded[id] = true
	}
	if len(seeded) != res.Options.Segments {
		add("seeded %d distinct ids, want %d", len(seeded), res.Options.Segments)
	}

	if res.Integrity != "ok" {
		add("ledger integrity_check: %q, want \"ok\"", res.Integrity)
	}
	var deliveredBytes int64
	inLedger := map[string]bool{}
	for _, s := range res.Ledger {
		inLedger[s.ID] = true
		switch {
		case !seeded[s.ID]:
			add("ledger holds %s, which was never seeded", s.ID)
		case s.State != ledger.Delivered:
			add("ledger: %s is %s (attempts %d, last error %q), want DELIVERED", s.ID, s.State, s.Attempts, s.LastError)
		case s.Size != size:
			add("ledger: %s has size %d, want %d", s.ID, s.Size, size)
		}
		if s.State == ledger.Delivered {
			deliveredBytes += s.Size
		}
		// With the peer always up nothing ever fails: the one attempt
		// counted is the delivery (a kill abandons an attempt uncounted).
		if res.Options.Victim == Edged && s.Attempts != 1 {
			add("ledger: %s took %d attempts (last error %q), want 1: the peer never went down", s.ID, s.Attempts, s.LastError)
		}
		if msg := historyDisagrees(s); msg != "" {
			add("ledger: %s: %s", s.ID, msg)
		}
	}
	if len(res.Ledger) != len(seeded) {
		add("ledger holds %d rows, want %d", len(res.Ledger), len(seeded))
	}
	for _, id := range res.Seeded {
		if !inLedger[id] {
			add("ledger lost %s", id)
		}
	}
	if res.Usage.UsedBytes != deliveredBytes {
		add("ledger quota usage: %d bytes, want %d (the sum of DELIVERED sizes)", res.Usage.UsedBytes, deliveredBytes)
	}
	if res.Final.DailyUsedBytes != deliveredBytes {
		add("status daily_used_bytes: %d, want %d (the sum of DELIVERED sizes)", res.Final.DailyUsedBytes, deliveredBytes)
	}
	if res.Usage.WindowStart.IsZero() {
		add("ledger quota usage has no window start although %d bytes were delivered", deliveredBytes)
	}

	if res.EvidenceErr != "" {
		add("peer evidence: %s", res.EvidenceErr)
	}
	if len(res.TempFiles) > 0 {
		add("evidence temp files left behind: %v", res.TempFiles)
	}
	held := map[string]bool{}
	var wantIngress int64
	for _, s := range res.Evidence.Segments {
		switch {
		case held[s.ID]:
			add("peer holds %s twice", s.ID)
		case !seeded[s.ID]:
			add("peer holds %s, which was never seeded", s.ID)
		case s.Bytes != size || s.SHA256 != labsetup.PayloadSHA256(s.ID, int(size)):
			add("peer holds %s with %d bytes, sha256 %s; want the seeded %d bytes", s.ID, s.Bytes, s.SHA256, size)
		}
		held[s.ID] = true
		wantIngress += s.Bytes * int64(s.Deliveries)
	}
	var missing []string
	for _, id := range res.Seeded {
		if !held[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		add("peer lacks %d seeded segments: %s", len(missing), abbreviate(missing, 10))
	}
	if res.Evidence.Ingress.Bytes != wantIngress {
		add("peer ingress bytes: %d, want %d (bytes × deliveries summed over segments)", res.Evidence.Ingress.Bytes, wantIngress)
	}
	if got := res.Evidence.Ingress.ByPeer[NodeID]; got != wantIngress || len(res.Evidence.Ingress.ByPeer) != 1 {
		add("peer ingress by peer: %v, want {%s: %d}", res.Evidence.Ingress.ByPeer, NodeID, wantIngress)
	}
	if extra := res.Redeliveries(); extra > len(res.Kills)*daemon.RelayInFlight {
		add("peer counted %d redeliveries after %d kills; at most %d per kill (daemon.RelayInFlight) are explained", extra, len(res.Kills), daemon.RelayInFlight)
	}
	return v
}

// historyDisagrees says how s's attempt history disagrees with its row,
// "" when it does not: the history is written in the transaction that
// counts the attempt, so a kill can abandon an attempt but never leave one
// counted and not in the history, nor the reverse. The ledger is new, so
// every attempt was made with the history in place. Only the current
// round is compared with the row (ledger.CurrentRound): a requeue resets
// the count and keeps the earlier rounds.
func historyDisagrees(s ledger.Segment) string {
	s.History = ledger.CurrentRound(s.History)
	if len(s.History) != s.Attempts {
		return fmt.Sprintf("counts %d attempts, its history holds %d: %+v", s.Attempts, len(s.History), s.History)
	}
	for i, a := range s.History {
		last := i == len(s.History)-1
		delivered := s.State == ledger.Delivered && last
		switch {
		case a.Attempt != i+1:
			return fmt.Sprintf("history entry %d is attempt %d", i+1, a.Attempt)
		case a.EndedAt.Before(a.StartedAt):
			return fmt.Sprintf("attempt %d ended at %v, before it started at %v", a.Attempt, a.EndedAt, a.StartedAt)
		case delivered && (a.Outcome != ledger.OutcomeDelivered || a.Error != ""):
			return fmt.Sprintf("DELIVERED, but its last attempt is %s (%q)", a.Outcome, a.Error)
		case !delivered && (a.Outcome != ledger.OutcomeFailed || a.Error == ""):
			return fmt.Sprintf("attempt %d is %s (%q), want a failure with its error", a.Attempt, a.Outcome, a.Error)
		case !delivered && last && a.Error != s.LastError:
			return fmt.Sprintf("last attempt failed with %q, the row says %q", a.Error, s.LastError)
		}
	}
	return ""
}

func abbreviate(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + fmt.Sprintf(" … (%d more)", len(ids)-n)
}
