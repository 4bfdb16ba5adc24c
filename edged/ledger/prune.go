package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// retentionSchema (user_version 5): deleting a DELIVERED row no longer
// takes it out of segment_counts, so the delivered counts (and the
// delivered_* counters of /metrics) stay the totals ever delivered when
// retention prunes old rows; other states still leave the counts.
const retentionSchema = `
DROP TRIGGER IF EXISTS segment_counts_delete;
CREATE TRIGGER segment_counts_delete AFTER DELETE ON segments WHEN old.state IS NOT 'DELIVERED' BEGIN
	UPDATE segment_counts SET segments = segments - 1, bytes = bytes - old.size
		WHERE target_peer = old.target_peer AND state = old.state;
END;
`

// PruneBatch is how many segments one prune transaction deletes: small, so
// the executor's writes never wait long behind it.
const PruneBatch = 256

// Prune deletes DELIVERED segments delivered before cutoff, with their
// attempt history and payloads, in transactions of at most batch rows, and
// returns how many it deleted. dryRun counts them and deletes nothing.
// DEADLETTER and PENDING segments are never pruned (a dead letter waits
// for its requeue). Payload files are removed after their rows' commit; a
// crash in between leaves files no row names, which Open removes.
func (l *Ledger) Prune(ctx context.Context, cutoff time.Time, batch int, dryRun bool) (int, error) {
	if batch <= 0 {
		batch = PruneBatch
	}
	if dryRun {
		var n int
		err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM segments WHERE state = 'DELIVERED' AND delivered_at < ?`, cutoff.UnixNano()).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("count prunable segments: %w", err)
		}
		return n, nil
	}
	total := 0
	for {
		n, files, err := l.pruneBatch(ctx, cutoff, batch)
		if err != nil {
			return total, err
		}
		for _, f := range files {
			if err := os.Remove(filepath.Join(l.dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return total, fmt.Errorf("prune: remove payload file %s: %w", f, err)
			}
		}
		total += n
		if n < batch || ctx.Err() != nil {
			return total, nil
		}
	}
}

// pruneBatch deletes up to batch prunable segments in one transaction and
// returns them and the payload files they named.
func (l *Ledger) pruneBatch(ctx context.Context, cutoff time.Time, batch int) (int, []string, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("prune: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, COALESCE(payload_file, '') FROM segments
		WHERE state = 'DELIVERED' AND delivered_at < ? ORDER BY delivered_at LIMIT ?`, cutoff.UnixNano(), batch)
	if err != nil {
		return 0, nil, fmt.Errorf("prune: select: %w", err)
	}
	var ids, files []string
	for rows.Next() {
		var id, file string
		if err := rows.Scan(&id, &file); err != nil {
			rows.Close()
			return 0, nil, fmt.Errorf("prune: select: %w", err)
		}
		ids = append(ids, id)
		if file != "" {
			files = append(files, file)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("prune: select: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil, nil
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	for _, q := range []string{
		`DELETE FROM attempts WHERE segment_id IN ` + in,
		`DELETE FROM segment_payloads WHERE id IN ` + in,
		`DELETE FROM segments WHERE id IN ` + in,
	} {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, nil, fmt.Errorf("prune %d segments: %w", len(ids), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("prune %d segments: commit: %w", len(ids), err)
	}
	return len(ids), files, nil
}
