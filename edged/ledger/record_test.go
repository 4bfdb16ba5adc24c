package ledger

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func seedN(t testing.TB, l *Ledger, prefix, peer string, n, size int) []string {
	t.Helper()
	var segs []New
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		ids = append(ids, id)
		segs = append(segs, New{ID: id, TargetPeer: peer, Payload: bytes.Repeat([]byte{byte(i)}, size)})
	}
	if err := l.Insert(context.Background(), t0, segs...); err != nil {
		t.Fatal(err)
	}
	return ids
}

// deliveries are the deliveries of ids, each an attempt from at to a
// second later.
func deliveries(at time.Time, ids ...string) []Delivery {
	out := make([]Delivery, len(ids))
	for i, id := range ids {
		out[i] = Delivery{ID: id, StartedAt: at, EndedAt: at.Add(time.Second)}
	}
	return out
}

func get(t *testing.T, l *Ledger, id string) Segment {
	t.Helper()
	s, err := l.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecord_MarksFailuresAndUsageTogether(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	seedN(t, l, "s", "p", 4, 64)
	at := t0.Add(time.Minute)
	err := l.Record(ctx, at, Outcomes{
		Delivered: deliveries(at, "s-0000", "s-0002"),
		Failed: []Failure{
			{ID: "s-0001", Attempts: 1, Next: at.Add(time.Second), LastError: "peer refused"},
			{ID: "s-0003", Attempts: 3, Next: at, LastError: "quota exceeded", Dead: true},
		},
		Usage: map[string]Usage{"": {WindowStart: at, UsedBytes: 128}, "p": {WindowStart: at, UsedBytes: 128}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id        string
		state     State
		attempts  int
		next      time.Time
		lastError string
		delivered time.Time
	}{
		{"s-0000", Delivered, 1, t0, "", at},
		{"s-0001", Pending, 1, at.Add(time.Second), "peer refused", time.Time{}},
		{"s-0002", Delivered, 1, t0, "", at},
		{"s-0003", Deadletter, 3, at, "quota exceeded", time.Time{}},
	}
	for _, tt := range tests {
		s := get(t, l, tt.id)
		if s.State != tt.state || s.Attempts != tt.attempts || !s.NextAttemptAt.Equal(tt.next) || s.LastError != tt.lastError || !s.DeliveredAt.Equal(tt.delivered) {
			t.Errorf("%s: got %s attempts=%d next=%v error=%q delivered=%v, want %s %d %v %q %v", tt.id,
				s.State, s.Attempts, s.NextAttemptAt, s.LastError, s.DeliveredAt, tt.state, tt.attempts, tt.next, tt.lastError, tt.delivered)
		}
	}
	for _, scope := range []string{"", "p"} {
		if u, err := l.Usage(ctx, scope); err != nil || u.UsedBytes != 128 || !u.WindowStart.Equal(at) {
			t.Errorf("usage %q: got %+v %v, want 128 bytes from %v", scope, u, err, at)
		}
	}
}

// One segment that is no longer PENDING fails the whole batch: no mark,
// no failure, no usage is stored.
func TestRecord_AllOrNothing(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	ids := seedN(t, l, "s", "p", 20, 8)
	if err := l.MarkDelivered(ctx, ids[7], t0, nil); err != nil {
		t.Fatal(err)
	}
	err := l.Record(ctx, t0, Outcomes{
		Delivered: deliveries(t0, ids[:10]...),
		Failed:    []Failure{{ID: ids[12], Attempts: 1, Next: t0, LastError: "x"}},
		Usage:     map[string]Usage{"": {WindowStart: t0, UsedBytes: 80}},
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Record with a DELIVERED segment in it: got %v, want ErrNotFound", err)
	}
	counts, err := l.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[Delivered] != 1 || counts[Pending] != 19 {
		t.Errorf("counts after the refused batch: got %v, want 1 DELIVERED, 19 PENDING", counts)
	}
	if s := get(t, l, ids[12]); s.Attempts != 0 {
		t.Errorf("%s: got %d attempts after the refused batch, want 0", ids[12], s.Attempts)
	}
	if u, _ := l.Usage(ctx, ""); u.UsedBytes != 0 {
		t.Errorf("usage after the refused batch: got %d, want 0", u.UsedBytes)
	}
}

// A batch larger than the largest prepared mark is cut into several
// statements (256 + 64 + 16 + 4 + 1 here), all in one transaction.
func TestRecord_BatchOfEveryChunkSize(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	ids := seedN(t, l, "s", "p", 345, 8)
	if err := l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, ids[:341]...)}); err != nil {
		t.Fatal(err)
	}
	counts, err := l.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[State]int64{Pending: 4, Delivered: 341, Deadletter: 0}; !cmp.Equal(want, counts) {
		t.Errorf("counts: got %v, want %v", counts, want)
	}
	for _, id := range ids[341:] {
		if s := get(t, l, id); s.State != Pending {
			t.Errorf("%s: got %s, want PENDING (not in the batch)", id, s.State)
		}
	}
}

// scanCounts is what the count queries must equal: a full scan of the rows.
func scanCounts(t *testing.T, l *Ledger) (map[State]int64, map[string]map[State]int64, map[string]PeerTotals) {
	t.Helper()
	all, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[State]int64{Pending: 0, Delivered: 0, Deadletter: 0}
	byPeer := map[string]map[State]int64{}
	delivered := map[string]PeerTotals{}
	for _, s := range all {
		counts[s.State]++
		if byPeer[s.TargetPeer] == nil {
			byPeer[s.TargetPeer] = map[State]int64{}
		}
		byPeer[s.TargetPeer][s.State]++
		if s.State == Delivered {
			d := delivered[s.TargetPeer]
			d.Segments++
			d.Bytes += s.Size
			delivered[s.TargetPeer] = d
		}
	}
	return counts, byPeer, delivered
}

func checkCounts(t *testing.T, l *Ledger, when string) {
	t.Helper()
	ctx := context.Background()
	wantCounts, wantByPeer, wantDelivered := scanCounts(t, l)
	counts, err1 := l.Counts(ctx)
	byPeer, err2 := l.CountsByPeer(ctx)
	delivered, err3 := l.DeliveredByPeer(ctx)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("%s: Counts (-scan +got):\n%s", when, diff)
	}
	if diff := cmp.Diff(wantByPeer, byPeer); diff != "" {
		t.Errorf("%s: CountsByPeer (-scan +got):\n%s", when, diff)
	}
	if diff := cmp.Diff(wantDelivered, delivered); diff != "" {
		t.Errorf("%s: DeliveredByPeer (-scan +got):\n%s", when, diff)
	}
}

