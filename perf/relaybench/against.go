package relaybench

import (
	"context"
	"fmt"
)

// Against is figure 8: figure 3's relay to the sink (count segments of
// size bytes) with this env's binaries against before's — another build
// of edged and the sink, e.g. one without the evidence that costs (issue
// #17 item 8: the attempt history and the hostile-sender bounds;
// scripts/bench/evidence_cost.sh builds it) — in interleaved rounds. The
// ratio is this build's rate over before's; the cost is 1 − ratio, target
// ≤ 5 %.
func (e *Env) Against(ctx context.Context, before *Env, what string, size, count, rounds int) (Row, error) {
	rate := func(env *Env) func() (float64, error) {
		return func() (float64, error) {
			t, err := env.Relay(ctx, Sink, count, size)
			if err != nil {
				return 0, err
			}
			e.logf("  %s: %.0f segments/s (%s)", env.Bin["edged"], t.rate().OpsPerSec(), t.cpu())
			return t.rate().OpsPerSec(), nil
		}
	}
	c, err := Compare(rounds, rate(before), rate(e))
	if err != nil {
		return Row{}, fmt.Errorf("against %s: %w", what, err)
	}
	row := Row{
		Figure:   fmt.Sprintf("8 cost of %s: relay %s → sink (%d segments)", what, bytesName(int64(size)), count),
		Measured: fmt.Sprintf("%.0f segments/s", c.Fig()),
		Baseline: fmt.Sprintf("without: %.0f segments/s", c.Base()),
		Target:   "cost ≤ 5 %",
		Detail: fmt.Sprintf("with [%s], without [%s] segments/s (%s)",
			list(c.Figs, "%.0f"), list(c.Bases, "%.0f"), before.Bin["edged"]),
	}
	c.fill(&row)
	row.Met = verdict(1-row.Ratio <= 0.05)
	return row, nil
}
