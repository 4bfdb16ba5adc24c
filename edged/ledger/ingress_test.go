package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTraffic_IngressAndDeliveredPerHourSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	h0 := t0.Add(10 * time.Hour) // 10:00
	in := func(at time.Time, sender, id string, size int) bool {
		created, err := l.InsertReceived(ctx, at, sender, New{ID: id, TargetPeer: "peer-x", Payload: make([]byte, size)})
		require.NoError(t, err)
		return created
	}
	assert.True(t, in(h0.Add(time.Minute), "edge-a", "a1", 64))
	assert.True(t, in(h0.Add(59*time.Minute), "edge-a", "a2", 64))
	assert.False(t, in(h0.Add(59*time.Minute), "edge-a", "a2", 64), "a redelivery")
	assert.True(t, in(h0.Add(61*time.Minute), "edge-b", "b1", 100))
	// A large payload (a file of its own) counts the same.
	assert.True(t, in(h0.Add(62*time.Minute), "edge-b", "b2", 70<<10))
	require.NoError(t, l.Record(ctx, h0.Add(90*time.Minute), Outcomes{Delivered: []Delivery{
		{ID: "a1", StartedAt: h0, EndedAt: h0}, {ID: "b1", StartedAt: h0, EndedAt: h0},
	}}))
	require.NoError(t, l.MarkFailed(ctx, "a2", 1, h0, "down", true, h0.Add(2*time.Hour)))
	require.NoError(t, l.Close())

	l = open(t, path)
	got, err := l.Traffic(ctx, time.Time{}, time.Time{})
	require.NoError(t, err)
	h1 := h0.Add(time.Hour)
	assert.Equal(t, []Bucket{
		{Hour: h0, Peer: "edge-a", Kind: KindIngress, Bytes: 192, Segments: 3},
		{Hour: h1, Peer: "edge-b", Kind: KindIngress, Bytes: 100 + 70<<10, Segments: 2},
		{Hour: h1, Peer: "peer-x", Kind: KindDelivered, Bytes: 164, Segments: 2},
	}, got)

	got, err = l.Traffic(ctx, h1.Add(30*time.Minute), time.Time{})
	require.NoError(t, err)
	assert.Len(t, got, 2, "since takes the hour it falls in")
	got, err = l.Traffic(ctx, time.Time{}, h1)
	require.NoError(t, err)
	assert.Len(t, got, 1, "until is exclusive")
	got, err = l.Traffic(ctx, time.Time{}, h1.Add(time.Nanosecond))
	require.NoError(t, err)
	assert.Len(t, got, 3, "an until inside an hour takes it")

	// A requeued and then delivered segment counts when it is delivered.
	_, err = l.Requeue(ctx, h0.Add(3*time.Hour), RequeueSelector{IDs: []string{"a2"}}, false)
	require.NoError(t, err)
	require.NoError(t, l.MarkDelivered(ctx, "a2", h0.Add(3*time.Hour), nil))
	got, err = l.Traffic(ctx, h0.Add(3*time.Hour), time.Time{})
	require.NoError(t, err)
	assert.Equal(t, []Bucket{{Hour: h0.Add(3 * time.Hour), Peer: "peer-x", Kind: KindDelivered, Bytes: 64, Segments: 1}}, got)
}

// A ledger of version 3 gains the table, empty, and counts from then on.
func TestOpen_MigratesToHourlyTraffic(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	seedN(t, l, "s", "p", 1, 16)
	_, err := l.db.Exec(`DROP TABLE ingress_hourly; DROP TRIGGER ingress_hourly_delivered; DROP INDEX segments_deadletter; PRAGMA user_version = 3`)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	l = open(t, path)
	var v int
	require.NoError(t, l.db.QueryRow(`PRAGMA user_version`).Scan(&v))
	assert.Equal(t, schemaVersion, v)
	require.NoError(t, l.MarkDelivered(ctx, "s-0000", t0, nil))
	got, err := l.Traffic(ctx, time.Time{}, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, []Bucket{{Hour: t0, Peer: "p", Kind: KindDelivered, Bytes: 16, Segments: 1}}, got)
}
