package bandwidth

import (
	"testing"
	"time"

	"edgelab/internal/fakeclock"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// deliver admits and commits one segment, returning the verdict.
func deliver(l *Limiter, size int64) Verdict {
	d := l.Admit(size)
	if d.Verdict == Allowed {
		l.Commit(size)
	}
	return d.Verdict
}

// TestBandwidthLimiter_DailyQuota_ResetsAfter24h is scenario S-E of the VAL23
// lab: the lab runs it by this exact name.
func TestBandwidthLimiter_DailyQuota_ResetsAfter24h(t *testing.T) {
	clock := newClock()
	l := New(Settings{DailyQuotaBytes: 128}, Usage{}, clock.Now)
	start := clock.Now()

	for i, want := range []Verdict{Allowed, Allowed, QuotaExceeded} {
		if got := deliver(l, 64); got != want {
			t.Fatalf("segment %d at window start: got %v, want %v", i+1, got, want)
		}
	}
	if got := l.Stats().Usage; got.UsedBytes != 128 || !got.WindowStart.Equal(start) {
		t.Fatalf("usage after exhausting the quota: got %+v, want 128 bytes from %v", got, start)
	}

	clock.Advance(23*time.Hour + 59*time.Minute)
	if got := deliver(l, 64); got != QuotaExceeded {
		t.Fatalf("at +23h59m: got %v, want %v (window still open)", got, QuotaExceeded)
	}
	if got := l.Stats().Usage.UsedBytes; got != 128 {
		t.Fatalf("used bytes at +23h59m: got %d, want 128", got)
	}

	clock.Advance(time.Minute) // exactly 24 h after the window opened
	if got := l.Stats().Usage; got.UsedBytes != 0 || !got.WindowStart.IsZero() {
		t.Fatalf("usage at +24h before any delivery: got %+v, want reset", got)
	}
	if got := deliver(l, 64); got != Allowed {
		t.Fatalf("at +24h: got %v, want %v (new window)", got, Allowed)
	}
	got := l.Stats()
	if got.Usage.UsedBytes != 64 || !got.Usage.WindowStart.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("usage in the new window: got %+v, want 64 bytes from %v", got.Usage, start.Add(24*time.Hour))
	}
	if got.QuotaDropCount != 2 {
		t.Fatalf("quota drops: got %d, want 2", got.QuotaDropCount)
	}
}

func TestLimiter_Rate(t *testing.T) {
	type step struct {
		advance time.Duration
		size    int64
		want    Verdict
		retryIn time.Duration // for Throttled: want RetryAt = now + retryIn (0: never)
	}
	tests := []struct {
		name     string
		settings Settings
		steps    []step
		throttle int64
	}{
		{
			name:     "unlimited passes everything",
			settings: Settings{},
			steps:    []step{{0, 1 << 20, Allowed, 0}, {0, 1 << 20, Allowed, 0}},
		},
		{
			name:     "bucket starts full and refills at the rate",
			settings: Settings{BytesPerSecond: 64},
			steps: []step{
				{0, 64, Allowed, 0},
				{0, 64, Throttled, time.Second},
				{500 * time.Millisecond, 64, Throttled, 500 * time.Millisecond},
				{500 * time.Millisecond, 64, Allowed, 0},
			},
			throttle: 2,
		},
		{
			name:     "burst above the rate lets a burst through",
			settings: Settings{BytesPerSecond: 64, BurstBytes: 256},
			steps: []step{
				{0, 64, Allowed, 0}, {0, 64, Allowed, 0}, {0, 64, Allowed, 0}, {0, 64, Allowed, 0},
				{0, 64, Throttled, time.Second},
			},
			throttle: 1,
		},
		{
			name:     "segment larger than the burst never passes",
			settings: Settings{BytesPerSecond: 8},
			steps:    []step{{0, 64, Throttled, 0}, {time.Hour, 64, Throttled, 0}},
			throttle: 2,
		},
		{
			name:     "throttle does not spend tokens",
			settings: Settings{BytesPerSecond: 100},
			steps: []step{
				{0, 60, Allowed, 0},
				{0, 60, Throttled, 200 * time.Millisecond},
				{0, 40, Allowed, 0},
			},
			throttle: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			l := New(tt.settings, Usage{}, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				d := l.Admit(s.size)
				if d.Verdict != s.want {
					t.Fatalf("step %d: got %v, want %v", i, d.Verdict, s.want)
				}
				if d.Verdict == Allowed {
					l.Commit(s.size)
				}
				if d.Verdict == Throttled {
					var want time.Time
					if s.retryIn > 0 {
						want = clock.Now().Add(s.retryIn)
					}
					if !d.RetryAt.Equal(want) {
						t.Fatalf("step %d: retry at got %v, want %v", i, d.RetryAt, want)
					}
				}
			}
			if got := l.Stats().ThrottleCount; got != tt.throttle {
				t.Fatalf("throttle count: got %d, want %d", got, tt.throttle)
			}
		})
	}
}

