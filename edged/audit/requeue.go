package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// EventLedgerRequeued records dead-lettered segments moved back to PENDING
// over the control API.
const EventLedgerRequeued = "ledger.requeued"

// Requeued is the audit line of a requeue: how many segments and which,
// what selected them (the ids named, a peer, or all) and who asked. It has
// no bandwidth fields, unlike Event; Read gives back its event, time, peer
// and actor.
type Requeued struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"` // EventLedgerRequeued
	Count int       `json:"count"`
	IDs   []string  `json:"ids"`
	// Selector is "ids", "peer" or "all"; Peer is set for "peer".
	Selector string `json:"selector"`
	Peer     string `json:"peer,omitempty"`
	Actor    string `json:"actor"`
}

// AppendRequeued writes ev as one line and syncs it to disk, as
// AppendRevertible does (revert takes it back). A zero Time is set to now
// (UTC).
func (l *Log) AppendRequeued(ev Requeued) (revert func() error, err error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	ev.Event = EventLedgerRequeued
	if ev.IDs == nil {
		ev.IDs = []string{}
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode audit event %s: %w", ev.Event, err)
	}
	return l.appendLine(append(line, '\n'))
}

// ReadRequeued returns the ledger.requeued events of the audit file at
// path, in file order; other events are skipped, and a damaged line is an
// error as Read says.
func ReadRequeued(path string) ([]Requeued, error) {
	if _, err := Read(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	var out []Requeued
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var ev Requeued
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("read audit log %s: %w", path, err)
		}
		if ev.Event == EventLedgerRequeued {
			out = append(out, ev)
		}
	}
	return out, nil
}
