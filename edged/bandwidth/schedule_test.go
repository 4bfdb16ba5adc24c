package bandwidth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSchedule_At(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	day := ScheduleEntry{Hour: 8, BytesPerSecond: 1 << 20}
	night := ScheduleEntry{Hour: 19, BytesPerSecond: 0}
	s, err := NewSchedule([]ScheduleEntry{night, day}, berlin)
	require.NoError(t, err)
	in := func(v string) time.Time {
		x, err := time.ParseInLocation("2006-01-02 15:04", v, berlin)
		require.NoError(t, err)
		return x
	}
	tests := []struct {
		at          time.Time
		want        ScheduleEntry
		since, next time.Time
	}{
		{in("2026-06-10 12:00"), day, in("2026-06-10 08:00"), in("2026-06-10 19:00")},
		{in("2026-06-10 08:00"), day, in("2026-06-10 08:00"), in("2026-06-10 19:00")},
		{in("2026-06-10 07:59"), night, in("2026-06-09 19:00"), in("2026-06-10 08:00")},
		{in("2026-06-10 23:00"), night, in("2026-06-10 19:00"), in("2026-06-11 08:00")},
		// Across the autumn change the night is an hour longer; the
		// boundaries stay at local 08:00 and 19:00.
		{in("2026-10-25 02:30"), night, in("2026-10-24 19:00"), in("2026-10-25 08:00")},
	}
	for _, tt := range tests {
		got, since, next := s.At(tt.at)
		assert.Equal(t, tt.want, got, "at %s", tt.at)
		assert.True(t, since.Equal(tt.since), "at %s: since %s, want %s", tt.at, since, tt.since)
		assert.True(t, next.Equal(tt.next), "at %s: next %s, want %s", tt.at, next, tt.next)
	}
	_, since, next := s.At(in("2026-10-25 02:30"))
	assert.Equal(t, 14.0, next.Sub(since).Hours(), "the night of the autumn change is 14 h")
}

func TestNewSchedule_Refuses(t *testing.T) {
	_, err := NewSchedule(nil, nil)
	assert.ErrorContains(t, err, "at least one entry")
	_, err = NewSchedule([]ScheduleEntry{{Hour: 8}, {Hour: 8}}, nil)
	assert.ErrorContains(t, err, "two entries at 08:00")
	s, err := NewSchedule([]ScheduleEntry{{Hour: 8, BytesPerSecond: 5}}, nil)
	require.NoError(t, err)
	e, since, next := s.At(time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC))
	assert.Equal(t, int64(5), e.BytesPerSecond, "one entry is in force all day")
	assert.Equal(t, 24.0, next.Sub(since).Hours())
}
