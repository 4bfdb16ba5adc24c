package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// together is a Deliverer that holds every delivery until n of them are
// under way at once (or, with fewer left, until all that remain are),
// then lets them all end: it proves deliveries overlap, and keeps them
// overlapping while later segments are admitted.
type together struct {
	mu       sync.Mutex
	n        int
	left     int // deliveries still to come
	group    int // arrived since the last release
	under    int // under way
	release  chan struct{}
	seen     map[string]int
	failing  map[string]bool
	max      int   // most deliveries under way at once
	bytes    int64 // payload bytes under way
	maxBytes int64
	payloads map[string][]byte // what each segment must carry; nil: not checked
	wrong    []string
	before   func(ledger.Segment) // runs as a delivery starts
}

func newTogether(n, total int) *together {
	return &together{n: n, left: total, release: make(chan struct{}), seen: map[string]int{}, failing: map[string]bool{}}
}

func (g *together) Deliver(_ context.Context, seg ledger.Segment, payload *io.SectionReader) error {
	got, err := io.ReadAll(payload)
	if err != nil {
		return err
	}
	if g.before != nil {
		g.before(seg)
	}
	g.mu.Lock()
	g.seen[seg.ID]++
	if want, ok := g.payloads[seg.ID]; ok && !bytes.Equal(want, got) {
		g.wrong = append(g.wrong, seg.ID)
	}
	g.under++
	g.max = max(g.max, g.under)
	g.bytes += int64(len(got))
	g.maxBytes = max(g.maxBytes, g.bytes)
	g.left--
	g.group++
	release := g.release
	if g.group >= g.n || g.left <= 0 {
		close(g.release)
		g.release = make(chan struct{})
		g.group = 0
	}
	g.mu.Unlock()
	<-release
	g.mu.Lock()
	g.under--
	g.bytes -= int64(len(got))
	fail := g.failing[seg.ID]
	g.mu.Unlock()
	if fail {
		return errors.New("peer refused")
	}
	return nil
}

// Many segments, many deliveries at once: each delivered exactly once,
// marked DELIVERED once, and the quota usage persisted equals their bytes.
func TestExecutor_InFlightDeliversEachOnce(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 1 << 30}, 3)
	f.exec.InFlight, f.exec.BatchSize = 16, 1000
	ids := f.seed("many", 500, 100)
	g := newTogether(16, len(ids))
	f.exec.Deliverer = g
	res := f.cycle()
	if res.Delivered != 500 || res.Failed != 0 {
		t.Fatalf("cycle: got %+v, want 500 delivered", res)
	}
	if g.max != 16 {
		t.Errorf("deliveries under way at once: got at most %d, want 16", g.max)
	}
	for _, id := range ids {
		if g.seen[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, g.seen[id])
		}
	}
	if diff := cmp.Diff(ids, f.idsIn(ledger.Delivered)); diff != "" {
		t.Errorf("DELIVERED (-want +got):\n%s", diff)
	}
	st := f.lim.Stats().Global
	u, err := f.led.Usage(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedBytes != 50000 || st.Usage.UsedBytes != 50000 || !u.WindowStart.Equal(st.Usage.WindowStart) {
		t.Errorf("usage: persisted %+v, limiter %+v; want 50000 bytes in both, same window", u, st.Usage)
	}
}

// With a quota in force, deliveries in flight decide nothing that one at a
// time would have decided otherwise: a segment that only a failing
// delivery's reservation keeps out waits for that delivery to end.
func TestExecutor_InFlightQuotaDecidesAsOneAtATime(t *testing.T) {
	tests := []struct {
		name   string
		global bandwidth.Settings
		peer   bandwidth.Settings
		cause  string
	}{
		{"global quota", bandwidth.Settings{DailyQuotaBytes: 192}, bandwidth.Settings{}, "quota exceeded"},
		{"peer quota", bandwidth.Settings{}, bandwidth.Settings{DailyQuotaBytes: 192}, "quota exceeded (daily quota of peer peer-a)"},
	}
	for _, tt := range tests {
		for _, inFlight := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/in flight %d", tt.name, inFlight), func(t *testing.T) {
				f := newFixture(t, tt.global, 3)
				f.lim.TrackPeer("peer-a", tt.peer, bandwidth.Usage{})
				f.exec.InFlight = inFlight
				ids := f.seed("sc", 6, 64)
				// Three at once: -001 (which fails), -002 and -003 are
				// under way when -004 comes up against the quota.
				g := newTogether(min(inFlight, 3), 4)
				g.failing[ids[0]] = true
				f.exec.Deliverer = g
				res := f.cycle()
				if res.Delivered != 3 || res.Failed != 3 {
					t.Fatalf("cycle: got %+v, want 3 delivered and 3 failed", res)
				}
				if diff := cmp.Diff(ids[1:4], f.idsIn(ledger.Delivered)); diff != "" {
					t.Errorf("DELIVERED (-want +got):\n%s", diff)
				}
				want := map[string]string{ids[0]: "peer refused", ids[4]: tt.cause, ids[5]: tt.cause}
				for id, cause := range want {
					if s := f.segment(id); s.State != ledger.Pending || s.Attempts != 1 || s.LastError != cause {
						t.Errorf("%s: got %s attempts=%d %q, want PENDING 1 %q", id, s.State, s.Attempts, s.LastError, cause)
					}
				}
				st := f.lim.Stats()
				if st.Global.QuotaDropCount != 2 || st.Peers["peer-a"].Usage.UsedBytes != 192 || st.Global.Usage.UsedBytes != 192 {
					t.Errorf("limiter: got %d quota drops, used %d (peer %d), want 2 and 192",
						st.Global.QuotaDropCount, st.Global.Usage.UsedBytes, st.Peers["peer-a"].Usage.UsedBytes)
				}
			})
		}
	}
}

