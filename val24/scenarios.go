package val24

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// ingress is S-A: senders PUT segments to edged's listener over real mTLS
// connections (several per sender, concurrently), an old client without a
// peer id, a spoofed peer id, one redelivery; edged relays everything to
// peer-a and peer-b. Evidence: every PUT with its answer, status around the
// spoofed PUTs, /metrics with the status right after it.
func (r *run) ingress(ctx context.Context) error {
	if err := r.setup(ctx, configOptions()); err != nil {
		return err
	}
	certs, err := r.issueSenderCerts()
	if err != nil {
		return labrun.SetupErr("sender certificates: %w", err)
	}
	clients := map[string][]*transport.Client{}
	for _, p := range SenderPlans {
		if clients[p.Name], err = r.senderClients(p, certs); err != nil {
			return labrun.SetupErr("%w", err)
		}
	}
	defer func() {
		for _, cs := range clients {
			for _, c := range cs {
				c.CloseIdle()
			}
		}
	}()
	var sends []Send
	var mu sync.Mutex
	record := func(s Send) {
		mu.Lock()
		defer mu.Unlock()
		sends = append(sends, s)
	}
	defer func() { r.Save(FileSends, sends) }()

	// Every connection of every sender at once: the per-identity counters
	// are shared by all connections of an identity.
	sendPhase := func(phase string) error {
		return r.Step(phase, func() error {
			var wg sync.WaitGroup
			for _, p := range SenderPlans {
				if p.Phase != phase {
					continue
				}
				for c := 1; c <= p.Conns; c++ {
					client := clients[p.Name][c-1]
					wg.Go(func() {
						for j := 1; j <= p.PerConn; j++ {
							record(put(ctx, r.lab.EdgedAddr, client, p, c, p.SegmentID(c, j), p.Target(c, j), p.Size(c, j), phase))
						}
					})
				}
			}
			wg.Wait()
			return ctx.Err()
		})
	}
	if err := sendPhase(PhaseSend); err != nil {
		return err
	}
	if err := r.snapshot(ctx, FileStatusPreSpoof); err != nil {
		return err
	}
	if err := sendPhase(PhaseSpoof); err != nil {
		return err
	}
	if err := r.snapshot(ctx, FileStatusSpoofed); err != nil {
		return err
	}
	// A redelivery of a held segment over another connection: 200, not a
	// second segment.
	p := SenderPlans[0]
	record(put(ctx, r.lab.EdgedAddr, clients[p.Name][1], p, 2, p.SegmentID(1, 1), p.Target(1, 1), p.Size(1, 1), PhaseRedeliver))

	accepted := map[string]bool{}
	for _, s := range sends {
		if s.Code == 201 {
			accepted[s.ID] = true
		}
	}
	n := int64(len(accepted))
	r.Progress.Printf(r.Scenario.Name, "%d PUTs, %d segments stored; waiting for the relay", len(sends), n)
	_, err = r.waitFor(ctx, "wait-relay", fmt.Sprintf("all %d stored segments DELIVERED in edged's status and held by their peers", n), true,
		func(p poll) bool {
			seg := p.status.Segments
			return seg.Delivered == n && seg.Pending == 0 &&
				int64(len(p.peers[PeerA].Segments)+len(p.peers[PeerB].Segments)) == n
		})
	if err != nil {
		return err
	}
	return r.Step("scrape-metrics", func() error {
		text, err := r.ctl.Metrics(ctx)
		if err != nil {
			return fmt.Errorf("GET /metrics: %w", err)
		}
		if err := evidence.WriteFile(filepath.Join(r.Dir, FileMetrics), []byte(text)); err != nil {
			return labrun.SetupErr("save metrics: %w", err)
		}
		if err := r.snapshot(ctx, FileMetricsStatus); err != nil {
			return err
		}
		if res, ok := promtoolCheck(ctx, filepath.Join(r.Dir, FileMetrics)); ok {
			r.Save(FilePromtool, res)
			r.Progress.Printf(r.Scenario.Name, "promtool check metrics: exit %d", res.ExitCode)
		}
		return nil
	})
}

