package relaybench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/ledger"
	"edgelab/perf"
	"edgelab/setup/labsetup"
)

// Row is one line of the figures table.
type Row struct {
	Figure   string  `json:"figure"`
	Measured string  `json:"measured"`
	Baseline string  `json:"baseline"`
	Ratio    float64 `json:"ratio"` // 0: no ratio; with rounds, their median
	// RatioMin and RatioMax are the spread of the rounds' ratios (Rounds
	// of them, each figure and baseline measured one after the other).
	RatioMin float64 `json:"ratio_min,omitempty"`
	RatioMax float64 `json:"ratio_max,omitempty"`
	Rounds   int     `json:"rounds,omitempty"`
	// Load is /proc/loadavg's 1, 5 and 15 minute figures when the row was
	// measured: a loaded machine moves the figures (the ratios less).
	Load   string `json:"load,omitempty"`
	Target string `json:"target"`
	Met    *bool  `json:"met,omitempty"` // nil: informative, no target
	Detail string `json:"detail,omitempty"`
}

func verdict(ok bool) *bool { return &ok }

// Throughput is one end-to-end relay run: from the first segment at the
// receiver to the last DELIVERED mark in the ledger.
type Throughput struct {
	Segments int
	Bytes    int64
	Elapsed  time.Duration
	// Redelivered counts arrivals beyond one per segment.
	Redelivered int
	// CPU used by the processes over the whole run, start-up included.
	EdgedCPU, RecvCPU time.Duration
	// EdgedPeakRSS is edged's VmHWM at the end of the run.
	EdgedPeakRSS int64
}

func (t Throughput) rate() perf.Rate {
	return perf.Rate{Ops: int64(t.Segments), Bytes: t.Bytes, Elapsed: t.Elapsed}
}

// Relay relays count segments of size bytes to receiver at full speed and
// measures the rate.
func (e *Env) Relay(ctx context.Context, recv Receiver, count, size int) (Throughput, error) {
	return e.relayWith(ctx, RunOptions{Receiver: recv, Count: count, Size: size})
}

// relayWith is Relay for any run options (o.Count segments of o.Size).
func (e *Env) relayWith(ctx context.Context, o RunOptions) (Throughput, error) {
	recv, count, size := o.Receiver, o.Count, o.Size
	r, err := e.Start(ctx, o)
	if err != nil {
		return Throughput{}, err
	}
	defer r.Stop()
	timeout := 60*time.Second + time.Duration(count)*5*time.Millisecond
	// A coarse poll: the rate comes from the receive times and the
	// DELIVERED marks, and every status request costs edged some work
	// (with 1,000 peers at 100 ms it was 18 % of edged's CPU).
	if _, err := r.WaitDelivered(ctx, int64(count), 500*time.Millisecond, timeout, nil); err != nil {
		return Throughput{}, fmt.Errorf("relay %d × %d B to the %s: %w", count, size, recv, err)
	}
	ecpu, rcpu, err := r.CPU()
	if err != nil {
		return Throughput{}, err
	}
	mem, err := ReadMemory(r.Edged.Pid())
	if err != nil {
		return Throughput{}, err
	}
	arrivals, segs, err := r.Finish()
	if err != nil {
		return Throughput{}, err
	}
	t, err := throughput(arrivals, segs)
	t.EdgedCPU, t.RecvCPU, t.EdgedPeakRSS = ecpu, rcpu, mem.HWM
	return t, err
}

func (t Throughput) cpu() string {
	return fmt.Sprintf("CPU per segment: edged %.0f µs, receiver %.0f µs; edged peak RSS %.1f MiB",
		t.EdgedCPU.Seconds()*1e6/float64(t.Segments), t.RecvCPU.Seconds()*1e6/float64(t.Segments), float64(t.EdgedPeakRSS)/(1<<20))
}

