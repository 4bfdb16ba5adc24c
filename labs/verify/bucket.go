// Package verify holds the small checkers the labs compose their checks
// from: each reads raw evidence (the peer's receipts, edged's ledger
// history, the limiter's decision journal) and returns what it found wrong,
// one line per finding, so that a check is the sum of a few of them and a
// FAIL names the segment and the time.
//
// Nothing here imports edged's own packages but its API types: the token
// bucket below is the checker's own reference model, written from the
// documented semantics (DESIGN.md §2), not from edged/bandwidth.
package verify

import (
	"fmt"
	"math"
	"time"

	"edgelab/edged/api"
)

// TokenEpsilon is how many tokens the model and edged may differ by: both
// compute rate × elapsed in floating point from nanosecond clock readings,
// which rounds well below a byte.
const TokenEpsilon = 0.5

// RetryTolerance is how far edged's retry_at may lie from the model's: the
// float rounding of TokenEpsilon at the rate in force plus the rounding of
// a duration to nanoseconds.
const RetryTolerance = 5 * time.Millisecond

// Limit is a rate in force in one scope from At on; BytesPerSecond 0 means
// no rate.
type Limit struct {
	At             time.Time
	BytesPerSecond int64
	Burst          int64 // bucket capacity; 0 means BytesPerSecond
}

func (l Limit) burst() int64 {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.BytesPerSecond
}

// Bucket is the reference token bucket: rate r, capacity b; it starts full
// when a rate is first imposed, keeps its tokens (capped at the new
// capacity) when the rate or burst changes, and disappears with the rate.
type Bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
	on          bool
}

// Set applies a limit at l.At.
func (b *Bucket) Set(l Limit) {
	if l.BytesPerSecond <= 0 {
		*b = Bucket{}
		return
	}
	if !b.on {
		*b = Bucket{on: true, rate: float64(l.BytesPerSecond), burst: float64(l.burst()), tokens: float64(l.burst()), last: l.At}
		return
	}
	b.advance(l.At)
	b.rate, b.burst = float64(l.BytesPerSecond), float64(l.burst())
	b.tokens = math.Min(b.tokens, b.burst)
}

// TokensAt is what the bucket holds at t (without taking any).
func (b *Bucket) TokensAt(t time.Time) float64 {
	if !b.on {
		return math.Inf(1)
	}
	c := *b
	c.advance(t)
	return c.tokens
}

func (b *Bucket) advance(t time.Time) {
	if t.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+b.rate*t.Sub(b.last).Seconds())
		b.last = t
	}
}

// Take removes n tokens at t.
func (b *Bucket) Take(t time.Time, n int64) {
	if !b.on {
		return
	}
	b.advance(t)
	b.tokens -= float64(n)
}

// Replay is what replaying a journal against the model found.
type Replay struct {
	Allowed, Throttled, QuotaExceeded int
	// Problems are the decisions a correct bucket would not have made.
	Problems []string
}

// ReplayBucket replays the decisions of scope ("" the global limit, else a
// peer id, whose decisions are those of segments targeted at it) against
// the reference bucket under limits, which must be sorted by At. Every
// admission the model would refuse, every throttle by this scope that the
// model would allow, a retry_at that is not when the model's bucket fills
// enough, and a tokens figure that differs from the model's, is a
// problem.
func ReplayBucket(limits []Limit, decisions []api.Decision, scope string) Replay {
	var (
		rep Replay
		b   Bucket
		li  int
	)
	for _, d := range decisions {
		if d.Kind == api.DecisionSettings {
			continue
		}
		if scope != "" && d.TargetPeer != scope {
			continue
		}
		for li < len(limits) && !limits[li].At.After(d.At) {
			b.Set(limits[li])
			li++
		}
		have := b.TokensAt(d.At)
		at := d.At.Format("15:04:05.000000")
		if d.Tokens != nil && d.Scope == scope && b.on && math.Abs(*d.Tokens-have) > TokenEpsilon {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s %s: edged's bucket held %.2f tokens, the model %.2f", at, d.Kind, d.Segment, *d.Tokens, have))
		}
		switch d.Kind {
		case api.DecisionAllowed:
			rep.Allowed++
			if have < float64(d.Size)-TokenEpsilon {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s admitted (%d B) while a correct bucket held %.2f tokens", at, d.Segment, d.Size, have))
			}
			b.Take(d.At, d.Size)
		case api.DecisionThrottled:
			rep.Throttled++
			if d.Scope != scope {
				continue // another limit refused it; this bucket was not asked to pay
			}
			if !b.on {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s throttled by scope %q, which has no rate", at, d.Segment, scope))
				continue
			}
			// A full bucket is exact (capped, no rounding): it holds any
			// segment up to the burst.
			full := have >= b.burst
			if (full || have >= float64(d.Size)+TokenEpsilon) && float64(d.Size) <= b.burst {
				rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s throttled (%d B) while a correct bucket held %.2f tokens", at, d.Segment, d.Size, have))
			}
			rep.Problems = append(rep.Problems, retryProblems(d, b, have, at)...)
		case api.DecisionQuotaExceeded:
			rep.QuotaExceeded++
		}
	}
	return rep
}

// retryProblems compares a throttle's retry_at with when the model's
// bucket holds the segment's size: never when it is larger than the burst.
func retryProblems(d api.Decision, b Bucket, have float64, at string) []string {
	if float64(d.Size) > b.burst {
		if d.RetryAt != nil {
			return []string{fmt.Sprintf("%s %s (%d B) is larger than the burst (%.0f B) and can never pass, but edged set retry_at %s",
				at, d.Segment, d.Size, b.burst, d.RetryAt.Format("15:04:05.000000"))}
		}
		return nil
	}
	want := d.At.Add(time.Duration((float64(d.Size) - have) / b.rate * float64(time.Second)))
	if d.RetryAt == nil {
		return []string{fmt.Sprintf("%s %s throttled with no retry_at; the model's bucket holds its %d B at %s", at, d.Segment, d.Size, want.Format("15:04:05.000000"))}
	}
	if diff := d.RetryAt.Sub(want); diff > RetryTolerance || diff < -RetryTolerance {
		return []string{fmt.Sprintf("%s %s retry_at %s, the model's bucket holds its %d B at %s (%+.1f ms)",
			at, d.Segment, d.RetryAt.Format("15:04:05.000000"), d.Size, want.Format("15:04:05.000000"), float64(diff)/float64(time.Millisecond))}
	}
	return nil
}

// SettingsOf are the settings entries of scope in the journal, in order.
func SettingsOf(decisions []api.Decision, scope string) []api.Decision {
	var out []api.Decision
	for _, d := range decisions {
		if d.Kind == api.DecisionSettings && d.Scope == scope && d.Settings != nil {
			out = append(out, d)
		}
	}
	return out
}

// LimitsOf turns settings entries into the limits timeline ReplayBucket
// takes.
func LimitsOf(settings []api.Decision) []Limit {
	out := make([]Limit, 0, len(settings))
	for _, s := range settings {
		out = append(out, Limit{At: s.At, BytesPerSecond: s.Settings.BytesPerSecond, Burst: s.Settings.BurstBytes})
	}
	return out
}

// Count counts the journal's decisions of kind (for segments targeted at
// peer, when peer is not empty).
func Count(decisions []api.Decision, kind, peer string) int {
	n := 0
	for _, d := range decisions {
		if d.Kind == kind && (peer == "" || d.TargetPeer == peer) {
			n++
		}
	}
	return n
}
