package bandwidth

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"edgelab/internal/fakeclock"
)

func completeJournal(t *testing.T, ls *Limits) []JournalEntry {
	t.Helper()
	entries, total, dropped, _ := ls.Journal()
	if dropped != 0 || total != int64(len(entries)) {
		t.Fatalf("journal: %d entries, total %d, dropped %d; want it complete", len(entries), total, dropped)
	}
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d: seq %d, want %d", i, e.Seq, i+1)
		}
	}
	return entries
}

// Every change of the limits in force is an entry, at the Limits' clock,
// with the scope's bucket as the new settings leave it.
func TestJournal_SettingsAtBootTrackAndSet(t *testing.T) {
	clock := newClock()
	t0 := clock.Now()
	ls := NewLimits(Settings{BytesPerSecond: 64}, Usage{}, clock.Now)
	clock.Advance(time.Second)
	ls.TrackPeer("a", Settings{DailyQuotaBytes: 100}, Usage{})
	clock.Advance(time.Second)
	if d := ls.AdmitSegment("s1", "a", 48); d.Verdict != Allowed {
		t.Fatalf("admit s1: got %v, want allowed", d.Verdict)
	}
	clock.Advance(250 * time.Millisecond) // the bucket refills 16 of the 48
	ls.SetGlobal(Settings{BytesPerSecond: 64, BurstBytes: 128})
	ls.SetPeer("a", Settings{BytesPerSecond: 8, BurstBytes: 16})
	clock.Advance(time.Second)
	ls.SetGlobal(Settings{})
	if err := ls.SetPeer("nobody", Settings{BytesPerSecond: 1}); err == nil {
		t.Fatal("SetPeer of an untracked peer: got no error")
	}

	t2 := t0.Add(2*time.Second + 250*time.Millisecond)
	want := []JournalEntry{
		{Seq: 1, At: t0, Kind: EntrySettings, Scope: "", Tokens: 64, HasTokens: true, Settings: Settings{BytesPerSecond: 64}},
		{Seq: 2, At: t0.Add(time.Second), Kind: EntrySettings, Scope: "a", Settings: Settings{DailyQuotaBytes: 100}},
		{Seq: 3, At: t0.Add(2 * time.Second), Kind: EntryAllowed, Segment: "s1", Peer: "a", Size: 48, Scope: "", Tokens: 64, HasTokens: true},
		// A burst raised keeps the tokens; a rate imposed anew starts full.
		{Seq: 4, At: t2, Kind: EntrySettings, Scope: "", Tokens: 32, HasTokens: true, Settings: Settings{BytesPerSecond: 64, BurstBytes: 128}},
		{Seq: 5, At: t2, Kind: EntrySettings, Scope: "a", Tokens: 16, HasTokens: true, Settings: Settings{BytesPerSecond: 8, BurstBytes: 16}},
		{Seq: 6, At: t2.Add(time.Second), Kind: EntrySettings, Scope: ""},
	}
	if diff := cmp.Diff(want, completeJournal(t, ls)); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}
	if _, _, _, capacity := ls.Journal(); capacity != JournalCapacity {
		t.Errorf("capacity: got %d, want %d", capacity, JournalCapacity)
	}
}

