package relay

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// seedFor inserts n segments of size bytes for peer, due now.
func (f *fixture) seedFor(peer, prefix string, n, size int) []string {
	f.t.Helper()
	var segs []ledger.New
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		ids = append(ids, id)
		segs = append(segs, ledger.New{ID: id, TargetPeer: peer, Payload: make([]byte, size)})
	}
	if err := f.led.Insert(context.Background(), f.clock.Now(), segs...); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// 2,000 segments for peer-a that its 8 B burst can never pass, seeded
// before one for unlimited peer-b: peer-b's is delivered in the first cycle
// (they used to fill every batch of 1,024, and peer-b's never came up).
func TestExecutor_OversizeBacklogDoesNotStarveAnotherPeer(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.BatchSize = 1024
	f.lim.TrackPeer("peer-a", bandwidth.Settings{BytesPerSecond: 8, BurstBytes: 8}, bandwidth.Usage{})
	f.lim.TrackPeer("peer-b", bandwidth.Settings{}, bandwidth.Usage{})
	f.seedFor("peer-a", "a", 2000, 64)
	f.clock.Advance(time.Millisecond) // peer-b's is the newest: last in due order
	b := f.seedFor("peer-b", "b", 1, 64)

	res := f.cycle()
	if !slices.Equal(f.peer.delivered, b) {
		t.Fatalf("first cycle delivered %v, want peer-b's %v; result %+v", f.peer.delivered, b, res)
	}
	if res.Due != 1024 || res.Throttled != 1023 {
		t.Errorf("first cycle: %+v, want a full batch of 1024 with peer-a's 1023 throttled", res)
	}
	// peer-a's stay PENDING, unattempted, and are still counted as
	// throttled every cycle (the lab's S-D counts them).
	f.clock.Advance(f.exec.Tick)
	if res := f.cycle(); res.Throttled != 1024 || res.Delivered != 0 {
		t.Errorf("second cycle: %+v, want 1024 throttled", res)
	}
	if got := len(f.idsIn(ledger.Pending)); got != 2000 {
		t.Errorf("%d PENDING, want peer-a's 2000", got)
	}
}

// 20 segments for a 64 B/s peer-a ahead of one for unlimited peer-b, with
// a batch of 8: peer-b's goes in the first cycle (it used to wait for
// peer-a's to drain, 13 s).
func TestExecutor_ThrottledPeerDoesNotDelayAnother(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.BatchSize = 8
	f.lim.TrackPeer("peer-a", bandwidth.Settings{BytesPerSecond: 64}, bandwidth.Usage{})
	f.lim.TrackPeer("peer-b", bandwidth.Settings{}, bandwidth.Usage{})
	a := f.seedFor("peer-a", "a", 20, 64)
	f.clock.Advance(time.Millisecond)
	b := f.seedFor("peer-b", "b", 1, 64)

	res := f.cycle()
	if !slices.Contains(f.peer.delivered, b[0]) {
		t.Fatalf("first cycle delivered %v, want peer-b's %s among them; result %+v", f.peer.delivered, b[0], res)
	}
	if want := []string{a[0], b[0]}; !slices.Equal(sortedCopy(f.peer.delivered), want) {
		t.Errorf("first cycle delivered %v, want %v (peer-a's first passes its burst)", f.peer.delivered, want)
	}
	// peer-a's keep going one per second, in order.
	for i := 1; i < 20; i++ {
		f.clock.Advance(time.Second)
		f.cycle()
	}
	if got := len(f.idsIn(ledger.Delivered)); got != 21 {
		t.Errorf("%d delivered after 20 s, want all 21", got)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
