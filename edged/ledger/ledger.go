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
	"net/url"
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
	ID            string
	TargetPeer    string
	Size          int64
	Payload       []byte // empty in listings; filled by Due
	State         State
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeliveredAt   time.Time // zero unless DELIVERED
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
	db   *sql.DB
	path string
}

const schema = `
CREATE TABLE IF NOT EXISTS segments (
	id              TEXT PRIMARY KEY,
	target_peer     TEXT NOT NULL,
	size            INTEGER NOT NULL,
	payload         BLOB NOT NULL,
	state           TEXT NOT NULL DEFAULT 'PENDING',
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	delivered_at    INTEGER
);
CREATE INDEX IF NOT EXISTS segments_due ON segments(state, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quota_usage (
	scope        TEXT PRIMARY KEY,
	window_start INTEGER NOT NULL,
	used_bytes   INTEGER NOT NULL
);
`

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
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger %s: create schema: %w", path, err)
	}
	return &Ledger{db: db, path: path}, nil
}

// Path is the file the ledger lives in.
func (l *Ledger) Path() string { return l.path }

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// Insert adds segments as PENDING, due at now, all or none: a duplicate id
// (already stored, or twice in segs) fails the whole insert with a
// *DuplicateError and stores nothing.
func (l *Ledger) Insert(ctx context.Context, now time.Time, segs ...New) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert segments: %w", err)
	}
	defer tx.Rollback()
	for _, s := range segs {
		created, err := insert(ctx, tx, now, s)
		if err != nil {
			return err
		}
		if !created {
			return &DuplicateError{ID: s.ID}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert segments: commit: %w", err)
	}
	return nil
}

