// Package received holds the lab peer's record of what it received: the
// evidence JSON (DESIGN.md §4) and the store that keeps it on disk.
package received

import "time"

// Evidence is the peer's evidence file, rewritten atomically after every
// change. Field names are a contract with the lab and reviewers.
type Evidence struct {
	PeerID   string    `json:"peer_id"`
	Segments []Segment `json:"segments"`
	Ingress  Ingress   `json:"ingress"`
}

// Segment is one distinct segment id the peer holds. A redelivery raises
// Deliveries; it never adds a second entry.
type Segment struct {
	ID         string    `json:"id"`
	Bytes      int64     `json:"bytes"`
	SHA256     string    `json:"sha256"`
	FromPeer   string    `json:"from_peer"`
	Session    string    `json:"session"`
	TargetPeer string    `json:"target_peer,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Deliveries int       `json:"deliveries"`
}

// Ingress is the bytes received, attributed per sender identity (peer id,
// or session id for senders that declare none), with the total beside it.
type Ingress struct {
	Bytes  int64            `json:"bytes"`
	ByPeer map[string]int64 `json:"by_peer"`
}

// IDs returns the segment ids in the order they are listed.
func (e Evidence) IDs() []string {
	ids := make([]string, 0, len(e.Segments))
	for _, s := range e.Segments {
		ids = append(ids, s.ID)
	}
	return ids
}
