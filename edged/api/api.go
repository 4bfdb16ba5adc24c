// Package api holds the JSON types of edged's control API (HTTP over the unix
// socket). Field names are a contract shared with the CLI, the lab and
// reviewers reading evidence: add fields freely, never rename one.
package api

import "time"

// Version prefix of every control path.
const (
	PathStatus    = "/v1/relay/status"
	PathBandwidth = "/v1/relay/config/bandwidth"
	PathLedger    = "/v1/ledger"
	// PathHistory answers one segment's attempt history: ?id=ID.
	PathHistory = "/v1/ledger/history"
	// PathDecisions answers the limiter's decision journal.
	PathDecisions = "/v1/relay/decisions"
	PathMetrics   = "/metrics"
)

// Bandwidth sources reported in Status.Bandwidth.Source.
const (
	SourceDefault  = "default"  // nothing configured anywhere
	SourceConfig   = "config"   // [relay.bandwidth] in edge.toml
	SourceRuntime  = "runtime"  // set-bandwidth, persisted in the ledger
	SourceSchedule = "schedule" // [[relay.bandwidth.schedule]], the entry in force
)

// Bandwidth is an effective bandwidth setting. Zero means unlimited; a zero
// BurstBytes means "equal to BytesPerSecond".
type Bandwidth struct {
	BytesPerSecond  int64  `json:"bytes_per_second"`
	BurstBytes      int64  `json:"burst_bytes"`
	DailyQuotaBytes int64  `json:"daily_quota_bytes"`
	Source          string `json:"source,omitempty"`
}

// SetBandwidthRequest is the body of POST /v1/relay/config/bandwidth.
// Reset drops the runtime setting and returns to edge.toml.
type SetBandwidthRequest struct {
	// A limit left out (null) keeps its current value; 0 means no limit
	// of that kind. Setting bytes_per_second to 0 without burst_bytes
	// clears the burst too: a burst means nothing without a rate.
	BytesPerSecond  *int64 `json:"bytes_per_second,omitempty"`
	BurstBytes      *int64 `json:"burst_bytes,omitempty"`
	DailyQuotaBytes *int64 `json:"daily_quota_bytes,omitempty"`
	Peer            string `json:"peer,omitempty"`
	Reset           bool   `json:"reset,omitempty"`
}

// Value is a limit for a SetBandwidthRequest field: api.Value(64).
func Value(n int64) *int64 { return &n }

// Changes reports whether the request sets any limit.
func (r SetBandwidthRequest) Changes() bool {
	return r.BytesPerSecond != nil || r.BurstBytes != nil || r.DailyQuotaBytes != nil
}

// SetBandwidthResponse answers a successful SetBandwidthRequest.
type SetBandwidthResponse struct {
	Applied   bool      `json:"applied"`
	Bandwidth Bandwidth `json:"bandwidth"`
	Previous  Bandwidth `json:"previous"`
	Warnings  []string  `json:"warnings"`
}

// SegmentCounts counts ledger rows by state.
type SegmentCounts struct {
	Pending         int64 `json:"pending"`
	Delivered       int64 `json:"delivered"`
	Deadletter      int64 `json:"deadletter"`
	BlockedOversize int64 `json:"blocked_oversize"`
}

// PeerStatus is what edged delivered to one target peer, and the peer's own
// limit and counters. A target that is in the ledger but not in [[peers]]
// has only the delivery figures and segment counts.
type PeerStatus struct {
	DeliveredSegments int64 `json:"delivered_segments"`
	DeliveredBytes    int64 `json:"delivered_bytes"`
	// Configured is true for a peer of [[peers]]: only those have a
	// per-peer limit.
	Configured bool `json:"configured"`
	// Bandwidth is the peer's own limit, applied on top of the global one
	// (source "runtime" when set with set-bandwidth --peer, else "default").
	Bandwidth *Bandwidth `json:"bandwidth,omitempty"`
	// Unlimited is true when the peer's own limit has no rate and no quota.
	Unlimited bool `json:"unlimited"`
	// ThrottleCount and QuotaDropCount count the deferrals and quota drops
	// of segments for this peer, whichever limit (global or the peer's)
	// caused them; the top-level counters are relay-wide.
	ThrottleCount  int64 `json:"throttle_count"`
	QuotaDropCount int64 `json:"quota_drop_count"`
	// DailyUsedBytes, DailyRemainingBytes and DailyWindowStart are the
	// peer's own quota window (remaining is null without a peer quota).
	DailyUsedBytes      int64      `json:"daily_used_bytes"`
	DailyRemainingBytes *int64     `json:"daily_remaining_bytes"`
	DailyWindowStart    *time.Time `json:"daily_window_start"`
	// Quota is the peer's own quota window, with a peer quota in force.
	Quota              *QuotaWindow `json:"quota,omitempty"`
	PendingSegments    int64        `json:"pending_segments"`
	DeadletterSegments int64        `json:"deadletter_segments"`
	// BlockedOversize counts pending segments for this peer larger than the
	// global or the peer's burst: no rate limit will ever pass them.
	BlockedOversize int64 `json:"blocked_oversize"`
}