// promtoolCheck runs `promtool check metrics` on the saved exposition when
// promtool is installed; ok is false when it is not (promlint, the same
// rules, is checked either way).
func promtoolCheck(ctx context.Context, path string) (harness.CommandResult, bool) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return harness.CommandResult{}, false
	}
	in, err := os.Open(path)
	if err != nil {
		return harness.CommandResult{Args: []string{promtool, "check", "metrics"}, ExitCode: -1, StartError: err.Error()}, true
	}
	defer in.Close()
	res := harness.CommandResult{Args: []string{promtool, "check", "metrics", "<", filepath.Base(path)}, StartedAt: time.Now()}
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = in
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res.Seconds = time.Since(res.StartedAt).Seconds()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	case err != nil:
		res.ExitCode, res.StartError = -1, err.Error()
	}
	return res, true
}

// snapshot saves edged's current status as name.
func (r *run) snapshot(ctx context.Context, name string) error {
	st, err := r.status(ctx)
	if err != nil {
		return fmt.Errorf("status for %s: %w", name, err)
	}
	r.Save(name, st)
	return nil
}

// perPeerLimit is S-B: peer-a gets its own 64 B/s through the CLI (and an
// unknown peer is refused), then five 64-byte segments for each peer are
// seeded in one transaction, peer-a's first in the cycle's order.
func (r *run) perPeerLimit(ctx context.Context) error {
	if err := r.setup(ctx, configOptions()); err != nil {
		return err
	}
	if err := r.setBandwidth(ctx, LabelPeerRate, 0, "--peer", PeerA, "--bytes-per-second", fmt.Sprint(PeerRate)); err != nil {
		r.Problem(err)
	}
	if err := r.setBandwidth(ctx, LabelUnknownPeer, 1, "--peer", UnknownPeer, "--bytes-per-second", fmt.Sprint(PeerRate)); err != nil {
		r.Problem(err)
	}
	seeded := map[string][]string{}
	if err := r.seed(ctx, seeded,
		labsetup.SeedOptions{Prefix: "val24-sb-a", Count: len(SBPeerA), Size: SegmentSize, TargetPeer: PeerA},
		labsetup.SeedOptions{Prefix: "val24-sb-b", Count: len(SBPeerB), Size: SegmentSize, TargetPeer: PeerB}); err != nil {
		return err
	}
	_, err := r.waitFor(ctx, "wait-delivery", "all 10 seeded segments DELIVERED and held by their peers", true,
		func(p poll) bool {
			return p.status.Segments.Delivered == 10 && len(p.peers[PeerA].Segments) == 5 && len(p.peers[PeerB].Segments) == 5
		})
	return err
}

