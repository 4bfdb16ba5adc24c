package bandwidth

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
	_ "time/tzdata" // the window tests need named zones on any machine

	"github.com/google/go-cmp/cmp"

	"edgelab/internal/fakeclock"
)

// step is one segment offered to Limits: advance the clock, admit, and
// commit it when allowed. Each decision must be the journal's newest entry.
type step struct {
	advance time.Duration
	peer    string
	size    int64
	want    Verdict
	scope   string        // for refusals: the limit that refused
	retryIn time.Duration // for Throttled: RetryAt = now + retryIn (0: never)
}

func runSteps(t *testing.T, ls *Limits, clock *fakeclock.Clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		clock.Advance(s.advance)
		id := fmt.Sprintf("step-%d", i)
		d := ls.AdmitSegment(id, s.peer, s.size)
		if d.Verdict != s.want {
			t.Fatalf("step %d (%s, %d B): got %v (scope %q), want %v", i, s.peer, s.size, d.Verdict, d.Scope, s.want)
		}
		entries, _, _, _ := ls.Journal()
		e := entries[len(entries)-1]
		want := JournalEntry{Seq: e.Seq, At: clock.Now(), Kind: entryKinds[d.Verdict], Segment: id, Peer: s.peer, Size: s.size,
			Scope: d.Scope, Tokens: e.Tokens, HasTokens: e.HasTokens, RetryAt: d.RetryAt}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Fatalf("step %d (%s, %d B): journal entry (-want +got):\n%s", i, s.peer, s.size, diff)
		}
		switch d.Verdict {
		case Allowed:
			ls.Commit(s.peer, s.size, ls.UsageAfter(s.peer, s.size))
		case Throttled:
			var want time.Time
			if s.retryIn > 0 {
				want = clock.Now().Add(s.retryIn)
			}
			if !d.RetryAt.Equal(want) || d.Scope != s.scope {
				t.Fatalf("step %d (%s, %d B): got retry at %v scope %q, want %v scope %q", i, s.peer, s.size, d.RetryAt, d.Scope, want, s.scope)
			}
		case QuotaExceeded:
			if d.Scope != s.scope {
				t.Fatalf("step %d (%s, %d B): quota refused by scope %q, want %q", i, s.peer, s.size, d.Scope, s.scope)
			}
		}
	}
}

var entryKinds = map[Verdict]EntryKind{Allowed: EntryAllowed, Throttled: EntryThrottled, QuotaExceeded: EntryQuotaExceeded}

// journalCounters counts the journal's refusals as counters does: relay-wide
// and per tracked target, whichever limit refused.
func journalCounters(ls *Limits) map[string]Counters {
	out := map[string]Counters{"(total)": {}}
	for _, id := range ls.Peers() {
		out[id] = Counters{}
	}
	entries, _, dropped, _ := ls.Journal()
	if dropped != 0 {
		panic("journalCounters of an incomplete journal")
	}
	for _, e := range entries {
		for _, k := range []string{"(total)", e.Peer} {
			c, ok := out[k]
			if !ok {
				continue
			}
			switch e.Kind {
			case EntryThrottled:
				c.Throttles++
			case EntryQuotaExceeded:
				c.QuotaDrops++
			}
			out[k] = c
		}
	}
	return out
}

// counters returns the relay-wide counters and each tracked peer's.
func counters(ls *Limits) map[string]Counters {
	st := ls.Stats()
	out := map[string]Counters{"(total)": {st.Global.ThrottleCount, st.Global.QuotaDropCount, st.Global.QuotaHeldCount}}
	for id, p := range st.Peers {
		out[id] = Counters{p.ThrottleCount, p.QuotaDropCount, p.QuotaHeldCount}
	}
	return out
}

