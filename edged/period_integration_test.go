package main_test

import (
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

// A quota under a calendar period: status shows the period, its window as
// the period's (from local 04:00 in Berlin, whenever the first delivery
// came), bytes used and left, and the state going from open to exhausted.
func TestEdged_QuotaPeriodInStatus(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.DailyQuotaBytes = 128
	opts.MaxRetryCount = 1
	l := newLab(t, opts)
	raw, err := os.ReadFile(l.config)
	require.NoError(t, err)
	doc := strings.Replace(string(raw), "daily_quota_bytes = 128", "daily_quota_bytes = 128\nquota_period = \"day\"\nquota_start = \"04:00\"\ntime_zone = \"Europe/Berlin\"", 1)
	require.NotEqual(t, string(raw), doc, "the config has no daily_quota_bytes line:\n%s", raw)
	require.NoError(t, os.WriteFile(l.config, []byte(doc), 0o644))
	l.start()

	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	q := l.status().Quota
	require.NotNil(t, q, "status has no quota window")
	assert.Equal(t, "day 04:00 Europe/Berlin", q.Period)
	assert.Equal(t, api.QuotaOpen, q.State)
	require.NotNil(t, q.Start)
	require.NotNil(t, q.End)
	assert.Equal(t, 4, q.Start.In(berlin).Hour(), "the window starts at local 04:00: %s", q.Start.In(berlin))
	assert.Equal(t, 4, q.End.In(berlin).Hour(), "and ends at the next: %s", q.End.In(berlin))
	assert.False(t, time.Now().Before(*q.Start), "the window holds now")
	assert.True(t, time.Now().Before(*q.End), "the window holds now")

	l.seed("it-p", 3)
	l.waitFor("2 delivered, 1 dead-lettered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2 && st.Segments.Deadletter == 1, fmt.Sprintf("segments=%+v", st.Segments)
	})
	st := l.status()
	require.NotNil(t, st.Quota)
	assert.Equal(t, api.QuotaWindow{Period: q.Period, Start: q.Start, End: q.End, UsedBytes: 128, LeftBytes: 0, State: api.QuotaExhausted}, *st.Quota)
	require.NotNil(t, st.DailyWindowStart)
	assert.True(t, st.DailyWindowStart.Equal(*q.Start), "daily_window_start is the period's start, not the first delivery's time")
	l.stop()
}
