package bandwidth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustPeriod(t *testing.T, kind, start, zone string) Period {
	t.Helper()
	p, err := ParsePeriod(kind, start, zone)
	require.NoError(t, err)
	return p
}

func TestPeriod_Window(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	in := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name       string
		period     Period
		at         time.Time
		start, end time.Time
		hours      float64 // the window's real length
	}{
		{"a plain day", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-06-10 12:00"), in("2026-06-10 04:00"), in("2026-06-11 04:00"), 24},
		{"before 04:00 is yesterday's", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-06-10 03:59"), in("2026-06-09 04:00"), in("2026-06-10 04:00"), 24},
		{"at 04:00 exactly is today's", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-06-10 04:00"), in("2026-06-10 04:00"), in("2026-06-11 04:00"), 24},
		// 2026-10-25 03:00 CEST → 02:00 CET: the day that holds it is 25 h.
		{"the day after the autumn change", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-10-25 12:00"), in("2026-10-25 04:00"), in("2026-10-26 04:00"), 24},
		{"the night of the autumn change", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-10-25 02:30"), in("2026-10-24 04:00"), in("2026-10-25 04:00"), 25},
		// 2026-03-29 02:00 CET → 03:00 CEST: 23 h.
		{"the night of the spring change", mustPeriod(t, "day", "04:00", "Europe/Berlin"), in("2026-03-29 03:30"), in("2026-03-28 04:00"), in("2026-03-29 04:00"), 23},
		{"UTC by default", mustPeriod(t, "day", "00:00", ""), time.Date(2026, 6, 10, 23, 59, 0, 0, time.UTC), time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 11, 0, 0, 0, 0, time.UTC), 24},
		{"a week from Monday 04:00", mustPeriod(t, "week", "1 04:00", "Europe/Berlin"), in("2026-06-10 12:00"), in("2026-06-08 04:00"), in("2026-06-15 04:00"), 168},
		{"a week, Monday 03:59 is last week's", mustPeriod(t, "week", "monday 04:00", "Europe/Berlin"), in("2026-06-08 03:59"), in("2026-06-01 04:00"), in("2026-06-08 04:00"), 168},
		{"a week across the autumn change", mustPeriod(t, "week", "sun 04:00", "Europe/Berlin"), in("2026-10-20 12:00"), in("2026-10-18 04:00"), in("2026-10-25 04:00"), 169},
		{"a month from the 1st", mustPeriod(t, "month", "1 00:00", "UTC"), time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 28 * 24},
		{"a month from the 28th, across the year's end", mustPeriod(t, "month", "28 04:00", "UTC"), time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 28, 4, 0, 0, 0, time.UTC), time.Date(2027, 1, 28, 4, 0, 0, 0, time.UTC), 31 * 24},
		{"February from the 28th in a leap year", mustPeriod(t, "month", "28 00:00", "UTC"), time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 2, 28, 0, 0, 0, 0, time.UTC), time.Date(2028, 3, 28, 0, 0, 0, 0, time.UTC), 29 * 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := tt.period.Window(tt.at)
			assert.True(t, start.Equal(tt.start), "start: got %s, want %s", start, tt.start)
			assert.True(t, end.Equal(tt.end), "end: got %s, want %s", end, tt.end)
			assert.Equal(t, tt.hours, end.Sub(start).Hours(), "the window's length")
			assert.False(t, tt.at.Before(start), "the window holds its instant")
			assert.True(t, tt.at.Before(end), "the window holds its instant")
		})
	}
}

// Walking a whole year day by day at 04:00 Berlin: every window starts at
// local 04:00, windows tile time without gap or overlap, and exactly one is
// 23 h and one 25 h.
func TestPeriod_WindowsTileAYear(t *testing.T) {
	p := mustPeriod(t, "day", "04:00", "Europe/Berlin")
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, p.Location)
	_, end := p.Window(at)
	lengths := map[float64]int{}
	for i := 0; i < 365; i++ {
		start, next := p.Window(end)
		require.True(t, start.Equal(end), "day %d: window starts at %s, the last ended at %s", i, start, end)
		assert.Equal(t, 4, start.In(p.Location).Hour(), "day %d starts at local 04:00", i)
		lengths[next.Sub(start).Hours()]++
		end = next
	}
	assert.Equal(t, map[float64]int{23: 1, 24: 363, 25: 1}, lengths)
}