// Tokens are the refusing (or, when allowed, the global) bucket's before
// the decision; RetryAt is when every bucket will hold enough, none when a
// burst is too small.
func TestJournal_TokensAndRetryAt(t *testing.T) {
	clock := newClock()
	t0 := clock.Now()
	ls := NewLimits(Settings{BytesPerSecond: 64, DailyQuotaBytes: 1000}, Usage{}, clock.Now)
	ls.TrackPeer("a", Settings{BytesPerSecond: 8, BurstBytes: 16, DailyQuotaBytes: 56}, Usage{})
	ls.TrackPeer("q", Settings{DailyQuotaBytes: 8}, Usage{})
	admit := func(id, peer string, size int64, want Verdict) {
		t.Helper()
		d := ls.AdmitSegment(id, peer, size)
		if d.Verdict != want {
			t.Fatalf("admit %s: got %v (scope %q), want %v", id, d.Verdict, d.Scope, want)
		}
		if d.Verdict == Allowed {
			ls.Commit(peer, size, ls.UsageAfter(peer, size))
		}
	}
	admit("b1", "b", 48, Allowed)         // global 64 → 16
	admit("b2", "b", 48, Throttled)       // short of 32 at 64 B/s: 0.5 s
	admit("b3", "b", 100, Throttled)      // over the global burst: never
	clock.Advance(250 * time.Millisecond) // global 32
	admit("a1", "a", 16, Allowed)         // global 32 → 16, a 16 → 0
	admit("a2", "a", 8, Throttled)        // global has 16; a short of 8 at 8 B/s: 1 s
	admit("a3", "a", 32, Throttled)       // over a's burst: never, whatever the global one says
	clock.Advance(2 * time.Second)        // global 64 (full), a 16 (full)
	admit("a4", "a", 41, QuotaExceeded)   // a's quota: 16 used of 56
	admit("q1", "q", 16, QuotaExceeded)   // q's quota of 8, q has no rate
	admit("b4", "b", 16, Allowed)

	t1, t2 := t0.Add(250*time.Millisecond), t0.Add(2250*time.Millisecond)
	want := []JournalEntry{
		{Seq: 4, At: t0, Kind: EntryAllowed, Segment: "b1", Peer: "b", Size: 48, Tokens: 64, HasTokens: true},
		{Seq: 5, At: t0, Kind: EntryThrottled, Segment: "b2", Peer: "b", Size: 48, Tokens: 16, HasTokens: true, RetryAt: t0.Add(500 * time.Millisecond)},
		{Seq: 6, At: t0, Kind: EntryThrottled, Segment: "b3", Peer: "b", Size: 100, Tokens: 16, HasTokens: true},
		{Seq: 7, At: t1, Kind: EntryAllowed, Segment: "a1", Peer: "a", Size: 16, Tokens: 32, HasTokens: true},
		{Seq: 8, At: t1, Kind: EntryThrottled, Segment: "a2", Peer: "a", Size: 8, Scope: "a", Tokens: 0, HasTokens: true, RetryAt: t1.Add(time.Second)},
		{Seq: 9, At: t1, Kind: EntryThrottled, Segment: "a3", Peer: "a", Size: 32, Scope: "a", Tokens: 0, HasTokens: true},
		{Seq: 10, At: t2, Kind: EntryQuotaExceeded, Segment: "a4", Peer: "a", Size: 41, Scope: "a", Tokens: 16, HasTokens: true},
		{Seq: 11, At: t2, Kind: EntryQuotaExceeded, Segment: "q1", Peer: "q", Size: 16, Scope: "q"},
		{Seq: 12, At: t2, Kind: EntryAllowed, Segment: "b4", Peer: "b", Size: 16, Tokens: 64, HasTokens: true},
	}
	if diff := cmp.Diff(want, completeJournal(t, ls)[3:]); diff != "" {
		t.Errorf("journal after the settings (-want +got):\n%s", diff)
	}
	// Without a global rate an admission has no tokens to show, even
	// when the peer's bucket has some.
	ls.SetGlobal(Settings{})
	admit("a5", "a", 1, Allowed)
	entries := completeJournal(t, ls)
	if e := entries[len(entries)-1]; e.Segment != "a5" || e.HasTokens || e.Tokens != 0 {
		t.Errorf("allowed without a global rate: got %+v, want no tokens", e)
	}
}

