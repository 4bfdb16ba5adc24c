package ledger

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

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
-- Only PENDING rows are ever looked up by due time (the cycle's batch).
-- Partial indexes keep delivered rows out of them, and marking a segment
-- DELIVERED only deletes its entries. (The status's count of segments too
-- large for a burst reads counters since version 6: sizesSchema.)
CREATE INDEX IF NOT EXISTS segments_pending ON segments(next_attempt_at, id) WHERE state = 'PENDING';
-- The due segments of one target, in due order: a cycle reads each target's
-- share of its batch (DueBatch), so one target's backlog cannot fill it.
-- An index only: ledgers of this schema version without it get it on open,
-- and an older edged maintains it without knowing it.
CREATE INDEX IF NOT EXISTS segments_pending_target ON segments(target_peer, next_attempt_at, id) WHERE state = 'PENDING';
-- Large payloads live apart from the segment rows: marking a row
-- DELIVERED or failed changes its size, and SQLite rewrites a changed row
-- whole, overflow pages included. A payload that fits in its row's page
-- stays in segments.payload (Ledger.rowBytes), as every payload did in
-- ledgers written before this table existed; the others are here, and
-- segments.payload is empty. Readers take COALESCE(segment_payloads.payload,
-- segments.payload).
CREATE TABLE IF NOT EXISTS segment_payloads (
	id      TEXT PRIMARY KEY,
	payload BLOB NOT NULL
);
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

// countsSchema (user_version 1) keeps the number and bytes of segments per
// (target, state) up to date in the transaction of every change, by
// triggers, so that whichever process writes (edged, setup seed) the
// status reads its counts from a few rows instead of scanning the ledger.
// It also drops the index segments_pending replaced.
const countsSchema = `
DROP INDEX IF EXISTS segments_due;
CREATE TABLE segment_counts (
	target_peer TEXT NOT NULL,
	state       TEXT NOT NULL,
	segments    INTEGER NOT NULL,
	bytes       INTEGER NOT NULL,
	PRIMARY KEY (target_peer, state)
);
CREATE TRIGGER segment_counts_insert AFTER INSERT ON segments BEGIN
	INSERT INTO segment_counts (target_peer, state, segments, bytes) VALUES (new.target_peer, new.state, 1, new.size)
		ON CONFLICT (target_peer, state) DO UPDATE SET segments = segments + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER segment_counts_update AFTER UPDATE OF target_peer, size, state ON segments
WHEN old.target_peer IS NOT new.target_peer OR old.size IS NOT new.size OR old.state IS NOT new.state BEGIN
	UPDATE segment_counts SET segments = segments - 1, bytes = bytes - old.size
		WHERE target_peer = old.target_peer AND state = old.state;
	INSERT INTO segment_counts (target_peer, state, segments, bytes) VALUES (new.target_peer, new.state, 1, new.size)
		ON CONFLICT (target_peer, state) DO UPDATE SET segments = segments + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER segment_counts_delete AFTER DELETE ON segments BEGIN
	UPDATE segment_counts SET segments = segments - 1, bytes = bytes - old.size
		WHERE target_peer = old.target_peer AND state = old.state;
END;
INSERT INTO segment_counts (target_peer, state, segments, bytes)
	SELECT target_peer, state, COUNT(*), SUM(size) FROM segments GROUP BY target_peer, state;
`

// filesSchema (user_version 2) lets a row name a file holding its payload
// (fileBytes): NULL for payloads kept in the database. The partial index
// lists the files for removeOrphans without reading every row.
const filesSchema = `
ALTER TABLE segments ADD COLUMN payload_file TEXT;
CREATE INDEX segments_payload_file ON segments(payload_file) WHERE payload_file IS NOT NULL;
`

// attemptsSchema (user_version 3) keeps every delivery attempt of a
// segment: the raw record the lab re-derives its counters from. Rows are
// written in the transaction that changes the segment (Record), so the
// history and the segment row never disagree. The attempt number is not
// unique: a violation would fail the whole Record transaction, DELIVERED
// marks included, for a row that can only repeat if the segment row was
// rewritten behind the ledger's back. It does not repeat otherwise: the
// number is the attempt count the same transaction stores in the segment
// row (which only goes up, and only while PENDING), and a crash before the
// commit leaves neither the row nor the new count, so the redelivery that
// follows is that attempt again, recorded once. Ledgers written before
// this version have no history for their earlier attempts.
const attemptsSchema = `
CREATE TABLE attempts (
	segment_id TEXT NOT NULL,
	attempt    INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	ended_at   INTEGER NOT NULL,
	outcome    TEXT NOT NULL,
	error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attempts_segment ON attempts(segment_id, attempt);
`

// schemaVersion is the PRAGMA user_version of a ledger with every
// migration applied.
const schemaVersion = 6

// createSchema creates the tables of a new ledger and brings an older one
// up to schemaVersion, each migration in one transaction: two processes
// opening the same ledger at once apply it once.
func createSchema(db *sql.DB) error {
	// Another opener migrating the same ledger can make this read of the
	// schema fail with SQLITE_BUSY at once (its DDL changes what is read):
	// try again until it is done, as the busy timeout would.
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err := db.Exec(schema)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return fmt.Errorf("create schema: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("the ledger's schema is version %d, newer than this edged knows (%d): use the edged that wrote it", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	tx, err := db.Begin() // BEGIN IMMEDIATE (_txlock): one migrator at a time
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v < 1 {
		if _, err := tx.Exec(countsSchema); err != nil {
			return fmt.Errorf("migrate schema to version 1 (segment counts): %w", err)
		}
	}
	if v < 2 {
		if _, err := tx.Exec(filesSchema); err != nil {
			return fmt.Errorf("migrate schema to version 2 (payload files): %w", err)
		}
	}
	if v < 3 {
		if _, err := tx.Exec(attemptsSchema); err != nil {
			return fmt.Errorf("migrate schema to version 3 (attempt history): %w", err)
		}
	}
	if v < 4 {
		if _, err := tx.Exec(opsSchema); err != nil {
			return fmt.Errorf("migrate schema to version 4 (hourly ingress, dead-letter index, history order): %w", err)
		}
	}
	if v < 5 {
		if _, err := tx.Exec(retentionSchema); err != nil {
			return fmt.Errorf("migrate schema to version 5 (retention keeps delivered counts): %w", err)
		}
	}
	if v < 6 {
		if _, err := tx.Exec(sizesSchema); err != nil {
			return fmt.Errorf("migrate schema to version 6 (pending counts per size): %w", err)
		}
	}
	if v < schemaVersion {
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate schema: commit: %w", err)
	}
	return nil
}
