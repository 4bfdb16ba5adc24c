package ledger

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// DueBatch shares the batch among targets: what one leaves unused goes to
// the others, and a contended batch takes the targets in turn.
func TestDueBatch_FairAmongTargets(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	seedN(t, l, "a", "peer-a", 10, 8)
	seedN(t, l, "b", "peer-b", 2, 8)
	seedN(t, l, "c", "peer-c", 10, 8)
	now := time.Now().Add(time.Minute)

	segs, err := l.DueBatch(ctx, now, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	var order []string
	for _, s := range segs {
		per[s.TargetPeer]++
		order = append(order, s.TargetPeer)
	}
	if diff := cmp.Diff(map[string]int{"peer-a": 5, "peer-b": 2, "peer-c": 5}, per); diff != "" {
		t.Errorf("segments per target in a batch of 12 (-want +got):\n%s", diff)
	}
	if want := []string{"peer-a", "peer-b", "peer-c", "peer-a", "peer-b", "peer-c", "peer-a", "peer-c"}; !cmp.Equal(order[:8], want) {
		t.Errorf("batch order %v, want the targets in turn %v…", order, want)
	}
	// Each target's own segments stay in due order.
	last := map[string]string{}
	for _, s := range segs {
		if prev := last[s.TargetPeer]; prev != "" && s.ID < prev {
			t.Errorf("%s's %s after %s", s.TargetPeer, s.ID, prev)
		}
		last[s.TargetPeer] = s.ID
	}

	// A batch that holds every due segment is in due order, as with one target.
	segs, err = l.DueBatch(ctx, now, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 22 {
		t.Fatalf("%d due, want 22", len(segs))
	}
	for i := 1; i < len(segs); i++ {
		a, b := segs[i-1], segs[i]
		if b.NextAttemptAt.Before(a.NextAttemptAt) || (b.NextAttemptAt.Equal(a.NextAttemptAt) && b.ID < a.ID) {
			t.Errorf("uncontended batch out of due order at %d: %s then %s", i, a.ID, b.ID)
		}
	}
}

// DueBatchExcept leaves out the targets skip names (with one target left,
// too); PendingByID returns only the ids still PENDING.
func TestDueBatchExceptAndPendingByID(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	seedN(t, l, "a", "peer-a", 3, 8)
	seedN(t, l, "b", "peer-b", 2, 8)
	seedN(t, l, "c", "peer-c", 2, 8)
	now := time.Now().Add(time.Minute)
	ids := func(segs []Segment) []string {
		out := []string{}
		for _, s := range segs {
			out = append(out, s.ID)
		}
		sort.Strings(out)
		return out
	}
	for _, tt := range []struct {
		skip []string
		want []string
	}{
		{nil, []string{"a-0000", "a-0001", "a-0002", "b-0000", "b-0001", "c-0000", "c-0001"}},
		{[]string{"peer-a"}, []string{"b-0000", "b-0001", "c-0000", "c-0001"}},
		{[]string{"peer-a", "peer-c"}, []string{"b-0000", "b-0001"}},
		{[]string{"peer-a", "peer-b", "peer-c"}, []string{}},
	} {
		skip := func(p string) bool { return slices.Contains(tt.skip, p) }
		segs, err := l.DueBatchExcept(ctx, now, 100, 0, skip)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(segs)); diff != "" {
			t.Errorf("skip %v (-want +got):\n%s", tt.skip, diff)
		}
	}
	if err := l.MarkDelivered(ctx, "a-0001", now, nil); err != nil {
		t.Fatal(err)
	}
	got, err := l.PendingByID(ctx, []string{"a-0000", "a-0001", "c-0001", "nope"}, -1)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for id, s := range got {
		gotIDs = append(gotIDs, id)
		if s.State != Pending || len(s.Payload) != int(s.Size) {
			t.Errorf("%s: got state %s, %d of %d payload bytes; want PENDING with its payload", id, s.State, len(s.Payload), s.Size)
		}
	}
	sort.Strings(gotIDs)
	if diff := cmp.Diff([]string{"a-0000", "c-0001"}, gotIDs); diff != "" {
		t.Errorf("PendingByID (-want +got):\n%s", diff)
	}
}