// The counts kept by triggers equal a scan of the rows after any mix of
// inserts (by two connections, as edged and setup seed are), marks,
// failed attempts and dead letters.
func TestCounts_EqualAScanOfTheRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l, other := open(t, path), open(t, path)
	rng := rand.New(rand.NewPCG(8, 23))
	var pending []string
	for round := range 30 {
		w := l
		if round%2 == 1 {
			w = other
		}
		peer := fmt.Sprintf("peer-%d", rng.IntN(3))
		pending = append(pending, seedN(t, w, fmt.Sprintf("r%02d", round), peer, 1+rng.IntN(20), 1+rng.IntN(100))...)
		rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
		n := rng.IntN(len(pending) + 1)
		var o Outcomes
		for _, id := range pending[:n] {
			switch rng.IntN(3) {
			case 0:
				o.Delivered = append(o.Delivered, Delivery{ID: id, StartedAt: t0, EndedAt: t0})
			case 1:
				o.Failed = append(o.Failed, Failure{ID: id, Attempts: 1, Next: t0, LastError: "x", Dead: true})
			default:
				o.Failed = append(o.Failed, Failure{ID: id, Attempts: 1, Next: t0, LastError: "x"})
			}
		}
		if err := l.Record(ctx, t0, o); err != nil {
			t.Fatal(err)
		}
		var still []string
		for _, id := range pending {
			if s := get(t, l, id); s.State == Pending {
				still = append(still, id)
			}
		}
		pending = still
		checkCounts(t, l, fmt.Sprintf("round %d", round))
	}
}

// oldSchema is the ledger as edged wrote it before the counts table and
// the payload table: payloads in the segment rows, user_version 0.
const oldSchema = `
CREATE TABLE segments (
	id TEXT PRIMARY KEY, target_peer TEXT NOT NULL, size INTEGER NOT NULL, payload BLOB NOT NULL,
	state TEXT NOT NULL DEFAULT 'PENDING', attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, delivered_at INTEGER);
CREATE INDEX segments_due ON segments(state, next_attempt_at, id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE quota_usage (scope TEXT PRIMARY KEY, window_start INTEGER NOT NULL, used_bytes INTEGER NOT NULL);
INSERT INTO segments (id, target_peer, size, payload, state, attempts, next_attempt_at, created_at, updated_at, delivered_at) VALUES
	('old-1', 'peer-a', 3, x'010203', 'PENDING', 0, 0, 0, 0, NULL),
	('old-2', 'peer-a', 2, x'0405', 'DELIVERED', 1, 0, 0, 0, 5),
	('old-3', 'peer-b', 1, x'06', 'DEADLETTER', 3, 0, 0, 0, NULL),
	('old-4', 'peer-b', 4, x'0708090a', 'PENDING', 0, 0, 0, 0, NULL);
`

