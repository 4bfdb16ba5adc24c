package ledger

// opsSchema (user_version 4) serves the operator features of issue "Bandwidth
// controls an operator can run a fleet with":
//
//   - ingress_hourly keeps, per hour (unix seconds of its start, UTC, on the
//     daemon's clock), per peer and per kind, the bytes and segments edged
//     received from a sender ('ingress', written by InsertReceived in the
//     transaction that stores the received segment) and delivered to a
//     target ('delivered', written by the trigger below in the statement,
//     hence the transaction, that marks the segments DELIVERED: Record
//     needs no change, and the counts can never disagree with the marks).
//   - segments_deadletter lists the DEADLETTER rows, for requeue --peer and
//     --all, without a scan of the ledger.
//   - attempts_segment is rebuilt on segment_id alone: its entries are then
//     in rowid order within a segment, the order the attempts were written
//     in, which the history reads (historyOrder). Attempt numbers start at
//     1 again after a requeue, so they no longer give that order.
//
// Every statement tolerates what it creates being there already: a ledger
// whose user_version was lowered by hand migrates again.
const opsSchema = `
CREATE TABLE IF NOT EXISTS ingress_hourly (
	hour     INTEGER NOT NULL,
	peer     TEXT NOT NULL,
	kind     TEXT NOT NULL,
	bytes    INTEGER NOT NULL,
	segments INTEGER NOT NULL,
	PRIMARY KEY (hour, peer, kind)
);
CREATE TRIGGER IF NOT EXISTS ingress_hourly_delivered AFTER UPDATE OF state ON segments
WHEN new.state = 'DELIVERED' AND old.state IS NOT 'DELIVERED' BEGIN
	INSERT INTO ingress_hourly (hour, peer, kind, bytes, segments)
		VALUES (new.delivered_at / 1000000000 / 3600 * 3600, new.target_peer, 'delivered', new.size, 1)
		ON CONFLICT (hour, peer, kind) DO UPDATE SET bytes = bytes + excluded.bytes, segments = segments + 1;
END;
CREATE INDEX IF NOT EXISTS segments_deadletter ON segments(target_peer, id) WHERE state = 'DEADLETTER';
DROP INDEX IF EXISTS attempts_segment;
CREATE INDEX attempts_segment ON attempts(segment_id);
`