func throughput(arrivals []Arrival, segs []ledger.Segment) (Throughput, error) {
	if len(arrivals) == 0 {
		return Throughput{}, fmt.Errorf("nothing arrived")
	}
	first := arrivals[0].At
	for _, a := range arrivals {
		if a.At.Before(first) {
			first = a.At
		}
	}
	var t Throughput
	var last time.Time
	for _, s := range segs {
		if s.State != ledger.Delivered {
			return Throughput{}, fmt.Errorf("segment %s is %s after the run", s.ID, s.State)
		}
		t.Segments++
		t.Bytes += s.Size
		if s.DeliveredAt.After(last) {
			last = s.DeliveredAt
		}
	}
	t.Elapsed = last.Sub(first)
	t.Redelivered = len(arrivals) - t.Segments
	if t.Redelivered < 0 {
		return Throughput{}, fmt.Errorf("%d segments DELIVERED but %d arrived", t.Segments, len(arrivals))
	}
	return t, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Comparison is a figure and its baseline measured in interleaved rounds.
type Comparison struct {
	Bases, Figs []float64
}

// Base and Fig are the medians of each side.
func (c Comparison) Base() float64 { return median(c.Bases) }
func (c Comparison) Fig() float64  { return median(c.Figs) }

// Ratio is the median of the rounds' figure/baseline ratios: each ratio
// compares two measurements taken one after the other, so a load that
// comes and goes on the machine moves both.
func (c Comparison) Ratio() float64 { return median(c.Ratios()) }

// Ratios are the rounds' figure/baseline ratios, in round order.
func (c Comparison) Ratios() []float64 {
	r := make([]float64, len(c.Figs))
	for i := range r {
		r[i] = c.Figs[i] / c.Bases[i]
	}
	return r
}

// fill sets row's ratio, its spread and the number of rounds.
func (c Comparison) fill(row *Row) {
	r := c.Ratios()
	if len(r) == 0 {
		return
	}
	row.Ratio, row.RatioMin, row.RatioMax, row.Rounds = median(r), slices.Min(r), slices.Max(r), len(r)
}

// Compare runs baseline and figure in rounds, one after the other, the
// baseline first in even rounds and second in odd ones.
func Compare(rounds int, baseline, figure func() (float64, error)) (Comparison, error) {
	var c Comparison
	for i := range rounds {
		var b, f float64
		var err error
		if i%2 == 0 {
			if b, err = baseline(); err == nil {
				f, err = figure()
			}
		} else {
			if f, err = figure(); err == nil {
				b, err = baseline()
			}
		}
		if err != nil {
			return c, err
		}
		c.Bases, c.Figs = append(c.Bases, b), append(c.Figs, f)
	}
	return c, nil
}

// CompareN runs every measure once per round, in an order that rotates
// from round to round (each measure first in turn), and returns each
// measure's values in round order.
func CompareN(rounds int, measures ...func() (float64, error)) ([][]float64, error) {
	out := make([][]float64, len(measures))
	for i := range rounds {
		for j := range measures {
			k := (i + j) % len(measures)
			v, err := measures[k]()
			if err != nil {
				return out, err
			}
			out[k] = append(out[k], v)
		}
	}
	return out, nil
}

func list(xs []float64, format string) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf(format, x)
	}
	return s
}

// SmallThroughput is figure 3 for 64 B segments: edged's segments/s against
// the bare PUT rate.
func (e *Env) SmallThroughput(ctx context.Context, recv Receiver, count, rounds int, baseDur time.Duration, streams int) (Row, error) {
	c, err := Compare(rounds,
		func() (float64, error) {
			r, err := perf.BarePUT(ctx, e.TLS, 64, streams, baseDur)
			return r.OpsPerSec(), err
		},
		func() (float64, error) {
			t, err := e.Relay(ctx, recv, count, 64)
			e.logf("  relay %d × 64 B → %s: %.0f segments/s (%d redelivered; %s)", count, recv, t.rate().OpsPerSec(), t.Redelivered, t.cpu())
			return t.rate().OpsPerSec(), err
		})
	if err != nil {
		return Row{}, err
	}
	row := Row{
		Figure:   fmt.Sprintf("3 relay 64 B → %s (%d segments)", recv, count),
		Measured: fmt.Sprintf("%.0f segments/s", c.Fig()),
		Baseline: fmt.Sprintf("bare PUT 64 B: %.0f PUTs/s", c.Base()),
		Ratio:    c.Ratio(),
		Detail: fmt.Sprintf("medians of %d interleaved rounds (ratio: median of the rounds' ratios); relay [%s] segments/s, bare [%s] PUTs/s (%d in flight)",
			rounds, list(c.Figs, "%.0f"), list(c.Bases, "%.0f"), streams),
	}
	c.fill(&row)
	if recv == Sink {
		row.Target, row.Met = "≥ 0.50", verdict(row.Ratio >= 0.5)
	} else {
		row.Target = "(peer's evidence file bounds it)"
	}
	return row, nil
}

