package api

import "time"

// Paths of the operator features: dead-letter redrive, hourly traffic, the
// lab clock.
const (
	// PathRequeue moves DEADLETTER segments back to PENDING (POST).
	PathRequeue = "/v1/ledger/requeue"
	// PathIngressReport answers the hourly traffic buckets (GET
	// ?since=T&until=T, each RFC 3339 or a Go duration meaning that long
	// before the daemon's now).
	PathIngressReport = "/v1/ingress/report"
	// PathLabClock moves the daemon's clock (POST); it exists only under
	// edged run --lab-clock.
	PathLabClock = "/v1/lab/clock"
)

// Clocks reported in Status.Clock.
const (
	ClockSystem = "system"
	ClockLab    = "lab" // edged run --lab-clock: POST /v1/lab/clock moves it
)

// AttemptRequeued is the history entry of a requeue: not an attempt, the
// end of a round of them (Attempt is the count the round reached).
const AttemptRequeued = "requeued"

// RequeueRequest is the body of POST /v1/ledger/requeue: exactly one of IDs,
// Peer or All selects the DEADLETTER segments to move back to PENDING.
// With IDs it is all or nothing: an id that is not DEADLETTER, or not in the
// ledger, refuses the whole request (409), naming each such id.
type RequeueRequest struct {
	IDs    []string `json:"ids,omitempty"`
	Peer   string   `json:"peer,omitempty"`
	All    bool     `json:"all,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
}

// RequeueResponse answers a RequeueRequest: the ids moved (with DryRun, that
// would have been), sorted.
type RequeueResponse struct {
	Requeued []string `json:"requeued"`
	DryRun   bool     `json:"dry_run"`
	// Warnings: the requeue is done but something around it failed (the
	// audit event could not be written).
	Warnings []string `json:"warnings,omitempty"`
}

// Traffic kinds of an hourly bucket.
const (
	TrafficIngress   = "ingress"   // bytes received from the sender Peer
	TrafficDelivered = "delivered" // bytes delivered to the target Peer
)

// TrafficBucket is one hour's bytes and segments of one peer and kind.
type TrafficBucket struct {
	Hour     time.Time `json:"hour"` // the hour's start, UTC, on the daemon's clock
	Peer     string    `json:"peer"`
	Kind     string    `json:"kind"`
	Bytes    int64     `json:"bytes"`
	Segments int64     `json:"segments"`
}

// IngressReport is the answer of GET /v1/ingress/report: the buckets of the
// hours that overlap [since, until), ordered by hour, peer and kind. Since
// and Until are null when unbounded.
type IngressReport struct {
	Since   *time.Time      `json:"since"`
	Until   *time.Time      `json:"until"`
	Buckets []TrafficBucket `json:"buckets"`
}

// LabClockRequest is the body of POST /v1/lab/clock: exactly one of Advance
// (a Go duration, not negative: "23h59m") or Set (RFC 3339).
type LabClockRequest struct {
	Advance string `json:"advance,omitempty"`
	Set     string `json:"set,omitempty"`
}

// LabClockResponse is the lab clock's reading once moved.
type LabClockResponse struct {
	Now time.Time `json:"now"`
}
