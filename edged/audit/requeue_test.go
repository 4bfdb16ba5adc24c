package audit

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
)

func TestAppendRequeued_OneLineBesideTheBandwidthEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path)
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, l.Append(Event{Time: at, Event: EventBandwidthConfigured, Bandwidth: api.Bandwidth{BytesPerSecond: 8}, Actor: "uid=1"}))
	_, err = l.AppendRequeued(Requeued{Time: at, Count: 2, IDs: []string{"a", "b"}, Selector: "peer", Peer: "p", Actor: "uid=1 pid=2"})
	require.NoError(t, err)
	require.NoError(t, l.Close())

	events, err := Read(path)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, EventLedgerRequeued, events[1].Event)
	assert.Equal(t, "uid=1 pid=2", events[1].Actor)

	req, err := ReadRequeued(path)
	require.NoError(t, err)
	assert.Equal(t, []Requeued{{Time: at, Event: EventLedgerRequeued, Count: 2, IDs: []string{"a", "b"}, Selector: "peer", Peer: "p", Actor: "uid=1 pid=2"}}, req)
}
