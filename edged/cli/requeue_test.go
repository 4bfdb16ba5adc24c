package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
)

func TestRequeue_RefusesBadSelectorsBeforeSending(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--all", "--peer", "p"},
		{"--id", "a", "--all"},
		{"--id", ""},
	} {
		r := runCLI(t, append([]string{"ledger", "requeue", "--socket", "/nonexistent/ctl.sock"}, args...)...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "exactly one of --id, --peer or --all", "%v", args)
	}
}

func TestWriteRounds_ShowsEachRequeue(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seg := api.Segment{ID: "s-1", TargetPeer: "p", Size: 64, State: "DELIVERED", Attempts: 1, History: []api.Attempt{
		{Attempt: 1, StartedAt: at, EndedAt: at.Add(time.Millisecond), Outcome: api.AttemptFailed, Error: "connection refused", Round: 1},
		{Attempt: 1, StartedAt: at.Add(time.Hour), EndedAt: at.Add(time.Hour), Outcome: api.AttemptRequeued, Round: 1},
		{Attempt: 1, StartedAt: at.Add(2 * time.Hour), EndedAt: at.Add(2 * time.Hour), Outcome: api.AttemptDelivered, Round: 2},
	}}
	var buf bytes.Buffer
	require.NoError(t, writeHistory(&buf, seg))
	out := buf.String()
	assert.Contains(t, out, "rounds  2 (requeued 1 time(s); attempt numbers start at 1 in each round)")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 4)
	tail := lines[len(lines)-4:]
	assert.Equal(t, []string{"ROUND", "ATTEMPT", "STARTED", "ENDED", "DURATION", "OUTCOME", "ERROR"}, strings.Fields(tail[0]))
	assert.Equal(t, []string{"1", "1", "2026-03-01T12:00:00.000000Z", "2026-03-01T12:00:00.001000Z", "1ms", "failed", "connection", "refused"}, strings.Fields(tail[1]))
	assert.Equal(t, "1 - 2026-03-01T13:00:00.000000Z - - requeued round 1 ended after 1 attempt(s); back to PENDING", strings.Join(strings.Fields(tail[2]), " "))
	assert.Equal(t, []string{"2", "1", "2026-03-01T14:00:00.000000Z", "2026-03-01T14:00:00.000000Z", "0s", "delivered", "-"}, strings.Fields(tail[3]))

	// Without a requeue the history is shown as before: no ROUND column.
	seg.History = seg.History[:1]
	buf.Reset()
	require.NoError(t, writeHistory(&buf, seg))
	assert.NotContains(t, buf.String(), "ROUND")
}

func TestWriteTraffic(t *testing.T) {
	h := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	require.NoError(t, writeTraffic(&buf, api.IngressReport{Since: &h, Buckets: []api.TrafficBucket{
		{Hour: h, Peer: "edge-a", Kind: api.TrafficIngress, Bytes: 128, Segments: 2},
		{Hour: h.Add(time.Hour), Peer: "edge-a", Kind: api.TrafficIngress, Bytes: 64, Segments: 1},
		{Hour: h.Add(time.Hour), Peer: "peer-x", Kind: api.TrafficDelivered, Bytes: 192, Segments: 3},
	}}))
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	assert.Equal(t, [][]string{
		{"since", "2026-03-01T10:00:00Z"},
		{"until", "-"},
		{},
		{"HOUR", "PEER", "KIND", "BYTES", "SEGMENTS"},
		{"2026-03-01T10:00:00Z", "edge-a", "ingress", "128", "2"},
		{"2026-03-01T11:00:00Z", "edge-a", "ingress", "64", "1"},
		{"2026-03-01T11:00:00Z", "peer-x", "delivered", "192", "3"},
		{},
		{"TOTAL", "PEER", "KIND", "BYTES", "SEGMENTS"},
		{"-", "edge-a", "ingress", "192", "3"},
		{"-", "peer-x", "delivered", "192", "3"},
	}, rows)
}