func TestLimits_GlobalAndPeer(t *testing.T) {
	tests := []struct {
		name   string
		global Settings
		peers  map[string]Settings
		steps  []step
		want   map[string]Counters
	}{
		{
			name:   "a peer's rate throttles only that peer",
			global: Settings{},
			peers:  map[string]Settings{"a": {BytesPerSecond: 64}, "b": {}},
			steps: []step{
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, Throttled, "a", time.Second},
				// b is looked at in the same instant, after a's throttle:
				// nothing of a's limit reaches it.
				{0, "b", 64, Allowed, "", 0},
				{0, "b", 64, Allowed, "", 0},
				{0, "b", 64, Allowed, "", 0},
				{time.Second, "a", 64, Allowed, "", 0},
			},
			want: map[string]Counters{"(total)": {1, 0, 0}, "a": {1, 0, 0}, "b": {0, 0, 0}},
		},
		{
			name:   "both limits must allow: the stricter one decides",
			global: Settings{BytesPerSecond: 128},
			peers:  map[string]Settings{"a": {BytesPerSecond: 64}, "b": {}},
			steps: []step{
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, Throttled, "a", time.Second}, // global has 64 left, a none
				{0, "b", 64, Allowed, "", 0},              // takes the global 64 a could not use
				{0, "b", 64, Throttled, "", 500 * time.Millisecond},
				// Both short: the retry time is when both hold enough.
				{0, "a", 64, Throttled, "a", time.Second},
				{time.Second, "a", 64, Allowed, "", 0},
			},
			want: map[string]Counters{"(total)": {3, 0, 0}, "a": {2, 0, 0}, "b": {1, 0, 0}},
		},
		{
			name:   "a throttle by the peer leaves the global tokens",
			global: Settings{BytesPerSecond: 100},
			peers:  map[string]Settings{"a": {BytesPerSecond: 64}, "b": {}},
			steps: []step{
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, Throttled, "a", time.Second},
				// Exactly the 36 global tokens a's refused attempt did not keep.
				{0, "b", 36, Allowed, "", 0},
				{0, "b", 1, Throttled, "", 10 * time.Millisecond},
			},
			want: map[string]Counters{"(total)": {2, 0, 0}, "a": {1, 0, 0}, "b": {1, 0, 0}},
		},
		{
			name:   "a throttle by the global limit leaves the peer's tokens",
			global: Settings{BytesPerSecond: 64},
			peers:  map[string]Settings{"a": {BytesPerSecond: 128}, "b": {}},
			steps: []step{
				{0, "b", 64, Allowed, "", 0},
				{0, "a", 64, Throttled, "", time.Second},
				{time.Second, "a", 64, Allowed, "", 0},
				// a's bucket still holds 64: the refused attempt took none.
				{time.Second, "a", 64, Allowed, "", 0},
			},
			want: map[string]Counters{"(total)": {1, 0, 0}, "a": {1, 0, 0}, "b": {0, 0, 0}},
		},
		{
			name:   "quotas: global first, then the peer's",
			global: Settings{DailyQuotaBytes: 256},
			peers:  map[string]Settings{"a": {DailyQuotaBytes: 128}, "b": {}},
			steps: []step{
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, QuotaExceeded, "a", 0},
				{0, "b", 64, Allowed, "", 0},
				{0, "b", 64, Allowed, "", 0},
				{0, "b", 64, QuotaExceeded, "", 0},
				{0, "a", 64, QuotaExceeded, "", 0}, // both are spent: global is checked first
			},
			want: map[string]Counters{"(total)": {0, 3, 0}, "a": {0, 2, 0}, "b": {0, 1, 0}},
		},
		{
			name:   "a quota drop takes no tokens",
			global: Settings{BytesPerSecond: 64, BurstBytes: 128},
			peers:  map[string]Settings{"a": {DailyQuotaBytes: 64}, "b": {}},
			steps: []step{
				{0, "a", 64, Allowed, "", 0},
				{0, "a", 64, QuotaExceeded, "a", 0},
				{0, "b", 64, Allowed, "", 0}, // the global 64 left after a's first
				{0, "b", 64, Throttled, "", time.Second},
			},
			want: map[string]Counters{"(total)": {1, 1, 0}, "a": {0, 1, 0}, "b": {1, 0, 0}},
		},
		{
			name:   "larger than the peer's burst never passes",
			global: Settings{BytesPerSecond: 1000},
			peers:  map[string]Settings{"a": {BytesPerSecond: 8}},
			steps: []step{
				{0, "a", 64, Throttled, "a", 0},
				{time.Hour, "a", 64, Throttled, "a", 0},
				{0, "a", 8, Allowed, "", 0},
			},
			want: map[string]Counters{"(total)": {2, 0, 0}, "a": {2, 0, 0}},
		},
		{
			name:   "an untracked target passes the global limit alone",
			global: Settings{BytesPerSecond: 64},
			peers:  map[string]Settings{"a": {BytesPerSecond: 1}},
			steps: []step{
				{0, "stranger", 64, Allowed, "", 0},
				{0, "stranger", 64, Throttled, "", time.Second},
			},
			want: map[string]Counters{"(total)": {1, 0, 0}, "a": {0, 0, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			ls := NewLimits(tt.global, Usage{}, clock.Now)
			for id, s := range tt.peers {
				ls.TrackPeer(id, s, Usage{})
			}
			runSteps(t, ls, clock, tt.steps)
			if diff := cmp.Diff(tt.want, counters(ls)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(counters(ls), journalCounters(ls)); diff != "" {
				t.Errorf("counters re-derived from the journal (-counters +journal):\n%s", diff)
			}
		})
	}
}

