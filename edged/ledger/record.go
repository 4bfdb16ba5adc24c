package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
)

// Delivery is a delivery to record: the segment becomes DELIVERED and its
// history gains the attempt, which started at StartedAt (its admission)
// and ended at EndedAt (the peer's answer).
type Delivery struct {
	ID        string
	StartedAt time.Time
	EndedAt   time.Time
}

// Failure is a failed delivery attempt to record: Attempts is the new
// attempt count (the attempt's number in the history); Dead moves the
// segment to DEADLETTER, else it is due again at Next. StartedAt and
// EndedAt bound the attempt (equal for one refused at admission).
type Failure struct {
	ID        string
	Attempts  int
	Next      time.Time
	LastError string
	Dead      bool
	StartedAt time.Time
	EndedAt   time.Time
}

// Outcomes are the results of several deliveries, recorded together.
type Outcomes struct {
	Delivered []Delivery // now DELIVERED
	Failed    []Failure
	// Usage is the quota usage of each scope once every delivery in
	// Delivered is counted ("" global, a peer id a per-peer quota).
	Usage map[string]Usage
}

// Record stores outcomes at instant at in one transaction: the DELIVERED
// marks, the failed attempts, their rows in the attempt history and the
// quota usage land together or not at all, so after a crash the usage is
// exactly the bytes of the DELIVERED segments and the history holds
// exactly the attempts the segment rows count. Every segment must be
// PENDING; if one is not (or is missing), nothing is stored and the error
// wraps ErrNotFound.
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
	if len(o.Failed) > 0 {
		mark := tx.StmtContext(ctx, l.stmts.markFailed)
		hist := tx.StmtContext(ctx, l.stmts.insertAttempt)
		for _, f := range o.Failed {
			if err := markFailed(ctx, mark, hist, f, at); err != nil {
				return err
			}
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

// markAllDelivered marks ds DELIVERED with as few statements as the
// prepared sizes allow (a statement's fixed cost is most of a small
// update's), and adds their attempts to the history.
func (l *Ledger) markAllDelivered(ctx context.Context, tx *sql.Tx, ds []Delivery, at time.Time) error {
	if len(ds) == 0 {
		return nil
	}
	args := make([]any, 0, min(len(ds), markChunks[0])*attemptColumns+1)
	for rest := ds; len(rest) > 0; {
		i := 0
		for markChunks[i] > len(rest) {
			i++
		}
		n := markChunks[i]
		args = append(args[:0], nanos(at))
		for _, d := range rest[:n] {
			args = append(args, d.ID)
		}
		res, err := tx.StmtContext(ctx, l.stmts.markDeliveredIn[i]).ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("mark %d segments delivered: %w", n, err)
		}
		if got, _ := res.RowsAffected(); got != int64(n) {
			if n == 1 {
				return fmt.Errorf("mark %s delivered: %w (or not PENDING)", rest[0].ID, ErrNotFound)
			}
			return fmt.Errorf("mark %d segments delivered (%s…%s): %d of them %w (or not PENDING)", n, rest[0].ID, rest[n-1].ID, int64(n)-got, ErrNotFound)
		}
		rest = rest[n:]
	}
	return l.addDelivered(ctx, tx, ds, args)
}

// addDelivered adds the attempts of ds, just marked DELIVERED, to the
// history, in the chunks of the marks. args is scratch space.
func (l *Ledger) addDelivered(ctx context.Context, tx *sql.Tx, ds []Delivery, args []any) error {
	for len(ds) > 0 {
		i := 0
		for markChunks[i] > len(ds) {
			i++
		}
		n := markChunks[i]
		args = args[:0]
		for _, d := range ds[:n] {
			args = append(args, d.ID, nanos(d.StartedAt), nanos(d.EndedAt))
		}
		res, err := tx.StmtContext(ctx, l.stmts.addDeliveredIn[i]).ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("add %d delivered attempts to the history: %w", n, err)
		}
		if got, _ := res.RowsAffected(); got != int64(n) {
			// Cannot happen while the marks above found every one of
			// them: say so rather than store a history short of a row.
			return fmt.Errorf("add %d delivered attempts to the history (%s…%s): %d rows written", n, ds[0].ID, ds[n-1].ID, got)
		}
		ds = ds[n:]
	}
	return nil
}

// markFailed records f with mark (markFailed) and hist (insertAttempt) of
// the transaction.
func markFailed(ctx context.Context, mark, hist *sql.Stmt, f Failure, at time.Time) error {
	state := Pending
	if f.Dead {
		state = Deadletter
	}
	res, err := mark.ExecContext(ctx, state, f.Attempts, nanos(f.Next), f.LastError, nanos(at), f.ID)
	if err != nil {
		return fmt.Errorf("mark %s failed: %w", f.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mark %s failed: %w (or not PENDING)", f.ID, ErrNotFound)
	}
	if _, err := hist.ExecContext(ctx, f.ID, f.Attempts, nanos(f.StartedAt), nanos(f.EndedAt), string(OutcomeFailed), f.LastError); err != nil {
		return fmt.Errorf("mark %s failed: add attempt %d to the history: %w", f.ID, f.Attempts, err)
	}
	return nil
}

// settingProbe is the settings row Probe rewrites.
const settingProbe = "ledger_probe"

// Probe checks that the ledger takes a write: one small transaction that
// rewrites a settings row with at. The executor probes this way while the
// ledger cannot record outcomes, before it starts deliveries again. A full
// disk can still take so small a write while refusing a batch of marks:
// the executor backs off further when its next recording fails.
func (l *Ledger) Probe(ctx context.Context, at time.Time) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, settingProbe, fmt.Sprint(nanos(at)))
	if err != nil {
		return fmt.Errorf("probe the ledger with a write: %w", err)
	}
	return nil
}

// SQLite's primary result codes of a ledger that cannot take writes at all
// (as opposed to one row that cannot).
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
)

// Unavailable reports whether err says the ledger as a whole cannot take a
// write now (a full disk, an I/O error, a lock held past the busy timeout,
// a read-only file): any other write would fail the same way, so trying
// the outcomes of a batch one by one is pointless.
func Unavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteCorrupt, sqliteFull, sqliteCantOpen:
		return true
	}
	return false
}
