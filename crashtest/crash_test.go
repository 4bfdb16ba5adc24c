package crashtest_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"edgelab/crashtest"
	"edgelab/labs/harness"
)

// Sizes: a smoke run in the default test suite, the full run with
// EDGELAB_CRASH=1 (scripts/crash/run.sh). EDGELAB_CRASH_SEGMENTS,
// EDGELAB_CRASH_CYCLES and EDGELAB_CRASH_SEED override them; the seed of
// every run is logged so a failing schedule can be replayed.
const (
	smokeSegments, smokeCycles = 150, 3
	fullSegments, fullCycles   = 2000, 20
	segmentSize                = 64
)

// large is the size of the segments of the large-payload runs: above the
// ledger's file threshold (64 KiB), so every payload is read from a file
// of its own.
const (
	largeSize                         = 96 << 10
	smokeLargeSegments, fullLargeSegs = 40, 400
)

var (
	buildOnce sync.Once
	binDir    string
	bins      map[string]string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func binaries(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		ctx := context.Background()
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			buildErr = err
			return
		}
		if binDir, err = os.MkdirTemp("", "crash-bin"); err != nil {
			buildErr = err
			return
		}
		bins, buildErr = harness.Build(ctx, root, binDir, []string{"./edged", "./peer"})
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

func TestCrash_KillEdged(t *testing.T) {
	runCrash(t, crashtest.Edged, segmentSize, smokeSegments, fullSegments)
}

func TestCrash_KillPeer(t *testing.T) {
	runCrash(t, crashtest.Peer, segmentSize, smokeSegments, fullSegments)
}

func TestCrash_KillEdged_LargePayloads(t *testing.T) {
	runCrash(t, crashtest.Edged, largeSize, smokeLargeSegments, fullLargeSegs)
}

func runCrash(t *testing.T, victim string, size, smokeSegs, fullSegs int) {
	segments, cycles := smokeSegs, smokeCycles
	if os.Getenv("EDGELAB_CRASH") != "" {
		segments, cycles = fullSegs, fullCycles
	} else if testing.Short() {
		t.Skip("starts and kills real processes; EDGELAB_CRASH=1 runs the full size")
	}
	segments = envInt(t, "EDGELAB_CRASH_SEGMENTS", segments)
	cycles = envInt(t, "EDGELAB_CRASH_CYCLES", cycles)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("EDGELAB_CRASH_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("EDGELAB_CRASH_SEED=%q: %v", v, err)
		}
	}
	b := binaries(t)
	// Not t.TempDir: the control socket path must stay short, and a failed
	// run's logs are kept for a look.
	dir, err := os.MkdirTemp("", "crash-"+victim+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill %s: %d segments of %d B, %d cycles, EDGELAB_CRASH_SEED=%d, dir %s", victim, segments, size, cycles, seed, dir)
	res, err := crashtest.Run(context.Background(), crashtest.Options{
		Victim: victim, Segments: segments, Size: size, Cycles: cycles, Seed: seed,
		Dir: dir, Edged: b["edged"], Peer: b["peer"], Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("run: %v (logs in %s)", err, dir)
	}
	starting := 0
	for _, k := range res.Kills {
		if k.Starting {
			starting++
		}
	}
	t.Logf("kill %s: %d segments, %d kills (%d while starting) in %s; peer redeliveries %d, failed attempts %d, daily_used_bytes %d, integrity %q",
		victim, len(res.Seeded), len(res.Kills), starting, res.Duration.Round(time.Millisecond),
		res.Redeliveries(), res.FailedAttempts(), res.Final.DailyUsedBytes, res.Integrity)
	for _, v := range res.Violations() {
		t.Error(v)
	}
	if t.Failed() {
		t.Logf("logs and files kept in %s", dir)
		return
	}
	os.RemoveAll(dir)
}