func writeOldLedger(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(oldSchema); err != nil {
		t.Fatal(err)
	}
	return path
}

// A ledger written before this version opens with its counts filled in
// from its rows and its payloads readable where they are.
func TestOpen_MigratesAnOldLedger(t *testing.T) {
	ctx := context.Background()
	l := open(t, writeOldLedger(t))
	checkCounts(t, l, "after the migration")
	due, err := l.DueBatch(ctx, t0, 10, -1)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, s := range due {
		got[s.ID] = s.Payload
	}
	if diff := cmp.Diff(map[string][]byte{"old-1": {1, 2, 3}, "old-4": {7, 8, 9, 10}}, got); diff != "" {
		t.Errorf("due payloads (-want +got):\n%s", diff)
	}
	if p, err := l.Payload(ctx, "old-4"); err != nil || !bytes.Equal(p, []byte{7, 8, 9, 10}) {
		t.Errorf("Payload(old-4): got %v %v", p, err)
	}
	if err := l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "old-1")}); err != nil {
		t.Fatal(err)
	}
	seedN(t, l, "new", "peer-a", 2, 5)
	checkCounts(t, l, "after new writes")
}

// Several processes opening an old ledger at once migrate it once.
func TestOpen_ConcurrentMigration(t *testing.T) {
	path := writeOldLedger(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	ledgers := make([]*Ledger, 4)
	for i := range ledgers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ledgers[i], errs[i] = Open(path)
		}()
	}
	wg.Wait()
	for i, l := range ledgers {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer l.Close()
	}
	checkCounts(t, ledgers[0], "after concurrent opens")
}