// The throttle and quota-drop counters are exactly the journal's refusals,
// relay-wide and per peer, over a long run of mixed decisions.
func TestJournal_CountersEqualTheRefusals(t *testing.T) {
	clock := newClock()
	ls := NewLimits(Settings{BytesPerSecond: 1000, BurstBytes: 2000, DailyQuotaBytes: 200_000}, Usage{}, clock.Now)
	ls.TrackPeer("a", Settings{BytesPerSecond: 300, DailyQuotaBytes: 20_000}, Usage{})
	ls.TrackPeer("b", Settings{}, Usage{})
	peers := []string{"a", "b", "c"}
	for i := range 3000 {
		clock.Advance(time.Duration(i%7) * 50 * time.Millisecond)
		peer, size := peers[i%3], int64(100+(i*37)%900)
		if d := ls.AdmitSegment(fmt.Sprint(i), peer, size); d.Verdict == Allowed {
			if i%5 == 0 {
				ls.Release(peer, size) // a failed delivery
			} else {
				ls.Commit(peer, size, ls.UsageAfter(peer, size))
			}
		}
		if i == 1500 {
			ls.SetPeer("a", Settings{BytesPerSecond: 100, BurstBytes: 400, DailyQuotaBytes: 30_000})
		}
	}
	got := counters(ls)
	if got["(total)"].Throttles == 0 || got["(total)"].QuotaDrops == 0 || got["a"].Throttles == 0 {
		t.Fatalf("counters %v: the run should throttle and drop", got)
	}
	if diff := cmp.Diff(got, journalCounters(ls)); diff != "" {
		t.Errorf("counters re-derived from the journal (-counters +journal):\n%s", diff)
	}
	var allowed int
	for _, e := range completeJournal(t, ls) {
		if e.Kind == EntryAllowed {
			allowed++
		}
	}
	if n := 3000 - got["(total)"].Throttles - got["(total)"].QuotaDrops; int64(allowed) != n {
		t.Errorf("allowed entries: got %d, want %d (every decision that was not a refusal)", allowed, n)
	}
}

// Past its capacity the ring keeps the newest entries, oldest first, and
// counts the ones it let go; its storage never exceeds its capacity.
func TestJournal_RingKeepsTheNewest(t *testing.T) {
	for _, capacity := range []int{1, 8, 100} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			clock := newClock()
			ls := newLimits(Settings{}, Usage{}, clock.Now, capacity)
			const n = 250
			for i := range n {
				clock.Advance(time.Millisecond)
				ls.AdmitSegment(fmt.Sprintf("s-%03d", i), "p", 1)
				if c := cap(ls.journal.slots); c > capacity {
					t.Fatalf("after %d entries the ring's storage holds %d, over its capacity %d", i+2, c, capacity)
				}
			}
			entries, total, dropped, gotCap := ls.Journal()
			if total != n+1 || dropped != n+1-int64(capacity) || gotCap != capacity || len(entries) != capacity {
				t.Fatalf("got %d entries, total %d, dropped %d, capacity %d; want %d, %d, %d, %d",
					len(entries), total, dropped, gotCap, capacity, n+1, n+1-capacity, capacity)
			}
			for i, e := range entries {
				seq := total - int64(capacity) + int64(i) + 1
				id := fmt.Sprintf("s-%03d", seq-2) // seq 1 is the boot settings
				if e.Seq != seq || e.Segment != id || e.Kind != EntryAllowed {
					t.Errorf("entry %d: got seq %d %s %v, want seq %d %s allowed", i, e.Seq, e.Segment, e.Kind, seq, id)
				}
			}
		})
	}
}

// Once the ring is full an entry costs no allocation, and a slot stays
// small: the ring's memory is capacity slots.
func TestJournal_FullRingAllocatesNothing(t *testing.T) {
	j := newJournal(4)
	for range 4 {
		j.add(slot{})
	}
	s := slot{segment: "seg", peer: "p", at: 1, kind: EntryAllowed}
	if n := testing.AllocsPerRun(1000, func() { j.add(s) }); n != 0 {
		t.Errorf("add to a full ring: %v allocations, want 0", n)
	}
	if size := unsafe.Sizeof(slot{}); size > 128 {
		t.Errorf("a slot is %d bytes: the full journal would hold %d KiB", size, size*JournalCapacity>>10)
	}
	ls := newLimits(Settings{BytesPerSecond: 1 << 20}, Usage{}, fakeclock.New(time.Unix(0, 0)).Now, 4)
	for range 10 {
		ls.AdmitSegment("s", "p", 1)
	}
	empty := NewLimits(Settings{BytesPerSecond: 1 << 20}, Usage{}, fakeclock.New(time.Unix(0, 0)).Now)
	full := testing.AllocsPerRun(1000, func() { ls.AdmitSegment("s", "p", 1) })
	growing := testing.AllocsPerRun(1000, func() { empty.AdmitSegment("s", "p", 1) })
	if full > growing {
		t.Errorf("AdmitSegment allocates %v times with a full journal, %v while it grows", full, growing)
	}
}
