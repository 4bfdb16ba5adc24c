package transport_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/transport"
)

func TestAttribution_CapSendsStrangersToOverflow(t *testing.T) {
	a := &transport.Attribution{MaxPeers: 2}
	steps := []struct {
		id string
		n  int64
	}{
		{"edge-a", 10}, {"edge-b", 20},
		{"edge-c", 3}, // over the cap
		{"edge-a", 5}, // tracked ids keep their series
		{"edge-d", 4}, // over the cap
		{"edge-b", 1},
	}
	for _, s := range steps {
		a.Add(s.id, s.n)
	}
	total, byPeer := a.Snapshot()
	want := map[string]int64{"edge-a": 15, "edge-b": 21, transport.OverflowPeer: 7}
	if diff := cmp.Diff(want, byPeer); diff != "" {
		t.Errorf("by peer (-want +got):\n%s", diff)
	}
	if total != 43 || a.Total() != 43 {
		t.Errorf("total = %d / Total() = %d, want 43", total, a.Total())
	}

	// Snapshot is a copy.
	byPeer["edge-a"] = 999
	if _, again := a.Snapshot(); again["edge-a"] != 15 {
		t.Errorf("editing a snapshot changed the counter to %d", again["edge-a"])
	}
}

func TestAttribution_ZeroValueUsesDefaultCap(t *testing.T) {
	var a transport.Attribution
	for i := range transport.DefaultMaxTrackedPeers + 3 {
		a.Add(fmt.Sprintf("p%d", i), 1)
	}
	_, byPeer := a.Snapshot()
	if got, want := len(byPeer), transport.DefaultMaxTrackedPeers+1; got != want {
		t.Errorf("%d series, want %d (the cap plus overflow)", got, want)
	}
	if got := byPeer[transport.OverflowPeer]; got != 3 {
		t.Errorf("overflow = %d, want 3", got)
	}
}

// Many goroutines, many identities, a small cap, under -race: every byte is
// counted once, in the total and in exactly one series, and the cap holds.
func TestAttribution_Concurrent(t *testing.T) {
	const (
		maxPeers   = 8
		identities = 40
		goroutines = 4 // per identity
		adds       = 250
	)
	a := &transport.Attribution{MaxPeers: maxPeers}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for id := range identities {
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range adds {
					a.Add(fmt.Sprintf("peer-%02d", id), 2)
				}
			}()
		}
	}
	close(start)
	wg.Wait()

	total, byPeer := a.Snapshot()
	const want = identities * goroutines * adds * 2
	if total != want {
		t.Errorf("total = %d, want %d", total, want)
	}
	var sum int64
	tracked := 0
	for id, n := range byPeer {
		sum += n
		if id != transport.OverflowPeer {
			tracked++
		}
	}
	if sum != total {
		t.Errorf("series sum to %d, total is %d", sum, total)
	}
	if tracked > maxPeers || tracked == 0 {
		t.Errorf("%d identities tracked, want 1..%d", tracked, maxPeers)
	}
	if byPeer[transport.OverflowPeer] == 0 {
		t.Errorf("no overflow with %d identities over a cap of %d", identities, maxPeers)
	}
}

// Well below the cap (80 adders could each hold a slot reservation at
// once; the cap is 100) there is nothing to race for: each identity's
// series holds exactly its bytes, however many connections add to it.
func TestAttribution_ConcurrentBelowCapIsExact(t *testing.T) {
	a := &transport.Attribution{MaxPeers: 100}
	var wg sync.WaitGroup
	for id := range 10 {
		for range 8 { // eight "connections" of the same peer
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					a.Add(fmt.Sprintf("peer-%d", id), int64(id+1))
				}
			}()
		}
	}
	wg.Wait()
	_, byPeer := a.Snapshot()
	want := map[string]int64{}
	for id := range 10 {
		want[fmt.Sprintf("peer-%d", id)] = int64(8 * 100 * (id + 1))
	}
	if diff := cmp.Diff(want, byPeer); diff != "" {
		t.Errorf("by peer (-want +got):\n%s", diff)
	}
}

// Identities racing for the last free slots must all get their own series.
func TestAttribution_ConcurrentAtTheCapNeverOverflows(t *testing.T) {
	for round := 0; round < 200; round++ {
		a := &transport.Attribution{MaxPeers: 4}
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.Add(fmt.Sprintf("peer-%d", g%4), 1)
			}()
		}
		wg.Wait()
		total, by := a.Snapshot()
		want := map[string]int64{"peer-0": 4, "peer-1": 4, "peer-2": 4, "peer-3": 4}
		if total != 16 || !cmp.Equal(want, by) {
			t.Fatalf("round %d: got total=%d by=%v, want 16 and %v", round, total, by, want)
		}
	}
}

// A restarted peer restores what it counted before: the series continue,
// restored identities hold their slots, and new ones are capped counting
// them.
func TestAttribution_Restore(t *testing.T) {
	a := &transport.Attribution{MaxPeers: 2}
	a.Restore(map[string]int64{"edge-a": 10, "edge-b": 20, "edge-c": 30, transport.OverflowPeer: 4})
	a.Add("edge-a", 1) // restored: keeps its series
	a.Add("edge-d", 5) // three restored identities already exceed the cap of 2
	total, byPeer := a.Snapshot()
	want := map[string]int64{"edge-a": 11, "edge-b": 20, "edge-c": 30, transport.OverflowPeer: 9}
	if diff := cmp.Diff(want, byPeer); diff != "" {
		t.Errorf("by peer after restore (-want +got):\n%s", diff)
	}
	if total != 70 {
		t.Errorf("total = %d, want 70", total)
	}

	b := &transport.Attribution{MaxPeers: 3}
	b.Restore(map[string]int64{transport.OverflowPeer: 7, "edge-a": 1})
	b.Add("edge-b", 2) // the overflow series took no slot: edge-b and edge-c fit
	b.Add("edge-c", 3)
	b.Add("edge-d", 4)
	_, byPeer = b.Snapshot()
	want = map[string]int64{"edge-a": 1, "edge-b": 2, "edge-c": 3, transport.OverflowPeer: 11}
	if diff := cmp.Diff(want, byPeer); diff != "" {
		t.Errorf("by peer with a restored overflow series (-want +got):\n%s", diff)
	}
}
