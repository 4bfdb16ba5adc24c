package relay

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// readCounter counts the rows a cycle reads from the ledger.
type readCounter struct {
	*ledger.Ledger
	rows int
}

func (c *readCounter) DueBatchExcept(ctx context.Context, now time.Time, limit int, inline int64, skip func(string) bool) ([]ledger.Segment, error) {
	segs, err := c.Ledger.DueBatchExcept(ctx, now, limit, inline, skip)
	c.rows += len(segs)
	return segs, err
}

func (c *readCounter) PendingByID(ctx context.Context, ids []string, inline int64) (map[string]ledger.Segment, error) {
	segs, err := c.Ledger.PendingByID(ctx, ids, inline)
	c.rows += len(segs)
	return segs, err
}

// drain runs cycles, moving the clock to each one's wake-up, until nothing
// is PENDING or max cycles ran.
func (f *fixture) drain(max int) (cycles int) {
	f.t.Helper()
	for cycles < max {
		res := f.cycle()
		cycles++
		if len(f.idsIn(ledger.Pending)) == 0 {
			return cycles
		}
		if d := f.exec.untilNext(context.Background(), res); d > 0 {
			f.clock.Advance(d)
		}
	}
	return cycles
}

// A throttled segment costs O(1) until its tokens are due (issue #17):
// behind a rate limit, a backlog is read and looked at about once per
// segment, not once per cycle, and still delivered in order at the rate.
func TestExecutor_ThrottledSegmentIsLookedAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		settings bandwidth.Settings
		peer     *bandwidth.Settings // peer-a's own limit, if any
		n, size  int
	}{
		{"global 1 KiB/s, burst 1 segment", bandwidth.Settings{BytesPerSecond: 1024, BurstBytes: 256}, nil, 200, 256},
		{"global 64 KiB/s, 16 segments of burst", bandwidth.Settings{BytesPerSecond: 64 << 10}, nil, 300, 4096},
		{"peer-a's own 1 KiB/s", bandwidth.Settings{}, &bandwidth.Settings{BytesPerSecond: 1024, BurstBytes: 1024}, 100, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.settings, 3)
			if tt.peer != nil {
				f.lim.TrackPeer("peer-a", *tt.peer, bandwidth.Usage{})
			}
			store := &readCounter{Ledger: f.led}
			f.exec.Ledger = store
			f.exec.BatchSize = 1024
			start := f.clock.Now()
			ids := f.seed("q", tt.n, tt.size)

			cycles := f.drain(10 * tt.n)
			if diff := cmp.Diff(ids, f.peer.delivered); diff != "" {
				t.Fatalf("delivered after %d cycles (-want +got):\n%s", cycles, diff)
			}
			st := f.lim.Stats().Global
			burst := tt.settings.Burst()
			if tt.peer != nil {
				burst = tt.peer.Burst()
			}
			firstTick := int(burst) / tt.size // the full bucket's
			// Each throttled segment is looked at when first read, and again
			// only when its tokens are due: once more at most.
			if got, most := st.ThrottleCount, int64(tt.n-firstTick); got > most {
				t.Errorf("throttle_count %d, want at most %d (each deferred segment once)", got, most)
			}
			if got, most := store.rows, 2*tt.n+2; got > most {
				t.Errorf("rows read %d over %d cycles, want at most %d (each segment about twice)", got, cycles, most)
			}
			// Still at the rate: the last delivered no later than
			// maxCoalesce after its tokens were due.
			rate := tt.settings.BytesPerSecond
			if tt.peer != nil {
				rate = tt.peer.BytesPerSecond
			}
			ideal := time.Duration(float64(int64(tt.n*tt.size)-burst) / float64(rate) * float64(time.Second))
			if took := f.clock.Now().Sub(start); took > ideal+maxCoalesce+time.Millisecond {
				t.Errorf("the backlog took %v, want at most %v (rate × bytes beyond the burst) + %v", took, ideal, maxCoalesce)
			}
		})
	}
}

