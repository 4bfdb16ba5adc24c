package main_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/edged/control"
	"edgelab/setup/labsetup"
)

// The seed's S-E, live: a daily quota of 128 B passes two 64 B segments;
// 23h59m later on the lab clock it still refuses a third, one minute more
// opens a new window and the third goes at once: the move wakes the
// executor (its tick is minutes away, the third's backoff of 60 s lab time
// is over only on the lab clock). A segment seeded then goes too. VAL25
// drives exactly this path.
func TestEdged_LabClockCrossesTheQuotaWindow(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.DailyQuotaBytes = 128
	opts.MaxRetryCount = 5
	opts.BackoffBaseSeconds = 60
	opts.TickInterval = 5 * time.Minute // only a wake starts a cycle within the test
	l := newLab(t, opts)
	opsStart(l, "--lab-clock")
	ctx := context.Background()
	st := l.status()
	assert.Equal(t, api.ClockLab, st.Clock)
	assert.Contains(t, l.stderr.String(), "lab clock")
	assert.Contains(t, string(l.cli("relay", "status", "--socket", l.client.Socket)), "lab (edged run --lab-clock")

	l.seed("it-w", 2)
	l.waitFor("2 delivered, quota used up", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2 && st.DailyUsedBytes == 128, fmt.Sprintf("segments=%+v used=%d", st.Segments, st.DailyUsedBytes)
	})
	start := *l.status().DailyWindowStart

	moved, err := l.client.MoveLabClock(ctx, api.LabClockRequest{Advance: "23h59m"})
	require.NoError(t, err)
	assert.WithinDuration(t, start.Add(23*time.Hour+59*time.Minute), moved.Now, 50*time.Second, "the advance is from now, just after the window started")
	st = l.status()
	assert.Equal(t, int64(128), st.DailyUsedBytes, "23h59m into the window it is still the same one")
	l.seed("it-x", 1)
	l.waitFor("the third refused by the quota", func() (bool, string) {
		st := l.status()
		return st.QuotaDropCount == 1 && st.Segments.Pending == 1, fmt.Sprintf("drops=%d segments=%+v", st.QuotaDropCount, st.Segments)
	})
	assert.Equal(t, int64(2), l.status().Segments.Delivered)

	moved2, err := l.client.MoveLabClock(ctx, api.LabClockRequest{Advance: "1m"})
	require.NoError(t, err)
	assert.True(t, !moved2.Now.Before(start.Add(24*time.Hour)), "now %v, window started %v", moved2.Now, start)
	l.waitFor("the refused segment delivered in the new window", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 3 && st.DailyUsedBytes == 64, fmt.Sprintf("segments=%+v used=%d", st.Segments, st.DailyUsedBytes)
	})
	st = l.status()
	require.NotNil(t, st.DailyWindowStart)
	assert.False(t, st.DailyWindowStart.Before(moved2.Now.Add(-time.Second)), "the window starts on the lab clock: %v", st.DailyWindowStart)
	l.seed("it-y", 1)
	l.waitFor("a segment seeded in the new window delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 4 && st.DailyUsedBytes == 128, fmt.Sprintf("segments=%+v used=%d", st.Segments, st.DailyUsedBytes)
	})

	// Ledger times are on the lab clock too.
	for _, s := range mustLedger(t, l).Segments {
		if s.ID == "it-y-001" {
			require.NotNil(t, s.DeliveredAt)
			assert.False(t, s.DeliveredAt.Before(moved2.Now.Add(-time.Second)), "delivered_at %v", s.DeliveredAt)
		}
	}

	// set goes anywhere, the past included, and answers the reading.
	set, err := l.client.MoveLabClock(ctx, api.LabClockRequest{Set: "2026-10-25T01:59:00Z"})
	require.NoError(t, err)
	assert.WithinDuration(t, time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC), set.Now, time.Second)
	_, err = l.client.MoveLabClock(ctx, api.LabClockRequest{Advance: "-1h"})
	var ae *control.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.Code)
	require.NoError(t, l.stop())
}

func TestEdged_NoLabClockWithoutTheFlag(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	assert.Equal(t, api.ClockSystem, l.status().Clock)
	_, err := l.client.MoveLabClock(context.Background(), api.LabClockRequest{Advance: "24h"})
	var ae *control.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Code)
	assert.False(t, strings.Contains(l.stderr.String(), "lab clock"))
	require.NoError(t, l.stop())
}
