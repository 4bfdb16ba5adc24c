package transport

import (
	"sync"
	"sync/atomic"
)

// OverflowPeer is the series that collects bytes from senders beyond the
// tracking cap.
const OverflowPeer = "_overflow"

// DefaultMaxTrackedPeers caps the distinct sender ids an Attribution tracks.
const DefaultMaxTrackedPeers = 1024

// Attribution counts ingress bytes per sender identity, as the egress-server
// seed does: one shared atomic counter per identity, whatever number of
// connections it uses, and the total beside them. The number of identities
// is capped so a stranger cannot grow memory or metric series without bound;
// bytes beyond the cap go to OverflowPeer. The zero value is ready to use with
// DefaultMaxTrackedPeers.
type Attribution struct {
	// MaxPeers caps tracked identities; 0 means DefaultMaxTrackedPeers.
	MaxPeers int

	total   atomic.Int64
	byPeer  sync.Map   // identity -> *atomic.Int64
	mu      sync.Mutex // guards tracked and the creation of series
	tracked int
}

// Add credits n bytes to identity and to the total.
func (a *Attribution) Add(identity string, n int64) {
	a.total.Add(n)
	a.counter(identity).Add(n)
}

func (a *Attribution) counter(identity string) *atomic.Int64 {
	if c, ok := a.byPeer.Load(identity); ok {
		return c.(*atomic.Int64)
	}
	// New series are rare: create them under a lock so two requests of one
	// new identity cannot race each other into the overflow series.
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.byPeer.Load(identity); ok {
		return c.(*atomic.Int64)
	}
	limit := a.MaxPeers
	if limit <= 0 {
		limit = DefaultMaxTrackedPeers
	}
	if a.tracked >= limit {
		identity = OverflowPeer // the overflow series takes no slot
		if c, ok := a.byPeer.Load(identity); ok {
			return c.(*atomic.Int64)
		}
	} else {
		a.tracked++
	}
	c := new(atomic.Int64)
	a.byPeer.Store(identity, c)
	return c
}

// Restore credits the counts of an earlier run, e.g. a restarted peer
// reloading its evidence, so its series continue instead of starting over.
// Every identity keeps its own series, even beyond MaxPeers: each was
// tracked when its bytes were counted. Bytes of OverflowPeer stay in the
// overflow series and take no slot. Identities seen later are capped as
// usual, counting the restored ones.
func (a *Attribution) Restore(byPeer map[string]int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for identity, n := range byPeer {
		c, ok := a.byPeer.Load(identity)
		if !ok {
			c = new(atomic.Int64)
			a.byPeer.Store(identity, c)
			if identity != OverflowPeer {
				a.tracked++
			}
		}
		c.(*atomic.Int64).Add(n)
		a.total.Add(n)
	}
}

// Total is the bytes credited to all identities.
func (a *Attribution) Total() int64 { return a.total.Load() }

// Snapshot returns the total and a copy of the per-identity counters.
func (a *Attribution) Snapshot() (total int64, byPeer map[string]int64) {
	byPeer = map[string]int64{}
	a.byPeer.Range(func(k, v any) bool {
		byPeer[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return a.total.Load(), byPeer
}
