package bandwidth

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// GlobalScope names the global limit in a Decision and in quota usage maps;
// every other scope is a target peer's id.
const GlobalScope = ""

// Counters are how often segments were deferred on a rate and dropped on a
// quota.
type Counters struct {
	Throttles  int64
	QuotaDrops int64
	// QuotaHeld counts deferrals on an exhausted quota under the hold
	// action (SetQuotaHold): no attempt counted, the segment waits.
	QuotaHeld int64
}

// Limits applies the global limit and one limit per target peer together: a
// segment for peer P is delivered only when the global limit and P's limit
// both allow it. Quotas are checked first (global, then P), then the token
// buckets (global, then P); tokens and quota bytes are reserved in both
// scopes only when both allow, so a refusal by one never spends the other's.
//
// Counters are kept per target peer, whichever limit deferred or dropped the
// segment, and relay-wide (the sum, plus segments for peers not tracked).
// Every decision and every change of settings is also kept in a bounded
// journal (Journal), so that a reader can re-derive the counters and replay
// the decisions against the settings they were made under.
// It is safe for concurrent use.
type Limits struct {
	now func() time.Time

	// mu is taken before any Limiter's own mutex, and the global limiter's
	// before a peer's, so the two scopes change together.
	mu     sync.Mutex
	global *Limiter
	peers  map[string]*Limiter
	total  Counters
	byPeer map[string]*Counters
	// period is every scope's calendar quota period (nil: 24 h windows).
	period *Period
	// hold makes a quota refusal a deferral to the window's end (the
	// segment stays PENDING, no attempt is counted) instead of a failed
	// attempt.
	hold bool
	// startEmpty: peers tracked from now on start with empty buckets.
	startEmpty bool
	// journal is written under mu, in the order of the decisions.
	journal journal
	// version counts the changes of settings (any scope, the quota action
	// and period included): what was computed from the buckets before one
	// (the executor's deferrals) no longer holds after it.
	version atomic.Uint64
}

// NewLimits returns limits with the global settings s and quota usage u (as
// persisted); peers are added with TrackPeer. now is the clock; nil means
// time.Now.
// The journal starts with the global settings.
func NewLimits(s Settings, u Usage, now func() time.Time) *Limits {
	return newLimits(s, u, now, JournalCapacity)
}

// newLimits is NewLimits with a journal of capacity entries.
func newLimits(s Settings, u Usage, now func() time.Time, capacity int) *Limits {
	if now == nil {
		now = time.Now
	}
	ls := &Limits{
		now:     now,
		global:  New(s, u, now),
		peers:   map[string]*Limiter{},
		byPeer:  map[string]*Counters{},
		journal: newJournal(capacity),
	}
	ls.journalSettings(now(), GlobalScope, ls.global)
	return ls
}

// TrackPeer gives peer id its own limit with settings s and quota usage u
// (as persisted). Only tracked peers have per-peer limits, counters and
// usage; segments for other targets pass the global limit alone. Tracking
// a peer again replaces its limiter and keeps its counters. The journal
// records the peer's settings.
func (ls *Limits) TrackPeer(id string, s Settings, u Usage) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	p := New(s, u, ls.now)
	p.SetStartEmpty(ls.startEmpty)
	p.SetPeriod(ls.period)
	ls.peers[id] = p
	ls.version.Add(1)
	if ls.byPeer[id] == nil {
		ls.byPeer[id] = &Counters{}
	}
	ls.journalSettings(ls.now(), id, p)
}

// SetStartEmpty makes the buckets start with no tokens (rclone's
// --bwlimit behaviour) instead of full (the seed's token-bucket table):
// the global one now, and every peer's tracked later. Call it before the
// first admission.
func (ls *Limits) SetStartEmpty(empty bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.startEmpty = empty
	ls.version.Add(1)
	ls.global.SetStartEmpty(empty)
	for _, p := range ls.peers {
		p.SetStartEmpty(empty)
	}
}

// SetQuotaHold chooses what a quota refusal is: with hold, QuotaHeld, a
// deferral to the end of the refusing scope's window; without, the seed's
// QuotaExceeded, a failed attempt.
func (ls *Limits) SetQuotaHold(hold bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.hold = hold
	ls.version.Add(1)
}

// SetPeriod makes every scope's quota window the calendar period p, the
// peers tracked later included (nil: 24 h from the first delivery).
func (ls *Limits) SetPeriod(p *Period) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.period = p
	ls.version.Add(1)
	ls.global.SetPeriod(p)
	for _, l := range ls.peers {
		l.SetPeriod(p)
	}
}

// UnknownPeerError is SetPeer on a peer that is not tracked.
type UnknownPeerError struct{ Peer string }

func (e *UnknownPeerError) Error() string {
	return fmt.Sprintf("peer %q has no per-peer limit (not tracked)", e.Peer)
}

// SetGlobal applies new global settings live (see Limiter.Set) and records
// them in the journal.
func (ls *Limits) SetGlobal(s Settings) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.set(GlobalScope, ls.global, s)
}