// What the deferrals must not change: a settings change makes every
// deferred segment looked at again at once; a deferred segment another
// process changed meanwhile is not delivered; segments for another target
// are read as usual; oversize segments are looked at in every cycle.
func TestExecutor_Deferrals(t *testing.T) {
	t.Run("a settings change forgets them", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 64}, 3)
		ids := f.seed("sb", 5, 64)
		if res := f.cycle(); res.Delivered != 1 || res.Throttled != 4 {
			t.Fatalf("first cycle: %+v, want 1 delivered, 4 throttled", res)
		}
		f.lim.SetGlobal(bandwidth.Settings{})
		if res := f.cycle(); res.Delivered != 4 {
			t.Fatalf("after lifting the rate, no time passed: %+v, want the 4 deferred delivered", res)
		}
		if diff := cmp.Diff(ids, f.peer.delivered); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
	t.Run("one changed meanwhile is left out", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 64}, 3)
		ids := f.seed("sb", 3, 64)
		f.cycle()
		if err := f.led.MarkDelivered(context.Background(), ids[1], f.clock.Now(), nil); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if res := f.cycle(); res.Delivered != 0 || res.Due != 0 {
			t.Fatalf("cycle when %s was due: %+v, want nothing (it was delivered meanwhile)", ids[1], res)
		}
		f.clock.Advance(time.Second)
		if res := f.cycle(); res.Delivered != 1 {
			t.Fatalf("cycle when %s was due: %+v, want it delivered", ids[2], res)
		}
		if diff := cmp.Diff([]string{ids[0], ids[2]}, f.peer.delivered); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
	t.Run("another target is read as usual", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{}, 3)
		f.lim.TrackPeer("peer-a", bandwidth.Settings{BytesPerSecond: 64}, bandwidth.Usage{})
		f.seed("a", 3, 64) // peer-a
		f.cycle()
		if err := f.led.Insert(context.Background(), f.clock.Now(), ledger.New{ID: "b-001", TargetPeer: "peer-b", Payload: make([]byte, 64)}); err != nil {
			t.Fatal(err)
		}
		if res := f.cycle(); res.Delivered != 1 || res.Throttled != 0 {
			t.Fatalf("cycle after peer-b's segment arrived: %+v, want it delivered, peer-a's not looked at", res)
		}
	})
	t.Run("another target's handful still goes in order", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{}, 3)
		f.exec.InFlight, f.exec.OrderedUpTo = 8, 16
		f.lim.TrackPeer("peer-a", bandwidth.Settings{BytesPerSecond: 64}, bandwidth.Usage{})
		f.seed("a", 3, 64) // peer-a: 1 delivered, 2 deferred
		f.cycle()
		var ids []string
		var segs []ledger.New
		for i := 1; i <= 3; i++ {
			id := fmt.Sprintf("b-%03d", i)
			ids = append(ids, id)
			segs = append(segs, ledger.New{ID: id, TargetPeer: "peer-b", Payload: make([]byte, 64)})
		}
		if err := f.led.Insert(context.Background(), f.clock.Now(), segs...); err != nil {
			t.Fatal(err)
		}
		// Each delivery waits a little for a second one to overlap it:
		// one at a time, none does.
		o := &overlap{want: 2, wait: 100 * time.Millisecond}
		f.exec.Deliverer = o
		if res := f.cycle(); res.Delivered != 3 {
			t.Fatalf("cycle after peer-b's 3 arrived: %+v, want them delivered", res)
		}
		if o.max != 1 {
			t.Errorf("peer-b's 3 (%v), peer-a's deferred apart: got %d under way at once, want one at a time, in ledger order", ids, o.max)
		}
	})
	t.Run("a new segment waits behind the deferred ones", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 64}, 3)
		ids := f.seed("sb", 2, 64)
		f.cycle()
		f.clock.Advance(500 * time.Millisecond)
		small := ledger.New{ID: "sb-009", TargetPeer: "peer-a", Payload: make([]byte, 16)}
		if err := f.led.Insert(context.Background(), f.clock.Now(), small); err != nil {
			t.Fatal(err)
		}
		if res := f.cycle(); res.Due != 0 {
			t.Fatalf("cycle before %s is due: %+v, want nothing read (the new one is behind it)", ids[1], res)
		}
		f.clock.Advance(500 * time.Millisecond)
		f.drain(10)
		if diff := cmp.Diff(append(ids, small.ID), f.peer.delivered); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
	t.Run("a slice of a deferred backlog goes several at a time", func(t *testing.T) {
		// 1 KiB/s, burst 1 KiB: 16 of 100 × 64 B pass at once, the rest
		// come due one every 62.5 ms. A cycle 250 ms later takes 4 of
		// them, fewer than OrderedUpTo, with 80 still deferred: not one
		// at a time (which would cap the rate at a round trip a segment).
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 1024}, 3)
		f.exec.InFlight, f.exec.OrderedUpTo = 8, 16
		f.seed("q", 100, 64)
		if res := f.cycle(); res.Delivered != 16 {
			t.Fatalf("first cycle: %+v, want the burst's 16 delivered", res)
		}
		f.clock.Advance(250 * time.Millisecond)
		o := &overlap{want: 2, wait: 5 * time.Second}
		f.exec.Deliverer = o
		if res := f.cycle(); res.Delivered != 4 || res.Throttled != 0 {
			t.Fatalf("cycle at +250ms: %+v, want the 4 due delivered", res)
		}
		if o.max < 2 {
			t.Errorf("4 deferred segments due, 80 behind them: got at most %d under way at once, want several", o.max)
		}
	})
	t.Run("deliveries that take time do not slow the rate", func(t *testing.T) {
		// 10 KiB/s, burst 10 KiB: after the burst a 64 B segment comes
		// due every 6.25 ms, and a cycle wakes up to 25 ms late to take
		// several. Each delivery takes 3 ms of the clock, so a cycle ends
		// after the first segment behind it came due: that must not move
		// the queue back to the cycle's end every cycle (which cost 14 %
		// of the rate at 10 MiB/s to the lab peer).
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 10240}, 3)
		f.exec.InFlight = 1
		f.peer.during = func() { f.clock.Advance(3 * time.Millisecond) }
		start := f.clock.Now()
		f.seed("q", 600, 64)
		f.drain(6000)
		ideal := time.Duration(float64(600*64-10240) / 10240 * float64(time.Second))
		if took := f.clock.Now().Sub(start); took > ideal+ideal/50 {
			t.Errorf("600 × 64 B at 10 KiB/s with 3 ms deliveries took %v, want at most %v + 2 %%", took, ideal)
		}
	})
	t.Run("oversize segments are looked at in every cycle", func(t *testing.T) {
		f := newFixture(t, bandwidth.Settings{BytesPerSecond: 8}, 5)
		f.seed("sd", 6, 64)
		for i := range 3 {
			if res := f.cycle(); res.Throttled != 6 || !res.RetryAt.IsZero() {
				t.Fatalf("cycle %d: %+v, want all 6 throttled, no retry moment", i, res)
			}
			f.clock.Advance(time.Second)
		}
		if got := f.lim.Stats().Global.ThrottleCount; got != 18 {
			t.Errorf("throttle_count %d, want 18 (6 a cycle)", got)
		}
	})
}

// overlap is a Deliverer that holds each delivery until want are under way
// at once or wait has passed, and records the most under way.
type overlap struct {
	want int
	wait time.Duration

	mu         sync.Mutex
	under, max int
}

func (o *overlap) Deliver(context.Context, ledger.Segment, *io.SectionReader) error {
	o.mu.Lock()
	o.under++
	o.max = max(o.max, o.under)
	o.mu.Unlock()
	deadline := time.Now().Add(o.wait)
	for {
		o.mu.Lock()
		enough := o.max >= o.want
		o.mu.Unlock()
		if enough || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	o.mu.Lock()
	o.under--
	o.mu.Unlock()
	return nil
}
