package bandwidth

import "time"

// JournalCapacity is how many decisions the journal of Limits keeps: the
// newest ones, whatever the load, so its memory is bounded (some 8 MiB
// when full, plus the segment ids it keeps alive).
const JournalCapacity = 1 << 16

// EntryKind is what a journal entry records.
type EntryKind uint8

const (
	EntryAllowed       EntryKind = iota + 1 // a segment was admitted
	EntryThrottled                          // a segment was deferred on a rate
	EntryQuotaExceeded                      // a segment was dropped on a quota
	EntrySettings                           // the settings of a scope changed
	EntryQuotaHeld                          // a segment was held on a quota (the hold action)
)

func (k EntryKind) String() string {
	switch k {
	case EntryAllowed:
		return "allowed"
	case EntryThrottled:
		return "throttled"
	case EntryQuotaExceeded:
		return "quota_exceeded"
	case EntrySettings:
		return "settings"
	case EntryQuotaHeld:
		return "quota_held"
	}
	return "unknown"
}

// JournalEntry is one decision of Limits, or one change of its settings,
// as the journal keeps it.
type JournalEntry struct {
	Seq  int64     // 1-based, in decision order
	At   time.Time // the limiter's clock reading the decision was made at
	Kind EntryKind
	// Segment, Peer (its target) and Size name the segment decided on;
	// empty for EntrySettings.
	Segment string
	Peer    string
	Size    int64
	// Scope is the limit concerned (GlobalScope or a peer id): the one
	// that refused for EntryThrottled and EntryQuotaExceeded, GlobalScope
	// for EntryAllowed, the one changed for EntrySettings.
	Scope string
	// Tokens is what Scope's bucket held at At (HasTokens false: Scope
	// has no rate). For a decision it is the figure before the decision;
	// for EntrySettings the figure once the new settings apply, which is
	// where a replay of the decisions that follow starts from (a rate
	// imposed anew starts full, a changed one keeps its tokens up to the
	// new burst).
	Tokens    float64
	HasTokens bool
	// RetryAt (EntryThrottled) is when the buckets will hold enough; zero
	// when they never will (the segment is larger than a burst).
	RetryAt time.Time
	// Settings (EntrySettings) are the settings now in force in Scope.
	Settings Settings
}

// slot is a JournalEntry as the ring stores it: instants as Unix
// nanoseconds, a third smaller than time.Time, since the ring holds tens
// of thousands.
type slot struct {
	seq, at, retryAt, size int64 // retryAt 0: none
	tokens                 float64
	segment, peer, scope   string
	settings               Settings
	kind                   EntryKind
	hasTokens              bool
}

func (s slot) entry() JournalEntry {
	e := JournalEntry{
		Seq: s.seq, At: time.Unix(0, s.at).UTC(), Kind: s.kind,
		Segment: s.segment, Peer: s.peer, Size: s.size, Scope: s.scope,
		Tokens: s.tokens, HasTokens: s.hasTokens, Settings: s.settings,
	}
	if s.retryAt != 0 {
		e.RetryAt = time.Unix(0, s.retryAt).UTC()
	}
	return e
}

// journal is a ring of the latest capacity entries. Its storage grows as
// entries come, never past capacity, then the newest entry overwrites the
// oldest: once full, an entry costs a copy and no allocation. Entry seq
// lives at slots[(seq-1) % capacity]. The owner serialises access.
type journal struct {
	capacity int
	slots    []slot
	total    int64 // entries ever added: the last seq
}

func newJournal(capacity int) journal {
	return journal{capacity: max(1, capacity)}
}

func (j *journal) add(s slot) {
	j.total++
	s.seq = j.total
	if len(j.slots) < j.capacity {
		if len(j.slots) == cap(j.slots) {
			// Grown by hand: append's own growth would overshoot capacity.
			grown := make([]slot, len(j.slots), min(j.capacity, max(64, 2*cap(j.slots))))
			copy(grown, j.slots)
			j.slots = grown
		}
		j.slots = append(j.slots, s)
		return
	}
	j.slots[(j.total-1)%int64(j.capacity)] = s
}

// snapshot copies the ring, oldest first.
func (j *journal) snapshot() []slot {
	out := make([]slot, 0, len(j.slots))
	if len(j.slots) < j.capacity {
		return append(out, j.slots...)
	}
	oldest := int(j.total % int64(j.capacity))
	out = append(out, j.slots[oldest:]...)
	return append(out, j.slots[:oldest]...)
}

func (j *journal) dropped() int64 { return j.total - int64(len(j.slots)) }

// Journal returns the journal's entries, oldest first: every decision of
// AdmitSegment (allowed, throttled, quota exceeded) and every change of
// settings (NewLimits, TrackPeer, SetGlobal, SetPeer), the latest capacity
// of them. total counts every entry since the Limits were made, dropped
// those the journal no longer holds (0: it is complete).
func (ls *Limits) Journal() (entries []JournalEntry, total, dropped int64, capacity int) {
	ls.mu.Lock()
	slots := ls.journal.snapshot()
	total, dropped, capacity = ls.journal.total, ls.journal.dropped(), ls.journal.capacity
	ls.mu.Unlock()
	// Converted outside the lock: admissions wait only for the copy.
	entries = make([]JournalEntry, len(slots))
	for i, s := range slots {
		entries[i] = s.entry()
	}
	return entries, total, dropped, capacity
}

// journalSettings records that scope (whose limiter is l, already set to
// its new settings at now) changed. The caller holds ls.mu.
func (ls *Limits) journalSettings(now time.Time, scope string, l *Limiter) {
	l.mu.Lock()
	tokens, ok := l.tokensAt(now)
	s := l.settings
	l.mu.Unlock()
	ls.journal.add(slot{at: now.UnixNano(), kind: EntrySettings, scope: scope, tokens: tokens, hasTokens: ok, settings: s})
}
