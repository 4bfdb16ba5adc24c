// Package seed inserts the lab's deterministic PENDING segments
// (labsetup.SegmentIDs, labsetup.Payload) into a ledger. It is the one part
// of setup that links the ledger (and so SQLite): the labs' orchestrators
// seed through the setup binary instead, which keeps their own compile
// small.
package seed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"edgelab/edged/ledger"
	"edgelab/setup/labsetup"
)

// Seed inserts the segments of opts into the ledger at ledgerPath as
// PENDING, all or none: if any id is already in the ledger, nothing is
// inserted and the error names that id. It is safe while edged runs: the
// ledger is SQLite in WAL mode with a busy timeout.
func Seed(ctx context.Context, ledgerPath string, opts labsetup.SeedOptions) ([]string, error) {
	ids, err := insert(ctx, ledgerPath, "seed", []labsetup.SeedOptions{opts})
	if len(ids) == 1 {
		return ids[0], err
	}
	return nil, err
}

// Batch inserts the segments of several SeedOptions (e.g. one per target
// peer) in one transaction, all or none, all due at the same instant: the
// executor's next cycle sees every one of them, which is what a lab needs
// to show that one peer's limit does not hold back another's deliveries in
// the same cycle. Due segments are taken in id order, so prefixes decide
// the interleaving. It returns each batch's ids in order.
func Batch(ctx context.Context, ledgerPath string, batches ...labsetup.SeedOptions) ([][]string, error) {
	if len(batches) == 0 {
		return nil, errors.New("seed: no batches")
	}
	return insert(ctx, ledgerPath, "seed batch", batches)
}

// insert checks every batch, then inserts them all in one transaction.
// what names a batch in errors: "seed" for one, "seed batch N" for several.
func insert(ctx context.Context, ledgerPath, what string, batches []labsetup.SeedOptions) (ids [][]string, err error) {
	now := time.Now
	var segs []ledger.New
	for i, opts := range batches {
		name := what
		if len(batches) > 1 || what != "seed" {
			name = fmt.Sprintf("%s %d", what, i+1)
		}
		batch, err := labsetup.CheckSeed(opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if opts.Now != nil {
			now = opts.Now
		}
		for _, id := range batch {
			segs = append(segs, ledger.New{ID: id, TargetPeer: opts.TargetPeer, Payload: labsetup.Payload(id, opts.Size)})
		}
		ids = append(ids, batch)
	}
	l, err := ledger.Open(ledgerPath)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			// The insert committed: keep the ids, but say the close failed.
			err = fmt.Errorf("seed %s: %d segments inserted, then closing the ledger failed: %w", ledgerPath, len(segs), cerr)
		}
	}()
	if err := l.Insert(ctx, now(), segs...); err != nil {
		return nil, fmt.Errorf("seed %s: %w; nothing was inserted", ledgerPath, err)
	}
	return ids, nil
}
