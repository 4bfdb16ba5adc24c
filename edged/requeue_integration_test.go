package main_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/setup/labsetup"
)

// Segments dead-lettered while their peer is down go again once requeued:
// by id and by peer, with a dry run first, bad ids refused by name, the
// history keeping the first round, and every requeue audited.
func TestEdged_RequeueRedrivesDeadLetters(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.MaxRetryCount = 1
	opts.TickInterval = 5 * time.Minute // only the requeue's wake starts a cycle within the test
	l := newLab(t, opts)
	addr := opsPeerDown(t, l)
	l.start()
	sock := l.client.Socket
	ids := l.seed("it-r", 3)
	l.waitFor("3 dead-lettered", func() (bool, string) {
		st := l.status()
		return st.Segments.Deadletter == 3, fmt.Sprintf("segments=%+v", st.Segments)
	})

	var resp api.RequeueResponse
	require.NoError(t, json.Unmarshal(l.cli("ledger", "requeue", "--socket", sock, "--all", "--dry-run", "--json"), &resp))
	assert.Equal(t, api.RequeueResponse{Requeued: ids, DryRun: true}, resp)
	assert.Equal(t, int64(3), l.status().Segments.Deadletter, "a dry run moves nothing")

	code, out := l.cliFails("ledger", "requeue", "--socket", sock, "--id", ids[0], "--id", "it-r-nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "it-r-nope is not in the ledger")
	assert.Contains(t, out, "HTTP 409")
	assert.Equal(t, int64(3), l.status().Segments.Deadletter, "all or nothing")

	peer := opsReceiverAt(t, l.tls.PeerFiles(), addr)
	out = string(l.cli("ledger", "requeue", "--socket", sock, "--id", ids[0]))
	assert.Equal(t, "requeued 1 segment(s)\n"+ids[0]+"\n", out)
	l.waitFor("the requeued segment delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 1 && st.Segments.Deadletter == 2, fmt.Sprintf("segments=%+v peer=%v", st.Segments, peer.IDs())
	})
	require.NoError(t, json.Unmarshal(l.cli("ledger", "requeue", "--socket", sock, "--peer", "peer-it", "--json"), &resp))
	assert.Equal(t, ids[1:], resp.Requeued)
	l.waitFor("all 3 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 3, fmt.Sprintf("segments=%+v peer=%v", st.Segments, peer.IDs())
	})
	assert.Equal(t, ids, sorted(peer.IDs()))

	// The history keeps the round that dead-lettered.
	var seg api.Segment
	require.NoError(t, json.Unmarshal(l.cli("ledger", "history", ids[0], "--socket", sock, "--json"), &seg))
	assert.Equal(t, 1, seg.Attempts)
	require.Len(t, seg.History, 3)
	var got []string
	for _, a := range seg.History {
		got = append(got, fmt.Sprintf("round %d attempt %d %s", a.Round, a.Attempt, a.Outcome))
	}
	assert.Equal(t, []string{"round 1 attempt 1 failed", "round 1 attempt 1 requeued", "round 2 attempt 1 delivered"}, got)
	text := string(l.cli("ledger", "history", ids[0], "--socket", sock))
	assert.Contains(t, text, "ROUND")
	assert.Contains(t, text, "round 1 ended after 1 attempt(s); back to PENDING")

	code, out = l.cliFails("ledger", "requeue", "--socket", sock, "--id", ids[0])
	assert.Equal(t, 1, code)
	assert.Contains(t, out, ids[0]+" is DELIVERED, not DEADLETTER")

	events, err := audit.ReadRequeued(filepath.Join(l.dir, "audit.jsonl"))
	require.NoError(t, err)
	require.Len(t, events, 2, "the dry run and the refusals are not audited")
	assert.Equal(t, []string{ids[0]}, events[0].IDs)
	assert.Equal(t, "ids", events[0].Selector)
	assert.Equal(t, ids[1:], events[1].IDs)
	assert.Equal(t, 2, events[1].Count)
	assert.Equal(t, "peer", events[1].Selector)
	assert.Equal(t, "peer-it", events[1].Peer)
	for _, e := range events {
		assert.True(t, strings.Contains(e.Actor, "uid="), "actor %q", e.Actor)
	}
	require.NoError(t, l.stop())
}
