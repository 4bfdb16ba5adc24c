package main_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/setup/labsetup"
)

// quota_action = "hold": segments over the quota stay PENDING with no
// attempt counted, none is dead-lettered, and all go when the window ends
// (the lab clock moved there), the peer holding exactly what was seeded.
func TestEdged_QuotaHoldLosesNothing(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.DailyQuotaBytes = 128
	opts.MaxRetryCount = 1 // under the default action the first drop would dead-letter
	l := newLab(t, opts)
	raw, err := os.ReadFile(l.config)
	require.NoError(t, err)
	doc := strings.Replace(string(raw), "daily_quota_bytes = 128", "daily_quota_bytes = 128\nquota_action = \"hold\"", 1)
	require.NotEqual(t, string(raw), doc)
	require.NoError(t, os.WriteFile(l.config, []byte(doc), 0o644))
	opsStart(l, "--lab-clock")

	ids := l.seed("it-h", 4)
	l.waitFor("2 delivered, 2 held", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2 && st.QuotaHeldCount > 0, fmt.Sprintf("segments=%+v held=%d", st.Segments, st.QuotaHeldCount)
	})
	st := l.status()
	assert.Equal(t, int64(0), st.Segments.Deadletter, "nothing dead-lettered")
	assert.Equal(t, int64(0), st.QuotaDropCount, "no attempt failed on the quota")
	for _, s := range mustLedger(t, l).Segments[2:] {
		assert.Equal(t, "PENDING", s.State, s.ID)
		assert.Equal(t, 0, s.Attempts, "%s: a held segment counts no attempt", s.ID)
		assert.Empty(t, s.History, s.ID)
	}
	require.NotNil(t, st.Quota)
	require.NotNil(t, st.Quota.End)
	_, err = l.client.MoveLabClock(context.Background(), api.LabClockRequest{Set: st.Quota.End.Add(time.Second).Format(time.RFC3339Nano)})
	require.NoError(t, err)
	l.waitFor("all 4 delivered after the window's end", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 4, fmt.Sprintf("segments=%+v", st.Segments)
	})
	assert.Equal(t, sorted(ids), sorted(l.peer.IDs()), "the peer holds exactly the seeded ids")
	assert.Equal(t, int64(128), l.status().DailyUsedBytes, "the new window counts the 2 held ones")
	var held int
	for _, d := range decisionsOf(t, l) {
		if d.Kind == api.DecisionQuotaHeld {
			held++
			assert.NotNil(t, d.RetryAt, "a held decision says until when")
		}
	}
	assert.Positive(t, held, "the journal records the holds")
	l.stop()
}

func decisionsOf(t *testing.T, l *lab) []api.Decision {
	t.Helper()
	d, err := l.client.Decisions(context.Background())
	require.NoError(t, err)
	return d.Decisions
}