// BatchThroughput is figure 3b (issue #17 item 6): edged relaying 64 B
// segments to the sink with [[peers]] batch = true, against the bare
// single-PUT pair (perf.BarePUT, target ≥ 1.0) and the bare batched pair
// (perf.BareBatch: the same Batcher, no ledger), the three measured in
// interleaved rounds whose order rotates.
func (e *Env) BatchThroughput(ctx context.Context, count, rounds int, baseDur time.Duration, streams int) ([]Row, error) {
	vals, err := CompareN(rounds,
		func() (float64, error) {
			r, err := perf.BarePUT(ctx, e.TLS, 64, streams, baseDur)
			return r.OpsPerSec(), err
		},
		func() (float64, error) {
			r, err := perf.BareBatch(ctx, e.TLS, 64, streams, baseDur)
			return r.OpsPerSec(), err
		},
		func() (float64, error) {
			t, err := e.relayWith(ctx, RunOptions{Receiver: Sink, Count: count, Size: 64, Config: func(o *labsetup.ConfigOptions) { o.PeerBatch = true }})
			e.logf("  relay %d × 64 B → sink, batch on: %.0f segments/s (%d redelivered; %s)", count, t.rate().OpsPerSec(), t.Redelivered, t.cpu())
			return t.rate().OpsPerSec(), err
		})
	if err != nil {
		return nil, err
	}
	put := Comparison{Bases: vals[0], Figs: vals[2]}
	batch := Comparison{Bases: vals[1], Figs: vals[2]}
	detail := fmt.Sprintf("medians of %d interleaved rounds (ratio: median of the rounds' ratios); relay batch on [%s] segments/s, bare PUT [%s] PUTs/s, bare batch [%s] segments/s (%d in flight)",
		rounds, list(vals[2], "%.0f"), list(vals[0], "%.0f"), list(vals[1], "%.0f"), streams)
	fig := fmt.Sprintf("3b relay 64 B → sink, batch on (%d segments)", count)
	rowPut := Row{
		Figure:   fig,
		Measured: fmt.Sprintf("%.0f segments/s", put.Fig()),
		Baseline: fmt.Sprintf("bare PUT 64 B: %.0f PUTs/s", put.Base()),
		Target:   "≥ 1.00",
		Detail:   detail,
	}
	put.fill(&rowPut)
	rowPut.Met = verdict(rowPut.Ratio >= 1)
	rowBatch := Row{
		Figure:   fig,
		Measured: fmt.Sprintf("%.0f segments/s", batch.Fig()),
		Baseline: fmt.Sprintf("bare batch 64 B: %.0f segments/s", batch.Base()),
		Target:   "(the batched protocol's ceiling)",
		Detail:   detail,
	}
	batch.fill(&rowBatch)
	return []Row{rowPut, rowBatch}, nil
}

