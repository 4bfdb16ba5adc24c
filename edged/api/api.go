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
	PathMetrics   = "/metrics"
)

// Bandwidth sources reported in Status.Bandwidth.Source.
const (
	SourceDefault = "default" // nothing configured anywhere
	SourceConfig  = "config"  // [relay.bandwidth] in edge.toml
	SourceRuntime = "runtime" // set-bandwidth, persisted in the ledger
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
	BytesPerSecond  int64  `json:"bytes_per_second"`
	BurstBytes      int64  `json:"burst_bytes"`
	DailyQuotaBytes int64  `json:"daily_quota_bytes"`
	Peer            string `json:"peer,omitempty"`
	Reset           bool   `json:"reset,omitempty"`
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
	PendingSegments     int64      `json:"pending_segments"`
	DeadletterSegments  int64      `json:"deadletter_segments"`
	// BlockedOversize counts pending segments for this peer larger than the
	// global or the peer's burst: no rate limit will ever pass them.
	BlockedOversize int64 `json:"blocked_oversize"`
}

// Ingress is what edged's listener received, attributed per sender.
type Ingress struct {
	Bytes  int64            `json:"bytes"`
	ByPeer map[string]int64 `json:"by_peer"`
}

// Status is the answer of GET /v1/relay/status.
type Status struct {
	NodeID string `json:"node_id"`
	// Unlimited is true when no rate and no quota is in force anywhere:
	// neither globally nor for any peer.
	Unlimited           bool                  `json:"unlimited"`
	Bandwidth           Bandwidth             `json:"bandwidth"`
	ThrottleCount       int64                 `json:"throttle_count"`
	QuotaDropCount      int64                 `json:"quota_drop_count"`
	DailyUsedBytes      int64                 `json:"daily_used_bytes"`
	DailyRemainingBytes *int64                `json:"daily_remaining_bytes"`
	DailyWindowStart    *time.Time            `json:"daily_window_start"`
	Segments            SegmentCounts         `json:"segments"`
	Peers               map[string]PeerStatus `json:"peers"`
	Ingress             Ingress               `json:"ingress"`
	// ExecutorCycles counts executor passes over the due segments; the lab
	// uses it to prove that blocking lasted for whole cycles.
	ExecutorCycles int64 `json:"executor_cycles"`
	// LastCycleThrottled is how many segments the latest cycle deferred on
	// the rate limit.
	LastCycleThrottled int64 `json:"last_cycle_throttled"`
	// Listen is the address the segment listener is bound to (the real
	// port when edge.toml says port 0); empty without a listener.
	Listen string `json:"listen,omitempty"`
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
}

// Ledger is the answer of GET /v1/ledger.
type Ledger struct {
	Segments []Segment `json:"segments"`
}

// Error is the body of every 4xx/5xx answer.
type Error struct {
	Error string `json:"error"`
}
