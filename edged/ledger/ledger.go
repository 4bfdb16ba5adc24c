// Package ledger is edged's durable segment ledger: SQLite in WAL mode, so
// other processes (setup seed) can insert PENDING rows while the daemon runs.
// It also keeps the runtime bandwidth settings and the daily quota usage,
// the latter written in the same transaction that marks a segment DELIVERED.
package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// State is a segment's place in its life: PENDING → DELIVERED | DEADLETTER.
type State string

const (
	Pending    State = "PENDING"
	Delivered  State = "DELIVERED"
	Deadletter State = "DEADLETTER"
)

// Segment is one ledger row.
type Segment struct {
	ID         string
	TargetPeer string
	Size       int64
	// Payload is empty in listings; Due fills it for segments up to its
	// inline size (see Due), Get always.
	Payload       []byte
	State         State
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeliveredAt   time.Time // zero unless DELIVERED
	// History is the segment's delivery attempts in attempt order; only
	// SegmentHistory and ListHistory fill it (non-nil there).
	History []Attempt
}

// Outcome is how a delivery attempt ended.
type Outcome string

const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeFailed    Outcome = "failed"
)

// Attempt is one delivery attempt in a segment's history. Attempt is its
// number (1-based): the segment's attempt count once it was recorded.
type Attempt struct {
	Attempt   int
	StartedAt time.Time
	EndedAt   time.Time
	Outcome   Outcome
	Error     string // the failure's last_error; "" when delivered
}

// New is a segment to insert as PENDING.
type New struct {
	ID         string
	TargetPeer string
	Payload    []byte
}

// DuplicateError reports an insert of an id the ledger already holds.
type DuplicateError struct{ ID string }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("segment %q is already in the ledger", e.ID)
}

// ErrNotFound is returned for an id the ledger does not hold.
var ErrNotFound = errors.New("segment not found")

// Ledger is an open ledger database. It is safe for concurrent use.
type Ledger struct {
	db    *sql.DB
	path  string
	dir   string // PayloadDir(path)
	stmts statements
	// rowBytes: payloads up to this size are kept in the segment's row,
	// larger ones in segment_payloads (see schema).
	rowBytes int64
	// fileBytes: payloads larger than this are kept in files (the
	// constant fileBytes; benchmarks compare other values).
	fileBytes int64
}

// statements are the queries run once or more per segment, prepared once:
// preparing is a large share of a small statement's cost.
type statements struct {
	insertSegment, insertPayload, due, dueTarget, pendingByID, payload, markFailed, insertAttempt, putUsage, nextDue, generation *sql.Stmt
	// markDeliveredIn[i] marks markChunks[i] segments at once, and
	// addDeliveredIn[i] adds their attempts to the history.
	markDeliveredIn, addDeliveredIn []*sql.Stmt
}

// markChunks are the sizes of the prepared statements that mark several
// segments DELIVERED in one statement; a batch is cut into them, largest
// first.
var markChunks = []int{256, 64, 16, 4, 1}

func (st *statements) all() []*sql.Stmt {
	return append([]*sql.Stmt{st.insertSegment, st.insertPayload, st.due, st.dueTarget, st.pendingByID, st.payload,
		st.markFailed, st.insertAttempt, st.putUsage, st.nextDue, st.generation}, append(st.markDeliveredIn, st.addDeliveredIn...)...)
}

// maxConns bounds the pool: every connection keeps its own page cache, and
// database/sql's default of two idle connections would close and reopen
// (re-running the pragmas, re-preparing the statements) connections under
// the executor's concurrent reads.
const maxConns = 8