func TestLimits_ReservationsHoldBothQuotas(t *testing.T) {
	ls := NewLimits(Settings{DailyQuotaBytes: 1000}, Usage{}, newClock().Now)
	ls.TrackPeer("a", Settings{DailyQuotaBytes: 128}, Usage{})
	ls.TrackPeer("b", Settings{}, Usage{})
	for i := range 2 {
		if got := ls.Admit("a", 64); got.Verdict != Allowed {
			t.Fatalf("admit %d for a: got %v, want allowed", i, got.Verdict)
		}
	}
	// Two deliveries in flight hold a's whole quota...
	if got := ls.Admit("a", 64); got.Verdict != QuotaExceeded || got.Scope != "a" {
		t.Fatalf("third admit for a in flight: got %v scope %q, want quota exceeded by a", got.Verdict, got.Scope)
	}
	// ...and 128 of the global 1000.
	if got := ls.Admit("b", 872); got.Verdict != Allowed {
		t.Fatalf("b within the global quota left: got %v, want allowed", got.Verdict)
	}
	if got := ls.Admit("b", 1); got.Verdict != QuotaExceeded || got.Scope != GlobalScope {
		t.Fatalf("b over the global quota: got %v scope %q, want quota exceeded globally", got.Verdict, got.Scope)
	}
	// A failed delivery returns its reservation in both scopes.
	ls.Release("a", 64)
	ls.Release("b", 872)
	if got := ls.Admit("b", 872); got.Verdict != Allowed {
		t.Fatalf("b after the releases: got %v, want allowed", got.Verdict)
	}
	if got := ls.Admit("a", 64); got.Verdict != Allowed {
		t.Fatalf("a after a release: got %v, want allowed", got.Verdict)
	}
}

func TestLimits_CommitStoresExactlyThePersistedUsage(t *testing.T) {
	clock := newClock()
	ls := NewLimits(Settings{}, Usage{}, clock.Now)
	ls.TrackPeer("a", Settings{DailyQuotaBytes: 100}, Usage{})
	start := clock.Now()

	if d := ls.Admit("a", 40); d.Verdict != Allowed {
		t.Fatalf("admit: got %v", d.Verdict)
	}
	usage := ls.UsageAfter("a", 40)
	want := map[string]Usage{
		GlobalScope: {WindowStart: start, UsedBytes: 40},
		"a":         {WindowStart: start, UsedBytes: 40},
	}
	if diff := cmp.Diff(want, usage); diff != "" {
		t.Fatalf("UsageAfter (-want +got):\n%s", diff)
	}
	// The clock moves between persisting and committing: memory must
	// still hold what was persisted, to the instant.
	clock.Advance(time.Minute)
	ls.Commit("a", 40, usage)
	st := ls.Stats()
	if got := st.Peers["a"].Usage; got != usage["a"] {
		t.Fatalf("peer usage after commit: got %+v, want %+v", got, usage["a"])
	}
	if got := st.Global.Usage; got != usage[GlobalScope] {
		t.Fatalf("global usage after commit: got %+v, want %+v", got, usage[GlobalScope])
	}
	if rem, ok := st.Peers["a"].Remaining(); !ok || rem != 60 {
		t.Fatalf("peer remaining: got %d, %v; want 60, true", rem, ok)
	}
	// A target without a limiter of its own counts only globally.
	if got := ls.UsageAfter("stranger", 1); len(got) != 1 || got[GlobalScope].UsedBytes != 41 {
		t.Fatalf("UsageAfter for an untracked target: got %+v, want the global scope alone at 41", got)
	}
}

