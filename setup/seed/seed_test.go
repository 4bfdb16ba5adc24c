package seed_test

import (
	"context"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"

	"edgelab/edged/ledger"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
)

func TestSeed_InsertsExactSegments(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	ids, err := seed.Seed(ctx, path, labsetup.SeedOptions{
		Prefix: "val23-sb", Count: 5, Size: 64, TargetPeer: "peer-val23", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"val23-sb-001", "val23-sb-002", "val23-sb-003", "val23-sb-004", "val23-sb-005"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Seed ids (-want +got):\n%s", diff)
	}

	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, id := range want {
		seg, err := l.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got := []any{seg.State, seg.TargetPeer, seg.Size, seg.Attempts, seg.NextAttemptAt.Equal(now), string(seg.Payload) == string(labsetup.Payload(id, 64))}
		if diff := cmp.Diff([]any{ledger.Pending, "peer-val23", int64(64), 0, true, true}, got); diff != "" {
			t.Errorf("%s [state target size attempts due-now payload-ok] (-want +got):\n%s", id, diff)
		}
	}
}

func TestSeed_DuplicateInsertsNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	opts := labsetup.SeedOptions{Prefix: "val23-sc", Count: 5, Size: 64, TargetPeer: "peer-val23"}
	if _, err := seed.Seed(ctx, path, opts); err != nil {
		t.Fatal(err)
	}
	before := listIDs(t, path)

	// 004 and 005 are held; 006..008 are new but must not be inserted.
	overlap := opts
	overlap.Start = 4
	ids, err := seed.Seed(ctx, path, overlap)
	assert.ErrorContains(t, err, `segment "val23-sc-004" is already in the ledger; nothing was inserted`)
	var dup *ledger.DuplicateError
	if !errors.As(err, &dup) || dup.ID != "val23-sc-004" {
		t.Errorf("error %v does not wrap *ledger.DuplicateError for val23-sc-004", err)
	}
	if ids != nil {
		t.Errorf("ids = %v, want nil on refusal", ids)
	}
	if diff := cmp.Diff(before, listIDs(t, path)); diff != "" {
		t.Errorf("ledger changed by a refused seed (-before +after):\n%s", diff)
	}
	if len(before) != 5 {
		t.Errorf("ledger holds %d segments, want 5", len(before))
	}
}

func TestSeed_BadOptions(t *testing.T) {
	ok := labsetup.SeedOptions{Prefix: "p", Count: 1, Size: 1, TargetPeer: "peer-val23"}
	tests := []struct {
		name string
		edit func(*labsetup.SeedOptions)
		want string
	}{
		{"no prefix", func(o *labsetup.SeedOptions) { o.Prefix = "" }, "prefix is required"},
		{"zero count", func(o *labsetup.SeedOptions) { o.Count = 0 }, "count must be at least 1, got 0"},
		{"zero size", func(o *labsetup.SeedOptions) { o.Size = 0 }, "size must be at least 1 byte, got 0"},
		{"negative start", func(o *labsetup.SeedOptions) { o.Start = -2 }, "start must not be negative, got -2"},
		{"no target", func(o *labsetup.SeedOptions) { o.TargetPeer = "" }, "target peer is required"},
		{"path in prefix", func(o *labsetup.SeedOptions) { o.Prefix = "../x" }, `prefix "../x" makes a bad id`},
		{"non-ASCII prefix", func(o *labsetup.SeedOptions) { o.Prefix = "sëg" }, `prefix "sëg" makes a bad id`},
		// 125 characters + "-001" = 129.
		{"id too long", func(o *labsetup.SeedOptions) { o.Prefix = strings.Repeat("x", 125) }, "129 characters, at most 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			opts := ok
			tt.edit(&opts)
			_, err := seed.Seed(context.Background(), path, opts)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// Two seeders and a stand-in for the running daemon (its own connections,
// taking due segments and marking them DELIVERED) share one ledger: every
// seeded id must end up in it, each delivered exactly once.
func TestSeed_ConcurrentWithDaemonLosesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	daemon, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()

	const batches, perBatch = 10, 5
	var want []string
	for _, prefix := range []string{"val23-a", "val23-b"} {
		want = append(want, labsetup.SegmentIDs(prefix, 1, batches*perBatch)...)
	}
	sort.Strings(want)

	var seeders sync.WaitGroup
	seedErrs := make(chan error, 2*batches)
	for _, prefix := range []string{"val23-a", "val23-b"} {
		seeders.Add(1)
		go func() {
			defer seeders.Done()
			for b := range batches {
				_, err := seed.Seed(ctx, path, labsetup.SeedOptions{
					Prefix: prefix, Start: 1 + b*perBatch, Count: perBatch, Size: 64, TargetPeer: "peer-val23",
				})
				if err != nil {
					seedErrs <- err
				}
			}
		}()
	}
	seeded := make(chan struct{})
	go func() { seeders.Wait(); close(seeded) }()

	delivered := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for done := false; ; {
		select {
		case <-seeded:
			done = true
		default:
		}
		due, err := daemon.Due(ctx, time.Now().Add(time.Hour), 100)
		if err != nil {
			t.Fatalf("daemon Due: %v", err)
		}
		for _, s := range due {
			if err := daemon.MarkDelivered(ctx, s.ID, time.Now(), nil); err != nil {
				t.Fatalf("daemon MarkDelivered: %v", err)
			}
			delivered[s.ID]++
		}
		if done && len(due) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seeding did not finish within 20s; delivered %d of %d", len(delivered), len(want))
		}
	}
	close(seedErrs)
	for err := range seedErrs {
		t.Errorf("seed: %v", err)
	}

	if diff := cmp.Diff(want, listIDs(t, path)); diff != "" {
		t.Errorf("ledger ids (-seeded +ledger):\n%s", diff)
	}
	var got []string
	for id, n := range delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times, want 1", id, n)
		}
		got = append(got, id)
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered ids (-seeded +delivered):\n%s", diff)
	}
	counts, err := daemon.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[ledger.State]int64{ledger.Pending: 0, ledger.Delivered: int64(len(want)), ledger.Deadletter: 0}, counts); diff != "" {
		t.Errorf("ledger counts (-want +got):\n%s", diff)
	}
}

func listIDs(t *testing.T, path string) []string {
	t.Helper()
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	segs, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, s := range segs {
		ids = append(ids, s.ID)
	}
	return ids
}
