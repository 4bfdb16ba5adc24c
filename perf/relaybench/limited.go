package relaybench

import (
	"context"
	"fmt"
	"time"

	"edgelab/edged/api"
)

// LimitedCost is edged's CPU per segment relaying count segments of size
// bytes to the sink behind a rate limit (rate, burst: bytes/s, bytes),
// against the same relay unlimited, measured in the same env: each run
// warms up on one segment, then the CPU edged uses from the seeding of the
// rest to their last DELIVERED mark is divided by count (start-up left
// out). Target (issue #17 item 2): limited within 2× of unlimited.
func (e *Env) LimitedCost(ctx context.Context, rate, burst int64, size, count int) (Row, error) {
	unlimited, err := e.relayCost(ctx, nil, size, count)
	if err != nil {
		return Row{}, fmt.Errorf("limited cost: unlimited: %w", err)
	}
	req := &api.SetBandwidthRequest{BytesPerSecond: api.Value(rate), BurstBytes: api.Value(burst)}
	limited, err := e.relayCost(ctx, req, size, count)
	if err != nil {
		return Row{}, fmt.Errorf("limited cost: %d B/s: %w", rate, err)
	}
	ratio := limited.cpu.Seconds() / unlimited.cpu.Seconds()
	return Row{
		Figure: fmt.Sprintf("2c CPU per segment at %s (%d × %s, burst %s, sink)", mibps(rate), count, sizeName(size), sizeName(int(burst))),
		Measured: fmt.Sprintf("edged %.0f µs/segment, %d throttles, %d cycles, %s",
			micros(limited.cpu, count), limited.throttles, limited.cycles, limited.elapsed.Round(time.Millisecond)),
		Baseline: fmt.Sprintf("unlimited %.0f µs/segment, %d cycles, %s", micros(unlimited.cpu, count), unlimited.cycles, unlimited.elapsed.Round(time.Millisecond)),
		Ratio:    ratio,
		Target:   "≤ 2.00 × unlimited",
		Met:      verdict(ratio <= 2),
		Detail:   "edged's CPU from seeding to the last DELIVERED mark, after a one-segment warm-up; the limit set live before seeding",
	}, nil
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

func mibps(rate int64) string { return fmt.Sprintf("%g MiB/s", float64(rate)/(1<<20)) }

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
