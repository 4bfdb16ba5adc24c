package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The Go and SQL forms of the size class agree, and a class holds the
// sizes from its lower bound up to the next class's.
func TestSizeClass(t *testing.T) {
	tests := []struct {
		size, lo, hi int64
	}{
		{0, 0, 1},
		{1, 1, 2},
		{15, 15, 16},
		{16, 16, 32},
		{31, 16, 32},
		{32, 32, 48},
		{255, 240, 256},
		{256, 256, 512},
		{0x1a2b, 0x1000, 0x2000},
		{0xf000, 0xf000, 0x10000},
		{1 << 20, 1 << 20, 2 << 20},
		{math.MaxInt64, 7 << 60, math.MaxInt64},
	}
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	for _, tt := range tests {
		lo, hi := sizeClass(tt.size)
		if lo != tt.lo || hi != tt.hi {
			t.Errorf("sizeClass(%#x) = [%#x, %#x), want [%#x, %#x)", tt.size, lo, hi, tt.lo, tt.hi)
		}
	}
	// Every size up to 70,000 and around every power of two, in SQL.
	sizes := []int64{}
	for s := int64(0); s <= 70000; s++ {
		sizes = append(sizes, s)
	}
	for b := 17; b < 63; b++ {
		sizes = append(sizes, 1<<b-1, 1<<b, 1<<b+1)
	}
	for _, s := range sizes {
		var got int64
		if err := l.db.QueryRow(`SELECT `+sizeClassSQL("?1"), s).Scan(&got); err != nil {
			t.Fatal(err)
		}
		lo, hi := sizeClass(s)
		if got != lo {
			t.Fatalf("SQL class of %d = %d, Go's %d", s, got, lo)
		}
		if s < lo || s >= hi {
			t.Fatalf("sizeClass(%d) = [%d, %d) does not hold it", s, lo, hi)
		}
	}
}

// sizeRow is one counter row: a target and a size (or class) and its
// count.
type sizeRow struct {
	Peer     string
	Key      int64
	Segments int64
}

func sizeRows(t *testing.T, db *sql.DB, query string) []sizeRow {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []sizeRow
	for rows.Next() {
		var r sizeRow
		if err := rows.Scan(&r.Peer, &r.Key, &r.Segments); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSizes compares the counters of version 6 with a count of the
// segment rows, and the oversize counts read from them with a direct
// COUNT of the rows above each burst.
func checkSizes(t *testing.T, l *Ledger, when string) {
	t.Helper()
	ctx := context.Background()
	wantSizes := sizeRows(t, l.db, `SELECT target_peer, size, COUNT(*) FROM segments WHERE state = 'PENDING' GROUP BY 1, 2 ORDER BY 1, 2`)
	gotSizes := sizeRows(t, l.db, `SELECT target_peer, size, segments FROM pending_sizes ORDER BY 1, 2`)
	if diff := cmp.Diff(wantSizes, gotSizes); diff != "" {
		t.Errorf("%s: pending_sizes (-count +got):\n%s", when, diff)
	}
	wantClasses := sizeRows(t, l.db, `SELECT target_peer, `+sizeClassSQL("size")+`, COUNT(*) FROM segments WHERE state = 'PENDING' GROUP BY 1, 2 ORDER BY 1, 2`)
	gotClasses := sizeRows(t, l.db, `SELECT target_peer, class, segments FROM pending_size_classes WHERE segments != 0 ORDER BY 1, 2`)
	if diff := cmp.Diff(wantClasses, gotClasses); diff != "" {
		t.Errorf("%s: pending_size_classes (-count +got):\n%s", when, diff)
	}
	for _, burst := range []int64{1, 15, 16, 17, 31, 32, 99, 100, 101, 4095, 4096, 4999, 5000, 69999, 70000, 1 << 40} {
		want := map[string]int64{}
		var wantTotal int64
		for _, r := range sizeRows(t, l.db, fmt.Sprintf(`SELECT target_peer, 0, COUNT(*) FROM segments WHERE state = 'PENDING' AND size > %d GROUP BY 1`, burst)) {
			want[r.Peer] = r.Segments
			wantTotal += r.Segments
		}
		got, err := l.PendingOversize(ctx, burst, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: PendingOversize(%d) (-count +got):\n%s", when, burst, diff)
		}
		total, err := l.PendingLargerThan(ctx, burst, "")
		if err != nil {
			t.Fatal(err)
		}
		if total != wantTotal {
			t.Errorf("%s: PendingLargerThan(%d) = %d, want %d", when, burst, total, wantTotal)
		}
		for _, p := range []string{"a", "b"} {
			n, err := l.PendingLargerThan(ctx, burst, p)
			if err != nil {
				t.Fatal(err)
			}
			if n != want[p] {
				t.Errorf("%s: PendingLargerThan(%d, %s) = %d, want %d", when, burst, p, n, want[p])
			}
		}
	}
}

// sizedSegments are one segment per size for target peer, ids prefix-size.
func sizedSegments(prefix, peer string, sizes ...int) []New {
	var out []New
	for i, s := range sizes {
		out = append(out, New{ID: fmt.Sprintf("%s-%d-%d", prefix, s, i), TargetPeer: peer, Payload: make([]byte, s)})
	}
	return out
}

// The PENDING counts per size follow every change of a segment: inserts,
// deliveries, retries, dead letters, requeues, deferrals, prunes and a
// row deleted by hand.
func TestPendingSizes_AgreeWithACount(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	later := t0.Add(48 * time.Hour)
	steps := []struct {
		name string
		do   func() error
	}{
		{"empty", func() error { return nil }},
		{"inserts", func() error {
			segs := sizedSegments("a", "a", 0, 1, 15, 16, 17, 31, 32, 100, 100, 100, 4096, 5000, 5000, 70000)
			segs = append(segs, sizedSegments("b", "b", 16, 17, 100, 4095, 69999, 70000)...)
			return l.Insert(ctx, t0, segs...)
		}},
		{"a duplicate insert stores nothing", func() error {
			if err := l.Insert(ctx, t0, sizedSegments("a", "a", 0)...); err == nil {
				return fmt.Errorf("duplicate insert succeeded")
			}
			_, err := l.InsertIfAbsent(ctx, t0, sizedSegments("a", "a", 0)[0])
			return err
		}},
		{"deliveries", func() error {
			return l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "a-100-7", "a-5000-11", "a-0-0", "b-16-0")})
		}},
		{"a retry", func() error {
			return l.Record(ctx, t0, Outcomes{Failed: []Failure{{ID: "a-100-8", Attempts: 1, Next: t0.Add(time.Minute), LastError: "x", StartedAt: t0, EndedAt: t0}}})
		}},
		{"dead letters", func() error {
			return l.Record(ctx, t0, Outcomes{Failed: []Failure{
				{ID: "a-100-9", Attempts: 5, LastError: "x", Dead: true, StartedAt: t0, EndedAt: t0},
				{ID: "a-70000-13", Attempts: 5, LastError: "x", Dead: true, StartedAt: t0, EndedAt: t0},
				{ID: "b-69999-4", Attempts: 5, LastError: "x", Dead: true, StartedAt: t0, EndedAt: t0},
			}})
		}},
		{"a deferral", func() error { return l.Defer(ctx, "a-17-4", t0.Add(time.Hour)) }},
		{"requeue by id", func() error {
			_, err := l.Requeue(ctx, t0, RequeueSelector{IDs: []string{"a-100-9"}}, false)
			return err
		}},
		{"a dry-run requeue changes nothing", func() error {
			_, err := l.Requeue(ctx, t0, RequeueSelector{All: true}, true)
			return err
		}},
		{"requeue all", func() error {
			_, err := l.Requeue(ctx, t0, RequeueSelector{All: true}, false)
			return err
		}},
		{"the last of a size delivered", func() error {
			return l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "a-4096-10", "b-4095-3")})
		}},
		{"prune", func() error {
			n, err := l.Prune(ctx, later, 2, false)
			if err == nil && n != 6 {
				err = fmt.Errorf("pruned %d, want 6", n)
			}
			return err
		}},
		{"a pending row deleted by hand", func() error {
			_, err := l.db.Exec(`DELETE FROM segments WHERE id = 'a-1-1'`)
			return err
		}},
		{"a row's size and target rewritten by hand", func() error {
			_, err := l.db.Exec(`UPDATE segments SET size = 33, target_peer = 'b' WHERE id = 'a-32-6'`)
			return err
		}},
		{"more of a size after its row went", func() error {
			return l.Insert(ctx, t0, sizedSegments("c", "b", 4095, 4095, 16)...)
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		checkSizes(t, l, s.name)
	}
}