// InsertIfAbsent adds one PENDING segment unless its id is already held;
// created reports which. Redeliveries to edged's listener use it.
func (l *Ledger) InsertIfAbsent(ctx context.Context, now time.Time, s New) (created bool, err error) {
	return insert(ctx, l.db, now, s)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insert(ctx context.Context, db execer, now time.Time, s New) (bool, error) {
	if s.Payload == nil {
		s.Payload = []byte{} // an empty segment is stored empty, not NULL
	}
	res, err := db.ExecContext(ctx, `INSERT INTO segments
		(id, target_peer, size, payload, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		s.ID, s.TargetPeer, len(s.Payload), s.Payload, nanos(now), nanos(now), nanos(now))
	if err != nil {
		return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert segment %s: %w", s.ID, err)
	}
	return n == 1, nil
}

const columns = `id, target_peer, size, state, attempts, next_attempt_at, last_error, created_at, updated_at, delivered_at`

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
	cols := columns
	if withPayload {
		cols += ", payload"
	}
	rows, err := l.db.QueryContext(ctx, "SELECT "+cols+" FROM segments "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var s Segment
		if withPayload {
			var payload []byte
			s, err = scanSegment(rows, &payload)
			s.Payload = payload
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

// Due returns up to limit PENDING segments due at now, with payloads, in
// (next_attempt_at, id) order.
func (l *Ledger) Due(ctx context.Context, now time.Time, limit int) ([]Segment, error) {
	segs, err := l.query(ctx, true, `WHERE state = 'PENDING' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list due segments: %w", err)
	}
	return segs, nil
}

// NextDue returns the earliest next_attempt_at after now among PENDING
// segments (the next backoff to expire); ok is false when there is none.
// Segments already due are not looked at: they wait on the limiter or on
// the next cycle, not on the clock.
func (l *Ledger) NextDue(ctx context.Context, now time.Time) (at time.Time, ok bool, err error) {
	var n sql.NullInt64
	if err := l.db.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM segments WHERE state = 'PENDING' AND next_attempt_at > ?`, nanos(now)).Scan(&n); err != nil {
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
	if err := l.db.QueryRowContext(ctx, `SELECT MAX(rowid) FROM segments`).Scan(&n); err != nil {
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
	segs, err := l.query(ctx, true, `WHERE id = ?`, id)
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
func (l *Ledger) MarkDelivered(ctx context.Context, id string, at time.Time, usage map[string]Usage) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark %s delivered: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE segments SET state = 'DELIVERED', attempts = attempts + 1,
		last_error = '', updated_at = ?, delivered_at = ? WHERE id = ? AND state = 'PENDING'`,
		nanos(at), nanos(at), id)
	if err != nil {
		return fmt.Errorf("mark %s delivered: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mark %s delivered: %w (or not PENDING)", id, ErrNotFound)
	}
	for scope, u := range usage {
		if err := putUsage(ctx, tx, scope, u); err != nil {
			return fmt.Errorf("mark %s delivered: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark %s delivered: commit: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt: attempts is the new attempt count;
// dead moves the segment to DEADLETTER, else it is due again at next.
func (l *Ledger) MarkFailed(ctx context.Context, id string, attempts int, next time.Time, lastErr string, dead bool, at time.Time) error {
	state := Pending
	if dead {
		state = Deadletter
	}
	res, err := l.db.ExecContext(ctx, `UPDATE segments SET state = ?, attempts = ?, next_attempt_at = ?,
		last_error = ?, updated_at = ? WHERE id = ? AND state = 'PENDING'`,
		state, attempts, nanos(next), lastErr, nanos(at), id)
	if err != nil {
		return fmt.Errorf("mark %s failed: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mark %s failed: %w (or not PENDING)", id, ErrNotFound)
	}
	return nil
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
	rows, err := l.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM segments GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count segments: %w", err)
	}
	defer rows.Close()
	out := map[State]int64{Pending: 0, Delivered: 0, Deadletter: 0}
	for rows.Next() {
		var s State
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count segments: %w", err)
		}
		out[s] = n
	}
	return out, rows.Err()
}

// PendingLargerThan counts PENDING segments (optionally for one target peer)
// bigger than size bytes: those a burst of size can never pass.
func (l *Ledger) PendingLargerThan(ctx context.Context, size int64, peer string) (int64, error) {
	q := `SELECT COUNT(*) FROM segments WHERE state = 'PENDING' AND size > ?`
	args := []any{size}
	if peer != "" {
		q += ` AND target_peer = ?`
		args = append(args, peer)
	}
	var n int64
	if err := l.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count oversize segments: %w", err)
	}
	return n, nil
}

// PeerTotals is what was delivered to one target peer.
type PeerTotals struct {
	Segments int64
	Bytes    int64
}

// DeliveredByPeer sums DELIVERED segments per target peer.
func (l *Ledger) DeliveredByPeer(ctx context.Context) (map[string]PeerTotals, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT target_peer, COUNT(*), COALESCE(SUM(size), 0) FROM segments WHERE state = 'DELIVERED' GROUP BY target_peer`)
	if err != nil {
		return nil, fmt.Errorf("sum delivered segments: %w", err)
	}
	defer rows.Close()
	out := map[string]PeerTotals{}
	for rows.Next() {
		var p string
		var t PeerTotals
		if err := rows.Scan(&p, &t.Segments, &t.Bytes); err != nil {
			return nil, fmt.Errorf("sum delivered segments: %w", err)
		}
		out[p] = t
	}
	return out, rows.Err()
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

func putUsage(ctx context.Context, db execer, scope string, u Usage) error {
	var start int64
	if !u.WindowStart.IsZero() {
		start = nanos(u.WindowStart)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO quota_usage (scope, window_start, used_bytes) VALUES (?, ?, ?)
		ON CONFLICT(scope) DO UPDATE SET window_start = excluded.window_start, used_bytes = excluded.used_bytes`,
		scope, start, u.UsedBytes)
	if err != nil {
		return fmt.Errorf("store quota usage %q: %w", scope, err)
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
	rows, err := l.db.QueryContext(ctx, `SELECT target_peer, state, COUNT(*) FROM segments GROUP BY target_peer, state`)
	if err != nil {
		return nil, fmt.Errorf("count segments per peer: %w", err)
	}
	defer rows.Close()
	out := map[string]map[State]int64{}
	for rows.Next() {
		var p string
		var s State
		var n int64
		if err := rows.Scan(&p, &s, &n); err != nil {
			return nil, fmt.Errorf("count segments per peer: %w", err)
		}
		if out[p] == nil {
			out[p] = map[State]int64{}
		}
		out[p][s] = n
	}
	return out, rows.Err()
}

// PendingOversize counts, per target peer, the PENDING segments that a rate
// limit can never pass: larger than the global burst (when globalBurst > 0)
// or than their target's own burst (peerBursts; 0 or absent: no rate).
func (l *Ledger) PendingOversize(ctx context.Context, globalBurst int64, peerBursts map[string]int64) (map[string]int64, error) {
	// One query whatever the number of peers: the per-peer bursts are a
	// VALUES table joined on the target.
	q := `SELECT s.target_peer, COUNT(*) FROM segments s `
	var args []any
	if len(peerBursts) > 0 {
		q = `WITH bursts(peer, burst) AS (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(peerBursts)), ", ") + `) ` +
			q + `LEFT JOIN bursts b ON b.peer = s.target_peer `
		for p, b := range peerBursts {
			args = append(args, p, b)
		}
	}
	q += `WHERE s.state = 'PENDING' AND ((? > 0 AND s.size > ?)`
	args = append(args, globalBurst, globalBurst)
	if len(peerBursts) > 0 {
		q += ` OR (b.burst > 0 AND s.size > b.burst)`
	}
	q += `) GROUP BY s.target_peer`
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count oversize segments: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("count oversize segments: %w", err)
		}
		out[p] = n
	}
	return out, rows.Err()
}