func TestParsePeriod_Errors(t *testing.T) {
	tests := []struct{ kind, start, zone, want string }{
		{"fortnight", "04:00", "", `period "fortnight": want day, week or month`},
		{"day", "4am", "", `time of day "4am" is not HH:MM`},
		{"day", "24:00", "", `time of day "24:00" is not HH:MM`},
		{"day", "04:00", "Mars/Olympus", `time zone "Mars/Olympus": not an IANA zone name`},
		{"week", "04:00", "", `a week period starts at "DAY HH:MM"`},
		{"week", "8 04:00", "", `weekday "8": want 1–7`},
		{"month", "31 04:00", "", `day of the month "31" must be 1–28`},
		{"month", "0 04:00", "", `day of the month "0" must be 1–28`},
	}
	for _, tt := range tests {
		_, err := ParsePeriod(tt.kind, tt.start, tt.zone)
		assert.ErrorContains(t, err, tt.want, "%s %q %q", tt.kind, tt.start, tt.zone)
	}
}

func TestPeriod_String(t *testing.T) {
	assert.Equal(t, "week monday 04:00 Europe/Berlin", mustPeriod(t, "week", "1 04:00", "Europe/Berlin").String())
	assert.Equal(t, "month 28 00:00 UTC", mustPeriod(t, "month", "28 00:00", "").String())
	assert.Equal(t, "day 04:00 UTC", mustPeriod(t, "day", "04:00", "UTC").String())
}

// A quota under a calendar period resets exactly at the period's local
// start, on both sides of a DST change, never 24 h after the first
// delivery; usage persisted before a restart is kept until then.
func TestLimiter_QuotaResetsAtThePeriodStart(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	p := mustPeriod(t, "day", "04:00", "Europe/Berlin")
	tests := []struct {
		name          string
		first         time.Time // the first delivery
		stillRefused  time.Time // just before the next local 04:00
		allowed       time.Time // at it
		wantWindowEnd time.Time
	}{
		{"a plain day", time.Date(2026, 6, 10, 5, 0, 0, 0, berlin), time.Date(2026, 6, 11, 3, 59, 59, 0, berlin), time.Date(2026, 6, 11, 4, 0, 0, 0, berlin), time.Date(2026, 6, 11, 4, 0, 0, 0, berlin)},
		// The window opened 2026-10-24 04:00 CEST lasts 25 h.
		{"across the autumn change", time.Date(2026, 10, 24, 20, 0, 0, 0, berlin), time.Date(2026, 10, 25, 3, 59, 0, 0, berlin), time.Date(2026, 10, 25, 4, 0, 0, 0, berlin), time.Date(2026, 10, 25, 4, 0, 0, 0, berlin)},
		{"across the spring change", time.Date(2026, 3, 28, 20, 0, 0, 0, berlin), time.Date(2026, 3, 29, 3, 59, 0, 0, berlin), time.Date(2026, 3, 29, 4, 0, 0, 0, berlin), time.Date(2026, 3, 29, 4, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.first
			l := New(Settings{DailyQuotaBytes: 128}, Usage{}, func() time.Time { return now })
			l.SetPeriod(&p)
			for range 2 {
				require.Equal(t, Allowed, l.Admit(64).Verdict)
				l.Commit(64)
			}
			st := l.Stats()
			start, _ := p.Window(tt.first)
			assert.True(t, st.Usage.WindowStart.Equal(start), "the window starts at the period's start %s, got %s", start, st.Usage.WindowStart)
			assert.True(t, st.WindowEnd.Equal(tt.wantWindowEnd), "window end %s, want %s", st.WindowEnd, tt.wantWindowEnd)

			// A restart just before the reset: the persisted usage is kept.
			now = tt.stillRefused
			l = New(Settings{DailyQuotaBytes: 128}, st.Usage, func() time.Time { return now })
			l.SetPeriod(&p)
			assert.Equal(t, QuotaExceeded, l.Admit(64).Verdict, "at %s, before local 04:00", now)
			now = tt.allowed
			assert.Equal(t, Allowed, l.Admit(64).Verdict, "at local 04:00")
			assert.Equal(t, int64(0), l.Stats().Usage.UsedBytes, "usage reset at the period start")
		})
	}
}
