package labsetup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"edgelab/edged/ledger"
	"edgelab/transport"
)

// SeedOptions are the PENDING segments to insert: ids prefix-<n> for n in
// [Start, Start+Count), each Size bytes for TargetPeer.
type SeedOptions struct {
	Prefix     string
	Start      int // first number; 0 is taken as 1
	Count      int
	Size       int
	TargetPeer string
	Now        func() time.Time // when the segments become due; default time.Now
}

// SegmentIDs returns prefix-NNN for count numbers from start. Numbers are
// zero-padded to three digits, or to the width of the largest number when
// that is wider, so one batch sorts in numeric order.
func SegmentIDs(prefix string, start, count int) []string {
	if count <= 0 {
		return nil
	}
	width := max(3, len(strconv.Itoa(start+count-1)))
	ids := make([]string, count)
	for i := range count {
		ids[i] = fmt.Sprintf("%s-%0*d", prefix, width, start+i)
	}
	return ids
}

// Payload is the deterministic content of segment id: SHA-256 blocks of the
// id and a counter, cut to size. Anyone who knows the id and size can
// recompute it (and its digest) to check what a peer received.
func Payload(id string, size int) []byte {
	out := make([]byte, 0, size+sha256.Size)
	var ctr [8]byte
	for i := uint64(0); len(out) < size; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		h := sha256.New()
		h.Write([]byte(id))
		h.Write(ctr[:])
		out = h.Sum(out)
	}
	return out[:size]
}

// PayloadSHA256 is the hex SHA-256 of Payload(id, size), as the peer's
// evidence reports it.
func PayloadSHA256(id string, size int) string {
	sum := sha256.Sum256(Payload(id, size))
	return fmt.Sprintf("%x", sum)
}

// Seed inserts the segments of opts into the ledger at ledgerPath as
// PENDING, all or none: if any id is already in the ledger, nothing is
// inserted and the error names that id. It is safe while edged runs: the
// ledger is SQLite in WAL mode with a busy timeout.
func Seed(ctx context.Context, ledgerPath string, opts SeedOptions) (ids []string, err error) {
	if opts.Start == 0 {
		opts.Start = 1
	}
	switch {
	case opts.Prefix == "":
		return nil, errors.New("seed: prefix is required")
	case opts.Count < 1:
		return nil, fmt.Errorf("seed: count must be at least 1, got %d", opts.Count)
	case opts.Start < 0:
		return nil, fmt.Errorf("seed: start must not be negative, got %d", opts.Start)
	case opts.Size < 1:
		return nil, fmt.Errorf("seed: size must be at least 1 byte, got %d", opts.Size)
	case opts.TargetPeer == "":
		return nil, errors.New("seed: target peer is required")
	}
	if err := checkIdentity(opts.TargetPeer); err != nil {
		return nil, fmt.Errorf("seed: target peer: %w", err)
	}
	ids = SegmentIDs(opts.Prefix, opts.Start, opts.Count)
	segs := make([]ledger.New, len(ids))
	for i, id := range ids {
		if err := transport.ValidateID(id); err != nil {
			return nil, fmt.Errorf("seed: prefix %q makes a bad id: %w", opts.Prefix, err)
		}
		segs[i] = ledger.New{ID: id, TargetPeer: opts.TargetPeer, Payload: Payload(id, opts.Size)}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	l, err := ledger.Open(ledgerPath)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			// The insert committed: keep the ids, but say the close failed.
			err = fmt.Errorf("seed %s: %d segments inserted, then closing the ledger failed: %w", ledgerPath, len(ids), cerr)
		}
	}()
	if err := l.Insert(ctx, now(), segs...); err != nil {
		var dup *ledger.DuplicateError
		if errors.As(err, &dup) {
			return nil, fmt.Errorf("seed %s: %w; nothing was inserted", ledgerPath, err)
		}
		return nil, fmt.Errorf("seed %s: %w", ledgerPath, err)
	}
	return ids, nil
}