// QuotaWindow is a quota's current window. Period says how windows are
// cut: "24h from the first delivery" (the default) or a calendar period
// ("day 04:00 Europe/Berlin"). Start and End are null while no window is
// open (nothing counted yet in a 24 h window).
type QuotaWindow struct {
	Period    string     `json:"period"`
	Start     *time.Time `json:"start"`
	End       *time.Time `json:"end"`
	UsedBytes int64      `json:"used_bytes"`
	LeftBytes int64      `json:"left_bytes"`
	// State is QuotaOpen while bytes are left, QuotaExhausted when none.
	State string `json:"state"`
}

// Quota window states.
const (
	QuotaOpen      = "open"
	QuotaExhausted = "exhausted"
)

// Ingress is what edged's listener received, attributed per sender.
type Ingress struct {
	Bytes int64 `json:"bytes"`
	// ByPeer is keyed by the credited identity: a peer id, a legacy
	// sender's "session:<uuid>", or "_overflow".
	ByPeer map[string]int64 `json:"by_peer"`
	// KeyKinds says what each key of ByPeer is: "peer", "session" or
	// "overflow" (transport.KeyKind).
	KeyKinds map[string]string `json:"key_kinds"`
}

// Status is the answer of GET /v1/relay/status.
type Status struct {
	NodeID string `json:"node_id"`
	// Unlimited is true when no rate and no quota is in force anywhere:
	// neither globally nor for any peer.
	Unlimited      bool      `json:"unlimited"`
	Bandwidth      Bandwidth `json:"bandwidth"`
	ThrottleCount  int64     `json:"throttle_count"`
	QuotaDropCount int64     `json:"quota_drop_count"`
	// QuotaHeldCount counts deferrals on an exhausted quota under
	// quota_action = "hold" (each cycle a held segment is looked at).
	QuotaHeldCount      int64      `json:"quota_held_count"`
	DailyUsedBytes      int64      `json:"daily_used_bytes"`
	DailyRemainingBytes *int64     `json:"daily_remaining_bytes"`
	DailyWindowStart    *time.Time `json:"daily_window_start"`
	// Quota is the global quota's window, with a global quota in force.
	Quota    *QuotaWindow          `json:"quota,omitempty"`
	Segments SegmentCounts         `json:"segments"`
	Peers    map[string]PeerStatus `json:"peers"`
	Ingress  Ingress               `json:"ingress"`
	// ExecutorCycles counts executor passes over the due segments; the lab
	// uses it to prove that blocking lasted for whole cycles.
	ExecutorCycles int64 `json:"executor_cycles"`
	// LastCycleThrottled is how many segments the latest cycle deferred on
	// the rate limit.
	LastCycleThrottled int64 `json:"last_cycle_throttled"`
	// LedgerError is set while the ledger cannot record delivery outcomes
	// (a full disk, an I/O error): no new delivery starts until it can, so
	// that nothing is sent again and again. Null when the ledger is healthy.
	LedgerError *LedgerError `json:"ledger_error"`
	// Listen is the address the segment listener is bound to (the real
	// port when edge.toml says port 0); empty without a listener.
	Listen string `json:"listen,omitempty"`
	// Listener is what the segment listener holds now; absent without one.
	Listener *ListenerStatus `json:"listener,omitempty"`
	// Clock is ClockSystem, or ClockLab under edged run --lab-clock.
	Clock string `json:"clock"`
}