func TestLimiter_QuotaBoundary(t *testing.T) {
	tests := []struct {
		name  string
		quota int64
		sizes []int64
		want  []Verdict
		used  int64
	}{
		{"exactly at quota passes", 128, []int64{64, 64}, []Verdict{Allowed, Allowed}, 128},
		{"one byte over fails", 128, []int64{64, 65}, []Verdict{Allowed, QuotaExceeded}, 64},
		{"a drop leaves room for a smaller one", 128, []int64{100, 29, 28}, []Verdict{Allowed, QuotaExceeded, Allowed}, 128},
		{"a segment bigger than the quota", 10, []int64{11}, []Verdict{QuotaExceeded}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Settings{DailyQuotaBytes: tt.quota}, Usage{}, newClock().Now)
			for i, size := range tt.sizes {
				if got := deliver(l, size); got != tt.want[i] {
					t.Fatalf("segment %d (%d B): got %v, want %v", i, size, got, tt.want[i])
				}
			}
			if got := l.Stats().Usage.UsedBytes; got != tt.used {
				t.Fatalf("used: got %d, want %d", got, tt.used)
			}
		})
	}
}

func TestLimiter_ReservationsCannotOvershootQuota(t *testing.T) {
	l := New(Settings{DailyQuotaBytes: 128}, Usage{}, newClock().Now)
	// Two admitted but not yet committed deliveries hold the whole quota.
	for i := 0; i < 2; i++ {
		if got := l.Admit(64).Verdict; got != Allowed {
			t.Fatalf("admit %d: got %v, want allowed", i, got)
		}
	}
	if got := l.Admit(64).Verdict; got != QuotaExceeded {
		t.Fatalf("third admit while two are in flight: got %v, want quota exceeded", got)
	}
	l.Release(64) // one delivery failed
	l.Commit(64)
	if got := l.Admit(64).Verdict; got != Allowed {
		t.Fatalf("admit after a release: got %v, want allowed", got)
	}
}

func TestLimiter_LiveChangeKeepsCountersAndUsage(t *testing.T) {
	clock := newClock()
	l := New(Settings{BytesPerSecond: 64, DailyQuotaBytes: 1000}, Usage{}, clock.Now)
	deliver(l, 64)
	deliver(l, 64) // throttled
	if got := l.Stats(); got.ThrottleCount != 1 || got.Usage.UsedBytes != 64 {
		t.Fatalf("before change: got %+v", got)
	}

	l.Set(Settings{BytesPerSecond: 128, DailyQuotaBytes: 100})
	got := l.Stats()
	if got.ThrottleCount != 1 || got.Usage.UsedBytes != 64 {
		t.Fatalf("after change: counters or usage lost: got %+v", got)
	}
	// Quota lowered under the usage: refused, and Remaining clamps at 0.
	if v := deliver(l, 64); v != QuotaExceeded {
		t.Fatalf("after lowering the quota: got %v, want quota exceeded", v)
	}
	l.Set(Settings{DailyQuotaBytes: 60})
	if rem, ok := l.Stats().Remaining(); !ok || rem != 0 {
		t.Fatalf("remaining: got %d, %v; want 0, true", rem, ok)
	}

	// Unlimited lets anything through at once, without touching counters.
	l.Set(Settings{})
	if v := deliver(l, 1<<20); v != Allowed {
		t.Fatalf("unlimited: got %v, want allowed", v)
	}
	if got := l.Stats().QuotaDropCount; got != 1 {
		t.Fatalf("quota drops: got %d, want 1", got)
	}
}

func TestLimiter_ResumesPersistedUsage(t *testing.T) {
	clock := newClock()
	opened := clock.Now().Add(-23 * time.Hour)
	l := New(Settings{DailyQuotaBytes: 128}, Usage{WindowStart: opened, UsedBytes: 100}, clock.Now)
	if v := deliver(l, 64); v != QuotaExceeded {
		t.Fatalf("with 100 of 128 used: got %v, want quota exceeded", v)
	}
	clock.Advance(time.Hour)
	if v := deliver(l, 64); v != Allowed {
		t.Fatalf("after the persisted window expired: got %v, want allowed", v)
	}
}

// start_empty: the bucket starts with no tokens (rclone's --bwlimit), so
// the first second passes rate bytes, not rate + burst; the default stays
// the seed's full bucket. Peers tracked afterwards start empty too.
func TestLimits_StartEmpty(t *testing.T) {
	tests := []struct {
		name       string
		startEmpty bool
		want       []Verdict // 64 B segments at 64 B/s: at 0, 0, +1 s
	}{
		{"default: full bucket", false, []Verdict{Allowed, Throttled, Allowed}},
		{"start_empty", true, []Verdict{Throttled, Throttled, Allowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// At boot (global, a peer tracked after) and a rate first
			// imposed live.
			for _, scope := range []string{"", "peer-a", "live"} {
				c := newClock()
				s := Settings{BytesPerSecond: 64}
				global := s
				if scope != "" {
					global = Settings{}
				}
				ls := NewLimits(global, Usage{}, c.Now)
				ls.SetStartEmpty(tt.startEmpty)
				switch scope {
				case "peer-a":
					ls.TrackPeer(scope, s, Usage{})
				case "live":
					ls.SetGlobal(s)
					scope = ""
				}
				var got []Verdict
				for i := range 3 {
					if i == 2 {
						c.Advance(time.Second)
					}
					d := ls.Admit(scope, 64)
					if d.Verdict == Allowed {
						ls.Commit(scope, 64, nil)
					}
					got = append(got, d.Verdict)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("scope %q: verdicts %v, want %v", scope, got, tt.want)
					}
				}
			}
		})
	}
}