// LargeThroughput is figure 3 for 1 MiB segments: edged's MiB/s against a
// bare TLS 1.3 stream copy.
func (e *Env) LargeThroughput(ctx context.Context, recv Receiver, count, rounds int, baseDur time.Duration) (Row, error) {
	const size = 1 << 20
	c, err := Compare(rounds,
		func() (float64, error) {
			r, err := perf.StreamCopy(ctx, e.TLS, size, baseDur)
			return r.MiBPerSec(), err
		},
		func() (float64, error) {
			t, err := e.Relay(ctx, recv, count, size)
			e.logf("  relay %d × 1 MiB → %s: %.0f MiB/s (%d redelivered; %s)", count, recv, t.rate().MiBPerSec(), t.Redelivered, t.cpu())
			return t.rate().MiBPerSec(), err
		})
	if err != nil {
		return Row{}, err
	}
	row := Row{
		Figure:   fmt.Sprintf("3 relay 1 MiB → %s (%d segments)", recv, count),
		Measured: fmt.Sprintf("%.0f MiB/s", c.Fig()),
		Baseline: fmt.Sprintf("TLS stream copy: %.0f MiB/s", c.Base()),
		Ratio:    c.Ratio(),
		Detail: fmt.Sprintf("medians of %d interleaved rounds (ratio: median of the rounds' ratios); relay [%s] MiB/s, stream copy [%s] MiB/s",
			rounds, list(c.Figs, "%.0f"), list(c.Bases, "%.0f")),
	}
	c.fill(&row)
	if recv == Sink {
		row.Target, row.Met = "≥ 0.60", verdict(row.Ratio >= 0.6)
	} else {
		row.Target = "(peer's evidence file bounds it)"
	}
	return row, nil
}

