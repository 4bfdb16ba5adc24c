package relay

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// errDiskFull stands for SQLITE_FULL.
var errDiskFull = errors.New("database or disk is full")

// failingStore is the ledger with Record (and, unless probeOK, Probe)
// failing while failing is set: a full disk.
type failingStore struct {
	*ledger.Ledger
	mu      sync.Mutex
	failing bool
	probeOK bool
	records int // Record calls
	probes  int // Probe calls
}

func (s *failingStore) set(failing, probeOK bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing, s.probeOK = failing, probeOK
}

func (s *failingStore) Record(ctx context.Context, at time.Time, o ledger.Outcomes) error {
	s.mu.Lock()
	s.records++
	failing := s.failing
	s.mu.Unlock()
	if failing {
		return errDiskFull
	}
	return s.Ledger.Record(ctx, at, o)
}

func (s *failingStore) Probe(ctx context.Context, at time.Time) error {
	s.mu.Lock()
	s.probes++
	fail := s.failing && !s.probeOK
	s.mu.Unlock()
	if fail {
		return errDiskFull
	}
	return s.Ledger.Probe(ctx, at)
}

// countingPeer counts deliveries per segment.
type countingPeer struct {
	mu    sync.Mutex
	sends map[string]int
	total int
}

func (p *countingPeer) Deliver(_ context.Context, seg ledger.Segment, _ *io.SectionReader) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sends[seg.ID]++
	p.total++
	return nil
}

func (p *countingPeer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

func newFaultFixture(t *testing.T) (*fixture, *failingStore, *countingPeer) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	store := &failingStore{Ledger: f.led}
	peer := &countingPeer{sends: map[string]int{}}
	f.exec.Ledger = store
	f.exec.Deliverer = peer
	f.exec.InFlight = 4
	return f, store, peer
}

// While the ledger cannot record outcomes, the executor stops starting
// deliveries (it used to re-send its in-flight batch every cycle), shows
// the condition, probes with a cheap write on a backoff, and resumes once
// the ledger takes writes again.
func TestExecutor_LedgerFullStopsDeliveries(t *testing.T) {
	f, store, peer := newFaultFixture(t)
	ids := f.seed("full", 20, 64)
	store.set(true, false)
	start := f.clock.Now()

	if _, err := f.exec.Cycle(context.Background()); err == nil {
		t.Fatal("a cycle whose outcomes could not be recorded returned no error")
	}
	first := peer.count()
	if first == 0 || first > f.exec.InFlight+1 {
		t.Fatalf("first cycle delivered %d, want 1..%d (what was in flight when recording failed)", first, f.exec.InFlight+1)
	}
	le := f.exec.LedgerError()
	if le == nil || !le.Since.Equal(start) || !strings.Contains(le.Message, errDiskFull.Error()) {
		t.Fatalf("ledger error after the failed cycle: %+v, want one since %v naming %q", le, start, errDiskFull)
	}
	// Sixty ticks of a full disk: nothing is sent again, and the probes
	// back off (far fewer than one per tick).
	for range 60 {
		f.clock.Advance(f.exec.Tick)
		f.exec.Cycle(context.Background())
	}
	if got := peer.count(); got != first {
		t.Errorf("%d deliveries during 60 ticks of a full ledger, want none after the first %d", got-first, first)
	}
	store.mu.Lock()
	probes := store.probes
	store.mu.Unlock()
	t.Logf("first cycle sent %d; 60 ticks of a full ledger: %d more sends, %d probes", first, peer.count()-first, probes)
	if probes == 0 || probes > 10 {
		t.Errorf("%d probes in 60 ticks, want a few (exponential backoff)", probes)
	}
	if le := f.exec.LedgerError(); le == nil || !le.Since.Equal(start) {
		t.Errorf("ledger error during the outage: %+v, want it still since %v", le, start)
	}
	if d := f.exec.untilNext(context.Background(), CycleResult{}); d <= f.exec.Tick {
		t.Errorf("next cycle in %v while backing off, want more than a tick", d)
	}

	// The disk has room again: within the backoff's cap everything goes.
	store.set(false, false)
	for i := 0; i < 120 && len(f.idsIn(ledger.Delivered)) < len(ids); i++ {
		f.clock.Advance(f.exec.Tick)
		if _, err := f.exec.Cycle(context.Background()); err != nil {
			t.Fatalf("cycle after recovery: %v", err)
		}
	}
	if got := len(f.idsIn(ledger.Delivered)); got != len(ids) {
		t.Fatalf("%d of %d delivered after recovery", got, len(ids))
	}
	if le := f.exec.LedgerError(); le != nil {
		t.Errorf("ledger error after recovery: %+v, want none", le)
	}
	// Each segment was sent at most twice: once before the outage was
	// seen, once after.
	for id, n := range peer.sends {
		if n > 2 {
			t.Errorf("segment %s sent %d times", id, n)
		}
	}
}

// A probe can pass while a batch of marks still cannot (a nearly full
// disk): the backoff keeps growing until a cycle records its outcomes, so
// the re-sends thin out instead of coming every tick.
func TestExecutor_LedgerFullProbePassesRecordFails(t *testing.T) {
	f, store, peer := newFaultFixture(t)
	f.seed("full", 20, 64)
	store.set(true, true)
	cycles := 0
	for range 120 {
		before := peer.count()
		f.exec.Cycle(context.Background())
		if peer.count() > before {
			cycles++
		}
		f.clock.Advance(f.exec.Tick)
	}
	t.Logf("120 ticks, probe passing, Record failing: %d cycles sent segments, %d sends in all", cycles, peer.count())
	// 1, 2, 4, 8, 16, 32, 60, 60 ticks apart: about 8 in two minutes.
	if cycles > 10 {
		t.Errorf("%d cycles sent segments in 120 ticks of a failing ledger, want at most 10", cycles)
	}
	if f.exec.LedgerError() == nil {
		t.Error("no ledger error while recording fails")
	}
}

// With one delivery at a time, the one waiting for room while the first's
// outcome fails to store is not sent: it could not be recorded either.
func TestExecutor_LedgerFailureStopsAdmissionAtOnce(t *testing.T) {
	f, store, peer := newFaultFixture(t)
	f.exec.InFlight = 1
	f.seed("one", 5, 64)
	store.set(true, false)
	if _, err := f.exec.Cycle(context.Background()); err == nil {
		t.Fatal("no error from a cycle that could not record")
	}
	if got := peer.count(); got != 1 {
		t.Errorf("%d sent in the cycle whose first outcome could not be recorded, want 1", got)
	}
}
