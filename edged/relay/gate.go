package relay

import (
	"context"
	"sync"
)

// gate bounds the segments admitted and not yet recorded (maxN: a crash
// redelivers at most that many) and the payload bytes of the deliveries
// under way (maxBytes; a larger segment still goes alone). A segment holds
// its bytes until its delivery ends and its place until its outcome is
// stored.
type gate struct {
	maxN     int
	maxBytes int64

	mu     sync.Mutex
	cond   *sync.Cond
	n      int   // admitted, not yet recorded
	onWire int   // deliveries under way
	bytes  int64 // their payload bytes
}

func newGate(maxN int, maxBytes int64) *gate {
	g := &gate{maxN: maxN, maxBytes: maxBytes}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// wakeOn makes waiters give up when ctx ends; call the result to stop.
func (g *gate) wakeOn(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
}

// enter waits for room for a delivery of size bytes; false when ctx ended
// first (see wakeOn).
func (g *gate) enter(ctx context.Context, size int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.n >= g.maxN || (g.onWire > 0 && g.bytes+size > g.maxBytes) {
		if ctx.Err() != nil {
			return false
		}
		g.cond.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	g.n++
	g.onWire++
	g.bytes += size
	return true
}

// delivered ends the delivery of a segment that entered with size bytes;
// its place is kept until done.
func (g *gate) delivered(size int64) {
	g.mu.Lock()
	g.onWire--
	g.bytes -= size
	g.mu.Unlock()
	g.cond.Broadcast()
}

// done gives back the places of k segments whose outcomes are stored (or
// that were never delivered: call delivered first).
func (g *gate) done(k int) {
	g.mu.Lock()
	g.n -= k
	g.mu.Unlock()
	g.cond.Broadcast()
}

// back gives back everything a segment took on entering, when it is not
// delivered after all.
func (g *gate) back(size int64) {
	g.delivered(size)
	g.done(1)
}

// wire is the number of deliveries under way.
func (g *gate) wire() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.onWire
}

// idle waits until no delivery is under way.
func (g *gate) idle() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.onWire > 0 {
		g.cond.Wait()
	}
}
