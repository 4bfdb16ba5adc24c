package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func history(t *testing.T, l *Ledger, id string) []Attempt {
	t.Helper()
	h, err := l.History(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Each Record adds its attempts to the history, numbered as the segment
// row counts them, with their own bounds and the failure's error; the
// history outlives the process.
func TestRecord_WritesTheHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	seedN(t, l, "s", "p", 3, 16)
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	if err := l.Record(ctx, t1, Outcomes{
		Delivered: []Delivery{{ID: "s-0000", StartedAt: t0, EndedAt: t1}},
		Failed: []Failure{
			{ID: "s-0001", Attempts: 1, Next: t2, LastError: "peer refused", StartedAt: t0, EndedAt: t1},
			{ID: "s-0002", Attempts: 1, Next: t1, LastError: "quota exceeded", StartedAt: t1, EndedAt: t1},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, t3, Outcomes{
		Delivered: []Delivery{{ID: "s-0001", StartedAt: t2, EndedAt: t3}},
		Failed:    []Failure{{ID: "s-0002", Attempts: 2, Next: t3, LastError: "quota exceeded", Dead: true, StartedAt: t3, EndedAt: t3}},
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]Attempt{
		"s-0000": {{Attempt: 1, StartedAt: t0, EndedAt: t1, Outcome: OutcomeDelivered}},
		"s-0001": {
			{Attempt: 1, StartedAt: t0, EndedAt: t1, Outcome: OutcomeFailed, Error: "peer refused"},
			{Attempt: 2, StartedAt: t2, EndedAt: t3, Outcome: OutcomeDelivered},
		},
		"s-0002": {
			{Attempt: 1, StartedAt: t1, EndedAt: t1, Outcome: OutcomeFailed, Error: "quota exceeded"},
			{Attempt: 2, StartedAt: t3, EndedAt: t3, Outcome: OutcomeFailed, Error: "quota exceeded"},
		},
	}
	check := func(l *Ledger, when string) {
		t.Helper()
		for id, w := range want {
			if diff := cmp.Diff(w, history(t, l, id)); diff != "" {
				t.Errorf("%s: history of %s (-want +got):\n%s", when, id, diff)
			}
		}
		all, err := l.ListHistory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]Attempt{}
		for _, s := range all {
			got[s.ID] = s.History
			if len(s.History) != s.Attempts {
				t.Errorf("%s: %s counts %d attempts, its history holds %d", when, s.ID, s.Attempts, len(s.History))
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: ListHistory (-want +got):\n%s", when, diff)
		}
	}
	check(l, "before reopening")
	l.Close()
	check(open(t, path), "after reopening")
}

// A refused batch stores no attempt either: the history never counts an
// attempt the segment rows do not.
func TestRecord_RefusedBatchWritesNoHistory(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	ids := seedN(t, l, "s", "p", 4, 8)
	if err := l.MarkDelivered(ctx, ids[3], t0, nil); err != nil {
		t.Fatal(err)
	}
	err := l.Record(ctx, t0, Outcomes{
		Delivered: deliveries(t0, ids[0], ids[3]),
		Failed:    []Failure{{ID: ids[1], Attempts: 1, Next: t0, LastError: "x", StartedAt: t0, EndedAt: t0}},
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Record with a DELIVERED segment in it: got %v, want ErrNotFound", err)
	}
	for _, id := range ids[:3] {
		if h := history(t, l, id); len(h) != 0 {
			t.Errorf("%s: history after the refused batch: got %+v, want none", id, h)
		}
	}
	want := []Attempt{{Attempt: 1, StartedAt: t0, EndedAt: t0, Outcome: OutcomeDelivered}}
	if diff := cmp.Diff(want, history(t, l, ids[3])); diff != "" {
		t.Errorf("history of %s, delivered before (-want +got):\n%s", ids[3], diff)
	}
}

// More deliveries than the largest prepared statement are recorded in
// chunks; each gets its own attempt, with its own bounds.
func TestRecord_HistoryOfEveryChunkSize(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	ids := seedN(t, l, "s", "p", 341, 8)
	ds := make([]Delivery, len(ids))
	for i, id := range ids {
		ds[i] = Delivery{ID: id, StartedAt: t0.Add(time.Duration(i) * time.Millisecond), EndedAt: t0.Add(time.Duration(i+1) * time.Millisecond)}
	}
	if err := l.Record(ctx, t0, Outcomes{Delivered: ds}); err != nil {
		t.Fatal(err)
	}
	all, err := l.ListHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(ids) {
		t.Fatalf("ListHistory: got %d segments, want %d", len(all), len(ids))
	}
	for i, s := range all {
		want := []Attempt{{Attempt: 1, StartedAt: ds[i].StartedAt, EndedAt: ds[i].EndedAt, Outcome: OutcomeDelivered}}
		if s.ID != ids[i] || !cmp.Equal(want, s.History) {
			t.Fatalf("segment %d: got %s %+v, want %s %+v", i, s.ID, s.History, ids[i], want)
		}
	}
}

// History of an id the ledger does not hold is ErrNotFound; a segment
// never attempted has an empty history, not a missing one.
func TestHistory_UnknownAndUnattemptedSegments(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	seedN(t, l, "s", "p", 1, 8)
	if _, err := l.History(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("History(nope): got %v, want ErrNotFound", err)
	}
	if _, err := l.SegmentHistory(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SegmentHistory(nope): got %v, want ErrNotFound", err)
	}
	s, err := l.SegmentHistory(ctx, "s-0000")
	if err != nil {
		t.Fatal(err)
	}
	if s.History == nil || len(s.History) != 0 || s.State != Pending || s.Size != 8 || s.Payload != nil {
		t.Errorf("SegmentHistory(s-0000): got %+v, want the PENDING row of 8 B without payload and an empty, non-nil history", s)
	}
}

// writeV2Ledger is a ledger as the edged before the attempt history left
// it: user_version 2, no attempts table, segments with attempts counted.
func writeV2Ledger(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seedN(t, l, "v2", "p", 3, 8)
	if err := l.MarkDelivered(ctx, "v2-0000", t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkFailed(ctx, "v2-0001", 1, t0, "peer refused", false, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.Exec(`DROP TABLE attempts; PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	return path
}

// A version 2 ledger gains the history table; its earlier attempts have
// no rows (they were never recorded), and later ones are numbered after
// them, as the segment rows count them.
func TestOpen_MigratesAV2Ledger(t *testing.T) {
	ctx := context.Background()
	l := open(t, writeV2Ledger(t))
	var v int
	if err := l.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version after the migration: got %d %v, want %d", v, err, schemaVersion)
	}
	for _, id := range []string{"v2-0000", "v2-0001", "v2-0002"} {
		if h := history(t, l, id); h == nil || len(h) != 0 {
			t.Errorf("%s: history after the migration: got %#v, want empty", id, h)
		}
	}
	t1 := t0.Add(time.Second)
	if err := l.Record(ctx, t1, Outcomes{Delivered: []Delivery{{ID: "v2-0001", StartedAt: t0, EndedAt: t1}}}); err != nil {
		t.Fatal(err)
	}
	want := []Attempt{{Attempt: 2, StartedAt: t0, EndedAt: t1, Outcome: OutcomeDelivered}}
	if diff := cmp.Diff(want, history(t, l, "v2-0001")); diff != "" {
		t.Errorf("history of v2-0001, delivered after the migration (-want +got):\n%s", diff)
	}
	checkCounts(t, l, "after the migration")
}

// The pre-version-1 ledger migrates through every version to the history.
func TestOpen_MigratesAnOldLedgerToTheHistory(t *testing.T) {
	ctx := context.Background()
	l := open(t, writeOldLedger(t))
	all, err := l.ListHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("ListHistory: got %d segments, want 4", len(all))
	}
	for _, s := range all {
		if s.History == nil || len(s.History) != 0 {
			t.Errorf("%s: got history %#v, want empty", s.ID, s.History)
		}
	}
	if err := l.MarkFailed(ctx, "old-4", 1, t0, "boom", false, t0); err != nil {
		t.Fatal(err)
	}
	want := []Attempt{{Attempt: 1, StartedAt: t0, EndedAt: t0, Outcome: OutcomeFailed, Error: "boom"}}
	if diff := cmp.Diff(want, history(t, l, "old-4")); diff != "" {
		t.Errorf("history of old-4 (-want +got):\n%s", diff)
	}
}
