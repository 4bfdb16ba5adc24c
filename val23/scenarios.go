// Package val23 is the VAL23 relay bandwidth lab: its scenarios (S-A..S-E),
// the runner that drives real edged and peer processes through them, the
// evidence each leaves, and the ten checks evaluated over that evidence.
//
// Checks never look at live processes: the runner saves every scenario's raw
// evidence to disk first, and the checks read it back from there, so a
// saved evidence directory can be re-evaluated on its own.
package val23

import (
	"time"

	"edgelab/labs/labrun"
	"edgelab/setup/labsetup"
)

// Lab constants from the seed (§2, §3) and DESIGN.md §5.
const (
	Title       = "VAL23 — Relay Bandwidth Management Validation"
	LabName     = "VAL23"
	DirName     = "val23-relay-bandwidth-local"
	EdgedAddr   = "127.0.0.1:19054"
	PeerAddr    = "127.0.0.1:19055"
	NodeID      = "edge-val23"
	PeerID      = "peer-val23"
	SegmentSize = 64

	// UnitTest is the limiter test S-E runs, and its package.
	UnitTest        = "TestBandwidthLimiter_DailyQuota_ResetsAfter24h"
	UnitTestPackage = "./edged/bandwidth"

	// Rate, quota and hot-reload figures of S-B, S-C and S-D.
	RateBytesPerSecond = 64
	QuotaBytes         = 128
	BlockedRate        = 8
	QuotaDelivered     = QuotaBytes / SegmentSize
)

// Scenario names.
const (
	SA = "S-A"
	SB = "S-B"
	SC = "S-C"
	SD = "S-D"
	SE = "S-E"
)

// Scenario is one row of the seed's scenario matrix: its name and title,
// and the segments it seeds.
type Scenario struct {
	labrun.Scenario
	// Prefix and Count name the seeded segments prefix-001..; Count 0 means
	// the scenario seeds nothing (S-E).
	Prefix string
	Count  int
}

// Scenarios are run and reported in this order. Floors are the physical
// floors of docs/PERFORMANCE.md figure 1: S-B's 4 s of token refill, S-C's
// 3 s of backoff, S-D's 1 s cycles.
var Scenarios = []Scenario{
	{Scenario: labrun.Scenario{Name: SA, Title: "unlimited baseline"}, Prefix: "val23-sa", Count: 4},
	{Scenario: labrun.Scenario{Name: SB, Title: "rate only (64B/s)", Floor: 4 * time.Second}, Prefix: "val23-sb", Count: 5},
	{Scenario: labrun.Scenario{Name: SC, Title: "quota only (128B)", Floor: 3 * time.Second}, Prefix: "val23-sc", Count: 6},
	{Scenario: labrun.Scenario{Name: SD, Title: "hot-reload (8→∞ B/s)", Floor: time.Second}, Prefix: "val23-sd", Count: 6},
	{Scenario: labrun.Scenario{Name: SE, Title: "daily reset unit test", UnitTests: true}},
}

// ScenarioByName returns the definition of name.
func ScenarioByName(name string) (Scenario, bool) { return labrun.Lookup(Scenarios, name) }

// IDs are the segment ids the scenario seeds, in order, numbered as setup
// seeds them.
func (s Scenario) IDs() []string {
	return labsetup.SegmentIDs(s.Prefix, 1, s.Count)
}