// Due carries payloads up to the inline size; larger ones are read with
// Payload, byte for byte.
func TestDue_InlineAndLargePayloads(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	small := bytes.Repeat([]byte("s"), 100)
	large := bytes.Repeat([]byte("L"), 5000)
	if err := l.Insert(ctx, t0, New{ID: "a-small", TargetPeer: "p", Payload: small},
		New{ID: "b-large", TargetPeer: "p", Payload: large}, New{ID: "c-empty", TargetPeer: "p"}); err != nil {
		t.Fatal(err)
	}
	due, err := l.DueBatch(ctx, t0, 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 {
		t.Fatalf("due: got %d segments, want 3", len(due))
	}
	if !bytes.Equal(due[0].Payload, small) || due[1].Payload != nil || len(due[2].Payload) != 0 {
		t.Errorf("inline payloads: got %d, %d (nil: %v), %d bytes; want 100, none, 0", len(due[0].Payload), len(due[1].Payload), due[1].Payload == nil, len(due[2].Payload))
	}
	if due[1].Size != 5000 || due[1].State != Pending {
		t.Errorf("large segment: got size %d state %s, want 5000 PENDING", due[1].Size, due[1].State)
	}
	p, err := l.Payload(ctx, "b-large")
	if err != nil || !bytes.Equal(p, large) {
		t.Errorf("Payload(b-large): got %d bytes, %v; want the 5000 inserted", len(p), err)
	}
	if p, err := l.Payload(ctx, "c-empty"); err != nil || p == nil || len(p) != 0 {
		t.Errorf("Payload(c-empty): got %v, %v; want empty, not nil", p, err)
	}
	if _, err := l.Payload(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Payload(nope): got %v, want ErrNotFound", err)
	}
}

// A payload that fits in its row's page stays in the row (the cycle reads
// it with the batch); a larger one is kept apart (a DELIVERED mark does not
// rewrite it) and read on its own.
func TestInsert_WhereThePayloadGoes(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	if got := l.rowBytes; got != 746 {
		t.Fatalf("rowBytes on a new ledger: got %d, want 746 (4 KiB pages)", got)
	}
	small := bytes.Repeat([]byte("s"), int(l.rowBytes))
	large := bytes.Repeat([]byte("L"), int(l.rowBytes)+1)
	if err := l.Insert(ctx, t0, New{ID: "small", TargetPeer: "p", Payload: small}, New{ID: "large", TargetPeer: "p", Payload: large}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id            string
		inRow, apart  int
		payload       []byte
		inDueBatchToo bool
	}{
		{"small", len(small), -1, small, true},
		{"large", 0, len(large), large, false},
	} {
		var inRow, apart int
		if err := l.db.QueryRow(`SELECT length(payload), COALESCE((SELECT length(payload) FROM segment_payloads WHERE id = ?1), -1) FROM segments WHERE id = ?1`, tt.id).Scan(&inRow, &apart); err != nil {
			t.Fatal(err)
		}
		if inRow != tt.inRow || apart != tt.apart {
			t.Errorf("%s: got %d bytes in the row, %d apart; want %d and %d", tt.id, inRow, apart, tt.inRow, tt.apart)
		}
		if p, err := l.Payload(ctx, tt.id); err != nil || !bytes.Equal(p, tt.payload) {
			t.Errorf("Payload(%s): got %d bytes, %v", tt.id, len(p), err)
		}
		if g := get(t, l, tt.id); !bytes.Equal(g.Payload, tt.payload) {
			t.Errorf("Get(%s): got %d bytes", tt.id, len(g.Payload))
		}
	}
	// Asked to inline more than fits in a row, the batch still carries
	// only the payloads kept in rows.
	due, err := l.DueBatch(ctx, t0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].ID != "large" || due[0].Payload != nil || !bytes.Equal(due[1].Payload, small) {
		t.Errorf("DueBatch: got %d segments, want large without its payload and small with it", len(due))
	}
}

// OpenPayload keeps the driver's slice rather than copying it:
// that is only sound while the driver never reuses it, which this checks.
func TestPayload_SurvivesLaterReads(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	// Kept in segment_payloads (above rowBytes, up to fileBytes): the
	// payloads read through the driver.
	a, b := bytes.Repeat([]byte("A"), fileBytes), bytes.Repeat([]byte("B"), fileBytes)
	if err := l.Insert(ctx, t0, New{ID: "a", TargetPeer: "p", Payload: a}, New{ID: "b", TargetPeer: "p", Payload: b}); err != nil {
		t.Fatal(err)
	}
	r, err := l.OpenPayload(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 20 {
		rb, err := l.OpenPayload(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(rb); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Due(ctx, t0, 10); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, a) {
		t.Fatal("a payload read earlier changed under later reads")
	}
}

// The per-segment statements use an index: a scan would make every cycle
// and every mark cost the size of the ledger.
func TestQueryPlans(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	tests := []struct {
		name, query string
		args        []any
		want        []string // each must appear in the plan
		// dump reads every segment: its plan walks them in id order and
		// may sort each one's attempts (the ORDER BY's last term), never
		// the whole result.
		dump bool
	}{
		{"due", dueSQL, []any{4096, 0, 10}, []string{"SEARCH s USING INDEX segments_pending"}, false},
		{"due of a target", dueTargetSQL, []any{4096, "p", 0, 10, 0}, []string{"SEARCH s USING INDEX segments_pending_target (target_peer=? AND next_attempt_at<?)"}, false},
		{"mark 4", markInSQL(4), []any{0, "a", "b", "c", "d"}, []string{"USING INDEX sqlite_autoindex_segments_1 (id=?)"}, false},
		{"next due", nextDueSQL, []any{0}, []string{"segments_pending"}, false},
		{"oversize within the bursts' classes", pendingAboveSQL(2), []any{10, 10, 70, 64},
			[]string{"SEARCH s USING PRIMARY KEY (class=?)"}, false},
		{"history of 4 delivered", addDeliveredInSQL(4), []any{"a", 0, 0, "b", 0, 0, "c", 0, 0, "d", 0, 0},
			[]string{"SEARCH s USING INDEX sqlite_autoindex_segments_1 (id=?)"}, false},
		{"history of a segment", historySQL + ` WHERE s.id = ?` + historyOrder, []any{"a"},
			[]string{"SEARCH s USING INDEX sqlite_autoindex_segments_1 (id=?)", "SEARCH a USING INDEX attempts_segment (segment_id=?)"}, false},
		{"history of every segment", historySQL + historyOrder, nil,
			[]string{"SCAN s USING INDEX sqlite_autoindex_segments_1", "SEARCH a USING INDEX attempts_segment (segment_id=?)"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := l.db.Query("EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			all := strings.Join(plan, "; ")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("plan %q lacks %q", all, w)
				}
			}
			rest := all
			if tt.dump {
				rest = strings.ReplaceAll(rest, "USE TEMP B-TREE FOR LAST TERM OF ORDER BY", "")
				rest = strings.ReplaceAll(rest, "SCAN s USING INDEX sqlite_autoindex_segments_1", "")
			}
			if strings.Contains(rest, "TEMP B-TREE") || strings.Contains(rest, "SCAN s") || strings.Contains(rest, "SCAN segments") || strings.Contains(rest, "SCAN a") {
				t.Errorf("plan %q sorts or scans", all)
			}
		})
	}
}

// The migration leaves the partial indexes of PENDING rows only, and drops
// the size index the counters of version 6 replaced.
func TestOpen_MigrationReplacesTheDueIndex(t *testing.T) {
	l := open(t, writeOldLedger(t))
	rows, err := l.db.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'segments' AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if diff := cmp.Diff([]string{"segments_deadletter", "segments_payload_file", "segments_pending", "segments_pending_target"}, got); diff != "" {
		t.Errorf("indexes on segments (-want +got):\n%s", diff)
	}
}
