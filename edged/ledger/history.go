package ledger

import (
	"context"
	"database/sql"
	"fmt"
)

// historySQL reads segments (without payloads) with their attempts: a row
// per attempt, or one with NULL attempt columns for a segment that has
// none. One statement reads one snapshot, so a dump taken while the
// executor records outcomes never shows a DELIVERED segment without its
// delivered attempt, nor an attempt the segment row does not count yet,
// as two queries could.
const historySQL = `SELECT ` + prefixed + `, a.attempt, a.started_at, a.ended_at, a.outcome, a.error
	FROM segments s LEFT JOIN attempts a ON a.segment_id = s.id`

// historyOrder keeps a segment's rows together, in the order they were
// written (rowid: attempt numbers start again after a requeue): the
// segments come in id order from their index, and only each segment's own
// few attempts are sorted (TestQueryPlans), never the ledger.
const historyOrder = ` ORDER BY s.id, a.rowid`

// ListHistory returns every segment, without payloads, ordered by id, each
// with its History: one query whatever the number of segments.
func (l *Ledger) ListHistory(ctx context.Context) ([]Segment, error) {
	segs, err := l.queryHistory(ctx, historySQL+historyOrder)
	if err != nil {
		return nil, fmt.Errorf("list segments with their history: %w", err)
	}
	return segs, nil
}

// SegmentHistory returns one segment, without its payload, with its
// History; the error wraps ErrNotFound for an id the ledger does not hold.
func (l *Ledger) SegmentHistory(ctx context.Context, id string) (Segment, error) {
	segs, err := l.queryHistory(ctx, historySQL+` WHERE s.id = ?`+historyOrder, id)
	if err != nil {
		return Segment{}, fmt.Errorf("history of segment %s: %w", id, err)
	}
	if len(segs) == 0 {
		return Segment{}, fmt.Errorf("history of segment %s: %w", id, ErrNotFound)
	}
	return segs[0], nil
}

// History returns the delivery attempts of segment id in attempt order
// (empty, not nil, when none was made); the error wraps ErrNotFound for an
// id the ledger does not hold.
func (l *Ledger) History(ctx context.Context, id string) ([]Attempt, error) {
	s, err := l.SegmentHistory(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.History, nil
}

func (l *Ledger) queryHistory(ctx context.Context, q string, args ...any) ([]Segment, error) {
	rows, err := l.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Segment
	for rows.Next() {
		var (
			n, started, ended sql.NullInt64
			outcome, msg      sql.NullString
		)
		s, err := scanSegment(rows, &n, &started, &ended, &outcome, &msg)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != s.ID {
			s.History = []Attempt{}
			out = append(out, s)
		}
		if !n.Valid {
			continue // no attempt: the LEFT JOIN's row of NULLs
		}
		last := &out[len(out)-1]
		last.History = append(last.History, Attempt{
			Attempt:   int(n.Int64),
			StartedAt: fromNanos(started.Int64),
			EndedAt:   fromNanos(ended.Int64),
			Outcome:   Outcome(outcome.String),
			Error:     msg.String,
		})
	}
	return out, rows.Err()
}
