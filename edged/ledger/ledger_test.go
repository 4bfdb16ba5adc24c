package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func open(t testing.TB, path string) *Ledger {
	t.Helper()
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func ids(segs []Segment) []string {
	out := []string{}
	for _, s := range segs {
		out = append(out, s.ID)
	}
	return out
}

func TestInsert_AllOrNothing(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	if err := l.Insert(ctx, t0, New{ID: "a", TargetPeer: "p", Payload: []byte("xx")}); err != nil {
		t.Fatal(err)
	}
	err := l.Insert(ctx, t0, New{ID: "b", TargetPeer: "p"}, New{ID: "a", TargetPeer: "p"})
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.ID != "a" {
		t.Fatalf("insert with a duplicate: got %v, want DuplicateError for a", err)
	}
	all, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a"}, ids(all)); diff != "" {
		t.Fatalf("after the refused insert (-want +got):\n%s", diff)
	}
	if all[0].Size != 2 || all[0].State != Pending {
		t.Fatalf("row: got %+v", all[0])
	}
	created, err := l.InsertIfAbsent(ctx, t0, New{ID: "a", TargetPeer: "p"})
	if err != nil || created {
		t.Fatalf("InsertIfAbsent of a held id: got created=%v err=%v, want false, nil", created, err)
	}
}

func TestDue_OrderAndStates(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	l.Insert(ctx, t0.Add(time.Second), New{ID: "late", TargetPeer: "p"})
	l.Insert(ctx, t0, New{ID: "b", TargetPeer: "p"}, New{ID: "a", TargetPeer: "p"}, New{ID: "c", TargetPeer: "p"})
	if err := l.MarkFailed(ctx, "a", 1, t0.Add(2*time.Second), "boom", false, t0); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkFailed(ctx, "c", 3, t0, "boom", true, t0); err != nil {
		t.Fatal(err)
	}
	due, err := l.Due(ctx, t0.Add(5*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "late", "a"}, ids(due)); diff != "" {
		t.Fatalf("due order (-want +got):\n%s", diff)
	}
	next, ok, err := l.NextDue(ctx, t0)
	if want := t0.Add(time.Second); err != nil || !ok || !next.Equal(want) {
		t.Fatalf("NextDue: got %v %v %v, want %v", next, ok, err, want)
	}
	if _, ok, err := l.NextDue(ctx, t0.Add(2*time.Second)); ok || err != nil {
		t.Fatalf("NextDue with every pending segment due: got ok=%v err=%v, want none", ok, err)
	}
}

func TestMarkDelivered_StoresUsageInTheSameTransaction(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	l.Insert(ctx, t0, New{ID: "a", TargetPeer: "p", Payload: make([]byte, 64)})
	u := Usage{WindowStart: t0, UsedBytes: 64}
	if err := l.MarkDelivered(ctx, "a", t0, map[string]Usage{"": u}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Usage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Fatalf("usage (-want +got):\n%s", diff)
	}
	// A second mark fails and leaves the usage alone.
	if err := l.MarkDelivered(ctx, "a", t0, map[string]Usage{"": {WindowStart: t0, UsedBytes: 128}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second MarkDelivered: got %v, want ErrNotFound", err)
	}
	if got, _ := l.Usage(ctx, ""); got.UsedBytes != 64 {
		t.Fatalf("usage after the refused mark: got %d, want 64", got.UsedBytes)
	}
	by, err := l.DeliveredByPeer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]PeerTotals{"p": {Segments: 1, Bytes: 64}}, by); diff != "" {
		t.Fatalf("delivered by peer (-want +got):\n%s", diff)
	}
}

// Two writers on separate connections (as edged and `setup seed` are) lose
// nothing.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	a, b := open(t, path), open(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, l := range []*Ledger{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 100 {
				if err := l.Insert(ctx, t0, New{ID: fmt.Sprintf("w%d-%03d", i, n), TargetPeer: "p"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counts, err := a.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[Pending] != 200 {
		t.Fatalf("pending: got %d, want 200", counts[Pending])
	}
	if v, err := a.IntegrityCheck(ctx); err != nil || v != "ok" {
		t.Fatalf("integrity: got %q %v", v, err)
	}
}

func TestSettings(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	type bw struct{ Rate int64 }
	var got bw
	if ok, err := l.Setting(ctx, "bw", &got); ok || err != nil {
		t.Fatalf("unset setting: got ok=%v err=%v", ok, err)
	}
	if err := l.SetSetting(ctx, "bw", bw{64}); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.Setting(ctx, "bw", &got); !ok || err != nil || got.Rate != 64 {
		t.Fatalf("setting: got %+v ok=%v err=%v", got, ok, err)
	}
	if err := l.DeleteSetting(ctx, "bw"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.Setting(ctx, "bw", &got); ok {
		t.Fatal("setting survived its deletion")
	}
}

func TestCountsAndOversizePerPeer(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	var segs []New
	for _, s := range []struct {
		id, peer string
		size     int
	}{
		{"a1", "a", 10}, {"a2", "a", 50}, {"a3", "a", 100},
		{"b1", "b", 10}, {"b2", "b", 100},
		{"c1", "c", 100},
	} {
		segs = append(segs, New{ID: s.id, TargetPeer: s.peer, Payload: make([]byte, s.size)})
	}
	if err := l.Insert(ctx, t0, segs...); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkDelivered(ctx, "a1", t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkFailed(ctx, "b1", 1, t0, "x", true, t0); err != nil {
		t.Fatal(err)
	}

	counts, err := l.CountsByPeer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]map[State]int64{
		"a": {Delivered: 1, Pending: 2},
		"b": {Deadletter: 1, Pending: 1},
		"c": {Pending: 1},
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("CountsByPeer (-want +got):\n%s", diff)
	}

	tests := []struct {
		name   string
		global int64
		peers  map[string]int64
		want   map[string]int64
	}{
		{"no rate anywhere", 0, nil, map[string]int64{}},
		{"global burst only", 60, nil, map[string]int64{"a": 1, "b": 1, "c": 1}},
		{"a peer burst only", 0, map[string]int64{"a": 40}, map[string]int64{"a": 2}},
		{"the smaller burst counts", 200, map[string]int64{"a": 60, "b": 0}, map[string]int64{"a": 1}},
		{"global and peer", 60, map[string]int64{"a": 40, "c": 500}, map[string]int64{"a": 2, "b": 1, "c": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.PendingOversize(ctx, tt.global, tt.peers)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PendingOversize(%d, %v) (-want +got):\n%s", tt.global, tt.peers, diff)
			}
		})
	}
}

// What the listener answers 201 for is committed with synchronous=FULL
// (synced before the answer); the connection goes back to NORMAL.
func TestInDurableTx_SyncsItsCommit(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"))
	var inside int
	if _, err := l.inDurableTx(context.Background(), func(tx *sql.Tx, _ *payloadWrites) (bool, error) {
		return true, tx.QueryRow("PRAGMA synchronous").Scan(&inside)
	}); err != nil {
		t.Fatal(err)
	}
	if inside != 2 { // FULL
		t.Errorf("synchronous inside the durable transaction = %d, want 2 (FULL)", inside)
	}
	// Every pooled connection reads NORMAL (1) again.
	l.db.SetMaxOpenConns(1)
	var after int
	if err := l.db.QueryRow("PRAGMA synchronous").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != 1 {
		t.Errorf("synchronous after it = %d, want 1 (NORMAL)", after)
	}
}
