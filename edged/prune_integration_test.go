package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/setup/labsetup"
)

// `edged ledger prune` deletes what was delivered longer ago than asked,
// and status keeps counting it as delivered.
func TestEdged_PruneDeliveredSegments(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	opsStart(l, "--lab-clock")
	l.seed("it-pr", 3)
	l.waitFor("3 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 3, fmt.Sprintf("segments=%+v", st.Segments)
	})
	var resp api.PruneResponse
	require.NoError(t, json.Unmarshal(l.cli("ledger", "prune", "--older-than", "72h", "--json", "--socket", l.client.Socket), &resp))
	assert.Equal(t, 0, resp.Pruned, "nothing is 72 h old yet")

	_, err := l.client.MoveLabClock(context.Background(), api.LabClockRequest{Advance: "73h"})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(l.cli("ledger", "prune", "--older-than", "72h", "--dry-run", "--json", "--socket", l.client.Socket), &resp))
	assert.Equal(t, api.PruneResponse{Pruned: 3, Cutoff: resp.Cutoff, DryRun: true}, resp)
	assert.Len(t, mustLedger(t, l).Segments, 3, "a dry run deletes nothing")
	require.NoError(t, json.Unmarshal(l.cli("ledger", "prune", "--older-than", "72h", "--json", "--socket", l.client.Socket), &resp))
	assert.Equal(t, 3, resp.Pruned)
	assert.Empty(t, mustLedger(t, l).Segments)
	st := l.status()
	assert.Equal(t, int64(3), st.Segments.Delivered, "status keeps counting pruned deliveries")
	assert.Equal(t, int64(3), st.Peers["peer-it"].DeliveredSegments)
	l.stop()
}
