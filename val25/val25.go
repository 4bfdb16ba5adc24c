// Package val25 is the VAL25 operator-features lab: the lab clock moved
// over the control API to prove a quota window kept at 23h59m and reset at
// 24h, calendar quota periods across both DST changes and a SIGKILL,
// dead-letter redrive, partial bandwidth updates and the persisted hourly
// ingress report, all on real processes (DESIGN.md §7, "The VAL25 lab").
//
// As in VAL23 and VAL24, checks never look at live processes: the runner
// saves every scenario's raw evidence first, and the checks read it back
// from disk.
package val25

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Berlin without a system zoneinfo

	"edgelab/labs/labrun"
	"edgelab/setup/labsetup"
)

// Lab constants (DESIGN.md §7, "The VAL25 lab").
const (
	Title     = "VAL25 — Operator Features: Lab Clock, Quota Periods across DST and Restart, Redrive, Partial Updates, Hourly Ingress"
	LabName   = "VAL25"
	DirName   = "val25-operator-features-local"
	EdgedAddr = "127.0.0.1:19059"
	PeerAddr  = "127.0.0.1:19060"
	NodeID    = "edge-val25"
	Peer      = "peer-a"

	// SegmentSize is the size of seeded segments; Quota the daily quota of
	// S-A, S-B and S-C: two segments.
	SegmentSize = 64
	Quota       = 2 * SegmentSize
	// Rate and PartialQuota are S-E's settings.
	Rate         = 64
	PartialQuota = 4096
	// ZoneName, PeriodStart: the calendar period of S-B and S-C.
	ZoneName    = "Europe/Berlin"
	PeriodStart = "04:00"
)

// Scenario names.
const (
	SA = "S-A"
	SB = "S-B"
	SC = "S-C"
	SD = "S-D"
	SE = "S-E"
	SF = "S-F"
	SG = "S-G"
	SH = "S-H"
)

// Scenarios are run and reported in this order.
var Scenarios = []labrun.Scenario{
	{Name: SA, Title: "24h quota window on the lab clock (kept at +23h59m, reset at +24h)"},
	{Name: SB, Title: "day period 04:00 Europe/Berlin across both DST changes"},
	{Name: SC, Title: "day period across SIGKILL at local 03:59"},
	{Name: SD, Title: "dead-letter redrive (peer down, requeue --all)"},
	{Name: SE, Title: "partial update (--daily-quota-bytes keeps 64 B/s)"},
	{Name: SF, Title: "hourly ingress report across SIGKILL"},
	{Name: SG, Title: "quota_action = hold: nothing lost to a spent quota"},
	{Name: SH, Title: "timetable 08:00 64 B/s, 19:00 off, crossed on the lab clock"},
}

// ScenarioByName returns the definition of name.
func ScenarioByName(name string) (labrun.Scenario, bool) { return labrun.Lookup(Scenarios, name) }

// Segment ids.
var (
	// S-A: three at once (the quota passes two), one more at +23h59m.
	SAFirst = labsetup.SegmentIDs("val25-sa", 1, 3)
	SALate  = labsetup.SegmentIDs("val25-sa", 4, 1)
	// S-C: three before the kill.
	SCIDs = labsetup.SegmentIDs("val25-sc", 1, 3)
	// S-D: three dead-lettered while the peer is down.
	SDIDs = labsetup.SegmentIDs("val25-sd", 1, 3)
	// S-E: four after the partial update.
	SEIDs = labsetup.SegmentIDs("val25-se", 1, 4)
	// S-G: four at once under a quota of two: two held.
	SGIDs = labsetup.SegmentIDs("val25-sg", 1, 4)
	// S-H: five at 64 B/s, the timetable turning the rate off after the
	// second receipt.
	SHIDs = labsetup.SegmentIDs("val25-sh", 1, 5)
)

// The timetable of S-H, in Zone: 64 B/s (burst 64) from 08:00, off from
// 19:00.
const (
	ScheduleRate = 64
	ScheduleDay  = "08:00"
	ScheduleOff  = "19:00"
)

