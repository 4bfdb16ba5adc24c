package relaybench

import (
	"context"
	"fmt"
)

// ManyPeers is figure 9: edged's CPU per segment relaying count segments
// of size bytes to the sink spread over peers peers, each at its own
// address (the sink listening on as many ports), against the same relay to
// one peer, in interleaved rounds. Target (issue #17 item 1): within 1.5×
// of one peer — one connection per peer address, not one per delivery.
func (e *Env) ManyPeers(ctx context.Context, peers, count, size, rounds int) (Row, error) {
	var rss [2]int64
	cpu := func(n int, slot int) func() (float64, error) {
		return func() (float64, error) {
			t, err := e.relayWith(ctx, RunOptions{Receiver: Sink, Count: count, Size: size, Peers: n})
			if err != nil {
				return 0, err
			}
			rss[slot] = t.EdgedPeakRSS
			e.logf("  %d × %s to %d peers: %.0f segments/s (%s)", count, bytesName(int64(size)), n, t.rate().OpsPerSec(), t.cpu())
			return t.EdgedCPU.Seconds() * 1e6 / float64(t.Segments), nil
		}
	}
	c, err := Compare(rounds, cpu(1, 0), cpu(peers, 1))
	if err != nil {
		return Row{}, fmt.Errorf("%d peers: %w", peers, err)
	}
	row := Row{
		Figure:   fmt.Sprintf("9 CPU per segment, %d peers at distinct addresses (%d × %s, sink)", peers, count, bytesName(int64(size))),
		Measured: fmt.Sprintf("edged %.0f µs/segment, peak RSS %.1f MiB", c.Fig(), mib(rss[1])),
		Baseline: fmt.Sprintf("one peer: %.0f µs/segment, peak RSS %.1f MiB", c.Base(), mib(rss[0])),
		Target:   "≤ 1.50 × one peer",
		Detail: fmt.Sprintf("edged's CPU over the whole run (start-up and handshakes included) per segment; %d peers [%s], one peer [%s] µs/segment; RSS of the last round",
			peers, list(c.Figs, "%.0f"), list(c.Bases, "%.0f")),
	}
	c.fill(&row)
	row.Met = verdict(row.Ratio <= 1.5)
	return row, nil
}