// set applies s to scope's limiter l and journals it, at one clock
// reading. The caller holds ls.mu.
func (ls *Limits) set(scope string, l *Limiter, s Settings) {
	now := ls.now()
	l.mu.Lock()
	l.setAt(now, s)
	l.mu.Unlock()
	ls.version.Add(1)
	ls.journalSettings(now, scope, l)
}

// Version changes whenever settings do (SetGlobal, SetPeer, TrackPeer and
// the other setters).
func (ls *Limits) Version() uint64 { return ls.version.Load() }

// Slack is how long peer's buckets (the global one and its own) can go on
// filling once they hold size tokens before the fuller one is full and
// loses what it is given: how much later than its tokens are due a
// segment of size can be admitted at no cost to the rate. Without a rate,
// the largest Duration.
func (ls *Limits) Slack(peer string, size int64) time.Duration {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	slack := time.Duration(math.MaxInt64)
	for _, s := range ls.scopes(peer) {
		s.l.mu.Lock()
		if b := s.l.bucket; b != nil {
			room := max(0, float64(b.Burst())-float64(size))
			slack = min(slack, time.Duration(room/float64(b.Limit())*float64(time.Second)))
		}
		s.l.mu.Unlock()
	}
	return slack
}

// ShortBy is how long from now until peer's buckets both hold size tokens,
// if nothing else draws on them: 0 when they hold them already. A
// duration, not a moment, so that a caller compares it with its own clock
// reading and not with a later one taken here.
func (ls *Limits) ShortBy(peer string, size int64) time.Duration {
	now, at := ls.readyAt(peer, size, size)
	return at.Sub(now)
}

// ReadyAt is the earliest moment by which the global bucket could have
// given global tokens, and peer's own bucket own tokens, from now on (what
// each holds included), if nothing else drew on them: when a queue of
// throttled segments of that many bytes could all have passed, each one
// being no larger than the bursts. A scope without a rate is ready now.
func (ls *Limits) ReadyAt(peer string, global, own int64) time.Time {
	_, at := ls.readyAt(peer, global, own)
	return at
}

// readyAt is ReadyAt with the clock reading it was computed at.
func (ls *Limits) readyAt(peer string, global, own int64) (now, at time.Time) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now = ls.now()
	at = now
	for i, s := range ls.scopes(peer) {
		need := global
		if i > 0 {
			need = own
		}
		s.l.mu.Lock()
		t := s.l.readyAt(now, need)
		s.l.mu.Unlock()
		if t.After(at) {
			at = t
		}
	}
	return now, at
}

// SetPeer applies new settings to a tracked peer live (see Limiter.Set)
// and records them in the journal.
func (ls *Limits) SetPeer(id string, s Settings) error {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	p, ok := ls.peers[id]
	if !ok {
		return &UnknownPeerError{Peer: id}
	}
	ls.set(id, p, s)
	return nil
}

// GlobalSettings returns the global settings in force.
func (ls *Limits) GlobalSettings() Settings {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.global.Settings()
}

// PeerSettings returns a tracked peer's settings; ok is false for a peer
// that is not tracked.
func (ls *Limits) PeerSettings(id string) (s Settings, ok bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	p, ok := ls.peers[id]
	if !ok {
		return Settings{}, false
	}
	return p.Settings(), true
}

// Peers lists the tracked peers, sorted.
func (ls *Limits) Peers() []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ids := make([]string, 0, len(ls.peers))
	for id := range ls.peers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

type scoped struct {
	name string
	l    *Limiter
}

// scopes are the limiters a segment for peer must pass, global first. The
// caller holds ls.mu.
func (ls *Limits) scopes(peer string) []scoped {
	s := []scoped{{GlobalScope, ls.global}}
	if p, ok := ls.peers[peer]; ok {
		s = append(s, scoped{peer, p})
	}
	return s
}

// lock takes every scope's mutex in order; the returned func releases them.
func lock(scopes []scoped) func() {
	for _, s := range scopes {
		s.l.mu.Lock()
	}
	return func() {
		for i := len(scopes) - 1; i >= 0; i-- {
			scopes[i].l.mu.Unlock()
		}
	}
}

func (ls *Limits) count(peer string, f func(*Counters)) {
	f(&ls.total)
	if c, ok := ls.byPeer[peer]; ok {
		f(c)
	}
}

// Admit is AdmitSegment for a segment whose id the journal need not name.
func (ls *Limits) Admit(peer string, size int64) Decision {
	return ls.AdmitSegment("", peer, size)
}

