package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Kinds of the hourly traffic buckets (table ingress_hourly, schema v4).
const (
	// KindIngress: bodies edged's listener accepted, per sender (the
	// identity the listener credits: the declared peer id, else the
	// session id), redeliveries of held ids included, as the in-memory
	// attribution counts them.
	KindIngress = "ingress"
	// KindDelivered: segments marked DELIVERED, per target peer.
	KindDelivered = "delivered"
)

// Bucket is one hour's traffic of one peer and kind.
type Bucket struct {
	Hour     time.Time // the hour's start, UTC
	Peer     string
	Kind     string
	Bytes    int64
	Segments int64
}

const creditIngressSQL = `INSERT INTO ingress_hourly (hour, peer, kind, bytes, segments) VALUES (?, ?, 'ingress', ?, 1)
	ON CONFLICT (hour, peer, kind) DO UPDATE SET bytes = bytes + excluded.bytes, segments = segments + 1`

// hourOf is the bucket key of t: unix seconds of its hour's start.
func hourOf(t time.Time) int64 {
	s := t.Unix()
	return s - s%3600
}

// InsertReceived is InsertIfAbsent for a segment edged's listener accepted
// from sender: in the same transaction it credits the payload's bytes (and
// one segment) to sender's ingress bucket of the hour of now, whether the
// segment is new or a redelivery of a held id. A crash therefore loses no
// credited byte and credits none twice: the bucket holds exactly the
// bodies whose insert committed (those the sender was answered 200/201
// for, and at most the ones in commits whose answer the crash cut off).
func (l *Ledger) InsertReceived(ctx context.Context, now time.Time, sender string, s New) (created bool, err error) {
	// Durable: the listener answers 201 on this commit.
	_, err = l.inDurableTx(ctx, func(tx *sql.Tx, files *payloadWrites) (bool, error) {
		var err error
		if created, err = l.insert(ctx, tx, files, now, s); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, creditIngressSQL, hourOf(now), sender, len(s.Payload)); err != nil {
			return false, fmt.Errorf("credit %d ingress bytes to %s: %w", len(s.Payload), sender, err)
		}
		return true, nil // a redelivery commits its credit too
	})
	if err != nil {
		return false, fmt.Errorf("insert received segment %s: %w", s.ID, err)
	}
	return created, nil
}

// Traffic returns the hourly buckets of the hours that overlap [since,
// until) (zero: unbounded), ordered by hour, peer and kind.
func (l *Ledger) Traffic(ctx context.Context, since, until time.Time) ([]Bucket, error) {
	lo, hi := int64(-1<<62), int64(1<<62)
	if !since.IsZero() {
		lo = hourOf(since)
	}
	if !until.IsZero() {
		hi = until.Unix()
		if until.After(time.Unix(hi, 0)) {
			hi++ // an until within a second still takes that second's hour
		}
	}
	rows, err := l.db.QueryContext(ctx, `SELECT hour, peer, kind, bytes, segments FROM ingress_hourly
		WHERE hour >= ? AND hour < ? ORDER BY hour, peer, kind`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read hourly traffic: %w", err)
	}
	defer rows.Close()
	out := []Bucket{}
	for rows.Next() {
		var b Bucket
		var hour int64
		if err := rows.Scan(&hour, &b.Peer, &b.Kind, &b.Bytes, &b.Segments); err != nil {
			return nil, fmt.Errorf("read hourly traffic: %w", err)
		}
		b.Hour = time.Unix(hour, 0).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read hourly traffic: %w", err)
	}
	return out, nil
}
