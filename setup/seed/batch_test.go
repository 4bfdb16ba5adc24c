package seed

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/ledger"
	"edgelab/setup/labsetup"
)

func TestSeedBatch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	ids, err := Batch(ctx, path,
		labsetup.SeedOptions{Prefix: "x-a", Count: 2, Size: 8, TargetPeer: "peer-a"},
		labsetup.SeedOptions{Prefix: "x-b", Count: 1, Size: 4, TargetPeer: "peer-b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"x-a-001", "x-a-002"}, {"x-b-001"}}, ids); diff != "" {
		t.Fatalf("ids (-want +got):\n%s", diff)
	}
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	segs, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range segs {
		got = append(got, s.ID+"→"+s.TargetPeer)
		if !s.CreatedAt.Equal(segs[0].CreatedAt) {
			t.Errorf("%s created at %v, want every segment at %v", s.ID, s.CreatedAt, segs[0].CreatedAt)
		}
	}
	if diff := cmp.Diff([]string{"x-a-001→peer-a", "x-a-002→peer-a", "x-b-001→peer-b"}, got); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}

	// A duplicate anywhere inserts nothing.
	_, err = Batch(ctx, path,
		labsetup.SeedOptions{Prefix: "y", Count: 1, Size: 8, TargetPeer: "peer-a"},
		labsetup.SeedOptions{Prefix: "x-b", Count: 1, Size: 4, TargetPeer: "peer-b"})
	if err == nil || !strings.Contains(err.Error(), "x-b-001") {
		t.Fatalf("batch with a held id: got %v, want an error naming x-b-001", err)
	}
	if segs, _ := l.List(ctx); len(segs) != 3 {
		t.Errorf("after the refused batch: %d segments, want 3", len(segs))
	}
	if _, err := Batch(ctx, path, labsetup.SeedOptions{Prefix: "z", Count: 1, Size: 8, TargetPeer: "a/b"}); err == nil {
		t.Errorf("bad target peer: got nil, want an error")
	}
}