// Payloads above the inline size are read as their delivery starts, and
// the payload bytes under way stay within InFlightBytes.
func TestExecutor_LargePayloadsReadAtDelivery(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.InFlight, f.exec.InlineBytes, f.exec.InFlightBytes = 8, 100, 1000
	var segs []ledger.New
	payloads := map[string][]byte{}
	for i := range 20 {
		id := fmt.Sprintf("p-%02d", i)
		size := 50 + 300*(i%2) // inline and not, alternately
		payloads[id] = bytes.Repeat([]byte{byte('a' + i)}, size)
		segs = append(segs, ledger.New{ID: id, TargetPeer: "peer-a", Payload: payloads[id]})
	}
	if err := f.led.Insert(context.Background(), f.clock.Now(), segs...); err != nil {
		t.Fatal(err)
	}
	g := newTogether(2, len(segs))
	g.payloads = payloads
	f.exec.Deliverer = g
	if res := f.cycle(); res.Delivered != 20 {
		t.Fatalf("cycle: got %+v, want 20 delivered", res)
	}
	if len(g.wrong) > 0 {
		t.Errorf("delivered with the wrong payload: %v", g.wrong)
	}
	if g.maxBytes > 1000 {
		t.Errorf("payload bytes under way: got up to %d, want at most 1000", g.maxBytes)
	}
}

// A batch of outcomes that cannot be stored (a segment changed under the
// executor) is stored one by one: the others are recorded, the odd one
// is reported and not counted against the quota.
func TestExecutor_RecordsOneByOneWhenABatchFails(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 1000}, 3)
	f.exec.InFlight = 4
	ids := f.seed("x", 4, 10)
	g := newTogether(4, 4)
	g.before = func(seg ledger.Segment) {
		if seg.ID == ids[1] {
			// Someone else marks it meanwhile.
			if err := f.led.MarkDelivered(context.Background(), seg.ID, f.clock.Now(), nil); err != nil {
				t.Error(err)
			}
		}
	}
	f.exec.Deliverer = g
	res, err := f.exec.Cycle(context.Background())
	if err == nil || !strings.Contains(err.Error(), ids[1]) || !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("cycle error: got %v, want one naming %s, wrapping ErrNotFound", err, ids[1])
	}
	if res.Delivered != 3 {
		t.Errorf("cycle: got %+v, want 3 delivered", res)
	}
	if le := f.exec.LedgerError(); le != nil {
		t.Errorf("one segment changed under the executor made the ledger count as failing: %+v", le)
	}
	if diff := cmp.Diff(ids, f.idsIn(ledger.Delivered)); diff != "" {
		t.Errorf("DELIVERED (-want +got):\n%s", diff)
	}
	u, _ := f.led.Usage(context.Background(), "")
	if st := f.lim.Stats().Global; u.UsedBytes != 30 || st.Usage.UsedBytes != 30 {
		t.Errorf("usage: persisted %d, limiter %d; want 30 (the 3 this executor recorded)", u.UsedBytes, st.Usage.UsedBytes)
	}
}

