package daemon

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"edgelab/transport"
)

func TestIngressKeys_CapAsTheAttributionDoes(t *testing.T) {
	k := newIngressKeys(2)
	assert.Equal(t, "a", k.key("a"))
	assert.Equal(t, "b", k.key("b"))
	assert.Equal(t, transport.OverflowPeer, k.key("c"))
	assert.Equal(t, "a", k.key("a"), "a tracked identity keeps its name")
	assert.Equal(t, transport.OverflowPeer, k.key(transport.OverflowPeer))

	var a transport.Attribution
	a.MaxPeers = 2
	for _, id := range []string{"a", "b", "c", "a"} {
		a.Add(id, 1)
	}
	_, byPeer := a.Snapshot()
	assert.Equal(t, map[string]int64{"a": 2, "b": 1, transport.OverflowPeer: 1}, byPeer, "the same series as the in-memory attribution")
	assert.Equal(t, transport.DefaultMaxTrackedPeers, newIngressKeys(0).max)
}
