package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// OutcomeRequeued is the history entry a requeue writes: not an attempt,
// the end of a round of them. Its Attempt is the attempt count the segment
// had when it was requeued (the number of the round's last attempt).
const OutcomeRequeued Outcome = "requeued"

// Rounds numbers the rounds of a history (as SegmentHistory returns it,
// in the order written): entry i is in round Rounds(h)[i], 1 until the
// first requeued entry (which ends its round), one more after each.
func Rounds(history []Attempt) []int {
	out := make([]int, len(history))
	round := 1
	for i, a := range history {
		out[i] = round
		if a.Outcome == OutcomeRequeued {
			round++
		}
	}
	return out
}

// CurrentRound is the part of a history since its last requeue: the
// attempts the segment row counts now.
func CurrentRound(history []Attempt) []Attempt {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Outcome == OutcomeRequeued {
			return history[i+1:]
		}
	}
	return history
}

// RequeueSelector says which DEADLETTER segments a requeue moves: the
// segments named by IDs, or every one for target Peer, or every one (All).
// Exactly one of them is given.
type RequeueSelector struct {
	IDs  []string
	Peer string
	All  bool
}

func (s RequeueSelector) String() string {
	switch {
	case s.All:
		return "every dead-lettered segment"
	case s.Peer != "":
		return fmt.Sprintf("the dead-lettered segments for peer %s", s.Peer)
	}
	return fmt.Sprintf("%d named segment(s)", len(s.IDs))
}

// NotRequeuable is one id a requeue refused, and why.
type NotRequeuable struct {
	ID    string
	State State // "" when the ledger does not hold the id
}

func (n NotRequeuable) String() string {
	if n.State == "" {
		return fmt.Sprintf("%s is not in the ledger", n.ID)
	}
	return fmt.Sprintf("%s is %s, not DEADLETTER", n.ID, n.State)
}

// NotRequeuableError refuses a requeue by ids that named segments which
// are not DEADLETTER or not in the ledger, each named; nothing was moved.
type NotRequeuableError struct{ Refused []NotRequeuable }

func (e *NotRequeuableError) Error() string {
	parts := make([]string, len(e.Refused))
	for i, r := range e.Refused {
		parts[i] = r.String()
	}
	return "nothing requeued: " + strings.Join(parts, "; ")
}

// ErrNoSelector is a RequeueSelector that selects nothing or several ways.
var ErrNoSelector = errors.New("requeue: give exactly one of ids, a peer, or all")

// Requeue moves the DEADLETTER segments sel selects back to PENDING, due
// at now, with their attempt count reset and their last error cleared, in
// one transaction. Their history is kept and gains an entry of outcome
// requeued (at now), after which attempt numbers start again at 1 in the
// next round. With ids, all or nothing: when one of them is not DEADLETTER
// (or not held), nothing moves and the error is a *NotRequeuableError
// naming each. dryRun does everything but commit. It returns the ids
// moved (or that would be), sorted.
func (l *Ledger) Requeue(ctx context.Context, now time.Time, sel RequeueSelector, dryRun bool) ([]string, error) {
	given := 0
	if len(sel.IDs) > 0 {
		given++
	}
	if sel.Peer != "" {
		given++
	}
	if sel.All {
		given++
	}
	if given != 1 {
		return nil, ErrNoSelector
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("requeue %s: %w", sel, err)
	}
	defer tx.Rollback()
	dead, err := deadSelected(ctx, tx, sel)
	var refused *NotRequeuableError
	if errors.As(err, &refused) {
		return nil, refused // names every id: the whole answer
	}
	if err != nil {
		return nil, fmt.Errorf("requeue %s: %w", sel, err)
	}
	ids := make([]string, 0, len(dead))
	for _, d := range dead {
		res, err := tx.ExecContext(ctx, `UPDATE segments SET state = 'PENDING', attempts = 0, next_attempt_at = ?1,
			last_error = '', updated_at = ?1 WHERE id = ?2 AND state = 'DEADLETTER'`, nanos(now), d.id)
		if err != nil {
			return nil, fmt.Errorf("requeue %s: %w", d.id, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, fmt.Errorf("requeue %s: %w (or not DEADLETTER)", d.id, ErrNotFound) // read in this transaction: cannot happen
		}
		if _, err := tx.ExecContext(ctx, insertAttemptSQL, d.id, d.attempts, nanos(now), nanos(now), string(OutcomeRequeued), ""); err != nil {
			return nil, fmt.Errorf("requeue %s: add the requeue to the history: %w", d.id, err)
		}
		ids = append(ids, d.id)
	}
	if dryRun {
		return ids, nil // rolled back
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("requeue %s: commit: %w", sel, err)
	}
	return ids, nil
}

type deadRow struct {
	id       string
	attempts int
}

// deadSelected reads the DEADLETTER rows sel selects, in id order.
func deadSelected(ctx context.Context, tx *sql.Tx, sel RequeueSelector) ([]deadRow, error) {
	if len(sel.IDs) == 0 {
		q := `SELECT id, attempts FROM segments WHERE state = 'DEADLETTER' ORDER BY target_peer, id`
		args := []any{}
		if sel.Peer != "" {
			q = `SELECT id, attempts FROM segments WHERE state = 'DEADLETTER' AND target_peer = ? ORDER BY id`
			args = append(args, sel.Peer)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []deadRow
		for rows.Next() {
			var d deadRow
			if err := rows.Scan(&d.id, &d.attempts); err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
		return out, nil
	}
	var (
		out     []deadRow
		refused []NotRequeuable
		seen    = map[string]bool{}
	)
	for _, id := range sel.IDs { // refusals in the order named
		if seen[id] {
			continue // named twice: requeued once
		}
		seen[id] = true
		var (
			d     = deadRow{id: id}
			state State
		)
		err := tx.QueryRowContext(ctx, `SELECT state, attempts FROM segments WHERE id = ?`, id).Scan(&state, &d.attempts)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			refused = append(refused, NotRequeuable{ID: id})
		case err != nil:
			return nil, err
		case state != Deadletter:
			refused = append(refused, NotRequeuable{ID: id, State: state})
		default:
			out = append(out, d)
		}
	}
	if len(refused) > 0 {
		return nil, &NotRequeuableError{Refused: refused}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}