// ListenerStatus is the segment listener's connections and bodies in flight
// (DESIGN.md §3, "Hostile senders").
type ListenerStatus struct {
	Conns            int64 `json:"conns"`             // authenticated connections open
	Handshakes       int64 `json:"handshakes"`        // TLS handshakes in progress
	Refused          int64 `json:"refused"`           // connections closed because a cap was reached
	HandshakesFailed int64 `json:"handshakes_failed"` // failed or timed out
	Bodies           int64 `json:"bodies"`            // request bodies being read
	BodyBytes        int64 `json:"body_bytes"`        // bytes those bodies hold, within the budget
}

// Segment is one ledger row as GET /v1/ledger and `edged ledger dump` show it.
type Segment struct {
	ID            string     `json:"id"`
	TargetPeer    string     `json:"target_peer"`
	Size          int64      `json:"size"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	// History is every delivery attempt the ledger recorded for the
	// segment, in attempt order ("history":[] when none was made).
	History []Attempt `json:"history"`
}

// Attempt outcomes.
const (
	AttemptDelivered = "delivered"
	AttemptFailed    = "failed"
)

// Attempt is one delivery attempt of a segment, as the ledger's history
// keeps it: the raw record the lab's checks re-derive counters from. A
// quota drop is an attempt that failed at admission (started_at ==
// ended_at, error "quota exceeded"); a throttle is not an attempt (see
// Decision).
type Attempt struct {
	Attempt   int       `json:"attempt"` // 1-based
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	Outcome   string    `json:"outcome"` // AttemptDelivered or AttemptFailed
	Error     string    `json:"error,omitempty"`
	// Round is 1, and one more after each requeue (AttemptRequeued ends
	// a round; attempt numbers start at 1 again in the next).
	Round int `json:"round,omitempty"`
}

// Decision kinds in the limiter's journal.
const (
	DecisionAllowed       = "allowed"
	DecisionThrottled     = "throttled"
	DecisionQuotaExceeded = "quota_exceeded"
	DecisionQuotaHeld     = "quota_held" // the hold action: deferred to the quota window's end
	// DecisionSettings is a change of the limits in force (at boot, and
	// every set-bandwidth), so that a reader can replay the decisions
	// against the limits they were made under.
	DecisionSettings = "settings"
)

// Decision is one entry of the limiter's journal: every admission the
// limiter decided (allowed, throttled, quota_exceeded) and every change of
// its settings, with the limiter's own clock reading.
type Decision struct {
	Seq int64     `json:"seq"` // 1-based, in decision order, never reused while edged runs
	At  time.Time `json:"at"`
	// Kind is one of the Decision* constants.
	Kind string `json:"kind"`
	// Segment, TargetPeer and Size name the segment decided on (not for
	// settings).
	Segment    string `json:"segment,omitempty"`
	TargetPeer string `json:"target_peer,omitempty"`
	Size       int64  `json:"size,omitempty"`
	// Scope is the limit concerned: "" the global one, else a peer id.
	// For throttled and quota_exceeded, the limit that refused; for
	// allowed, ""; for settings, the limit that changed.
	Scope string `json:"scope"`
	// Tokens is what the token bucket of Scope held at At, before the
	// decision; null when that scope has no rate.
	Tokens *float64 `json:"tokens"`
	// RetryAt (throttled) is when the bucket will hold enough tokens;
	// null when it never will (the segment is larger than the burst).
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// Settings (settings) are the limits now in force in Scope.
	Settings *Bandwidth `json:"settings,omitempty"`
}

// Decisions is the answer of GET /v1/relay/decisions: the journal, a
// bounded ring of the latest decisions. Total counts every decision since
// edged started; Dropped those the ring no longer holds (the oldest), so
// a reader knows whether the journal is complete (Dropped == 0).
type Decisions struct {
	Capacity  int        `json:"capacity"`
	Total     int64      `json:"total"`
	Dropped   int64      `json:"dropped"`
	Decisions []Decision `json:"decisions"`
}

// Ledger is the answer of GET /v1/ledger.
type Ledger struct {
	Segments []Segment `json:"segments"`
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
}

// LedgerError is Status.LedgerError: the latest error and when the outage
// began.
type LedgerError struct {
	Message string    `json:"message"`
	Since   time.Time `json:"since"`
}
