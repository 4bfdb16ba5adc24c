package bandwidth

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PeriodKind is the length of an accounting period.
type PeriodKind string

// The accounting periods (Tor's AccountingStart day/week/month).
const (
	PeriodDay   PeriodKind = "day"
	PeriodWeek  PeriodKind = "week"
	PeriodMonth PeriodKind = "month"
)

// Period is a calendar accounting period: it starts at a local time of day
// (and, for a week, a weekday; for a month, a day 1–28) in a time zone, so
// a day across a DST change is 23 or 25 hours long and always starts at
// the same wall-clock time. The zero Period is invalid; see ParsePeriod.
type Period struct {
	Kind         PeriodKind
	Hour, Minute int
	Weekday      time.Weekday // PeriodWeek
	Day          int          // PeriodMonth, 1–28 (every month has it)
	Location     *time.Location
}

// ParsePeriod reads a period as edge.toml writes it: kind "day" with start
// "HH:MM", "week" with "DAY HH:MM" (DAY 1–7 from Monday, as Tor writes it,
// or a weekday name: "monday", "mon"), "month" with "D HH:MM" (D 1–28);
// zone an IANA name ("Europe/Berlin"; "" is UTC). Errors name the part
// that is wrong.
func ParsePeriod(kind, start, zone string) (Period, error) {
	p := Period{Kind: PeriodKind(kind)}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return Period{}, fmt.Errorf("time zone %q: not an IANA zone name (like Europe/Berlin): %w", zone, err)
	}
	p.Location = loc
	fields := strings.Fields(start)
	clock := ""
	switch p.Kind {
	case PeriodDay:
		if len(fields) != 1 {
			return Period{}, fmt.Errorf("start %q: a day period starts at \"HH:MM\"", start)
		}
		clock = fields[0]
	case PeriodWeek:
		if len(fields) != 2 {
			return Period{}, fmt.Errorf("start %q: a week period starts at \"DAY HH:MM\" (DAY 1–7 from Monday, or monday…sunday)", start)
		}
		wd, err := parseWeekday(fields[0])
		if err != nil {
			return Period{}, fmt.Errorf("start %q: %w", start, err)
		}
		p.Weekday, clock = wd, fields[1]
	case PeriodMonth:
		if len(fields) != 2 {
			return Period{}, fmt.Errorf("start %q: a month period starts at \"D HH:MM\" (D 1–28)", start)
		}
		d, err := strconv.Atoi(fields[0])
		if err != nil || d < 1 || d > 28 {
			return Period{}, fmt.Errorf("start %q: day of the month %q must be 1–28 (every month has it)", start, fields[0])
		}
		p.Day, clock = d, fields[1]
	default:
		return Period{}, fmt.Errorf("period %q: want day, week or month", kind)
	}
	t, err := time.Parse("15:04", clock)
	if err != nil {
		return Period{}, fmt.Errorf("start %q: time of day %q is not HH:MM (00:00–23:59)", start, clock)
	}
	p.Hour, p.Minute = t.Hour(), t.Minute()
	return p, nil
}

var weekdays = map[string]time.Weekday{
	"1": time.Monday, "2": time.Tuesday, "3": time.Wednesday, "4": time.Thursday,
	"5": time.Friday, "6": time.Saturday, "7": time.Sunday,
}

func parseWeekday(s string) (time.Weekday, error) {
	if wd, ok := weekdays[s]; ok {
		return wd, nil
	}
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if l := strings.ToLower(s); l == name || l == name[:3] {
			return d, nil
		}
	}
	return 0, fmt.Errorf("weekday %q: want 1–7 (Monday is 1) or a name like monday", s)
}

// Window returns the period holding t: [start, end). Both are wall-clock
// times in the period's zone, so their distance is the period's real
// length that time (a DST day is 23 or 25 h).
func (p Period) Window(t time.Time) (start, end time.Time) {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, p.Hour, p.Minute, 0, 0, loc) }
	y, m, d := l.Date()
	switch p.Kind {
	case PeriodWeek:
		back := (int(l.Weekday()) - int(p.Weekday) + 7) % 7
		start = at(y, m, d-back)
		if start.After(t) {
			start = at(y, m, d-back-7)
		}
		sy, sm, sd := start.Date()
		return start, at(sy, sm, sd+7)
	case PeriodMonth:
		start = at(y, m, p.Day)
		if start.After(t) {
			start = at(y, m-1, p.Day)
		}
		sy, sm, _ := start.Date()
		return start, at(sy, sm+1, p.Day)
	default: // PeriodDay
		start = at(y, m, d)
		if start.After(t) {
			start = at(y, m, d-1)
		}
		sy, sm, sd := start.Date()
		return start, at(sy, sm, sd+1)
	}
}

// String writes the period back as edge.toml has it.
func (p Period) String() string {
	clock := fmt.Sprintf("%02d:%02d", p.Hour, p.Minute)
	zone := "UTC"
	if p.Location != nil {
		zone = p.Location.String()
	}
	switch p.Kind {
	case PeriodWeek:
		return fmt.Sprintf("week %s %s %s", strings.ToLower(p.Weekday.String()), clock, zone)
	case PeriodMonth:
		return fmt.Sprintf("month %d %s %s", p.Day, clock, zone)
	}
	return fmt.Sprintf("day %s %s", clock, zone)
}