// The daily window is fixed: 24 h of elapsed time from the first counted
// delivery, compared as instants. The zone of the clock (or of a persisted
// start) changes nothing, not even across a daylight-saving change.
func TestLimits_DailyWindowIsTimeZoneIndependent(t *testing.T) {
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		start time.Time
	}{
		{"UTC", time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)},
		{"UTC+14", time.Date(2026, 3, 7, 23, 30, 0, 0, time.FixedZone("UTC+14", 14*3600))},
		// 2026-03-08 02:00 local is skipped: that local day has 23 hours.
		{"New York across the DST change", time.Date(2026, 3, 7, 12, 0, 0, 0, newYork)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(tt.start)
			ls := NewLimits(Settings{DailyQuotaBytes: 64}, Usage{}, clock.Now)
			ls.TrackPeer("a", Settings{DailyQuotaBytes: 64}, Usage{})
			runSteps(t, ls, clock, []step{
				{0, "a", 64, Allowed, "", 0},
				{24*time.Hour - time.Nanosecond, "a", 64, QuotaExceeded, "", 0},
				{time.Nanosecond, "a", 64, Allowed, "", 0},
			})
			st := ls.Stats()
			wantStart := tt.start.Add(24 * time.Hour).UTC()
			for scope, got := range map[string]Usage{"global": st.Global.Usage, "a": st.Peers["a"].Usage} {
				if got.UsedBytes != 64 || !got.WindowStart.Equal(wantStart) || got.WindowStart.Location() != time.UTC {
					t.Errorf("%s window: got %+v, want 64 bytes from %v (UTC)", scope, got, wantStart)
				}
			}
		})
	}
}

func TestLimits_ResumesPersistedUsagePerScope(t *testing.T) {
	clock := newClock()
	// Persisted 23 h ago, in another zone: the window still ends 24 h
	// after that instant.
	opened := clock.Now().Add(-23 * time.Hour).In(time.FixedZone("UTC-7", -7*3600))
	ls := NewLimits(Settings{DailyQuotaBytes: 1000}, Usage{WindowStart: opened, UsedBytes: 100}, clock.Now)
	ls.TrackPeer("a", Settings{DailyQuotaBytes: 128}, Usage{WindowStart: opened, UsedBytes: 128})
	ls.TrackPeer("b", Settings{}, Usage{})
	runSteps(t, ls, clock, []step{
		{0, "a", 1, QuotaExceeded, "a", 0},
		{0, "b", 900, Allowed, "", 0},
		{0, "b", 1, QuotaExceeded, "", 0},
		{time.Hour, "a", 128, Allowed, "", 0}, // both persisted windows ended
	})
	st := ls.Stats()
	if got := st.Peers["a"].Usage.UsedBytes; got != 128 {
		t.Errorf("a used in its new window: got %d, want 128", got)
	}
	if got := st.Global.Usage.UsedBytes; got != 128 {
		t.Errorf("global used in its new window: got %d, want 128", got)
	}
}

