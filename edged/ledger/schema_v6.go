package ledger

import (
	"fmt"
	"math"
	"strings"
)

// sizesSchema (user_version 6) keeps the PENDING segments per target and
// size up to date by triggers, as segment_counts does per state, so that
// the status's count of segments too large for a burst (PendingOversize,
// PendingLargerThan) reads a few counter rows instead of counting index
// entries (SQLite's B-trees keep no counts: a COUNT over a range costs
// the rows in it, 60 ms at 1M PENDING).
//
// Two levels, so that the cost stays bounded when every size differs:
//
//   - pending_size_classes: per target and size class, the class being
//     the size with every hex digit but its first zeroed (0x1a2b →
//     0x1000; 0–15 are classes of their own). Classes are at least as fine
//     as powers of two (1–8 of them per octave), and there are at most
//     15 per hex digit: under 150 per target for sizes below 1 TiB.
//   - pending_sizes: per size class, target and exact size, read only
//     within a burst's own class (from the burst up to the next class):
//     at most as many rows as the distinct PENDING sizes of each target in
//     that class, fewer than the class's width (≤ the burst itself). The
//     class leads its key so that one range reads every target's sizes of
//     one class: the status reads them for all targets at once.
//
// The oversize count of one target is then: the class rows from the next
// class on, plus the exact rows above the burst within its class. A row
// is deleted when its count reaches 0, so neither table ever holds more
// rows than there are PENDING segments, and reading every class row (the
// status does, for every target at once) costs at most the targets with
// PENDING segments times their classes in use.
//
// The index segments_pending_size served only that count, and every
// insert and every DELIVERED mark paid for it: it is dropped.
var sizesSchema = `
DROP INDEX IF EXISTS segments_pending_size;
CREATE TABLE IF NOT EXISTS pending_sizes (
	class       INTEGER NOT NULL,
	target_peer TEXT NOT NULL,
	size        INTEGER NOT NULL,
	segments    INTEGER NOT NULL,
	PRIMARY KEY (class, target_peer, size)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_size_classes (
	target_peer TEXT NOT NULL,
	class       INTEGER NOT NULL,
	segments    INTEGER NOT NULL,
	PRIMARY KEY (target_peer, class)
) WITHOUT ROWID;
DROP TRIGGER IF EXISTS pending_sizes_insert;
CREATE TRIGGER pending_sizes_insert AFTER INSERT ON segments WHEN new.state = 'PENDING' BEGIN
` + enterPending + `
END;
DROP TRIGGER IF EXISTS pending_sizes_enter;
CREATE TRIGGER pending_sizes_enter AFTER UPDATE OF target_peer, size, state ON segments
WHEN new.state = 'PENDING' AND (old.state IS NOT 'PENDING' OR old.target_peer IS NOT new.target_peer OR old.size IS NOT new.size) BEGIN
` + enterPending + `
END;
DROP TRIGGER IF EXISTS pending_sizes_leave;
CREATE TRIGGER pending_sizes_leave AFTER UPDATE OF target_peer, size, state ON segments
WHEN old.state = 'PENDING' AND (new.state IS NOT 'PENDING' OR old.target_peer IS NOT new.target_peer OR old.size IS NOT new.size) BEGIN
` + leavePending + `
END;
DROP TRIGGER IF EXISTS pending_sizes_delete;
CREATE TRIGGER pending_sizes_delete AFTER DELETE ON segments WHEN old.state = 'PENDING' BEGIN
` + leavePending + `
END;
DELETE FROM pending_sizes;
DELETE FROM pending_size_classes;
INSERT INTO pending_sizes (class, target_peer, size, segments)
	SELECT ` + sizeClassSQL("size") + `, target_peer, size, COUNT(*) FROM segments WHERE state = 'PENDING' GROUP BY target_peer, size;
INSERT INTO pending_size_classes (target_peer, class, segments)
	SELECT target_peer, class, SUM(segments) FROM pending_sizes GROUP BY target_peer, class;
`

// sizeClassSQL is SQL for the class of the integer expression x (see
// sizesSchema; sizeClass in Go): x with every bit below its leading hex
// digit cleared, found by comparisons alone. The triggers evaluate it for
// every segment that enters or leaves PENDING, so it avoids functions:
// with printf and length the triggers cost a DELIVERED mark about three
// times as much (docs/PERFORMANCE.md, issue #17 item 4).
func sizeClassSQL(x string) string {
	var b strings.Builder
	b.WriteString("(CASE WHEN " + x + " < 16 THEN " + x)
	for digits := 2; digits < 16; digits++ {
		fmt.Fprintf(&b, " WHEN %s < %d THEN %s & %d", x, int64(1)<<(4*digits), x, ^(int64(1)<<(4*(digits-1)) - 1))
	}
	fmt.Fprintf(&b, " ELSE %s & %d END)", x, ^(int64(1)<<60 - 1))
	return b.String()
}

// enterPending counts new's row in, leavePending counts old's out.
var (
	enterPending = `	INSERT INTO pending_sizes (class, target_peer, size, segments) VALUES (` + sizeClassSQL("new.size") + `, new.target_peer, new.size, 1)
		ON CONFLICT (class, target_peer, size) DO UPDATE SET segments = segments + 1;
	INSERT INTO pending_size_classes (target_peer, class, segments) VALUES (new.target_peer, ` + sizeClassSQL("new.size") + `, 1)
		ON CONFLICT (target_peer, class) DO UPDATE SET segments = segments + 1;`
	leavePending = `	DELETE FROM pending_sizes WHERE class = ` + sizeClassSQL("old.size") + ` AND target_peer = old.target_peer AND size = old.size AND segments = 1;
	UPDATE pending_sizes SET segments = segments - 1
		WHERE class = ` + sizeClassSQL("old.size") + ` AND target_peer = old.target_peer AND size = old.size;
	DELETE FROM pending_size_classes WHERE target_peer = old.target_peer AND class = ` + sizeClassSQL("old.size") + ` AND segments = 1;
	UPDATE pending_size_classes SET segments = segments - 1
		WHERE target_peer = old.target_peer AND class = ` + sizeClassSQL("old.size") + `;`
)

// sizeClass is the class of size (see sizesSchema) as [lo, hi): lo is
// size with every hex digit but its first zeroed, hi the next class's lo
// (math.MaxInt64 past the last).
func sizeClass(size int64) (lo, hi int64) {
	shift := 0
	for size>>(shift+4) > 0 {
		shift += 4
	}
	lo = size >> shift << shift
	if hi = lo + 1<<shift; hi < lo {
		hi = math.MaxInt64
	}
	return lo, hi
}
