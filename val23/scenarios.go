// Package val23 is the VAL23 relay bandwidth lab: its scenarios (S-A..S-E),
// the runner that drives real edged and peer processes through them, the
// evidence each leaves, and the ten checks evaluated over that evidence.
//
// Checks never look at live processes: the runner saves every scenario's raw
// evidence to disk first, and the checks read it back from there, so a
// saved evidence directory can be re-evaluated on its own.
package val23

import (
	"fmt"
	"time"
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

// EndConditionTimeout is how long each end condition may take: the seed's
// runner waited 20 s.
const EndConditionTimeout = 20 * time.Second

// Scenario names.
const (
	SA = "S-A"
	SB = "S-B"
	SC = "S-C"
	SD = "S-D"
	SE = "S-E"
)

// Scenario is one row of the seed's scenario matrix.
type Scenario struct {
	Name  string
	Title string // as the report's scenario summary names it
	// Prefix and Count name the seeded segments prefix-001..; Count 0 means
	// the scenario seeds nothing (S-E).
	Prefix string
	Count  int
}

// Scenarios are run and reported in this order.
var Scenarios = []Scenario{
	{Name: SA, Title: "unlimited baseline", Prefix: "val23-sa", Count: 4},
	{Name: SB, Title: "rate only (64B/s)", Prefix: "val23-sb", Count: 5},
	{Name: SC, Title: "quota only (128B)", Prefix: "val23-sc", Count: 6},
	{Name: SD, Title: "hot-reload (8→∞ B/s)", Prefix: "val23-sd", Count: 6},
	{Name: SE, Title: "daily reset unit test"},
}

// ScenarioByName returns the definition of name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// IDs are the segment ids the scenario seeds, in order.
func (s Scenario) IDs() []string {
	return idRange(s.Prefix, 1, s.Count)
}

// idRange is prefix-first..prefix-(first+count-1), numbered as setup seeds
// them.
func idRange(prefix string, first, count int) []string {
	ids := make([]string, 0, count)
	for n := first; n < first+count; n++ {
		ids = append(ids, fmt.Sprintf("%s-%03d", prefix, n))
	}
	return ids
}