// quotaRestart is S-C: a global quota and a smaller peer-a quota set
// through the CLI; peer-a's quota passes three of its five segments, the
// other two keep failing on it (retrying, so the daemon is mid-run) when
// edged is killed with SIGKILL and restarted on the same ledger. Then one
// more segment for peer-b.
func (r *run) quotaRestart(ctx context.Context) error {
	opts := configOptions()
	opts.MaxRetryCount = 10 // the dropped segments stay PENDING, retrying
	if err := r.setup(ctx, opts); err != nil {
		return err
	}
	if err := r.setBandwidth(ctx, LabelGlobalQuota, 0, "--daily-quota-bytes", fmt.Sprint(GlobalQuota)); err != nil {
		r.Problem(err)
	}
	if err := r.setBandwidth(ctx, LabelPeerQuota, 0, "--peer", PeerA, "--daily-quota-bytes", fmt.Sprint(PeerQuota)); err != nil {
		r.Problem(err)
	}
	seeded := map[string][]string{}
	if err := r.seed(ctx, seeded,
		labsetup.SeedOptions{Prefix: "val24-sc-a", Count: len(SCPeerA), Size: SegmentSize, TargetPeer: PeerA},
		labsetup.SeedOptions{Prefix: "val24-sc-b", Count: len(SCPeerB), Size: SegmentSize, TargetPeer: PeerB}); err != nil {
		return err
	}
	quotaA := int64(PeerQuota / SegmentSize)
	pending := int64(len(SCPeerA)) - quotaA
	if _, err := r.waitFor(ctx, "wait-quota-spent", fmt.Sprintf("peer-a: %d delivered and %d pending, dropped on its quota; peer-b: %d delivered", quotaA, pending, len(SCPeerB)), false,
		func(p poll) bool {
			a, b := p.status.Peers[PeerA], p.status.Peers[PeerB]
			return a.DeliveredSegments == quotaA && a.PendingSegments == pending && a.QuotaDropCount >= pending &&
				b.DeliveredSegments == int64(len(SCPeerB))
		}); err != nil {
		return err
	}

	// Kill at once after the last status: nothing is delivered in between,
	// since peer-a is at its quota and peer-b has nothing left.
	err := r.Step("kill-9", func() error {
		st, err := r.status(ctx)
		if err != nil {
			return fmt.Errorf("pre-kill status: %w", err)
		}
		r.Save(FilePreKill, st)
		rec := KillRecord{At: time.Now(), Pid: r.edged.Pid(), Signal: "SIGKILL"}
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
	err = r.Step("restart", func() error {
		if err := harness.WaitPortsFree(ctx, labrun.PortsTimeout, r.lab.EdgedAddr); err != nil {
			return fmt.Errorf("edged's port after the kill: %w", err)
		}
		if err := r.startEdged(ctx, FileEdgedRestart); err != nil {
			return err
		}
		if err := r.snapshot(ctx, FilePostRestart); err != nil {
			return err
		}
		led, err := r.ctl.Ledger(ctx)
		if err != nil {
			return fmt.Errorf("ledger after the restart: %w", err)
		}
		r.Save(FilePostLedger, led)
		r.Progress.Printf(r.Scenario.Name, "edged restarted (pid %d) on the same ledger", r.edged.Pid())
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.seed(ctx, seeded, labsetup.SeedOptions{Prefix: "val24-sc-b", Start: 3, Count: len(SCAfterKillB), Size: SegmentSize, TargetPeer: PeerB}); err != nil {
		return err
	}
	_, err = r.waitFor(ctx, "wait-after-restart",
		fmt.Sprintf("after the restart: peer-b's new segment DELIVERED and held by peer-b, peer-a's %d pending dropped on its quota again", pending), true,
		func(p poll) bool {
			b := p.status.Peers[PeerB]
			return b.DeliveredSegments == int64(len(SCPeerB)+len(SCAfterKillB)) && len(p.peers[PeerB].Segments) == len(SCPeerB)+len(SCAfterKillB) &&
				p.status.Peers[PeerA].QuotaDropCount >= pending
		})
	return err
}

// unitTests is S-D: the per-peer limiter and executor tests, run by go test
// from the module root; the JSON stream is the evidence.
func (r *run) unitTests(ctx context.Context) error {
	pkgs := make([]string, 0, len(UnitTests))
	var names []string
	for pkg, tests := range UnitTests {
		pkgs = append(pkgs, pkg)
		names = append(names, tests...)
	}
	slices.Sort(pkgs)
	slices.Sort(names)
	res, err := r.GoTest(ctx, "^("+strings.Join(names, "|")+")$", pkgs...)
	if err != nil {
		return err
	}
	events, _ := harness.ParseTestEvents([]byte(res.Stdout))
	r.Progress.Printf(r.Scenario.Name, "go test: %s", harness.VerdictOf(events, names...))
	return res.Err()
}
