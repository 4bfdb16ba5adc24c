package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
	"edgelab/internal/fakeclock"
)

// recorder is a fake Deliverer that fails the ids in failing. during, when
// set, runs inside every delivery (a test moves its clock there).
type recorder struct {
	mu        sync.Mutex
	delivered []string
	failing   map[string]bool
	during    func()
}

func (r *recorder) Deliver(_ context.Context, seg ledger.Segment, _ *io.SectionReader) error {
	if r.during != nil {
		r.during()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing[seg.ID] {
		return errors.New("peer refused")
	}
	r.delivered = append(r.delivered, seg.ID)
	return nil
}

type fixture struct {
	t     *testing.T
	clock *fakeclock.Clock
	led   *ledger.Ledger
	lim   *bandwidth.Limits
	peer  *recorder
	exec  *Executor
}

func newFixture(t *testing.T, s bandwidth.Settings, maxRetry int) *fixture {
	t.Helper()
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	lim := bandwidth.NewLimits(s, bandwidth.Usage{}, clock.Now)
	peer := &recorder{failing: map[string]bool{}}
	return &fixture{t: t, clock: clock, led: led, lim: lim, peer: peer, exec: &Executor{
		Ledger: led, Limits: lim, Deliverer: peer, MaxRetry: maxRetry,
		BackoffBase: time.Second, Tick: time.Second, Now: clock.Now,
	}}
}

func (f *fixture) seed(prefix string, n int, size int) []string {
	f.t.Helper()
	var segs []ledger.New
	var ids []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		ids = append(ids, id)
		segs = append(segs, ledger.New{ID: id, TargetPeer: "peer-a", Payload: make([]byte, size)})
	}
	if err := f.led.Insert(context.Background(), f.clock.Now(), segs...); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

func (f *fixture) cycle() CycleResult {
	f.t.Helper()
	res, err := f.exec.Cycle(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *fixture) segment(id string) ledger.Segment {
	f.t.Helper()
	s, err := f.led.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) idsIn(state ledger.State) []string {
	f.t.Helper()
	all, err := f.led.List(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	ids := []string{}
	for _, s := range all {
		if s.State == state {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestExecutor_BackoffThenDeadletter(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.seed("seg", 1, 64)
	f.peer.failing["seg-001"] = true
	start := f.clock.Now()

	// Attempt 1 fails: due again 1 s later.
	if got := f.cycle(); got.Failed != 1 {
		t.Fatalf("cycle 1: got %+v, want 1 failed", got)
	}
	s := f.segment("seg-001")
	if s.Attempts != 1 || s.State != ledger.Pending || !s.NextAttemptAt.Equal(start.Add(time.Second)) || s.LastError != "peer refused" {
		t.Fatalf("after attempt 1: got %+v", s)
	}
	// Not due before the backoff has passed.
	f.clock.Advance(999 * time.Millisecond)
	if got := f.cycle(); got.Due != 0 {
		t.Fatalf("before backoff: got %d due, want 0", got.Due)
	}
	if got := f.exec.untilNext(context.Background(), CycleResult{}); got != time.Millisecond {
		t.Fatalf("wait for the backoff: got %v, want 1ms", got)
	}
	// A backoff that expired while a cycle (begun before it) ran is not
	// left waiting for the next tick.
	if got := f.exec.untilNext(context.Background(), CycleResult{At: f.clock.Now()}); got != time.Millisecond {
		t.Fatalf("wait for the backoff: got %v, want 1ms", got)
	}
	f.clock.Advance(5 * time.Millisecond)
	if got := f.exec.untilNext(context.Background(), CycleResult{At: f.clock.Now().Add(-5 * time.Millisecond)}); got != 0 {
		t.Fatalf("backoff expired during the cycle: got a wait of %v, want 0", got)
	}
	f.clock.Advance(-5 * time.Millisecond)
	// Attempt 2 fails: due again 2 s later.
	f.clock.Advance(time.Millisecond)
	f.cycle()
	s = f.segment("seg-001")
	if want := start.Add(3 * time.Second); s.Attempts != 2 || !s.NextAttemptAt.Equal(want) {
		t.Fatalf("after attempt 2: got attempts=%d next=%v, want 2 and %v", s.Attempts, s.NextAttemptAt, want)
	}
	// Attempt 3 = max_retry_count: DEADLETTER.
	f.clock.Advance(2 * time.Second)
	if got := f.cycle(); got.Deadletter != 1 {
		t.Fatalf("cycle 3: got %+v, want 1 deadletter", got)
	}
	s = f.segment("seg-001")
	if s.State != ledger.Deadletter || s.Attempts != 3 {
		t.Fatalf("after attempt 3: got state=%s attempts=%d, want DEADLETTER 3", s.State, s.Attempts)
	}
	f.clock.Advance(time.Hour)
	if got := f.cycle(); got.Due != 0 {
		t.Fatalf("a deadlettered segment came due again: %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	const maxInt = time.Duration(math.MaxInt64)
	for _, tt := range []struct {
		base    time.Duration
		k       int
		maxWait time.Duration
		want    time.Duration
	}{
		{time.Second, 1, time.Hour, time.Second},
		{time.Second, 2, time.Hour, 2 * time.Second},
		{time.Second, 3, time.Hour, 4 * time.Second},
		{time.Second, 5, time.Hour, 16 * time.Second},
		{time.Second, 0, time.Hour, time.Second},
		{time.Second, 12, time.Hour, 2048 * time.Second},
		{time.Second, 13, time.Hour, time.Hour},
		// The cases that overflowed: 5 s at k=32 went negative, 1 h at
		// k=22 landed in 2266, which the ledger read back as 1681.
		{5 * time.Second, 32, time.Hour, time.Hour},
		{5 * time.Second, 32, 0, maxInt},
		{time.Hour, 22, time.Hour, time.Hour},
		{time.Hour, 22, 0, 2097152 * time.Hour}, // fits; after() saturates the moment
		{time.Hour, 23, 0, maxInt},
		{time.Hour, 1_000_000, 30 * 24 * time.Hour, 30 * 24 * time.Hour},
		{24 * time.Hour, 1_000_000, 0, maxInt},
		{0, 40, time.Hour, 0},
		{2 * time.Hour, 1, time.Hour, time.Hour},
	} {
		got := Backoff(tt.base, tt.k, tt.maxWait)
		if got != tt.want {
			t.Errorf("Backoff(%v, %d, %v): got %v, want %v", tt.base, tt.k, tt.maxWait, got, tt.want)
		}
		if got < 0 {
			t.Errorf("Backoff(%v, %d, %v) is negative: %v", tt.base, tt.k, tt.maxWait, got)
		}
	}
}

func TestAfter_Saturates(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{time.Duration(math.MaxInt64), 250 * 365 * 24 * time.Hour} {
		got := after(now, d)
		if !got.Equal(maxLedgerTime) {
			t.Errorf("after(now, %v) = %v, want the ledger's last moment %v", d, got, maxLedgerTime)
		}
		if back := time.Unix(0, got.UnixNano()).UTC(); !back.Equal(got) {
			t.Errorf("after(now, %v) = %v reads back from nanoseconds as %v", d, got, back)
		}
	}
	if got := after(now, time.Hour); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("after(now, 1h) = %v", got)
	}
}

// A segment failing for the 22nd time with a base of an hour waits the
// cap, not centuries (nor, read back from the ledger, nothing).
func TestExecutor_BackoffCappedInLedger(t *testing.T) {
	for _, tt := range []struct {
		base, maxWait time.Duration
		attempts      int
		want          time.Duration
	}{
		{time.Hour, 0, 21, DefaultMaxBackoff},
		{5 * time.Second, 0, 31, DefaultMaxBackoff},
		{time.Hour, 90 * time.Minute, 21, 90 * time.Minute},
	} {
		f := newFixture(t, bandwidth.Settings{}, 1_000_000)
		f.exec.BackoffBase = tt.base
		f.exec.MaxBackoff = tt.maxWait
		ctx := context.Background()
		id := f.seed("s", 1, 8)[0]
		f.peer.failing[id] = true
		if err := f.led.MarkFailed(ctx, id, tt.attempts, f.clock.Now(), "earlier", false, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		if got := f.cycle(); got.Failed != 1 {
			t.Fatalf("cycle: %+v, want one failed attempt", got)
		}
		s := f.segment(id)
		if want := now.Add(tt.want); !s.NextAttemptAt.Equal(want) {
			t.Errorf("base %v, attempt %d: next_attempt_at %v, want %v (now + %v)", tt.base, tt.attempts+1, s.NextAttemptAt, want, tt.want)
		}
		if got := f.cycle(); got.Due != 0 {
			t.Errorf("base %v: the segment came due again at once: %+v", tt.base, got)
		}
	}
}

// S-B in miniature: 5 × 64 B at 64 B/s. Each throttled segment is looked
// at (and counted) once, in the first cycle, and not again before the
// bucket could have given it and those ahead of it: one a second.
func TestExecutor_ThrottleIsNotAnAttempt(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{BytesPerSecond: 64}, 3)
	ids := f.seed("sb", 5, 64)

	wantThrottled := []int{4, 0, 0, 0, 0}
	for i, want := range wantThrottled {
		res := f.cycle()
		if res.Delivered != 1 || res.Throttled != want {
			t.Fatalf("cycle %d: got delivered=%d throttled=%d, want 1 and %d", i, res.Delivered, res.Throttled, want)
		}
		if i < len(wantThrottled)-1 {
			if wantAt := f.clock.Now().Add(time.Second); !res.RetryAt.Equal(wantAt) {
				t.Fatalf("cycle %d: retry at %v, want %v", i, res.RetryAt, wantAt)
			}
		}
		for _, id := range ids[i+1:] {
			if s := f.segment(id); s.Attempts != 0 || s.State != ledger.Pending {
				t.Fatalf("cycle %d: throttled %s has attempts=%d state=%s, want 0 PENDING", i, id, s.Attempts, s.State)
			}
		}
		f.clock.Advance(time.Second)
	}
	if diff := cmp.Diff(ids, f.peer.delivered); diff != "" {
		t.Fatalf("delivery order (-want +got):\n%s", diff)
	}
	st := f.lim.Stats().Global
	if st.ThrottleCount != 4 || st.QuotaDropCount != 0 {
		t.Fatalf("counters: got throttle=%d quota=%d, want 4 and 0", st.ThrottleCount, st.QuotaDropCount)
	}
}

// S-C in miniature: quota 128 B, 6 × 64 B, max_retry_count 3.
func TestExecutor_QuotaDropsFailAttempts(t *testing.T) {
	// Room for ok, quota-001 and bad (whose failures return their
	// reservation), not for quota-002 too.
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 144}, 3)
	ids := f.seed("sc", 6, 64)
	f.cycle()
	f.clock.Advance(time.Second)
	f.cycle()
	f.clock.Advance(2 * time.Second)
	f.cycle()

	if diff := cmp.Diff(ids[:2], f.idsIn(ledger.Delivered)); diff != "" {
		t.Fatalf("delivered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ids[2:], f.idsIn(ledger.Deadletter)); diff != "" {
		t.Fatalf("deadletter (-want +got):\n%s", diff)
	}
	for _, id := range ids[2:] {
		if s := f.segment(id); s.LastError != "quota exceeded" || s.Attempts != 3 {
			t.Fatalf("%s: got last_error=%q attempts=%d, want quota exceeded and 3", id, s.LastError, s.Attempts)
		}
	}
	st := f.lim.Stats().Global
	if st.QuotaDropCount != 12 || st.Usage.UsedBytes != 128 {
		t.Fatalf("got quota drops=%d used=%d, want 12 and 128", st.QuotaDropCount, st.Usage.UsedBytes)
	}
	// The usage is persisted with the DELIVERED marks.
	u, err := f.led.Usage(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if u.UsedBytes != 128 || !u.WindowStart.Equal(st.Usage.WindowStart) {
		t.Fatalf("persisted usage: got %+v, want %+v", u, st.Usage)
	}
}

// S-D in miniature: blocked at 8 B/s for whole cycles, released live.
func TestExecutor_HotReloadReleasesBlocked(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{BytesPerSecond: 8}, 5)
	ids := f.seed("sd", 6, 64)
	for i := 0; i < 3; i++ {
		res := f.cycle()
		if res.Throttled != 6 || res.Delivered != 0 || !res.RetryAt.IsZero() {
			t.Fatalf("blocked cycle %d: got %+v, want 6 throttled, none delivered, no retry time", i, res)
		}
		f.clock.Advance(time.Second)
	}
	if got := f.exec.LastCycleThrottled(); got != 6 {
		t.Fatalf("last cycle throttled: got %d, want 6", got)
	}
	// Blocked segments stay due, yet the executor waits a whole tick
	// between cycles rather than spinning on them.
	if got := f.exec.untilNext(context.Background(), CycleResult{At: f.clock.Now(), Due: 6, Throttled: 6}); got != time.Second {
		t.Fatalf("wait after a blocked cycle: got %v, want the 1s tick", got)
	}
	f.lim.SetGlobal(bandwidth.Settings{})
	if res := f.cycle(); res.Delivered != 6 {
		t.Fatalf("after reload: got %+v, want 6 delivered", res)
	}
	if diff := cmp.Diff(ids, f.idsIn(ledger.Delivered)); diff != "" {
		t.Fatalf("delivered (-want +got):\n%s", diff)
	}
	for _, id := range ids {
		if s := f.segment(id); s.Attempts != 1 {
			t.Fatalf("%s: attempts %d, want 1 (throttles are not attempts)", id, s.Attempts)
		}
	}
	if got := f.exec.Cycles(); got != 4 {
		t.Fatalf("cycles: got %d, want 4", got)
	}
}

// A shutdown during a delivery abandons it without counting an attempt.
func TestExecutor_ShutdownAbandonsWithoutAttempt(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 64}, 3)
	f.seed("x", 1, 64)
	ctx, cancel := context.WithCancel(context.Background())
	f.exec.Deliverer = DeliverFunc(func(ctx context.Context, _ ledger.Segment, _ *io.SectionReader) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if _, err := f.exec.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	s := f.segment("x-001")
	if s.State != ledger.Pending || s.Attempts != 0 {
		t.Fatalf("abandoned delivery: got state=%s attempts=%d, want PENDING 0", s.State, s.Attempts)
	}
	// Its quota reservation was returned.
	f.exec.Deliverer = f.peer
	if res := f.cycle(); res.Delivered != 1 {
		t.Fatalf("redelivery after shutdown: got %+v, want 1 delivered", res)
	}
}

// Segments inserted by another process start a cycle before the tick.
func TestExecutor_NoticesInsertsBeforeTheTick(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.exec.Now = nil // Run waits on real timers
	f.exec.Tick = time.Hour
	f.exec.InsertPoll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.exec.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.exec.Cycles() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	other, err := ledger.Open(f.led.Path()) // a second connection, as setup seed has
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Insert(ctx, time.Now(), ledger.New{ID: "late-001", TargetPeer: "peer-a"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for time.Now().Before(deadline) {
		f.peer.mu.Lock()
		got = append([]string(nil), f.peer.delivered...)
		f.peer.mu.Unlock()
		if len(got) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff([]string{"late-001"}, got); diff != "" {
		t.Fatalf("delivered within the 1h tick (-want +got):\n%s", diff)
	}
	cancel()
	<-done
}

// seedInterleaved inserts n segments for each peer, due now, ids ordered so
// that the peers alternate in the cycle: seg-01-<peer[0]>, seg-01-<peer[1]>, …
func (f *fixture) seedInterleaved(n, size int, peers ...string) map[string][]string {
	f.t.Helper()
	ids := map[string][]string{}
	var segs []ledger.New
	for i := 1; i <= n; i++ {
		for _, p := range peers {
			id := fmt.Sprintf("seg-%02d-%s", i, p)
			ids[p] = append(ids[p], id)
			segs = append(segs, ledger.New{ID: id, TargetPeer: p, Payload: make([]byte, size)})
		}
	}
	if err := f.led.Insert(context.Background(), f.clock.Now(), segs...); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// A segment throttled by its peer's limit defers only itself: the segments
// for another peer behind it in the same cycle are delivered.
func TestExecutor_PeerThrottleDoesNotBlockOtherPeers(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 3)
	f.lim.TrackPeer("peer-a", bandwidth.Settings{BytesPerSecond: 64}, bandwidth.Usage{})
	f.lim.TrackPeer("peer-b", bandwidth.Settings{}, bandwidth.Usage{})
	ids := f.seedInterleaved(3, 64, "peer-a", "peer-b")

	res := f.cycle()
	if res.Delivered != 4 || res.Throttled != 2 || !res.RetryAt.Equal(f.clock.Now().Add(time.Second)) {
		t.Fatalf("first cycle: got %+v, want 4 delivered (1 for a, 3 for b), 2 throttled, retry in 1s", res)
	}
	want := []string{ids["peer-a"][0], ids["peer-b"][0], ids["peer-b"][1], ids["peer-b"][2]}
	if diff := cmp.Diff(want, f.peer.delivered); diff != "" {
		t.Fatalf("delivered in the first cycle (-want +got):\n%s", diff)
	}
	for i := 1; i <= 2; i++ {
		f.clock.Advance(time.Second)
		// Deferred in the first cycle until their tokens are due: taken
		// then, one a second, and not looked at in between.
		if res := f.cycle(); res.Delivered != 1 || res.Throttled != 0 {
			t.Fatalf("cycle %d: got %+v, want 1 delivered, 0 throttled", i+1, res)
		}
	}
	st := f.lim.Stats()
	if a, b := st.Peers["peer-a"], st.Peers["peer-b"]; a.ThrottleCount != 2 || b.ThrottleCount != 0 || st.Global.ThrottleCount != 2 {
		t.Fatalf("throttle counts: got a=%d b=%d total=%d, want 2, 0, 2", a.ThrottleCount, b.ThrottleCount, st.Global.ThrottleCount)
	}
	for _, id := range ids["peer-a"] {
		if s := f.segment(id); s.State != ledger.Delivered || s.Attempts != 1 {
			t.Fatalf("%s: got %s after %d attempts, want DELIVERED after 1", id, s.State, s.Attempts)
		}
	}
}

// A per-peer quota drop is a failed attempt naming the peer; the usage of
// every scope is persisted with each DELIVERED mark.
func TestExecutor_PeerQuotaPersistedWithDelivery(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 1000}, 1)
	f.lim.TrackPeer("peer-a", bandwidth.Settings{DailyQuotaBytes: 128}, bandwidth.Usage{})
	f.lim.TrackPeer("peer-b", bandwidth.Settings{}, bandwidth.Usage{})
	ids := f.seedInterleaved(3, 64, "peer-a", "peer-b")
	start := f.clock.Now()

	if res := f.cycle(); res.Delivered != 5 || res.Deadletter != 1 {
		t.Fatalf("cycle: got %+v, want 5 delivered and 1 deadletter", res)
	}
	s := f.segment(ids["peer-a"][2])
	if want := "quota exceeded (daily quota of peer peer-a)"; s.State != ledger.Deadletter || s.LastError != want {
		t.Fatalf("%s: got %s %q, want DEADLETTER %q", s.ID, s.State, s.LastError, want)
	}
	want := map[string]ledger.Usage{
		"":       {WindowStart: start, UsedBytes: 320},
		"peer-a": {WindowStart: start, UsedBytes: 128},
		"peer-b": {WindowStart: start, UsedBytes: 192},
	}
	got := map[string]ledger.Usage{}
	for scope := range want {
		u, err := f.led.Usage(context.Background(), scope)
		if err != nil {
			t.Fatal(err)
		}
		got[scope] = u
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("persisted usage (-want +got):\n%s", diff)
	}
	st := f.lim.Stats()
	if st.Peers["peer-a"].QuotaDropCount != 1 || st.Peers["peer-b"].QuotaDropCount != 0 || st.Global.QuotaDropCount != 1 {
		t.Fatalf("quota drops: got a=%d b=%d total=%d, want 1, 0, 1",
			st.Peers["peer-a"].QuotaDropCount, st.Peers["peer-b"].QuotaDropCount, st.Global.QuotaDropCount)
	}
}

// A segment whose payload file is gone is a failed attempt naming the
// file, and dead-letters in the end; it never stops the others.
func TestExecutor_LostPayloadFileIsAFailedAttempt(t *testing.T) {
	f := newFixture(t, bandwidth.Settings{}, 2)
	big := f.seed("big", 1, 100<<10)[0]
	small := f.seed("small", 2, 64)
	dir := ledger.PayloadDir(f.led.Path())
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("payload files: got %v, %v; want the one of %s", files, err, big)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	listed := func(id string) ledger.Segment {
		all, err := f.led.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if s.ID == id {
				return s
			}
		}
		t.Fatalf("%s not in the ledger", id)
		return ledger.Segment{}
	}

	t0 := f.clock.Now()
	if got := f.cycle(); got.Failed != 1 || got.Delivered != 2 {
		t.Fatalf("cycle 1: got %+v, want 1 failed and 2 delivered", got)
	}
	firstErr := listed(big).LastError
	if diff := cmp.Diff(small, f.idsIn(ledger.Delivered)); diff != "" {
		t.Errorf("delivered after cycle 1 (-want +got):\n%s", diff)
	}
	s := listed(big)
	if s.State != ledger.Pending || s.Attempts != 1 || !strings.Contains(s.LastError, files[0]) {
		t.Fatalf("after cycle 1: %s is %s, %d attempts, last error %q; want PENDING, 1, naming %s", big, s.State, s.Attempts, s.LastError, files[0])
	}
	f.clock.Advance(time.Second)
	if got := f.cycle(); got.Failed != 1 || got.Deadletter != 1 {
		t.Fatalf("cycle 2: got %+v, want 1 failed, dead-lettered", got)
	}
	if s := listed(big); s.State != ledger.Deadletter || s.Attempts != 2 || !strings.Contains(s.LastError, "no such file") {
		t.Errorf("after cycle 2: %s is %s, %d attempts, last error %q; want DEADLETTER, 2, no such file", big, s.State, s.Attempts, s.LastError)
	}
	// Nothing was sent: each attempt ends where it started (this clock
	// moves only between cycles).
	t1 := t0.Add(time.Second)
	want := []ledger.Attempt{
		{Attempt: 1, StartedAt: t0, EndedAt: t0, Outcome: ledger.OutcomeFailed, Error: firstErr},
		{Attempt: 2, StartedAt: t1, EndedAt: t1, Outcome: ledger.OutcomeFailed, Error: listed(big).LastError},
	}
	if h, err := f.led.History(context.Background(), big); err != nil || !cmp.Equal(want, h) {
		t.Errorf("history of %s: got %+v, %v; want %+v", big, h, err, want)
	}
	f.peer.mu.Lock()
	defer f.peer.mu.Unlock()
	if diff := cmp.Diff(small, f.peer.delivered); diff != "" {
		t.Errorf("sent to the peer (-want +got):\n%s", diff)
	}
}

// The ledger's history holds every attempt the executor made, bounded by
// its admission and the end of its delivery (a quota drop by its
// decision), numbered as the segment counts them, with the failure's
// error; the limiter's journal names the same segments.
func TestExecutor_RecordsTheAttemptHistory(t *testing.T) {
	const took = 100 * time.Millisecond // what every delivery takes
	ctx := context.Background()
	// Room for ok, quota-001 and bad (whose failures return their
	// reservation), not for quota-002 too.
	f := newFixture(t, bandwidth.Settings{DailyQuotaBytes: 144}, 3)
	f.peer.during = func() { f.clock.Advance(took) }
	f.seed("bad", 1, 16)
	f.seed("ok", 1, 64)
	f.seed("quota", 2, 64) // the second passes the quota
	f.peer.failing["bad-001"] = true
	t0 := f.clock.Now()

	// One segment at a time in (next_attempt_at, id) order, the clock
	// moving only inside deliveries: bad, ok, quota-001, then quota-002
	// dropped at admission at t0+3·took.
	f.cycle()
	// bad is due 1 s after its failure was recorded at t0+took,
	// quota-002 1 s after t0+3·took: both at t1, bad first.
	f.clock.Advance(time.Second)
	t1 := f.clock.Now()
	f.cycle()
	// Both due 2 s after t1+took, their second failures: bad first.
	f.clock.Advance(2 * time.Second)
	t2 := f.clock.Now()
	f.cycle() // the third attempts: both dead-lettered

	failed := func(n int, start time.Time, msg string) ledger.Attempt {
		return ledger.Attempt{Attempt: n, StartedAt: start, EndedAt: start.Add(took), Outcome: ledger.OutcomeFailed, Error: msg}
	}
	want := map[string][]ledger.Attempt{
		"bad-001":   {failed(1, t0, "peer refused"), failed(2, t1, "peer refused"), failed(3, t2, "peer refused")},
		"ok-001":    {{Attempt: 1, StartedAt: t0.Add(took), EndedAt: t0.Add(2 * took), Outcome: ledger.OutcomeDelivered}},
		"quota-001": {{Attempt: 1, StartedAt: t0.Add(2 * took), EndedAt: t0.Add(3 * took), Outcome: ledger.OutcomeDelivered}},
		// Each drop is decided once bad's delivery before it has ended.
		"quota-002": {
			{Attempt: 1, StartedAt: t0.Add(3 * took), EndedAt: t0.Add(3 * took), Outcome: ledger.OutcomeFailed, Error: "quota exceeded"},
			{Attempt: 2, StartedAt: t1.Add(took), EndedAt: t1.Add(took), Outcome: ledger.OutcomeFailed, Error: "quota exceeded"},
			{Attempt: 3, StartedAt: t2.Add(took), EndedAt: t2.Add(took), Outcome: ledger.OutcomeFailed, Error: "quota exceeded"},
		},
	}
	all, err := f.led.ListHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]ledger.Attempt{}
	for _, s := range all {
		got[s.ID] = s.History
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	for _, id := range []string{"bad-001", "quota-002"} {
		if s := f.segment(id); s.State != ledger.Deadletter || s.Attempts != 3 {
			t.Errorf("%s: got %s after %d attempts, want DEADLETTER after 3", id, s.State, s.Attempts)
		}
	}

	entries, _, _, _ := f.lim.Journal()
	var decided []string
	for _, e := range entries {
		if e.Kind != bandwidth.EntrySettings {
			decided = append(decided, e.Kind.String()+" "+e.Segment)
		}
	}
	wantDecided := []string{"allowed bad-001", "allowed ok-001", "allowed quota-001", "quota_exceeded quota-002",
		"allowed bad-001", "quota_exceeded quota-002", "allowed bad-001", "quota_exceeded quota-002"}
	if diff := cmp.Diff(wantDecided, decided); diff != "" {
		t.Errorf("the limiter's journal (-want +got):\n%s", diff)
	}
}
