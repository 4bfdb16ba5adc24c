package ledger

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Prune deletes old DELIVERED rows with their history and payloads (in
// the database and in files), in batches, and nothing else; the delivered
// counts keep counting them.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var segs []New
	for i := range 10 {
		size := 64
		if i == 0 {
			size = 2 << 20 // a payload in a file of its own
		}
		segs = append(segs, New{ID: fmt.Sprintf("p-%02d", i), TargetPeer: "peer-a", Payload: make([]byte, size)})
	}
	require.NoError(t, l.Insert(ctx, t0, segs...))
	var files []string
	entries, _ := os.ReadDir(l.dir) // the payload directory
	for _, e := range entries {
		files = append(files, e.Name())
	}
	require.NotEmpty(t, files, "the 2 MiB payload is in a file")
	// p-00..p-05 delivered at t0, p-06..p-07 an hour later, p-08..p-09 left PENDING.
	require.NoError(t, l.Record(ctx, t0, Outcomes{Delivered: deliveries(t0, "p-00", "p-01", "p-02", "p-03", "p-04", "p-05")}))
	require.NoError(t, l.Record(ctx, t0.Add(time.Hour), Outcomes{Delivered: deliveries(t0.Add(time.Hour), "p-06", "p-07")}))
	before, err := l.DeliveredByPeer(ctx)
	require.NoError(t, err)

	n, err := l.Prune(ctx, t0.Add(time.Minute), 4, true)
	require.NoError(t, err)
	assert.Equal(t, 6, n, "a dry run counts")
	n, err = l.Prune(ctx, t0.Add(time.Minute), 4, false) // two batches: 4 then 2
	require.NoError(t, err)
	assert.Equal(t, 6, n)

	left, err := l.List(ctx)
	require.NoError(t, err)
	var ids []string
	for _, s := range left {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"p-06", "p-07", "p-08", "p-09"}, ids, "only the old DELIVERED ones go")
	var attempts, payloads int
	require.NoError(t, l.db.QueryRow(`SELECT COUNT(*) FROM attempts WHERE segment_id < 'p-06'`).Scan(&attempts))
	require.NoError(t, l.db.QueryRow(`SELECT COUNT(*) FROM segment_payloads WHERE id < 'p-06'`).Scan(&payloads))
	assert.Zero(t, attempts, "their history goes with them")
	assert.Zero(t, payloads, "their payload rows go with them")
	for _, f := range files {
		_, err := os.Stat(filepath.Join(l.dir, f))
		assert.True(t, os.IsNotExist(err), "payload file %s removed", f)
	}
	after, err := l.DeliveredByPeer(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the delivered counts keep counting pruned segments")
}