// ProtocolCeiling is the bare HTTP/2 PUT of 1 MiB against the stream copy:
// what the segment protocol itself leaves of the connection's byte rate.
func (e *Env) ProtocolCeiling(ctx context.Context, rounds int, d time.Duration, streams int) (Row, error) {
	c, err := Compare(rounds,
		func() (float64, error) {
			r, err := perf.StreamCopy(ctx, e.TLS, 1<<20, d)
			return r.MiBPerSec(), err
		},
		func() (float64, error) {
			r, err := perf.BarePUT(ctx, e.TLS, 1<<20, streams, d)
			return r.MiBPerSec(), err
		})
	if err != nil {
		return Row{}, err
	}
	row := Row{
		Figure:   "3 bare PUT 1 MiB (no ledger)",
		Measured: fmt.Sprintf("%.0f MiB/s", c.Fig()),
		Baseline: fmt.Sprintf("TLS stream copy: %.0f MiB/s", c.Base()),
		Ratio:    c.Ratio(),
		Target:   "(the protocol's ceiling)",
		Detail:   fmt.Sprintf("%d in flight, both in one process; bare PUT [%s], stream copy [%s] MiB/s", streams, list(c.Figs, "%.0f"), list(c.Bases, "%.0f")),
	}
	c.fill(&row)
	return row, nil
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// LoadedLedger is figures 4 and 5 on one ledger of count PENDING segments
// of size bytes: edged starts blocked (1 B/s: every segment is larger than
// the burst) and its memory is read after blockedCycles cycles have each
// looked at a full batch; then unlimited is set live and, while edged
// relays everything to the sink at full speed, GET /v1/relay/status is
// timed every interval and the memory sampled.
func (e *Env) LoadedLedger(ctx context.Context, count, size int, blockedCycles int64, interval time.Duration) (latency, memory Row, err error) {
	r, err := e.Start(ctx, RunOptions{Receiver: Sink, Count: count, Size: size, Config: func(o *labsetup.ConfigOptions) {
		o.BytesPerSecond = 1
	}})
	if err != nil {
		return Row{}, Row{}, err
	}
	defer r.Stop()
	pid := r.Edged.Pid()
	st0, err := r.Control.Status(ctx)
	if err != nil {
		return Row{}, Row{}, err
	}
	var blockedLat []time.Duration
	blocked, err := r.WaitStatus(ctx, 100*time.Millisecond, 30*time.Second+time.Duration(blockedCycles)*time.Second,
		func(d time.Duration, _ api.Status) { blockedLat = append(blockedLat, d) },
		func(st api.Status) bool { return st.ExecutorCycles >= st0.ExecutorCycles+blockedCycles })
	if err != nil {
		return Row{}, Row{}, fmt.Errorf("wait for blocked cycles: %w", err)
	}
	memBlocked, err := ReadMemory(pid)
	if err != nil {
		return Row{}, Row{}, err
	}
	e.logf("  %d pending, throttle_count %d after %d cycles: RSS %.1f MiB (peak %.1f MiB)", blocked.Segments.Pending,
		blocked.ThrottleCount, blocked.ExecutorCycles, mib(memBlocked.RSS), mib(memBlocked.HWM))

	if _, err := r.Control.SetBandwidth(ctx, api.SetBandwidthRequest{BytesPerSecond: api.Value(0)}); err != nil {
		return Row{}, Row{}, err
	}
	var lat []time.Duration
	var maxRSS int64
	start := time.Now()
	if _, err := r.WaitDelivered(ctx, int64(count), interval, 120*time.Second, func(d time.Duration, st api.Status) {
		lat = append(lat, d)
		if m, err := ReadMemory(pid); err == nil {
			maxRSS = max(maxRSS, m.RSS)
		}
	}); err != nil {
		return Row{}, Row{}, err
	}
	drain := time.Since(start)
	memEnd, err := ReadMemory(pid)
	if err != nil {
		return Row{}, Row{}, err
	}
	slices.Sort(lat)
	slices.Sort(blockedLat)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	latency = Row{
		Figure:   fmt.Sprintf("4 GET /v1/relay/status while relaying %d × %d B", count, size),
		Measured: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", ms(p50), ms(p99), ms(lat[len(lat)-1])),
		Target:   "p99 < 50 ms",
		Met:      verdict(p99 < 50*time.Millisecond),
		Detail: fmt.Sprintf("%d requests over the control socket (a new connection each, as the CLI), one every %s, during a %.1f s drain at full speed to the sink (%.0f segments/s); while blocked by a rate (status then also counts oversize segments): p50 %.1f ms, p99 %.1f ms over %d requests",
			len(lat), interval, drain.Seconds(), float64(count)/drain.Seconds(), ms(percentile(blockedLat, 0.5)), ms(percentile(blockedLat, 0.99)), len(blockedLat)),
	}
	peak := memEnd.HWM
	memory = Row{
		Figure:   fmt.Sprintf("5 edged RSS with %d PENDING × %d B", count, size),
		Measured: fmt.Sprintf("blocked %.1f MiB; peak %.1f MiB (draining)", mib(memBlocked.RSS), mib(peak)),
		Target:   "< 64 MiB",
		Met:      verdict(peak < 64<<20),
		Detail: fmt.Sprintf("VmRSS after %d blocked cycles of %d segments each (1 B/s: every segment larger than the burst); VmHWM after relaying them all (largest VmRSS sampled %.1f MiB)",
			blocked.ExecutorCycles-st0.ExecutorCycles, min(count, 1024), mib(maxRSS)),
	}
	_, _, err = r.Finish()
	return latency, memory, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// Ingress is figure 6: the listener's byte rate with per-sender attribution
// against without, from senders distinct ids, interleaved rounds.
func (e *Env) Ingress(ctx context.Context, size, senders, streams, rounds int, d time.Duration) (Row, error) {
	c, err := Compare(rounds,
		func() (float64, error) {
			r, _, err := perf.IngressRate(ctx, e.TLS, false, senders, size, streams, d)
			return r.MiBPerSec(), err
		},
		func() (float64, error) {
			r, attr, err := perf.IngressRate(ctx, e.TLS, true, senders, size, streams, d)
			if err == nil {
				if _, byPeer := attr.Snapshot(); len(byPeer) != senders {
					err = fmt.Errorf("ingress: %d senders attributed, want %d", len(byPeer), senders)
				}
			}
			return r.MiBPerSec(), err
		})
	if err != nil {
		return Row{}, err
	}
	cost := 1 - c.Ratio()
	row := Row{
		Figure:   fmt.Sprintf("6 ingress attribution, %d senders, %d B PUTs", senders, size),
		Measured: fmt.Sprintf("on: %.1f MiB/s", c.Fig()),
		Baseline: fmt.Sprintf("off: %.1f MiB/s", c.Base()),
		Ratio:    c.Ratio(),
		Target:   "cost ≤ 5 %",
		Met:      verdict(cost <= 0.05),
		Detail: fmt.Sprintf("cost %.1f %% (1 − median of the rounds' on/off ratios); %d interleaved rounds of %s each side, %d in flight; on [%s], off [%s] MiB/s",
			100*cost, rounds, d, streams, list(c.Figs, "%.2f"), list(c.Bases, "%.2f")),
	}
	c.fill(&row)
	return row, nil
}

// StatusLatency is figure 7: GET /v1/relay/status on a ledger of count
// PENDING segments of size bytes spread over peers configured targets
// (1: the lab's one peer), with every segment larger than the burst
// (1 B/s), so that the status counts oversize segments for every target.
// After the executor's first cycles it times requests requests, one every
// interval, over the control socket (a new connection each, as the CLI).
func (e *Env) StatusLatency(ctx context.Context, count, size, peers, requests int, interval time.Duration) (Row, error) {
	seedStart := time.Now()
	r, err := e.Start(ctx, RunOptions{Receiver: Sink, Count: count, Size: size, Peers: peers, Config: func(o *labsetup.ConfigOptions) {
		o.BytesPerSecond = 1
	}})
	if err != nil {
		return Row{}, err
	}
	defer r.Stop()
	e.logf("  seeded %d segments over %d peer(s) and started edged in %.1f s", count, peers, time.Since(seedStart).Seconds())
	st0, err := r.Control.Status(ctx)
	if err != nil {
		return Row{}, err
	}
	// Wait for the executor to have looked at its batches, so the timed
	// requests see a relay in its steady blocked state.
	if _, err := r.WaitStatus(ctx, 100*time.Millisecond, 60*time.Second, nil,
		func(st api.Status) bool { return st.ExecutorCycles >= st0.ExecutorCycles+2 }); err != nil {
		return Row{}, fmt.Errorf("wait for blocked cycles: %w", err)
	}
	cpu0, _, err := r.CPU()
	if err != nil {
		return Row{}, err
	}
	began := time.Now()
	var lat, decode []time.Duration
	var last api.Status
	var answer int // bytes
	for range requests {
		// As Control.Status, with the client's decoding timed apart.
		start := time.Now()
		body, err := r.Control.Do(ctx, http.MethodGet, api.PathStatus, nil)
		if err != nil {
			return Row{}, err
		}
		decoding := time.Now()
		var st api.Status
		if err := json.Unmarshal(body, &st); err != nil {
			return Row{}, fmt.Errorf("decode status: %w", err)
		}
		lat = append(lat, time.Since(start))
		decode = append(decode, time.Since(decoding))
		last, answer = st, len(body)
		select {
		case <-ctx.Done():
			return Row{}, ctx.Err()
		case <-time.After(interval):
		}
	}
	cpu1, _, err := r.CPU()
	if err != nil {
		return Row{}, err
	}
	busy := float64(cpu1-cpu0) / float64(time.Since(began))
	slices.Sort(lat)
	slices.Sort(decode)
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	if last.Segments.Pending != int64(count) || last.Segments.BlockedOversize != int64(count) {
		return Row{}, fmt.Errorf("status: %d pending, %d oversize, want %d of each", last.Segments.Pending, last.Segments.BlockedOversize, count)
	}
	return Row{
		Figure:   fmt.Sprintf("7 GET /v1/relay/status, %d PENDING × %d B over %d peer(s), rate-limited", count, size, peers),
		Measured: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms", ms(p50), ms(p99), ms(lat[len(lat)-1])),
		Target:   "p99 < 20 ms",
		Met:      verdict(p99 < 20*time.Millisecond),
		Detail: fmt.Sprintf("%d requests over the control socket (a new connection each, as the CLI), one every %s, edged blocked at 1 B/s (every segment oversize: %d), %d peers in the status (%d B of JSON, the client's decoding of it p50 %.1f ms, p99 %.1f ms, included); edged used %.0f%% of a CPU meanwhile",
			len(lat), interval, last.Segments.BlockedOversize, len(last.Peers), answer, ms(percentile(decode, 0.5)), ms(percentile(decode, 0.99)), 100*busy),
	}, r.Stop()
}
