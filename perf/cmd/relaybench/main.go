// Command relaybench prints edged's whole-process figures beside their
// baselines, measured in the same run (docs/PERFORMANCE.md). It builds
// edged, peer and sink (or takes them from --bin), runs every process on
// free loopback ports under a work directory, and prints one table.
//
//	go run ./perf/cmd/relaybench [--quick] [--figures 2,3,3b,4,5,6,7,8,9] [--before DIR] [--profile] [--json out.json]
//
// scripts/bench/run.sh runs it, and the Go benchmarks of ./perf, together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"edgelab/edged/daemon"
	"edgelab/labs/harness"
	"edgelab/perf/relaybench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "relaybench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		binDir     = flag.String("bin", "", "directory holding edged, peer and sink (default: build them)")
		work       = flag.String("work", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
		keep       = flag.Bool("keep", false, "keep the work directory")
		quick      = flag.Bool("quick", false, "fewer and smaller runs (a smoke test, not figures to publish)")
		figures    = flag.String("figures", "2,3,4,5,6,7", "which figures to run (9: 1,000 peers, not in the default; 3s, 3l, 3p: figure 3's small, large and peer parts only; 3b: 64 B with the batched transfer, not in 3; 2c: figure 2's CPU behind a rate limit only; 7a, 7p: figure 7's backlog and fleet parts; 8 needs --before)")
		out        = flag.String("json", "", "also write the rows as JSON to this file")
		before     = flag.String("before", "", "figure 8: a directory holding another build's edged and sink, the baseline of the evidence-cost figure (scripts/bench/evidence_cost.sh builds one)")
		beforeWhat = flag.String("before-what", "the attempt history and the hostile-sender bounds", "figure 8: what the --before build leaves out")
		profile    = flag.Bool("profile", false, "every edged writes a CPU profile, edged.cpu.pprof in its run directory (implies --keep)")
		// Figure 2's scenarios run this many times each: 3 by default,
		// which keeps scripts/bench/run.sh under 10 minutes on a busy
		// machine; docs/PERFORMANCE.md's figures are of 5.
		precisionRuns = flag.Int("precision-runs", 0, "runs of each figure 2 scenario (0: 3, or 1 with --quick)")
		pending       = flag.Int("status-pending", 1000000, "figure 7: PENDING segments of the one-peer status run")
		fleet         = flag.Int("status-peers", 1000, "figure 7: configured peers of the fleet status run")
	)
	flag.Parse()
	if *profile {
		*keep = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *work == "" {
		dir, err := os.MkdirTemp("", "relaybench-")
		if err != nil {
			return err
		}
		*work = dir
		if !*keep {
			defer os.RemoveAll(dir)
		}
	}
	bins := map[string]string{}
	if *binDir == "" {
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "building edged, peer, sink…")
		if bins, err = harness.Build(ctx, root, filepath.Join(*work, "bin"), []string{"./edged", "./peer", "./perf/cmd/sink"}); err != nil {
			return err
		}
	} else {
		for _, name := range []string{"edged", "peer", "sink"} {
			bins[name] = filepath.Join(*binDir, name)
		}
	}
	env, err := relaybench.NewEnv(bins, *work, os.Stderr)
	if err != nil {
		return err
	}
	env.Profile = *profile
	if *keep {
		fmt.Fprintf(os.Stderr, "work directory (kept): %s\n", *work)
	}
	want := strings.Split(*figures, ",")
	on := func(f string) bool {
		return slices.Contains(want, f) || len(f) > 1 && slices.Contains(want, f[:1])
	}

	// Sizes: long enough that start-up and the last cycle's pause are a
	// few per cent of a run; --quick only checks that everything works.
	sc := struct {
		small, large, peerSmall, peerLarge, rounds, loaded int
		base                                               time.Duration
		precisionRuns                                      int
	}{20000, 500, 1000, 100, 5, 100000, time.Second, 3}
	if *quick {
		sc.small, sc.large, sc.peerSmall, sc.peerLarge, sc.rounds, sc.loaded = 3000, 100, 200, 20, 1, 10000
		sc.base, sc.precisionRuns = 500*time.Millisecond, 1
	}
	if *precisionRuns > 0 {
		sc.precisionRuns = *precisionRuns
	}
	// The bare client keeps as many PUTs in flight as edged's executor.
	const streams = daemon.RelayInFlight

	var rows []relaybench.Row
	step := func(name string, f func() error) error {
		fmt.Fprintf(os.Stderr, "%s…\n", name)
		start := time.Now()
		before := len(rows)
		err := f()
		for i := before; i < len(rows); i++ {
			rows[i].Load = relaybench.LoadAverage()
		}
		fmt.Fprintf(os.Stderr, "  (%.1f s)\n", time.Since(start).Seconds())
		return err
	}
	if on("9") {
		if err := step("figure 9: 1,000 peers at distinct addresses, against one peer", func() error {
			peers := 1000
			if *quick {
				peers = 50
			}
			row, err := env.ManyPeers(ctx, peers, sc.small, 64, sc.rounds)
			rows = append(rows, row)
			return err
		}); err != nil {
			return err
		}
	}
	if on("3s") {
		if err := step("figure 3: 64 B segments, edged → sink, against bare PUTs", func() error {
			row, err := env.SmallThroughput(ctx, relaybench.Sink, sc.small, sc.rounds, sc.base, streams)
			rows = append(rows, row)
			return err
		}); err != nil {
			return err
		}
	}
	// 3b only when named: the batched transfer is an opt-in contract
	// extension, not one of figure 3's targets.
	if slices.Contains(want, "3b") {
		if err := step("figure 3b: 64 B segments, edged → sink with batch = true, against bare PUTs and bare batches", func() error {
			r, err := env.BatchThroughput(ctx, 2*sc.small, sc.rounds, sc.base, streams)
			rows = append(rows, r...)
			return err
		}); err != nil {
			return err
		}
	}
	if on("3l") {
		if err := step("figure 3: 1 MiB segments, edged → sink, against a TLS stream copy", func() error {
			row, err := env.LargeThroughput(ctx, relaybench.Sink, sc.large, sc.rounds, sc.base)
			rows = append(rows, row)
			if err == nil {
				row, err = env.ProtocolCeiling(ctx, sc.rounds, sc.base, streams)
				rows = append(rows, row)
			}
			return err
		}); err != nil {
			return err
		}
	}
	if on("3p") {
		if err := step("figure 3: edged → the lab peer", func() error {
			row, err := env.SmallThroughput(ctx, relaybench.Peer, sc.peerSmall, 1, sc.base, streams)
			rows = append(rows, row)
			if err == nil {
				row, err = env.LargeThroughput(ctx, relaybench.Peer, sc.peerLarge, 1, sc.base)
				rows = append(rows, row)
			}
			return err
		}); err != nil {
			return err
		}
	}
	if on("2") {
		if err := step("figure 2: limiter precision", func() error {
			prows, err := env.LimiterPrecision(ctx, relaybench.PrecisionScenarios(*quick), sc.precisionRuns)
			rows = append(rows, prows...)
			if err != nil {
				return err
			}
			row, err := env.Rclone(ctx, 1<<20, 6<<20, sc.precisionRuns)
			rows = append(rows, row)
			return err
		}); err != nil {
			return err
		}
	}
	if on("2c") {
		if err := step("figure 2c: CPU per segment behind a rate limit, against unlimited", func() error {
			for _, rate := range []int64{10 << 20, 100 << 20} {
				// 2 s of throttled relay at 10 MiB/s, 1 s at 100 MiB/s:
				// the burst (1 MiB) is a small part either way.
				count := int(2 * rate / (64 << 10))
				if rate > 10<<20 {
					count /= 2
				}
				if *quick {
					count /= 4
				}
				row, err := env.LimitedCost(ctx, rate, 1<<20, 64<<10, count, sc.rounds)
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if on("8") && *before != "" {
		if err := step("figure 8: this build against --before", func() error {
			bins := map[string]string{"peer": env.Bin["peer"]}
			for _, name := range []string{"edged", "sink"} {
				bins[name] = filepath.Join(*before, name)
			}
			old, err := relaybench.NewEnv(bins, filepath.Join(*work, "before"), os.Stderr)
			if err != nil {
				return err
			}
			// Half figure 3's counts: two builds in 5 rounds each.
			for _, c := range []struct{ size, count int }{{64, sc.small / 2}, {1 << 20, sc.large / 2}} {
				row, err := env.Against(ctx, old, *beforeWhat, c.size, c.count, sc.rounds)
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if on("4") || on("5") {
		if err := step(fmt.Sprintf("figures 4 and 5: %d pending segments", sc.loaded), func() error {
			lat, mem, err := env.LoadedLedger(ctx, sc.loaded, 1024, 3, 10*time.Millisecond)
			rows = append(rows, lat, mem)
			return err
		}); err != nil {
			return err
		}
	}
	if on("6") {
		if err := step("figure 6: ingress attribution on/off", func() error {
			for _, size := range []int{64, 16 << 10} {
				row, err := env.Ingress(ctx, size, 1000, streams, 2*sc.rounds+1, sc.base/2)
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	{
		// 7a: the backlog's cost (one target, every segment oversize);
		// 7p: the fleet's (many targets, a few segments each).
		runs := []struct {
			name               string
			count, size, peers int
		}{{"7a", *pending, 64, 1}, {"7p", *fleet * 10, 64, *fleet}}
		if *quick {
			runs[0].count, runs[1].count, runs[1].peers = 20000, 1000, 100
		}
		for _, run := range runs {
			if !on(run.name) {
				continue
			}
			if err := step(fmt.Sprintf("figure 7: status with %d pending over %d peer(s)", run.count, run.peers), func() error {
				row, err := env.StatusLatency(ctx, run.count, run.size, run.peers, 200, 20*time.Millisecond)
				rows = append(rows, row)
				return err
			}); err != nil {
				return err
			}
		}
	}
	rows = slices.DeleteFunc(rows, func(r relaybench.Row) bool { return r.Figure == "" })

	host, _ := os.Hostname()
	fmt.Printf("relaybench %s on %s: %s/%s, %d CPUs, %s\n\n", time.Now().UTC().Format(time.RFC3339), host,
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	relaybench.WriteTable(os.Stdout, rows)
	if *out != "" {
		data, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if r.Met != nil && !*r.Met {
			return errors.New("a target was missed (see the table)")
		}
	}
	return nil
}
