package relaybench

import (
	"context"
	"fmt"
	"time"

	"edgelab/edged/api"
)

// LimitedCost is edged's CPU per segment relaying count segments of size
// bytes to the sink behind a rate limit (rate, burst: bytes/s, bytes),
// against the same relay unlimited, in interleaved rounds: each run warms
// up on one segment, then the CPU edged uses from the seeding of the rest
// to their last DELIVERED mark is divided by count (start-up left out).
// Target (issue #17 item 2): limited within 2× of unlimited.
func (e *Env) LimitedCost(ctx context.Context, rate, burst int64, size, count, rounds int) (Row, error) {
	req := &api.SetBandwidthRequest{BytesPerSecond: api.Value(rate), BurstBytes: api.Value(burst)}
	var last [2]cost // unlimited, limited: the latest round's
	c, err := Compare(rounds,
		func() (float64, error) {
			k, err := e.relayCost(ctx, nil, size, count)
			last[0] = k
			return micros(k.cpu, count), err
		},
		func() (float64, error) {
			k, err := e.relayCost(ctx, req, size, count)
			last[1] = k
			e.logf("  %s: %.0f µs/segment, %d throttles, %d cycles, %s", mibps(rate), micros(k.cpu, count), k.throttles, k.cycles, k.elapsed.Round(time.Millisecond))
			return micros(k.cpu, count), err
		})
	if err != nil {
		return Row{}, fmt.Errorf("limited cost at %s: %w", mibps(rate), err)
	}
	row := Row{
		Figure:   fmt.Sprintf("2c CPU per segment at %s (%d × %s, burst %s, sink)", mibps(rate), count, bytesName(int64(size)), bytesName(burst)),
		Measured: fmt.Sprintf("edged %.0f µs/segment", c.Fig()),
		Baseline: fmt.Sprintf("unlimited %.0f µs/segment", c.Base()),
		Target:   "≤ 2.00 × unlimited",
		Detail: fmt.Sprintf("edged's CPU from seeding to the last DELIVERED mark, after a one-segment warm-up, the limit set live before seeding; limited [%s], unlimited [%s] µs/segment; last round %d throttles in %d cycles over %s (unlimited %d cycles, %s)",
			list(c.Figs, "%.0f"), list(c.Bases, "%.0f"), last[1].throttles, last[1].cycles, last[1].elapsed.Round(time.Millisecond), last[0].cycles, last[0].elapsed.Round(time.Millisecond)),
	}
	c.fill(&row)
	row.Met = verdict(row.Ratio <= 2)
	return row, nil
}

type cost struct {
	cpu, elapsed      time.Duration
	throttles, cycles int64
}

func (e *Env) relayCost(ctx context.Context, limit *api.SetBandwidthRequest, size, count int) (cost, error) {
	r, err := e.Start(ctx, RunOptions{Receiver: Sink, Count: 1, Size: size})
	if err != nil {
		return cost{}, err
	}
	defer r.Stop()
	if _, err := r.WaitDelivered(ctx, 1, 20*time.Millisecond, 30*time.Second, nil); err != nil {
		return cost{}, fmt.Errorf("warm-up: %w", err)
	}
	if limit != nil {
		if _, err := r.Control.SetBandwidth(ctx, *limit); err != nil {
			return cost{}, err
		}
	}
	cpu0, _, err := r.CPU()
	if err != nil {
		return cost{}, err
	}
	st0, err := r.Control.Status(ctx)
	if err != nil {
		return cost{}, err
	}
	start := time.Now()
	if err := Seed(ctx, r.path("ledger.db"), "c", count, size); err != nil {
		return cost{}, err
	}
	timeout := 60*time.Second + time.Duration(count)*5*time.Millisecond
	st, err := r.WaitDelivered(ctx, int64(count+1), 250*time.Millisecond, timeout, nil)
	if err != nil {
		return cost{}, err
	}
	elapsed := time.Since(start)
	cpu1, _, err := r.CPU()
	if err != nil {
		return cost{}, err
	}
	return cost{cpu: cpu1 - cpu0, elapsed: elapsed, throttles: st.ThrottleCount, cycles: st.ExecutorCycles - st0.ExecutorCycles}, nil
}

func micros(d time.Duration, n int) float64 { return d.Seconds() * 1e6 / float64(n) }

func mibps(rate int64) string { return bytesName(rate) + "/s" }
