package daemon

import (
	"sync"

	"edgelab/transport"
)

// ingressKeys caps the sender identities the ledger's hourly ingress
// buckets name, as transport.Attribution caps its series: the first
// max distinct identities of this run keep their own name, later ones are
// credited to transport.OverflowPeer. Without it a client of the CA
// sending no Edge-Peer-Id could grow the table by a row per made-up
// session id.
type ingressKeys struct {
	max  int
	mu   sync.Mutex
	seen map[string]bool
}

func newIngressKeys(max int) *ingressKeys {
	if max <= 0 {
		max = transport.DefaultMaxTrackedPeers
	}
	return &ingressKeys{max: max, seen: map[string]bool{}}
}

// key is the name identity's bytes are stored under.
func (k *ingressKeys) key(identity string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if identity == transport.OverflowPeer || k.seen[identity] {
		return identity
	}
	if len(k.seen) >= k.max {
		return transport.OverflowPeer
	}
	k.seen[identity] = true
	return identity
}