// Open opens (creating if needed) the ledger at path.
func Open(path string) (*Ledger, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := createSchema(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l := &Ledger{db: db, path: path, dir: PayloadDir(path), fileBytes: fileBytes}
	var pageSize int64
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: page size: %w", path, err)
	}
	l.rowBytes = rowPayloadBytes(pageSize)
	if err := l.prepare(); err != nil {
		l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := l.removeOrphans(context.Background()); err != nil {
		l.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

// rowPayloadBytes is the largest payload kept in its segment's row on
// pages of pageSize bytes (746 on SQLite's default 4 KiB): SQLite keeps a
// row on its page up to about a quarter of it (maxLocal), and the other
// columns need room too (an id, a target, an error message). A row that
// outgrows it anyway only costs an overflow page.
//
// Larger pages would keep larger payloads in rows and read large ones in
// fewer reads, but every commit writes whole pages to the WAL: with 16 KiB
// pages a transaction of 16 DELIVERED marks costs twice as much.
func rowPayloadBytes(pageSize int64) int64 {
	maxLocal := (pageSize-12)*64/255 - 23
	return max(0, maxLocal-256)
}

const payloadExpr = `COALESCE(p.payload, s.payload)`

// dueSQL reads a cycle's batch. Segments up to the inline size (the first
// argument, at most the ledger's rowBytes: those are in the row) come with
// their payload; the others are read one at a time when delivered
// (Payload), so a batch of large segments is never held in memory at once.
const dueSQL = `SELECT s.id, s.target_peer, s.size, s.attempts, s.next_attempt_at, CASE WHEN s.size <= ? THEN s.payload END
	FROM segments s
	WHERE s.state = 'PENDING' AND s.next_attempt_at <= ?
	ORDER BY s.next_attempt_at, s.id LIMIT ?`

// dueTargetSQL is dueSQL for one target (the second argument), from the
// OFFSET-th due segment on.
const dueTargetSQL = `SELECT s.id, s.target_peer, s.size, s.attempts, s.next_attempt_at, CASE WHEN s.size <= ? THEN s.payload END
	FROM segments s INDEXED BY segments_pending_target
	WHERE s.state = 'PENDING' AND s.target_peer = ? AND s.next_attempt_at <= ?
	ORDER BY s.next_attempt_at, s.id LIMIT ? OFFSET ?`

// pendingByIDSQL reads the PENDING segments among a JSON array of ids
// (the second argument), as dueSQL fills them.
const pendingByIDSQL = `SELECT s.id, s.target_peer, s.size, s.attempts, s.next_attempt_at, CASE WHEN s.size <= ? THEN s.payload END
	FROM segments s
	WHERE s.id IN (SELECT value FROM json_each(?)) AND s.state = 'PENDING'`

const nextDueSQL = `SELECT MIN(next_attempt_at) FROM segments WHERE state = 'PENDING' AND next_attempt_at > ?`

// markInSQL marks n segments DELIVERED at ?1. "+state" keeps the planner
// on the id index: the partial index on PENDING rows would have it scan
// every pending segment.
func markInSQL(n int) string {
	return `UPDATE segments SET state = 'DELIVERED', attempts = attempts + 1, last_error = '', updated_at = ?1, delivered_at = ?1
		WHERE +state = 'PENDING' AND id IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

// attemptColumns are the arguments of one delivered attempt in
// addDeliveredInSQL: id, started_at, ended_at.
const attemptColumns = 3

// addDeliveredInSQL adds the attempts of n segments just marked DELIVERED
// to the history. The attempt number is read from the row the mark has
// just counted it in, so the two cannot disagree; CROSS JOIN keeps the
// planner on one id lookup per delivery.
func addDeliveredInSQL(n int) string {
	return `INSERT INTO attempts (segment_id, attempt, started_at, ended_at, outcome)
		SELECT s.id, s.attempts, v.column2, v.column3, 'delivered'
		FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ") + `) v CROSS JOIN segments s ON s.id = v.column1`
}

const insertAttemptSQL = `INSERT INTO attempts (segment_id, attempt, started_at, ended_at, outcome, error) VALUES (?, ?, ?, ?, ?, ?)`

func (l *Ledger) prepare() error {
	for _, q := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&l.stmts.insertSegment, `INSERT INTO segments
			(id, target_peer, size, payload, payload_file, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`},
		{&l.stmts.insertPayload, `INSERT INTO segment_payloads (id, payload) VALUES (?, ?)
			ON CONFLICT(id) DO UPDATE SET payload = excluded.payload`},
		{&l.stmts.due, dueSQL},
		{&l.stmts.dueTarget, dueTargetSQL},
		{&l.stmts.pendingByID, pendingByIDSQL},
		{&l.stmts.payload, `SELECT s.size, s.payload_file, ` + payloadExpr + ` FROM segments s
			LEFT JOIN segment_payloads p ON p.id = s.id WHERE s.id = ?`},
		{&l.stmts.markFailed, `UPDATE segments SET state = ?, attempts = ?, next_attempt_at = ?,
			last_error = ?, updated_at = ? WHERE id = ? AND state = 'PENDING'`},
		{&l.stmts.insertAttempt, insertAttemptSQL},
		{&l.stmts.putUsage, `INSERT INTO quota_usage (scope, window_start, used_bytes) VALUES (?, ?, ?)
			ON CONFLICT(scope) DO UPDATE SET window_start = excluded.window_start, used_bytes = excluded.used_bytes`},
		{&l.stmts.nextDue, nextDueSQL},
		{&l.stmts.generation, `SELECT MAX(rowid) FROM segments`},
	} {
		st, err := l.db.Prepare(q.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", strings.Join(strings.Fields(q.sql), " "), err)
		}
		*q.stmt = st
	}
	for _, n := range markChunks {
		st, err := l.db.Prepare(markInSQL(n))
		if err != nil {
			return fmt.Errorf("prepare the mark of %d segments: %w", n, err)
		}
		l.stmts.markDeliveredIn = append(l.stmts.markDeliveredIn, st)
		if st, err = l.db.Prepare(addDeliveredInSQL(n)); err != nil {
			return fmt.Errorf("prepare the history of %d delivered segments: %w", n, err)
		}
		l.stmts.addDeliveredIn = append(l.stmts.addDeliveredIn, st)
	}
	return nil
}

// Path is the file the ledger lives in.
func (l *Ledger) Path() string { return l.path }

// Close closes the database.
func (l *Ledger) Close() error {
	for _, st := range l.stmts.all() {
		if st != nil {
			st.Close()
		}
	}
	return l.db.Close()
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// Insert adds segments as PENDING, due at now, all or none: a duplicate id
// (already stored, or twice in segs) fails the whole insert with a
// *DuplicateError and stores nothing.
func (l *Ledger) Insert(ctx context.Context, now time.Time, segs ...New) error {
	_, err := l.inTx(ctx, func(tx *sql.Tx, files *payloadWrites) (bool, error) {
		for _, s := range segs {
			created, err := l.insert(ctx, tx, files, now, s)
			if err != nil {
				return false, err
			}
			if !created {
				return false, &DuplicateError{ID: s.ID}
			}
		}
		return true, nil
	})
	if err != nil {
		var dup *DuplicateError
		if errors.As(err, &dup) {
			return err
		}
		return fmt.Errorf("insert segments: %w", err)
	}
	return nil
}

// inTx runs an insert in one transaction: fn's files are made durable
// before it commits and removed when it does not (payloadWrites). fn's
// false rolls the transaction back.
func (l *Ledger) inTx(ctx context.Context, fn func(*sql.Tx, *payloadWrites) (bool, error)) (committed bool, err error) {
	return l.inTxOn(ctx, l.db.BeginTx, fn)
}

// inDurableTx is inTx with the commit synced to disk before it returns
// (synchronous=FULL on its connection for this transaction): what edged's
// listener answers 201 for survives a power loss, not only a crash of
// edged. Elsewhere NORMAL stands: a DELIVERED mark lost with the power is
// a redelivery the peer answers 200, its quota usage lost with it.
func (l *Ledger) inDurableTx(ctx context.Context, fn func(*sql.Tx, *payloadWrites) (bool, error)) (bool, error) {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=FULL"); err != nil {
		return false, fmt.Errorf("synchronous=FULL: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=NORMAL")
	return l.inTxOn(ctx, conn.BeginTx, fn)
}

func (l *Ledger) inTxOn(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sql.Tx, error), fn func(*sql.Tx, *payloadWrites) (bool, error)) (committed bool, err error) {
	files := &payloadWrites{dir: l.dir}
	defer func() {
		if !committed {
			files.undo()
		}
	}()
	tx, err := begin(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if ok, err := fn(tx, files); err != nil || !ok {
		return false, err
	}
	if err := files.sync(); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}

// InsertIfAbsent adds one PENDING segment unless its id is already held;
// created reports which. Redeliveries to edged's listener use it.
func (l *Ledger) InsertIfAbsent(ctx context.Context, now time.Time, s New) (created bool, err error) {
	created, err = l.inTx(ctx, func(tx *sql.Tx, files *payloadWrites) (bool, error) {
		return l.insert(ctx, tx, files, now, s)
	})
	if err != nil {
		return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
	}
	return created, nil
}

// insert adds the row and its payload in tx (large payloads as files, in
// files); nothing when the id is held.
func (l *Ledger) insert(ctx context.Context, tx *sql.Tx, files *payloadWrites, now time.Time, s New) (bool, error) {
	if s.Payload == nil {
		s.Payload = []byte{} // an empty segment is stored empty, not NULL
	}
	inRow := int64(len(s.Payload)) <= l.rowBytes
	inFile := int64(len(s.Payload)) > l.fileBytes
	rowPayload := s.Payload
	if !inRow {
		rowPayload = []byte{}
	}
	var file sql.NullString
	if inFile {
		file = sql.NullString{String: fileName(s.ID), Valid: true}
	}
	res, err := tx.StmtContext(ctx, l.stmts.insertSegment).ExecContext(ctx,
		s.ID, s.TargetPeer, len(s.Payload), rowPayload, file, nanos(now), nanos(now), nanos(now))
	if err != nil {
		return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
	}
	if n != 1 {
		return false, nil
	}
	switch {
	case inRow:
		return true, nil
	case inFile:
		if err := files.write(file.String, s.Payload); err != nil {
			return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
		}
		return true, nil
	}
	if _, err := tx.StmtContext(ctx, l.stmts.insertPayload).ExecContext(ctx, s.ID, s.Payload); err != nil {
		return false, fmt.Errorf("insert segment %s: payload: %w", s.ID, err)
	}
	return true, nil
}

const columns = `id, target_peer, size, state, attempts, next_attempt_at, last_error, created_at, updated_at, delivered_at`

// prefixed is columns qualified by the table alias s.
const prefixed = `s.id, s.target_peer, s.size, s.state, s.attempts, s.next_attempt_at, s.last_error, s.created_at, s.updated_at, s.delivered_at`

type scanner interface{ Scan(dest ...any) error }

func scanSegment(row scanner, extra ...any) (Segment, error) {
	var s Segment
	var next, created, updated int64
	var delivered sql.NullInt64
	dest := append([]any{&s.ID, &s.TargetPeer, &s.Size, &s.State, &s.Attempts, &next, &s.LastError, &created, &updated, &delivered}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Segment{}, err
	}
	s.NextAttemptAt, s.CreatedAt, s.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
	if delivered.Valid {
		s.DeliveredAt = fromNanos(delivered.Int64)
	}
	return s, nil
}

func (l *Ledger) query(ctx context.Context, withPayload bool, where string, args ...any) ([]Segment, error) {
	q := "SELECT " + columns + " FROM segments s " + where
	if withPayload {
		q = "SELECT " + prefixed + ", s.payload_file, " + payloadExpr + " FROM segments s LEFT JOIN segment_payloads p ON p.id = s.id " + where
	}
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return l.scanSegments(rows, withPayload)
}

func (l *Ledger) scanSegments(rows *sql.Rows, withPayload bool) ([]Segment, error) {
	defer rows.Close()
	var err error
	var out []Segment
	for rows.Next() {
		var s Segment
		if withPayload {
			var file sql.NullString
			var payload []byte
			s, err = scanSegment(rows, &file, &payload)
			s.Payload = payload
			if err == nil && file.Valid {
				s.Payload, err = l.readFile(s.ID, file.String, s.Size)
			}
		} else {
			s, err = scanSegment(rows)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Due returns up to limit PENDING segments due at now, every field and
// payload filled, in (next_attempt_at, id) order.
func (l *Ledger) Due(ctx context.Context, now time.Time, limit int) ([]Segment, error) {
	segs, err := l.query(ctx, true, `WHERE s.state = 'PENDING' AND s.next_attempt_at <= ? ORDER BY s.next_attempt_at, s.id LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list due segments: %w", err)
	}
	return segs, nil
}

// DueBatch is Due for the executor's cycle: it fills only what a delivery
// needs (ID, TargetPeer, Size, Attempts, NextAttemptAt; State is PENDING),
// and the payloads of segments of at most inline bytes; larger ones come
// without (len(Payload) != Size): read theirs with Payload as their
// delivery starts. inline < 0 fills every payload.
//
// The batch is shared fairly among the targets with due segments: each
// gets an equal share of limit, and what a target leaves unused goes to
// the others, so that one target's backlog never keeps another's segments
// out of it. Each target's segments are in (next_attempt_at, id) order; the
// batch takes every target's first segment (oldest first), then every
// target's second, and so on. With one target it is Due's order.
func (l *Ledger) DueBatch(ctx context.Context, now time.Time, limit int, inline int64) ([]Segment, error) {
	return l.DueBatchExcept(ctx, now, limit, inline, nil)
}

// DueBatchExcept is DueBatch without the segments of the targets skip
// reports (nil: none): the executor does not read again a target whose
// throttled segments are not due yet (relay's deferrals).
func (l *Ledger) DueBatchExcept(ctx context.Context, now time.Time, limit int, inline int64, skip func(target string) bool) ([]Segment, error) {
	segs, err := l.dueFair(ctx, now, limit, l.inlineLimit(inline), skip)
	if err != nil {
		return nil, fmt.Errorf("list due segments: %w", err)
	}
	return segs, nil
}

// inlineLimit is the inline size a due query takes: inline < 0 fills every
// payload the row holds.
func (l *Ledger) inlineLimit(inline int64) int64 {
	if inline < 0 {
		inline = math.MaxInt64
	}
	return min(inline, l.rowBytes)
}

// PendingByID reads the segments among ids that are still PENDING, as
// DueBatch fills them (payloads up to inline bytes), keyed by id; the
// others (delivered, dead-lettered, pruned or unknown) are left out.
func (l *Ledger) PendingByID(ctx context.Context, ids []string, inline int64) (map[string]Segment, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("read pending segments by id: %w", err)
	}
	segs, err := l.due(ctx, l.stmts.pendingByID, len(ids), l.inlineLimit(inline), string(list))
	if err != nil {
		return nil, fmt.Errorf("read pending segments by id: %w", err)
	}
	out := make(map[string]Segment, len(segs))
	for _, s := range segs {
		out[s.ID] = s
	}
	return out, nil
}

func (l *Ledger) dueFair(ctx context.Context, now time.Time, limit int, inline int64, skip func(string) bool) ([]Segment, error) {
	if limit <= 0 {
		return nil, nil
	}
	targets, err := l.pendingTargets(ctx)
	if err != nil {
		return nil, err
	}
	if skip != nil {
		kept := targets[:0]
		for _, p := range targets {
			if !skip(p) {
				kept = append(kept, p)
			}
		}
		if len(kept) < len(targets) && len(kept) == 1 {
			// The query over every target would return the skipped ones.
			return l.due(ctx, l.stmts.dueTarget, limit, inline, kept[0], nanos(now), limit, 0)
		}
		targets = kept
	}
	if len(targets) == 0 {
		return nil, nil
	}
	if len(targets) == 1 {
		return l.due(ctx, l.stmts.due, limit, inline, nanos(now), limit)
	}
	// Water-filling: every round gives each target still full an equal
	// share of what is left; a target that returns less than its share has
	// no more due segments and drops out.
	sort.Strings(targets)
	got := make(map[string][]Segment, len(targets))
	active := targets
	left := limit
	for left > 0 && len(active) > 0 {
		share := (left + len(active) - 1) / len(active)
		var still []string
		for _, p := range active {
			if left == 0 {
				break
			}
			n := min(share, left)
			segs, err := l.due(ctx, l.stmts.dueTarget, n, inline, p, nanos(now), n, len(got[p]))
			if err != nil {
				return nil, err
			}
			got[p] = append(got[p], segs...)
			left -= len(segs)
			if len(segs) == n {
				still = append(still, p)
			}
		}
		active = still
	}
	// When the batch is not full it holds every due segment, and it is in (next_attempt_at,
	// id) order as with one target. Else round-robin by rank within the
	// target (at one rank, oldest first), so that no target's segments
	// wait behind a whole share of another's.
	cut := left == 0 // full: some may have been left out
	type ranked struct {
		rank int
		seg  Segment
	}
	var all []ranked
	for _, p := range targets {
		for i, s := range got[p] {
			if !cut {
				i = 0
			}
			all = append(all, ranked{i, s})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if !a.seg.NextAttemptAt.Equal(b.seg.NextAttemptAt) {
			return a.seg.NextAttemptAt.Before(b.seg.NextAttemptAt)
		}
		return a.seg.ID < b.seg.ID
	})
	out := make([]Segment, len(all))
	for i, r := range all {
		out[i] = r.seg
	}
	return out, nil
}

// due runs a due query (dueSQL or dueTargetSQL) whose first argument is
// the inline size and whose other arguments are args.
func (l *Ledger) due(ctx context.Context, stmt *sql.Stmt, limit int, inline int64, args ...any) ([]Segment, error) {
	rows, err := stmt.QueryContext(ctx, append([]any{inline}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]Segment, 0, min(limit, 1024))
	for rows.Next() {
		s := Segment{State: Pending}
		var next int64
		if err := rows.Scan(&s.ID, &s.TargetPeer, &s.Size, &s.Attempts, &next, &s.Payload); err != nil {
			return nil, err
		}
		s.NextAttemptAt = fromNanos(next)
		out = append(out, s)
	}
	return out, rows.Err()
}

// NextDue returns the earliest next_attempt_at after now among PENDING
// segments (the next backoff to expire); ok is false when there is none.
// Segments already due are not looked at: they wait on the limiter or on
// the next cycle, not on the clock.
func (l *Ledger) NextDue(ctx context.Context, now time.Time) (at time.Time, ok bool, err error) {
	var n sql.NullInt64
	if err := l.stmts.nextDue.QueryRowContext(ctx, nanos(now)).Scan(&n); err != nil {
		return time.Time{}, false, fmt.Errorf("next due segment: %w", err)
	}
	if !n.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(n.Int64), true, nil
}

// Generation increases whenever a segment is inserted, by any process: it
// is the largest rowid. The executor polls it to notice segments that other
// processes (setup seed) insert, without waiting for its tick.
func (l *Ledger) Generation(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := l.stmts.generation.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger generation: %w", err)
	}
	return n.Int64, nil
}

// List returns every segment, without payloads, ordered by id.
func (l *Ledger) List(ctx context.Context) ([]Segment, error) {
	segs, err := l.query(ctx, false, `ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return segs, nil
}

// Get returns one segment with its payload.
func (l *Ledger) Get(ctx context.Context, id string) (Segment, error) {
	segs, err := l.query(ctx, true, `WHERE s.id = ?`, id)
	if err != nil {
		return Segment{}, fmt.Errorf("get segment %s: %w", id, err)
	}
	if len(segs) == 0 {
		return Segment{}, fmt.Errorf("get segment %s: %w", id, ErrNotFound)
	}
	return segs[0], nil
}

// Usage is a daily quota window: when it started and the bytes counted in it.
type Usage struct {
	WindowStart time.Time // zero: no window open
	UsedBytes   int64
}

// MarkDelivered moves a PENDING segment to DELIVERED and, in the same
// transaction, stores the quota usage of each scope ("" is the global quota,
// a peer id a per-peer quota), so a crash never leaves the two disagreeing.
// Its history gains an attempt that started and ended at at: use Record to
// give the attempt its real bounds.
func (l *Ledger) MarkDelivered(ctx context.Context, id string, at time.Time, usage map[string]Usage) error {
	return l.Record(ctx, at, Outcomes{Delivered: []Delivery{{ID: id, StartedAt: at, EndedAt: at}}, Usage: usage})
}

// MarkFailed records a failed attempt: attempts is the new attempt count;
// dead moves the segment to DEADLETTER, else it is due again at next. Its
// history gains an attempt that started and ended at at.
func (l *Ledger) MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastErr string, dead bool, at time.Time) error {
	return l.Record(ctx, at, Outcomes{Failed: []Failure{{ID: id, Attempts: attempts, Next: next, LastError: lastErr, Dead: dead, StartedAt: at, EndedAt: at}}})
}

// Defer moves a PENDING segment's next attempt without counting an attempt
// (the rate limit deferred it).
func (l *Ledger) Defer(ctx context.Context, id string, next time.Time) error {
	_, err := l.db.ExecContext(ctx, `UPDATE segments SET next_attempt_at = ? WHERE id = ? AND state = 'PENDING'`, nanos(next), id)
	if err != nil {
		return fmt.Errorf("defer %s: %w", id, err)
	}
	return nil
}

// Counts returns the number of segments in each state.
func (l *Ledger) Counts(ctx context.Context) (map[State]int64, error) {
	tallies, err := l.Tallies(ctx)
	if err != nil {
		return nil, err
	}
	out := map[State]int64{Pending: 0, Delivered: 0, Deadletter: 0}
	for _, t := range tallies {
		out[Pending] += t.Pending
		out[Delivered] += t.Delivered
		out[Deadletter] += t.Deadletter
	}
	return out, nil
}

// Tally is one target peer's segments in each state, and the bytes
// delivered to it.
type Tally struct {
	Pending, Delivered, Deadletter int64
	DeliveredBytes                 int64
}

// Tallies returns the tally of every target peer with segments, from
// segment_counts in one statement: the status needs the counts per state,
// per peer and the delivered bytes, and at fleet size one read of the
// counter rows costs less than three.
func (l *Ledger) Tallies(ctx context.Context) (map[string]Tally, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT target_peer, state, segments, bytes FROM segment_counts WHERE segments > 0`)
	if err != nil {
		return nil, fmt.Errorf("count segments per peer: %w", err)
	}
	defer rows.Close()
	out := map[string]Tally{}
	for rows.Next() {
		var p string
		var s State
		var n, bytes int64
		if err := rows.Scan(&p, &s, &n, &bytes); err != nil {
			return nil, fmt.Errorf("count segments per peer: %w", err)
		}
		t := out[p]
		switch s {
		case Pending:
			t.Pending = n
		case Delivered:
			t.Delivered, t.DeliveredBytes = n, bytes
		case Deadletter:
			t.Deadletter = n
		}
		out[p] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count segments per peer: %w", err)
	}
	return out, nil
}

// PendingLargerThan counts PENDING segments (optionally for one target peer)
// bigger than size bytes: those a burst of size can never pass.
func (l *Ledger) PendingLargerThan(ctx context.Context, size int64, peer string) (int64, error) {
	counts, err := l.pendingAbove(ctx, func(string) int64 { return size }, peer)
	if err != nil {
		return 0, fmt.Errorf("count oversize segments: %w", err)
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	return total, nil
}

// pendingTargets lists the targets that have PENDING segments.
func (l *Ledger) pendingTargets(ctx context.Context) ([]string, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT target_peer FROM segment_counts WHERE state = 'PENDING' AND segments > 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// pendingAboveSQL lists, for each (burst, class) of the n rows of its
// VALUES (class: the burst's size class, sizeClass), the PENDING sizes of
// every target in that class larger than the burst (see sizesSchema): one
// range of pending_sizes per distinct burst, whatever the number of
// targets. CROSS JOIN keeps the bursts outside.
func pendingAboveSQL(n int) string {
	return `SELECT b.column1, s.target_peer, s.segments
	FROM (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ") + `) b
	CROSS JOIN pending_sizes s ON s.class = b.column2 AND s.size > b.column1`
}

// pendingAbove counts, per target with PENDING segments (only peer when
// it is not ""), those larger than its burst (burstOf; 0: none); targets
// with none are left out. It reads every class row (sizesSchema) and,
// only for the bursts whose own class holds segments, every target's
// distinct sizes in that class: whatever the number of segments, and in
// two statements whatever the number of targets. (Two reads: a change
// committed between them may be seen by one only, as between two status
// requests. Bursts are at most one per configured peer plus the global
// one, far below SQLite's limit on the parameters of the second.)
func (l *Ledger) pendingAbove(ctx context.Context, burstOf func(peer string) int64, peer string) (map[string]int64, error) {
	out := map[string]int64{}
	q, args := `SELECT target_peer, class, segments FROM pending_size_classes`, []any{}
	if peer != "" {
		q, args = q+` WHERE target_peer = ?`, append(args, peer)
	}
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	within := map[int64]bool{} // bursts whose own class holds segments
	for rows.Next() {
		var p string
		var class, n int64
		if err := rows.Scan(&p, &class, &n); err != nil {
			return nil, err
		}
		burst := burstOf(p)
		if burst <= 0 || n <= 0 {
			continue
		}
		switch lo, hi := sizeClass(burst); {
		case class >= hi:
			out[p] += n
		case class == lo:
			within[burst] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(within) == 0 {
		return out, nil
	}
	args = args[:0]
	for burst := range within {
		lo, _ := sizeClass(burst)
		args = append(args, burst, lo)
	}
	q = pendingAboveSQL(len(within))
	if peer != "" {
		q, args = q+` WHERE s.target_peer = ?`, append(args, peer)
	}
	if rows, err = l.db.QueryContext(ctx, q, args...); err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		var burst, n int64
		if err := rows.Scan(&burst, &p, &n); err != nil {
			return nil, err
		}
		// Every target with sizes in the class comes with every burst of
		// that class: only its own burst counts.
		if burstOf(p) == burst {
			out[p] += n
		}
	}
	return out, rows.Err()
}

// PeerTotals is what was delivered to one target peer.
type PeerTotals struct {
	Segments int64
	Bytes    int64
}

// DeliveredByPeer sums DELIVERED segments per target peer.
func (l *Ledger) DeliveredByPeer(ctx context.Context) (map[string]PeerTotals, error) {
	tallies, err := l.Tallies(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]PeerTotals{}
	for p, t := range tallies {
		if t.Delivered > 0 {
			out[p] = PeerTotals{Segments: t.Delivered, Bytes: t.DeliveredBytes}
		}
	}
	return out, nil
}

// Usage returns the stored quota usage of scope ("" global).
func (l *Ledger) Usage(ctx context.Context, scope string) (Usage, error) {
	var start, used int64
	err := l.db.QueryRowContext(ctx, `SELECT window_start, used_bytes FROM quota_usage WHERE scope = ?`, scope).Scan(&start, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Usage{}, nil
	}
	if err != nil {
		return Usage{}, fmt.Errorf("read quota usage %q: %w", scope, err)
	}
	u := Usage{UsedBytes: used}
	if start != 0 {
		u.WindowStart = fromNanos(start)
	}
	return u, nil
}

func (l *Ledger) putUsages(ctx context.Context, tx *sql.Tx, usage map[string]Usage) error {
	if len(usage) == 0 {
		return nil
	}
	st := tx.StmtContext(ctx, l.stmts.putUsage)
	for scope, u := range usage {
		var start int64
		if !u.WindowStart.IsZero() {
			start = nanos(u.WindowStart)
		}
		if _, err := st.ExecContext(ctx, scope, start, u.UsedBytes); err != nil {
			return fmt.Errorf("store quota usage %q: %w", scope, err)
		}
	}
	return nil
}

// Setting reads a JSON setting into v; ok is false when it is not set.
func (l *Ledger) Setting(ctx context.Context, key string, v any) (ok bool, err error) {
	var raw string
	err = l.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read setting %s: %w", key, err)
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return true, nil
}

// SetSetting stores v as JSON under key.
func (l *Ledger) SetSetting(ctx context.Context, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	_, err = l.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, string(raw))
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}

// DeleteSetting removes key; removing an absent key is not an error.
func (l *Ledger) DeleteSetting(ctx context.Context, key string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete setting %s: %w", key, err)
	}
	return nil
}

// SettingsWithPrefix returns the raw JSON of every setting whose key starts
// with prefix, keyed by the rest of the key.
func (l *Ledger) SettingsWithPrefix(ctx context.Context, prefix string) (map[string]json.RawMessage, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT key, value FROM settings WHERE key >= ? AND key < ?`, prefix, prefix+"\xff")
	if err != nil {
		return nil, fmt.Errorf("list settings %s*: %w", prefix, err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("list settings %s*: %w", prefix, err)
		}
		out[strings.TrimPrefix(k, prefix)] = json.RawMessage(v)
	}
	return out, rows.Err()
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict ("ok").
func (l *Ledger) IntegrityCheck(ctx context.Context) (string, error) {
	var v string
	if err := l.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&v); err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	return v, nil
}

// CountsByPeer returns the number of segments in each state per target
// peer.
func (l *Ledger) CountsByPeer(ctx context.Context) (map[string]map[State]int64, error) {
	tallies, err := l.Tallies(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[State]int64, len(tallies))
	for p, t := range tallies {
		c := map[State]int64{}
		for s, n := range map[State]int64{Pending: t.Pending, Delivered: t.Delivered, Deadletter: t.Deadletter} {
			if n > 0 {
				c[s] = n
			}
		}
		out[p] = c
	}
	return out, nil
}

// PendingOversize counts, per target peer, the PENDING segments that a rate
// limit can never pass: larger than the global burst (when globalBurst > 0)
// or than their target's own burst (peerBursts; 0 or absent: no rate).
func (l *Ledger) PendingOversize(ctx context.Context, globalBurst int64, peerBursts map[string]int64) (map[string]int64, error) {
	if globalBurst <= 0 && len(peerBursts) == 0 {
		return map[string]int64{}, nil
	}
	// The smaller burst in force for a target decides.
	burstOf := func(p string) int64 {
		if b := peerBursts[p]; b > 0 && (globalBurst <= 0 || b < globalBurst) {
			return b
		}
		return globalBurst
	}
	out, err := l.pendingAbove(ctx, burstOf, "")
	if err != nil {
		return nil, fmt.Errorf("count oversize segments: %w", err)
	}
	return out, nil
}
