package perf

import (
	"context"
	"sync"
	"time"

	"edgelab/transport"
)

// Received is one segment as the Sink saw it arrive.
type Received struct {
	ID    string `json:"id"`
	Bytes int64  `json:"bytes"`
	// At is when the body had been read, Unix nanoseconds.
	At int64 `json:"at"`
}

// Sink is a transport.Store that only records what arrived and when, in
// memory: the receiver for end-to-end figures that show edged's own cost,
// where the lab peer's evidence file would be the bottleneck. It answers
// 201 to every PUT, a redelivery included (Received shows it twice).
type Sink struct {
	mu   sync.Mutex
	recs []Received
}

// Put implements transport.Store.
func (s *Sink) Put(_ context.Context, in transport.Incoming) (bool, error) {
	r := Received{ID: in.ID, Bytes: int64(len(in.Payload)), At: time.Now().UnixNano()}
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	return true, nil
}

// Received returns a copy of every record, in arrival order.
func (s *Sink) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.recs...)
}

// Len is the number of PUTs recorded.
func (s *Sink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}
