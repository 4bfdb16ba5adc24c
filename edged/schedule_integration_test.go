package main_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/setup/labsetup"
)

// A timetable switches the rate at its boundaries live, audited with
// actor "schedule"; a runtime set-bandwidth overrides it until --reset,
// which returns to the entry in force. The lab clock crosses the
// boundaries.
func TestEdged_ScheduleSwitchesTheRateLive(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	raw, err := os.ReadFile(l.config)
	require.NoError(t, err)
	doc := strings.Replace(string(raw), "[ingress]", `[[relay.bandwidth.schedule]]
at = "08:00"
bytes_per_second = 64
burst_bytes = 128

[[relay.bandwidth.schedule]]
at = "19:00"
bytes_per_second = 0

[ingress]`, 1)
	require.NotEqual(t, string(raw), doc)
	require.NoError(t, os.WriteFile(l.config, []byte(doc), 0o644))
	opsStart(l, "--lab-clock")
	ctx := context.Background()
	bw := func() api.Bandwidth { return l.status().Bandwidth }
	waitBandwidth := func(what string, want api.Bandwidth) {
		t.Helper()
		l.waitFor(what, func() (bool, string) {
			got := bw()
			return got == want, fmt.Sprintf("bandwidth %+v", got)
		})
	}
	day := api.Bandwidth{BytesPerSecond: 64, BurstBytes: 128, Source: api.SourceSchedule}
	night := api.Bandwidth{Source: api.SourceSchedule}

	_, err = l.client.MoveLabClock(ctx, api.LabClockRequest{Set: "2030-06-10T07:59:58Z"})
	require.NoError(t, err)
	waitBandwidth("the night's entry at 07:59:58", night)
	// What booting at the real time and this first move audited depends on
	// the hour the test runs at: count from here.
	before, err := audit.Read(l.dir + "/audit.jsonl")
	require.NoError(t, err)
	_, err = l.client.MoveLabClock(ctx, api.LabClockRequest{Set: "2030-06-10T08:00:00Z"})
	require.NoError(t, err)
	waitBandwidth("the day's entry from 08:00", day)

	// A runtime setting overrides the timetable across a boundary...
	resp := l.setBandwidth("--bytes-per-second", "32")
	require.Equal(t, api.SourceRuntime, resp.Bandwidth.Source)
	_, err = l.client.MoveLabClock(ctx, api.LabClockRequest{Set: "2030-06-10T19:00:01Z"})
	require.NoError(t, err)
	assert.Equal(t, api.Bandwidth{BytesPerSecond: 32, BurstBytes: 128, Source: api.SourceRuntime}, bw(), "the override holds across 19:00")
	// ...until --reset, which returns to the entry in force.
	resp = l.setBandwidth("--reset")
	assert.Equal(t, night, resp.Bandwidth)

	events, err := audit.Read(l.dir + "/audit.jsonl")
	require.NoError(t, err)
	var scheduled []string
	for _, e := range events[len(before):] {
		if e.Actor == "schedule" {
			scheduled = append(scheduled, fmt.Sprintf("%d/%d", e.Bandwidth.BytesPerSecond, e.Bandwidth.BurstBytes))
		}
	}
	assert.Equal(t, []string{"64/128"}, scheduled, "the 08:00 boundary is audited as the schedule's change, and nothing else is")
	l.stop()
}
