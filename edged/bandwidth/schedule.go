package bandwidth

import (
	"fmt"
	"slices"
	"time"
)

// ScheduleEntry is one boundary of a timetable: from At (a local time of
// day) the rate and burst are these, until the next entry's At.
type ScheduleEntry struct {
	Hour, Minute   int
	BytesPerSecond int64
	BurstBytes     int64
}

// Schedule is a daily timetable of rates (rclone's --bwlimit "08:00,1M
// 19:00,off"): entries in a time zone, each in force from its time of day
// until the next, the last one's running past midnight into the first.
type Schedule struct {
	Entries  []ScheduleEntry // sorted by time of day, distinct
	Location *time.Location
}

// NewSchedule sorts entries and refuses two at the same time of day.
func NewSchedule(entries []ScheduleEntry, loc *time.Location) (*Schedule, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("a schedule needs at least one entry")
	}
	if loc == nil {
		loc = time.UTC
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b ScheduleEntry) int { return (a.Hour*60 + a.Minute) - (b.Hour*60 + b.Minute) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Hour == sorted[i-1].Hour && sorted[i].Minute == sorted[i-1].Minute {
			return nil, fmt.Errorf("two entries at %02d:%02d", sorted[i].Hour, sorted[i].Minute)
		}
	}
	return &Schedule{Entries: sorted, Location: loc}, nil
}

// At returns the entry in force at t, when it began and when the next
// boundary comes, as wall-clock times in the schedule's zone (so a day
// across a DST change keeps its local boundaries).
func (s *Schedule) At(t time.Time) (entry ScheduleEntry, since, next time.Time) {
	l := t.In(s.Location)
	y, m, d := l.Date()
	at := func(day int, e ScheduleEntry) time.Time {
		return time.Date(y, m, d+day, e.Hour, e.Minute, 0, 0, s.Location)
	}
	// Walk yesterday's, today's and tomorrow's boundaries in order: the
	// entry in force is the last boundary not after t.
	var bounds []time.Time
	var owners []ScheduleEntry
	for day := -1; day <= 1; day++ {
		for _, e := range s.Entries {
			bounds = append(bounds, at(day, e))
			owners = append(owners, e)
		}
	}
	for i := len(bounds) - 1; i >= 0; i-- {
		if !bounds[i].After(t) {
			return owners[i], bounds[i], bounds[i+1]
		}
	}
	// Unreachable: yesterday's first boundary is before t.
	return owners[0], bounds[0], bounds[1]
}