// AdmitSegment decides whether segment id, of size bytes for peer, may be
// delivered now, and records the decision in the journal. Decision.Scope
// names the limit that refused it. Allowed reserves tokens and quota bytes
// in every scope: call Commit or Release.
func (ls *Limits) AdmitSegment(id, peer string, size int64) Decision {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := ls.now()
	scopes := ls.scopes(peer)
	defer lock(scopes)()
	// The journal's figures are the buckets' before anything is reserved.
	var tokens [2]struct {
		n  float64
		ok bool
	}
	for i, s := range scopes {
		s.l.rollWindow(now)
		tokens[i].n, tokens[i].ok = s.l.tokensAt(now)
	}
	entry := slot{at: now.UnixNano(), segment: id, peer: peer, size: size}
	journal := func(kind EntryKind, scope int) {
		entry.kind, entry.scope = kind, scopes[scope].name
		entry.tokens, entry.hasTokens = tokens[scope].n, tokens[scope].ok
		ls.journal.add(entry)
	}
	for i, s := range scopes {
		if s.l.quotaExceeded(size) {
			if ls.hold {
				// Held until the window that refused it ends; a segment
				// larger than the whole quota could wait for ever, so it
				// fails as under the default action.
				if end := s.l.currentWindowEnd(now); !end.IsZero() && size <= s.l.settings.DailyQuotaBytes {
					ls.count(peer, func(c *Counters) { c.QuotaHeld++ })
					entry.retryAt = end.UnixNano()
					journal(EntryQuotaHeld, i)
					return Decision{Verdict: QuotaHeld, Scope: s.name, RetryAt: end}
				}
			}
			ls.count(peer, func(c *Counters) { c.QuotaDrops++ })
			journal(EntryQuotaExceeded, i)
			return Decision{Verdict: QuotaExceeded, Scope: s.name}
		}
	}
	// Every bucket is asked, so RetryAt is when all of them will hold
	// enough, not only the first that is short.
	var (
		held      []*rate.Reservation
		throttled bool
		never     bool
		wait      time.Duration
		scope     int // the index in scopes of the one that refused
	)
	for i, s := range scopes {
		r, ok, delay := s.l.reserveTokens(now, size)
		if r != nil {
			held = append(held, r)
		}
		switch {
		case !ok:
			if !never {
				scope = i
			}
			throttled, never = true, true
		case delay > 0:
			if !never && delay > wait {
				wait, scope = delay, i
			}
			throttled = true
		}
	}
	if throttled {
		// Newest first, so each cancellation returns exactly the tokens it
		// took.
		for i := len(held) - 1; i >= 0; i-- {
			held[i].CancelAt(now)
		}
		ls.count(peer, func(c *Counters) { c.Throttles++ })
		d := Decision{Verdict: Throttled, Scope: scopes[scope].name}
		if !never {
			d.RetryAt = now.Add(wait)
			entry.retryAt = d.RetryAt.UnixNano()
		}
		journal(EntryThrottled, scope)
		return d
	}
	for _, s := range scopes {
		s.l.reserved += size
	}
	journal(EntryAllowed, 0) // scopes[0] is the global limit
	return Decision{Verdict: Allowed}
}

// UsageAfter is the quota usage of every scope a segment for peer counts
// in, as committing size bytes now would leave it, keyed by scope
// (GlobalScope, and peer when tracked). The executor persists it with the
// DELIVERED mark, then passes the same map to Commit.
func (ls *Limits) UsageAfter(peer string, size int64) map[string]Usage {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	scopes := ls.scopes(peer)
	defer lock(scopes)()
	out := make(map[string]Usage, len(scopes))
	for _, s := range scopes {
		out[s.name] = s.l.usageAfter(size)
	}
	return out
}

// Commit counts an admitted segment as delivered: its reservations are
// returned and each scope's usage becomes usage[scope], the figures that
// were persisted, so memory and ledger agree to the byte and the instant.
// A scope missing from usage adds size at now.
func (ls *Limits) Commit(peer string, size int64, usage map[string]Usage) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	scopes := ls.scopes(peer)
	defer lock(scopes)()
	for _, s := range scopes {
		s.l.reserved = max(0, s.l.reserved-size)
		if u, ok := usage[s.name]; ok {
			s.l.usage = u
		} else {
			s.l.usage = s.l.usageAfter(size)
		}
	}
}

// Release returns an admitted segment's quota reservations after its
// delivery failed. The tokens stay spent: the bytes may well have gone on
// the wire.
func (ls *Limits) Release(peer string, size int64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	scopes := ls.scopes(peer)
	defer lock(scopes)()
	for _, s := range scopes {
		s.l.reserved = max(0, s.l.reserved-size)
	}
}

// LimitsStats is a consistent snapshot of Limits.
type LimitsStats struct {
	// Global holds the global settings and usage; its counters are
	// relay-wide: every deferral and quota drop, whichever limit caused it.
	Global Stats
	// Peers holds each tracked peer's own settings and usage, and the
	// counters of segments for that peer, whichever limit caused them.
	Peers map[string]Stats
}

// Stats returns a snapshot of every scope, windows rolled at now.
func (ls *Limits) Stats() LimitsStats {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := ls.now()
	snap := func(l *Limiter, c Counters) Stats {
		l.mu.Lock()
		defer l.mu.Unlock()
		st := l.statsAt(now)
		// The counters of Limits count per target peer, whichever scope
		// decided.
		st.ThrottleCount, st.QuotaDropCount, st.QuotaHeldCount = c.Throttles, c.QuotaDrops, c.QuotaHeld
		return st
	}
	out := LimitsStats{Global: snap(ls.global, ls.total), Peers: make(map[string]Stats, len(ls.peers))}
	for id, p := range ls.peers {
		out.Peers[id] = snap(p, *ls.byPeer[id])
	}
	return out
}