// The migration to version 6 fills the counters from the rows of a
// version 5 ledger, and drops the size index they replace.
func TestOpen_MigrationFromV5FillsPendingSizes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v5.db")
	l := open(t, path)
	if err := l.Insert(ctx, t0, append(sizedSegments("a", "a", 0, 16, 100, 100, 5000), sizedSegments("b", "b", 17, 70000)...)...); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "a-100-2"), Failed: []Failure{{ID: "b-17-0", Attempts: 5, Dead: true, StartedAt: t0, EndedAt: t0}}}); err != nil {
		t.Fatal(err)
	}
	// Back to version 5: what sizesSchema adds removed, its index back.
	if _, err := l.db.Exec(`
		DROP TRIGGER pending_sizes_insert; DROP TRIGGER pending_sizes_enter;
		DROP TRIGGER pending_sizes_leave; DROP TRIGGER pending_sizes_delete;
		DROP TABLE pending_sizes; DROP TABLE pending_size_classes;
		CREATE INDEX segments_pending_size ON segments(target_peer, size) WHERE state = 'PENDING';
		PRAGMA user_version = 5;`); err != nil {
		t.Fatal(err)
	}
	// Written by a version 5 edged: no counters to keep.
	if _, err := l.db.Exec(`INSERT INTO segments (id, target_peer, size, payload, next_attempt_at, created_at, updated_at)
		VALUES ('v5-1', 'a', 300, x'', 0, 0, 0), ('v5-2', 'c', 16, x'', 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = open(t, path)
	var v int
	if err := l.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version after the migration = %d (%v), want %d", v, err, schemaVersion)
	}
	var n int
	if err := l.db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = 'segments_pending_size'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("segments_pending_size after the migration: %d (%v), want dropped", n, err)
	}
	if got := sizeRows(t, l.db, `SELECT target_peer, size, segments FROM pending_sizes ORDER BY 1, 2`); len(got) != 7 {
		t.Errorf("pending_sizes after the migration holds %v, want 7 rows", got)
	}
	checkSizes(t, l, "after the migration")
	if err := l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "v5-1", "a-100-3")}); err != nil {
		t.Fatal(err)
	}
	checkSizes(t, l, "after deliveries")
}
