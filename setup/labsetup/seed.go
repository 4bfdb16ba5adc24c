package labsetup

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

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

// CheckSeed checks opts (Start 0 is taken as 1) and returns the ids it
// makes; setup/seed inserts them.
func CheckSeed(opts SeedOptions) ([]string, error) {
	if opts.Start == 0 {
		opts.Start = 1
	}
	switch {
	case opts.Prefix == "":
		return nil, errors.New("prefix is required")
	case opts.Count < 1:
		return nil, fmt.Errorf("count must be at least 1, got %d", opts.Count)
	case opts.Start < 0:
		return nil, fmt.Errorf("start must not be negative, got %d", opts.Start)
	case opts.Size < 1:
		return nil, fmt.Errorf("size must be at least 1 byte, got %d", opts.Size)
	case opts.TargetPeer == "":
		return nil, errors.New("target peer is required")
	}
	if err := checkIdentity(opts.TargetPeer); err != nil {
		return nil, fmt.Errorf("target peer: %w", err)
	}
	ids := SegmentIDs(opts.Prefix, opts.Start, opts.Count)
	for _, id := range ids {
		if err := transport.ValidateID(id); err != nil {
			return nil, fmt.Errorf("prefix %q makes a bad id: %w", opts.Prefix, err)
		}
	}
	return ids, nil
}
