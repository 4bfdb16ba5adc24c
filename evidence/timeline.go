package evidence

import (
	"fmt"
	"time"
)

// Timeline is a scenario's delivery over time as the receiver saw it, with
// the bandwidth limits in force and the events that changed them. Times are
// seconds since Origin. The lab fills it from the raw evidence so that
// index.html, rendered from report.json alone, can draw it.
type Timeline struct {
	Origin time.Time `json:"origin"`
	// End is where the time axis stops (the scenario's end).
	End float64 `json:"end_seconds"`
	// Deliveries are in receive order; Cumulative is the bytes received up
	// to and including each.
	Deliveries []Delivery `json:"deliveries"`
	// Limits are the bandwidth settings in force, one per interval, in
	// time order.
	Limits []Limit `json:"limits,omitempty"`
	// Marks are moments worth a vertical line: bandwidth changes, seeding.
	Marks []Mark `json:"marks,omitempty"`
	// Source names the files the timeline was drawn from.
	Source []string `json:"source,omitempty"`
}

// Delivery is one segment arriving at the receiver.
type Delivery struct {
	At         float64 `json:"at_seconds"`
	ID         string  `json:"id"`
	Bytes      int64   `json:"bytes"`
	Cumulative int64   `json:"cumulative_bytes"`
}

// Limit is one bandwidth setting in force from From until Until. Zero
// values mean no limit of that kind.
type Limit struct {
	From  float64 `json:"from_seconds"`
	Until float64 `json:"until_seconds"`
	// BytesPerSecond and BurstBytes are the token bucket (BurstBytes
	// already resolved: never 0 when BytesPerSecond is set).
	BytesPerSecond  int64 `json:"bytes_per_second"`
	BurstBytes      int64 `json:"burst_bytes"`
	DailyQuotaBytes int64 `json:"daily_quota_bytes"`
	// BaseBytes is the cumulative delivery when the limit took effect; the
	// token-bucket envelope is BaseBytes + burst + rate × (t − From).
	BaseBytes int64 `json:"base_bytes"`
	// Source says where the setting came from ("edge.toml",
	// "set-bandwidth").
	Source string `json:"source"`
}

// Unlimited reports whether the limit limits nothing.
func (l Limit) Unlimited() bool { return l.BytesPerSecond == 0 && l.DailyQuotaBytes == 0 }

// Envelope is the most a token bucket can have let through by time t (the
// arrival curve rate × t + burst, from when the limit took effect); ok is
// false when no rate limit is in force.
func (l Limit) Envelope(t float64) (bytes float64, ok bool) {
	if l.BytesPerSecond == 0 {
		return 0, false
	}
	return float64(l.BaseBytes+l.BurstBytes) + float64(l.BytesPerSecond)*(t-l.From), true
}

// Describe is the setting in words: "64 B/s (burst 64 B)", "quota 128 B",
// "unlimited".
func (l Limit) Describe() string {
	var s string
	if l.BytesPerSecond > 0 {
		s = fmt.Sprintf("%d B/s (burst %d B)", l.BytesPerSecond, l.BurstBytes)
	}
	if l.DailyQuotaBytes > 0 {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("quota %d B/day", l.DailyQuotaBytes)
	}
	if s == "" {
		return "unlimited"
	}
	return s
}

// Mark kinds.
const (
	MarkBandwidth = "set-bandwidth" // a bandwidth change (S-D: the reload)
	MarkPhase     = "phase"         // a step of the scenario, e.g. seeding
)

// Mark is a moment on the timeline.
type Mark struct {
	At    float64 `json:"at_seconds"`
	Kind  string  `json:"kind"`
	Label string  `json:"label"`
	// Evidence is the file that records the event, relative to the
	// evidence directory.
	Evidence string `json:"evidence,omitempty"`
}

// TotalBytes is the cumulative delivery at the end.
func (t *Timeline) TotalBytes() int64 {
	if t == nil || len(t.Deliveries) == 0 {
		return 0
	}
	return t.Deliveries[len(t.Deliveries)-1].Cumulative
}

// LimitAt is the limit in force at time at, if any.
func (t *Timeline) LimitAt(at float64) (Limit, bool) {
	var found Limit
	ok := false
	for _, l := range t.Limits {
		if l.From <= at {
			found, ok = l, true
		}
	}
	return found, ok
}

// Bound is the most the limits allowed by time at: the token-bucket
// envelope or the quota, whichever is lower; ok is false when nothing
// limits delivery then.
func (t *Timeline) Bound(at float64) (bytes float64, ok bool) {
	l, found := t.LimitAt(at)
	if !found || l.Unlimited() {
		return 0, false
	}
	bound, ok := l.Envelope(at)
	if q := float64(l.DailyQuotaBytes); q > 0 && (!ok || q < bound) {
		bound, ok = q, true
	}
	return bound, ok
}
