package bandwidth

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLimits_PrecisionAtHighRates drives Limits as the executor does (offer
// segments until one is throttled, then come back at its RetryAt, a little
// late as a timer is) at the rates of figure 2 and issue #17, for 3 s of
// a fake clock, with the global bucket alone and with a tracked peer's
// bucket of the same rate on top (the double bucket), starting full and
// empty. At every admission the bytes admitted so far must be within the
// token bucket's bound initial + rate × (t − t_first), initial being the
// burst or nothing: x/time/rate's float64 tokens must not let more than a
// byte more through at 100 MiB/s (two at 1 GiB/s). And coming back exactly at RetryAt,
// the rate must be achieved to within one segment.
func TestLimits_PrecisionAtHighRates(t *testing.T) {
	type scenario struct {
		rate, size int64
	}
	for _, sc := range []scenario{{1 << 20, 16 << 10}, {10 << 20, 64 << 10}, {100 << 20, 64 << 10}, {1 << 30, 64 << 10}} {
		for _, peer := range []bool{false, true} {
			for _, empty := range []bool{false, true} {
				for _, late := range []time.Duration{0, 200 * time.Microsecond} {
					name := fmt.Sprintf("%d B/s, %d B segments, peer bucket %v, start empty %v, up to %s late", sc.rate, sc.size, peer, empty, late)
					t.Run(name, func(t *testing.T) {
						c := newClock()
						s := Settings{BytesPerSecond: sc.rate}
						ls := NewLimits(s, Usage{}, c.Now)
						ls.SetStartEmpty(empty)
						target := ""
						if peer {
							target = "peer-a"
							ls.TrackPeer(target, s, Usage{})
						}
						initial := float64(sc.rate)
						if empty {
							initial = 0
						}
						rng := rand.New(rand.NewPCG(1, uint64(sc.rate)))
						start := c.Now()
						var admitted int64
						var first time.Time
						const span = 3 * time.Second
						for c.Now().Sub(start) < span {
							d := ls.AdmitSegment("s", target, sc.size)
							switch d.Verdict {
							case Allowed:
								ls.Commit(target, sc.size, ls.UsageAfter(target, sc.size))
								if first.IsZero() {
									first = c.Now()
									if empty {
										first = start // an empty bucket fills from its start
									}
								}
								admitted += sc.size
								bound := initial + float64(sc.rate)*c.Now().Sub(first).Seconds()
								// x/time/rate turns tokens into a wait
								// truncated to the nanosecond: at RetryAt
								// the bucket may lack rate × 1 ns, a debt it
								// keeps for the next segment. Less than a
								// byte at 100 MiB/s, and not cumulative.
								if over := float64(admitted) - bound; over > 1+float64(sc.rate)*1e-9 {
									t.Fatalf("at %s: %d B admitted, over the bound %.3f B by %.3f B", c.Now().Sub(start), admitted, bound, over)
								}
							case Throttled:
								if d.RetryAt.IsZero() {
									t.Fatalf("throttled for ever")
								}
								wait := d.RetryAt.Sub(c.Now())
								if late > 0 {
									wait += time.Duration(rng.Int64N(int64(late)))
								}
								c.Advance(max(wait, time.Nanosecond))
							default:
								t.Fatalf("verdict %v", d.Verdict)
							}
						}
						want := initial + float64(sc.rate)*c.Now().Sub(first).Seconds()
						if late == 0 && float64(admitted) < want-float64(sc.size) {
							t.Errorf("%d B admitted in %s, want at least %.0f B (within a segment of the bound)", admitted, c.Now().Sub(first), want-float64(sc.size))
						}
					})
				}
			}
		}
	}
}
