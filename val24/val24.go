// Package val24 is the VAL24 per-peer bandwidth lab: per-sender ingress
// attribution on edged's listener, /metrics against the status, per-peer
// limits, quota usage across a kill -9, and end-to-end relay through edged
// to two peers, all on real processes (DESIGN.md §7).
//
// As in VAL23, checks never look at live processes: the runner saves every
// scenario's raw evidence first, and the checks read it back from disk.
package val24

import (
	"fmt"
	"time"

	"edgelab/labs/labrun"
	"edgelab/setup/labsetup"
)

// Lab constants (DESIGN.md §7, "The VAL24 lab").
const (
	Title     = "VAL24 — Per-Peer Bandwidth: Attribution, Metrics, Limits and Quota Persistence"
	LabName   = "VAL24"
	DirName   = "val24-per-peer-bandwidth-local"
	EdgedAddr = "127.0.0.1:19056"
	PeerAAddr = "127.0.0.1:19057"
	PeerBAddr = "127.0.0.1:19058"
	NodeID    = "edge-val24"
	PeerA     = "peer-a"
	PeerB     = "peer-b"

	// SegmentSize is the size of seeded segments (S-B, S-C).
	SegmentSize = 64
	// PeerRate is S-B's per-peer rate for peer-a; UnknownPeer the id S-B
	// must see refused.
	PeerRate    = 64
	UnknownPeer = "peer-z"
	// GlobalQuota and PeerQuota are S-C's daily quotas (global, peer-a).
	GlobalQuota = 4096
	PeerQuota   = 3 * SegmentSize
)

// Scenario names.
const (
	SA = "S-A"
	SB = "S-B"
	SC = "S-C"
	SD = "S-D"
)

// Scenarios are run and reported in this order. S-B's floor is peer-a's
// token refill (5 × 64 B at 64 B/s, burst 64 B: 4 s); the others wait on
// no timer.
var Scenarios = []labrun.Scenario{
	{Name: SA, Title: "ingress attribution and relay"},
	{Name: SB, Title: "per-peer limit (peer-a 64B/s, peer-b unlimited)", Floor: 4 * time.Second},
	{Name: SC, Title: "quota persistence across kill -9"},
	{Name: SD, Title: "per-peer limiter unit tests", UnitTests: true},
}

// ScenarioByName returns the definition of name.
func ScenarioByName(name string) (labrun.Scenario, bool) { return labrun.Lookup(Scenarios, name) }

// SenderPlan is one sending party of S-A: the certificate it presents, the
// Edge-Peer-Id it declares ("" for an old client), its session id, how many
// connections it uses and how many segments each connection sends.
type SenderPlan struct {
	Name    string
	Cert    string
	PeerID  string
	Session string
	Conns   int
	PerConn int
	// Base is the size of its first segment; each further one is a byte
	// larger, so the expected totals are not multiples of one size.
	Base int
	// Phase is "send", or "spoof" for the party that must be refused.
	Phase string
}

// Sender identities (certificates) of S-A.
const (
	Sender1      = "sender-1"
	Sender2      = "sender-2"
	LegacySender = "sender-legacy"
)

// SenderPlans are S-A's sending parties, in the order they start.
var SenderPlans = []SenderPlan{
	{Name: Sender1, Cert: Sender1, PeerID: Sender1, Session: "a24a0001-0000-4000-8000-000000000001", Conns: 3, PerConn: 4, Base: 100, Phase: PhaseSend},
	{Name: Sender2, Cert: Sender2, PeerID: Sender2, Session: "a24a0002-0000-4000-8000-000000000002", Conns: 2, PerConn: 4, Base: 300, Phase: PhaseSend},
	// An old client: no Edge-Peer-Id, so it is known by its session id, as
	// "session:<uuid>" (transport.SessionKey).
	{Name: "legacy", Cert: LegacySender, Session: "a24a0003-0000-4000-8000-000000000003", Conns: 2, PerConn: 3, Base: 500, Phase: PhaseSend},
	// sender-2's certificate declaring sender-1: must be refused, 403.
	{Name: "spoof", Cert: Sender2, PeerID: Sender1, Session: "a24a0002-0000-4000-8000-000000000002", Conns: 1, PerConn: 2, Base: 700, Phase: PhaseSpoof},
}

// Send phases of S-A.
const (
	PhaseSend      = "send"
	PhaseSpoof     = "spoof"
	PhaseRedeliver = "redeliver"
)

// SegmentID is the id of a sender's j-th segment (1-based) on connection c
// (1-based).
func (p SenderPlan) SegmentID(c, j int) string {
	return fmt.Sprintf("val24-sa-%s-c%d-%02d", p.Name, c, j)
}

// Size is the size of that segment.
func (p SenderPlan) Size(c, j int) int { return p.Base + (c-1)*p.PerConn + (j - 1) }

// Target is where that segment goes: the two peers alternate.
func (p SenderPlan) Target(c, j int) string {
	if (c+j)%2 == 0 {
		return PeerA
	}
	return PeerB
}

// IDs of S-B's seeded segments, numbered as setup seeds them: five for
// each peer, peer-a's first in the cycle's id order.
var (
	SBPeerA = labsetup.SegmentIDs("val24-sb-a", 1, 5)
	SBPeerB = labsetup.SegmentIDs("val24-sb-b", 1, 5)
	// S-C: five for peer-a (its quota passes three), two for peer-b, then
	// one more for peer-b after the restart.
	SCPeerA      = labsetup.SegmentIDs("val24-sc-a", 1, 5)
	SCPeerB      = labsetup.SegmentIDs("val24-sc-b", 1, 2)
	SCAfterKillB = labsetup.SegmentIDs("val24-sc-b", 3, 1)
)

// UnitTests are the tests S-D runs (go test -run), by package.
var UnitTests = map[string][]string{
	"./edged/bandwidth": {
		"TestLimits_GlobalAndPeer",
		"TestLimits_ReservationsHoldBothQuotas",
		"TestLimits_CommitStoresExactlyThePersistedUsage",
		"TestLimits_DailyWindowIsTimeZoneIndependent",
		"TestLimits_ResumesPersistedUsagePerScope",
		"TestLimits_LiveChanges",
	},
	"./edged/relay": {
		"TestExecutor_PeerThrottleDoesNotBlockOtherPeers",
		"TestExecutor_PeerQuotaPersistedWithDelivery",
	},
}
