package daemon

import (
	"context"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/ledger"
)

// pruneEvery is how often retention looks for delivered segments past
// [relay] keep_delivered.
const pruneEvery = time.Minute

// runRetention prunes DELIVERED segments older than keep, in small
// transactions (ledger.PruneBatch) so deliveries never stall behind it.
func (d *Daemon) runRetention(ctx context.Context, keep time.Duration) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		n, err := d.ledger.Prune(ctx, d.clock.Now().Add(-keep), ledger.PruneBatch, false)
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Error("retention: prune failed", "keep_delivered", keep, "err", err)
		case n > 0:
			d.log.Info("retention: delivered segments pruned", "segments", n, "keep_delivered", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune implements control.Pruner: an operator's prune of DELIVERED
// segments older than olderThan, logged with the caller.
func (d *Daemon) Prune(ctx context.Context, olderThan time.Duration, dryRun bool, actor string) (api.PruneResponse, error) {
	cutoff := d.clock.Now().Add(-olderThan)
	n, err := d.ledger.Prune(ctx, cutoff, ledger.PruneBatch, dryRun)
	if err != nil {
		return api.PruneResponse{}, err
	}
	d.log.Info("ledger prune", "segments", n, "older_than", olderThan, "dry_run", dryRun, "actor", actor)
	return api.PruneResponse{Pruned: n, Cutoff: cutoff.UTC(), DryRun: dryRun}, nil
}