// SBIDs are the three segments of one DST side of S-B.
func SBIDs(side string) []string { return labsetup.SegmentIDs("val25-sb-"+side, 1, 3) }

// DST sides of S-B.
const (
	Spring = "spring"
	Autumn = "autumn"
)

// Zone is Europe/Berlin.
func Zone() *time.Location {
	loc, err := time.LoadLocation(ZoneName)
	if err != nil {
		panic(fmt.Sprintf("time zone %s: %v", ZoneName, err)) // time/tzdata is embedded
	}
	return loc
}

// DSTSide is one DST change day of S-B: the local day whose 04:00 ends a
// period of Hours hours.
type DSTSide struct {
	Side  string    `json:"side"`
	Day   time.Time `json:"day"` // local midnight of the change day
	Hours int       `json:"hours"`
}

// Local is the change day's hh:mm:ss local time.
func (d DSTSide) Local(h, m, s int) time.Time {
	return time.Date(d.Day.Year(), d.Day.Month(), d.Day.Day(), h, m, s, 0, Zone())
}

// PeriodStart and PeriodEnd are the period that ends at the change day's
// 04:00: from the day before at 04:00 local.
func (d DSTSide) PeriodStart() time.Time { return d.Local(4, 0, 0).AddDate(0, 0, -1) }
func (d DSTSide) PeriodEnd() time.Time   { return d.Local(4, 0, 0) }

// lastSunday is the last Sunday of month in year, local midnight.
func lastSunday(year int, month time.Month) time.Time {
	t := time.Date(year, month+1, 0, 0, 0, 0, 0, Zone()) // the month's last day
	return t.AddDate(0, 0, -int(t.Weekday()))
}

// NextDSTSides are the next spring and autumn change days in Europe/Berlin
// more than a day after now, in time order: the lab clock is set forward
// only (segments setup seeds carry the system clock, and are due only once
// the lab clock passes it).
func NextDSTSides(now time.Time) []DSTSide {
	after := now.Add(48 * time.Hour)
	next := func(month time.Month) time.Time {
		for y := now.Year(); ; y++ {
			if d := lastSunday(y, month); d.After(after) {
				return d
			}
		}
	}
	sides := []DSTSide{{Side: Spring, Day: next(time.March)}, {Side: Autumn, Day: next(time.October)}}
	if sides[1].Day.Before(sides[0].Day) {
		sides[0], sides[1] = sides[1], sides[0]
	}
	for i := range sides {
		sides[i].Hours = int(sides[i].PeriodEnd().Sub(sides[i].PeriodStart()).Hours())
	}
	return sides
}

// RestartDay is S-C's local day: a week after now, past any DST change
// day (a plain 24 h period).
func RestartDay(now time.Time) time.Time {
	d := now.In(Zone()).AddDate(0, 0, 7)
	for {
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, Zone())
		start, end := day.Add(4*time.Hour).AddDate(0, 0, -1), time.Date(d.Year(), d.Month(), d.Day(), 4, 0, 0, 0, Zone())
		if end.Sub(start) == 24*time.Hour {
			return day
		}
		d = d.AddDate(0, 0, 1)
	}
}

// Senders of S-F: identity, how many segments, the first one's size (each
// further one a byte larger).
type SenderPlan struct {
	Name    string `json:"name"`
	Session string `json:"session"`
	Count   int    `json:"count"`
	Base    int    `json:"base"`
}

// SenderPlans are S-F's two senders.
var SenderPlans = []SenderPlan{
	{Name: "sender-1", Session: "a25a0001-0000-4000-8000-000000000001", Count: 3, Base: 100},
	{Name: "sender-2", Session: "a25a0002-0000-4000-8000-000000000002", Count: 4, Base: 300},
}

// SegmentID and Size are a sender's j-th segment (1-based).
func (p SenderPlan) SegmentID(j int) string { return fmt.Sprintf("val25-sf-%s-%02d", p.Name, j) }
func (p SenderPlan) Size(j int) int         { return p.Base + j - 1 }
