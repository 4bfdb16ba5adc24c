// Command relaybench prints edged's whole-process figures beside their
// baselines, measured in the same run (docs/PERFORMANCE.md). It builds
// edged, peer and sink (or takes them from --bin), runs every process on
// free loopback ports under a work directory, and prints one table.
//
//	go run ./perf/cmd/relaybench [--quick] [--figures 2,3,4,5,6,7] [--json out.json]
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
		binDir  = flag.String("bin", "", "directory holding edged, peer and sink (default: build them)")
		work    = flag.String("work", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
		keep    = flag.Bool("keep", false, "keep the work directory")
		quick   = flag.Bool("quick", false, "fewer and smaller runs (a smoke test, not figures to publish)")
		figures = flag.String("figures", "2,3,4,5,6,7", "which figures to run (3s, 3l, 3p: figure 3's small, large and peer parts only; 7a, 7p: figure 7's backlog and fleet parts)")
		out     = flag.String("json", "", "also write the rows as JSON to this file")
		pending = flag.Int("status-pending", 1000000, "figure 7: PENDING segments of the one-peer status run")
		fleet   = flag.Int("status-peers", 1000, "figure 7: configured peers of the fleet status run")
	)
	flag.Parse()
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
	want := strings.Split(*figures, ",")
	on := func(f string) bool {
		return slices.Contains(want, f) || len(f) > 1 && slices.Contains(want, f[:1])
	}

	// Sizes: long enough that start-up and the last cycle's pause are a
	// few per cent of a run; --quick only checks that everything works.
	sc := struct {
		small, large, peerSmall, peerLarge, rounds, loaded int
		base                                               time.Duration
		window                                             time.Duration
	}{30000, 1000, 1000, 100, 3, 100000, 2 * time.Second, 5 * time.Second}
	if *quick {
		sc.small, sc.large, sc.peerSmall, sc.peerLarge, sc.rounds, sc.loaded = 3000, 100, 200, 20, 1, 10000
		sc.base, sc.window = 500*time.Millisecond, 2*time.Second
	}
	// The bare client keeps as many PUTs in flight as edged's executor.
	const streams = daemon.RelayInFlight

	var rows []relaybench.Row
	step := func(name string, f func() error) error {
		fmt.Fprintf(os.Stderr, "%s…\n", name)
		start := time.Now()
		err := f()
		fmt.Fprintf(os.Stderr, "  (%.1f s)\n", time.Since(start).Seconds())
		return err
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
			row, err := env.LimiterPrecision(ctx, sc.window)
			rows = append(rows, row)
			return err
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
				row, err := env.Ingress(ctx, size, 1000, streams, 4*sc.rounds+1, sc.base/4)
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
