package labsetup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"edgelab/edged/ledger"
	"edgelab/transport"
)

// SeedBatch inserts the segments of several SeedOptions (e.g. one per
// target peer) in one transaction, all or none, all due at the same
// instant: the executor's next cycle sees every one of them, which is what
// a lab needs to show that one peer's limit does not hold back another's
// deliveries in the same cycle. Due segments are taken in id order, so
// prefixes decide the interleaving. It returns each batch's ids in order.
func SeedBatch(ctx context.Context, ledgerPath string, batches ...SeedOptions) (ids [][]string, err error) {
	if len(batches) == 0 {
		return nil, errors.New("seed: no batches")
	}
	now := time.Now
	var segs []ledger.New
	for i, opts := range batches {
		if opts.Start == 0 {
			opts.Start = 1
		}
		switch {
		case opts.Prefix == "":
			return nil, fmt.Errorf("seed batch %d: prefix is required", i+1)
		case opts.Count < 1:
			return nil, fmt.Errorf("seed batch %d: count must be at least 1, got %d", i+1, opts.Count)
		case opts.Start < 0:
			return nil, fmt.Errorf("seed batch %d: start must not be negative, got %d", i+1, opts.Start)
		case opts.Size < 1:
			return nil, fmt.Errorf("seed batch %d: size must be at least 1 byte, got %d", i+1, opts.Size)
		}
		if err := checkIdentity(opts.TargetPeer); err != nil {
			return nil, fmt.Errorf("seed batch %d: target peer: %w", i+1, err)
		}
		if opts.Now != nil {
			now = opts.Now
		}
		batch := SegmentIDs(opts.Prefix, opts.Start, opts.Count)
		for _, id := range batch {
			if err := transport.ValidateID(id); err != nil {
				return nil, fmt.Errorf("seed batch %d: prefix %q makes a bad id: %w", i+1, opts.Prefix, err)
			}
			segs = append(segs, ledger.New{ID: id, TargetPeer: opts.TargetPeer, Payload: Payload(id, opts.Size)})
		}
		ids = append(ids, batch)
	}
	l, err := ledger.Open(ledgerPath)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("seed %s: %d segments inserted, then closing the ledger failed: %w", ledgerPath, len(segs), cerr)
		}
	}()
	if err := l.Insert(ctx, now(), segs...); err != nil {
		return nil, fmt.Errorf("seed %s: %w; nothing was inserted", ledgerPath, err)
	}
	return ids, nil
}
