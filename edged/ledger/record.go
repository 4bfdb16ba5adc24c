package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Failure is a failed delivery attempt to record: Attempts is the new
// attempt count; Dead moves the segment to DEADLETTER, else it is due again
// at Next.
type Failure struct {
	ID        string
	Attempts  int
	Next      time.Time
	LastError string
	Dead      bool
}

// Outcomes are the results of several deliveries, recorded together.
type Outcomes struct {
	Delivered []string // ids now DELIVERED
	Failed    []Failure
	// Usage is the quota usage of each scope once every delivery in
	// Delivered is counted ("" global, a peer id a per-peer quota).
	Usage map[string]Usage
}

// Record stores outcomes at instant at in one transaction: the DELIVERED
// marks, the failed attempts and the quota usage land together or not at
// all, so after a crash the usage is exactly the bytes of the DELIVERED
// segments. Every segment must be PENDING; if one is not (or is missing),
// nothing is stored and the error wraps ErrNotFound.
//
// One transaction for many segments is what makes a busy relay cheap: a
// transaction's fixed cost (taking the write lock, appending the changed
// pages to the WAL) is several marks' worth (BenchmarkRecord).
func (l *Ledger) Record(ctx context.Context, at time.Time, o Outcomes) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record %d delivered, %d failed: %w", len(o.Delivered), len(o.Failed), err)
	}
	defer tx.Rollback()
	if err := l.markAllDelivered(ctx, tx, o.Delivered, at); err != nil {
		return err
	}
	for _, f := range o.Failed {
		if err := l.markFailed(ctx, tx, f, at); err != nil {
			return err
		}
	}
	if err := l.putUsages(ctx, tx, o.Usage); err != nil {
		return fmt.Errorf("record %d delivered: %w", len(o.Delivered), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record %d delivered, %d failed: commit: %w", len(o.Delivered), len(o.Failed), err)
	}
	return nil
}

// markAllDelivered marks ids DELIVERED with as few statements as the
// prepared sizes allow: a statement's fixed cost is most of a small
// update's.
func (l *Ledger) markAllDelivered(ctx context.Context, tx *sql.Tx, ids []string, at time.Time) error {
	for len(ids) > 0 {
		i := 0
		for markChunks[i] > len(ids) {
			i++
		}
		n := markChunks[i]
		args := make([]any, 0, n+1)
		args = append(args, nanos(at))
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		res, err := tx.StmtContext(ctx, l.stmts.markDeliveredIn[i]).ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("mark %d segments delivered: %w", n, err)
		}
		if got, _ := res.RowsAffected(); got != int64(n) {
			if n == 1 {
				return fmt.Errorf("mark %s delivered: %w (or not PENDING)", ids[0], ErrNotFound)
			}
			return fmt.Errorf("mark %d segments delivered (%s…%s): %d of them %w (or not PENDING)", n, ids[0], ids[n-1], int64(n)-got, ErrNotFound)
		}
		ids = ids[n:]
	}
	return nil
}

// markFailed records f in tx.
func (l *Ledger) markFailed(ctx context.Context, tx *sql.Tx, f Failure, at time.Time) error {
	state := Pending
	if f.Dead {
		state = Deadletter
	}
	res, err := tx.StmtContext(ctx, l.stmts.markFailed).ExecContext(ctx, state, f.Attempts, nanos(f.Next), f.LastError, nanos(at), f.ID)
	if err != nil {
		return fmt.Errorf("mark %s failed: %w", f.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mark %s failed: %w (or not PENDING)", f.ID, ErrNotFound)
	}
	return nil
}