func TestLimits_LiveChanges(t *testing.T) {
	clock := newClock()
	ls := NewLimits(Settings{}, Usage{}, clock.Now)
	ls.TrackPeer("a", Settings{BytesPerSecond: 8}, Usage{})
	runSteps(t, ls, clock, []step{{0, "a", 64, Throttled, "a", 0}})

	if err := ls.SetPeer("a", Settings{}); err != nil {
		t.Fatal(err)
	}
	runSteps(t, ls, clock, []step{{0, "a", 64, Allowed, "", 0}})
	if got, ok := ls.PeerSettings("a"); !ok || got != (Settings{}) {
		t.Errorf("PeerSettings(a): got %+v, %v; want unlimited, true", got, ok)
	}

	var unknown *UnknownPeerError
	if err := ls.SetPeer("nobody", Settings{BytesPerSecond: 1}); !errors.As(err, &unknown) || unknown.Peer != "nobody" {
		t.Errorf("SetPeer(nobody): got %v, want an UnknownPeerError naming it", err)
	}
	if _, ok := ls.PeerSettings("nobody"); ok {
		t.Errorf("PeerSettings(nobody): got ok, want not tracked")
	}
	ls.SetGlobal(Settings{DailyQuotaBytes: 10})
	runSteps(t, ls, clock, []step{{0, "a", 64, QuotaExceeded, "", 0}})
	if diff := cmp.Diff([]string{"a"}, ls.Peers()); diff != "" {
		t.Errorf("Peers (-want +got):\n%s", diff)
	}
	// Counters survive every change.
	if diff := cmp.Diff(map[string]Counters{"(total)": {1, 1, 0}, "a": {1, 1, 0}}, counters(ls)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// ReadyAt chains the bytes of throttled segments through each bucket's
// tokens and rate; Slack is how long the fuller bucket can go on filling;
// Version moves with every change of settings.
func TestLimits_ReadyAtSlackVersion(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                string
		global, peer        Settings
		spend               int64 // tokens taken from both at t0 (an admission)
		needGlobal, needOwn int64
		wantReady           time.Duration // after t0
		wantSlack           time.Duration
	}{
		{"unlimited", Settings{}, Settings{}, 0, 1 << 20, 1 << 20, 0, time.Duration(math.MaxInt64)},
		{"global full bucket holds it", Settings{BytesPerSecond: 64}, Settings{}, 0, 64, 64, 0, 0},
		{"global empty: 3 segments", Settings{BytesPerSecond: 64}, Settings{}, 64, 192, 192, 3 * time.Second, 0},
		{"peer slower than global", Settings{BytesPerSecond: 1024}, Settings{BytesPerSecond: 64, BurstBytes: 256}, 64, 64, 256, 1 * time.Second, 902343750 * time.Nanosecond},
		{"global slack with room for 3 more", Settings{BytesPerSecond: 100, BurstBytes: 400}, Settings{}, 0, 100, 100, 0, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := fakeclock.New(t0)
			ls := NewLimits(tt.global, Usage{}, clock.Now)
			ls.TrackPeer("peer-a", tt.peer, Usage{})
			if tt.spend > 0 {
				if d := ls.Admit("peer-a", tt.spend); d.Verdict != Allowed {
					t.Fatalf("admit %d: %v", tt.spend, d.Verdict)
				}
			}
			if got := ls.ReadyAt("peer-a", tt.needGlobal, tt.needOwn).Sub(t0); got != tt.wantReady {
				t.Errorf("ReadyAt(%d, %d): got t0+%v, want t0+%v", tt.needGlobal, tt.needOwn, got, tt.wantReady)
			}
			if got := ls.Slack("peer-a", 100); got != tt.wantSlack {
				t.Errorf("Slack(100): got %v, want %v", got, tt.wantSlack)
			}
		})
	}
	ls := NewLimits(Settings{}, Usage{}, nil)
	v := ls.Version()
	for name, change := range map[string]func(){
		"SetGlobal":     func() { ls.SetGlobal(Settings{BytesPerSecond: 1}) },
		"TrackPeer":     func() { ls.TrackPeer("p", Settings{}, Usage{}) },
		"SetPeer":       func() { _ = ls.SetPeer("p", Settings{BytesPerSecond: 2}) },
		"SetQuotaHold":  func() { ls.SetQuotaHold(true) },
		"SetStartEmpty": func() { ls.SetStartEmpty(true) },
		"SetPeriod":     func() { ls.SetPeriod(nil) },
	} {
		change()
		if got := ls.Version(); got == v {
			t.Errorf("%s: Version stayed %d, want it moved", name, got)
		}
		v = ls.Version()
	}
}