// The lab scenarios in miniature give the same outcome, counters and
// persisted usage with deliveries in flight as one at a time (only the
// order in which the peer sees them may differ).
func TestExecutor_LabScenariosWithDeliveriesInFlight(t *testing.T) {
	type outcome struct {
		Delivered, Deadletter, Pending []string
		Throttles, QuotaDrops, Used    int64
		Cycles                         []CycleResult
	}
	run := func(t *testing.T, inFlight int, s bandwidth.Settings, maxRetry int, steps func(f *fixture) []CycleResult) outcome {
		f := newFixture(t, s, maxRetry)
		f.exec.InFlight = inFlight
		cycles := steps(f)
		for i := range cycles {
			cycles[i].At = cycles[i].At.UTC()
		}
		st := f.lim.Stats().Global
		return outcome{
			Delivered: f.idsIn(ledger.Delivered), Deadletter: f.idsIn(ledger.Deadletter), Pending: f.idsIn(ledger.Pending),
			Throttles: st.ThrottleCount, QuotaDrops: st.QuotaDropCount, Used: st.Usage.UsedBytes, Cycles: cycles,
		}
	}
	tests := []struct {
		name     string
		settings bandwidth.Settings
		maxRetry int
		steps    func(f *fixture) []CycleResult
	}{
		{"S-B rate 64 B/s", bandwidth.Settings{BytesPerSecond: 64}, 3, func(f *fixture) []CycleResult {
			f.seed("sb", 5, 64)
			var out []CycleResult
			for range 5 {
				out = append(out, f.cycle())
				f.clock.Advance(time.Second)
			}
			return out
		}},
		{"S-C quota 128 B", bandwidth.Settings{DailyQuotaBytes: 128}, 3, func(f *fixture) []CycleResult {
			f.seed("sc", 6, 64)
			var out []CycleResult
			for _, wait := range []time.Duration{time.Second, 2 * time.Second, 0} {
				out = append(out, f.cycle())
				f.clock.Advance(wait)
			}
			return out
		}},
		{"S-D blocked then unlimited", bandwidth.Settings{BytesPerSecond: 8}, 5, func(f *fixture) []CycleResult {
			f.seed("sd", 6, 64)
			out := []CycleResult{f.cycle()}
			f.clock.Advance(time.Second)
			out = append(out, f.cycle())
			f.lim.SetGlobal(bandwidth.Settings{})
			return append(out, f.cycle())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := run(t, 1, tt.settings, tt.maxRetry, tt.steps)
			got := run(t, 8, tt.settings, tt.maxRetry, tt.steps)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("8 in flight against 1 (-one at a time +in flight):\n%s", diff)
			}
		})
	}
}

// concurrency is a Deliverer that counts the deliveries under way at once
// without holding any.
type concurrency struct {
	mu         sync.Mutex
	under, max int
	order      []string
}

func (c *concurrency) Deliver(_ context.Context, seg ledger.Segment, _ *io.SectionReader) error {
	c.mu.Lock()
	c.under++
	c.max = max(c.max, c.under)
	c.order = append(c.order, seg.ID)
	c.mu.Unlock()
	c.mu.Lock()
	c.under--
	c.mu.Unlock()
	return nil
}

// A cycle of few segments delivers them one at a time, in ledger order; a
// backlog goes several at a time.
func TestExecutor_FewSegmentsGoInOrder(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.InFlight, f.exec.OrderedUpTo = 8, 5
	ids := f.seed("few", 5, 10)
	c := &concurrency{}
	f.exec.Deliverer = c
	if res := f.cycle(); res.Delivered != 5 {
		t.Fatalf("cycle: got %+v, want 5 delivered", res)
	}
	if diff := cmp.Diff(ids, c.order); diff != "" || c.max != 1 {
		t.Errorf("5 due (OrderedUpTo 5): got at most %d at once, order (-want +got):\n%s", c.max, diff)
	}
	more := f.seed("many", 6, 10)
	g := newTogether(2, len(more))
	f.exec.Deliverer = g
	if res := f.cycle(); res.Delivered != 6 {
		t.Fatalf("cycle: got %+v, want 6 delivered", res)
	}
	if g.max < 2 {
		t.Errorf("6 due (OrderedUpTo 5): got at most %d at once, want several", g.max)
	}
}

// At most InFlight segments are ever admitted and not yet recorded: what
// a crash at any moment can leave delivered but not DELIVERED, to be
// delivered again after a restart.
func TestExecutor_AtMostInFlightUnrecorded(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.InFlight, f.exec.BatchSize = 8, 1000
	f.seed("w", 300, 10)
	var mu sync.Mutex
	started, worst := 0, 0
	f.exec.Deliverer = DeliverFunc(func(ctx context.Context, seg ledger.Segment, _ *io.SectionReader) error {
		mu.Lock()
		started++
		n := started
		mu.Unlock()
		counts, err := f.led.Counts(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		worst = max(worst, n-int(counts[ledger.Delivered]))
		mu.Unlock()
		return nil
	})
	if res := f.cycle(); res.Delivered != 300 {
		t.Fatalf("cycle: got %+v, want 300 delivered", res)
	}
	if worst > 8 {
		t.Errorf("admitted and not recorded at once: got up to %d, want at most 8 (InFlight)", worst)
	}
}

// After a full batch the next cycle starts at once only if the batch moved
// segments on; a full batch of deferred segments waits for the tick (or
// the tokens) rather than reading the same batch again and again.
func TestExecutor_FullBatchOfDeferredSegmentsWaits(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{BytesPerSecond: 8}, 3)
	f.exec.BatchSize = 4
	tests := []struct {
		name string
		res  CycleResult
		want time.Duration
	}{
		{"full batch, all deferred", CycleResult{Due: 4, Throttled: 4}, time.Second},
		{"full batch, some delivered", CycleResult{Due: 4, Throttled: 2, Delivered: 2}, 0},
		{"full batch, some failed", CycleResult{Due: 4, Throttled: 3, Failed: 1}, 0},
		{"short batch", CycleResult{Due: 3, Delivered: 3}, time.Second},
	}
	for _, tt := range tests {
		tt.res.At = f.clock.Now()
		if got := f.exec.untilNext(context.Background(), tt.res); got != tt.want {
			t.Errorf("%s: wait %v, want %v", tt.name, got, tt.want)
		}
	}
}
