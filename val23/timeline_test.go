package val23

import (
	"io/fs"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/config"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// recorded is a scenario's evidence in memory, every file present.
func recorded(name string, boot config.Bandwidth, receivedAt ...float64) *Recorded {
	s, _ := ScenarioByName(name)
	reached := at(4.9)
	r := &Recorded{
		Scenario: s, Boot: boot, problems: map[string]error{}, SetBandwidth: map[string]labrun.SetBandwidthRun{},
		Run: ScenarioRecord{ScenarioRecord: labrun.ScenarioRecord{
			Name: name, StartedAt: t0, EndedAt: at(5), ReachedAt: &reached,
			Phases: []evidence.Phase{{Name: "start", StartedAt: at(0.1)}, {Name: "seed", StartedAt: at(0.6)}},
		}},
	}
	for i, s := range receivedAt {
		r.Peer.Segments = append(r.Peer.Segments, received.Segment{
			ID: s2id(name, i+1), Bytes: SegmentSize, ReceivedAt: at(s),
		})
	}
	return r
}

func s2id(name string, n int) string {
	s, _ := ScenarioByName(name)
	return labsetup.SegmentIDs(s.Prefix, n, 1)[0]
}

func configured(s float64, bw api.Bandwidth) audit.Event {
	return audit.Event{Time: at(s), Event: audit.EventBandwidthConfigured, Bandwidth: bw}
}

func TestBuildTimeline(t *testing.T) {
	seed := func(name string) evidence.Mark {
		s, _ := ScenarioByName(name)
		return evidence.Mark{At: 0.6, Kind: evidence.MarkPhase, Label: "seeded " + strconv.Itoa(s.Count), Evidence: name + "/seeded.json"}
	}
	end := func(name string) evidence.Mark {
		return evidence.Mark{At: 4.9, Kind: evidence.MarkPhase, Label: "end condition", Evidence: name + "/scenario.json"}
	}
	tests := []struct {
		name    string
		rec     func() *Recorded
		want    *evidence.Timeline
		wantNil bool
	}{
		{
			name: "S-B: rate set live, the bucket starts full when set",
			rec: func() *Recorded {
				r := recorded(SB, config.Bandwidth{}, 0.7, 1.7)
				r.Audit = []audit.Event{configured(0.5, api.Bandwidth{BytesPerSecond: 64})}
				return r
			},
			want: &evidence.Timeline{
				Origin: t0, End: 5,
				Deliveries: []evidence.Delivery{
					{At: 0.7, ID: "val23-sb-001", Bytes: 64, Cumulative: 64},
					{At: 1.7, ID: "val23-sb-002", Bytes: 64, Cumulative: 128},
				},
				Limits: []evidence.Limit{
					{From: 0.1, Until: 0.5, Source: "default"},
					{From: 0.5, Until: 5, BytesPerSecond: 64, BurstBytes: 64, Source: "runtime"},
				},
				Marks: []evidence.Mark{
					{At: 0.5, Kind: evidence.MarkBandwidth, Label: "set-bandwidth: 64 B/s (burst 64 B)", Evidence: "S-B/audit.jsonl"},
					seed(SB), end(SB),
				},
				Source: []string{"S-B/peer-evidence.json", "S-B/edge.toml", "S-B/audit.jsonl"},
			},
		},
		{
			name: "S-D: boot limit from edge.toml until the reload",
			rec: func() *Recorded {
				r := recorded(SD, config.Bandwidth{BytesPerSecond: 8, BurstBytes: 8}, 2.5, 2.25)
				r.Audit = []audit.Event{configured(2, api.Bandwidth{})}
				return r
			},
			want: &evidence.Timeline{
				Origin: t0, End: 5,
				Deliveries: []evidence.Delivery{ // in receive order
					{At: 2.25, ID: "val23-sd-002", Bytes: 64, Cumulative: 64},
					{At: 2.5, ID: "val23-sd-001", Bytes: 64, Cumulative: 128},
				},
				Limits: []evidence.Limit{
					{From: 0.1, Until: 2, BytesPerSecond: 8, BurstBytes: 8, Source: "config"},
					{From: 2, Until: 5, Source: "runtime"},
				},
				Marks: []evidence.Mark{
					seed(SD),
					{At: 2, Kind: evidence.MarkBandwidth, Label: "hot reload: unlimited", Evidence: "S-D/audit.jsonl"},
					end(SD),
				},
				Source: []string{"S-D/peer-evidence.json", "S-D/edge.toml", "S-D/audit.jsonl"},
			},
		},
		{
			name: "S-C: quota; a later change starts from what was delivered; deadletters marked",
			rec: func() *Recorded {
				r := recorded(SC, config.Bandwidth{}, 0.7, 0.8)
				r.Audit = []audit.Event{
					configured(0.5, api.Bandwidth{DailyQuotaBytes: 128}),
					configured(1, api.Bandwidth{BytesPerSecond: 32, BurstBytes: 16, DailyQuotaBytes: 128}),
				}
				r.Ledger.Segments = []api.Segment{
					{ID: "val23-sc-003", State: stateDeadletter, UpdatedAt: at(3)},
					{ID: "val23-sc-004", State: stateDeadletter, UpdatedAt: at(3.5)},
					{ID: "val23-sc-001", State: stateDelivered, UpdatedAt: at(4)},
				}
				return r
			},
			want: &evidence.Timeline{
				Origin: t0, End: 5,
				Deliveries: []evidence.Delivery{
					{At: 0.7, ID: "val23-sc-001", Bytes: 64, Cumulative: 64},
					{At: 0.8, ID: "val23-sc-002", Bytes: 64, Cumulative: 128},
				},
				Limits: []evidence.Limit{
					{From: 0.1, Until: 0.5, Source: "default"},
					{From: 0.5, Until: 1, DailyQuotaBytes: 128, Source: "runtime"},
					{From: 1, Until: 5, BytesPerSecond: 32, BurstBytes: 16, DailyQuotaBytes: 128, BaseBytes: 128, Source: "runtime"},
				},
				Marks: []evidence.Mark{
					{At: 0.5, Kind: evidence.MarkBandwidth, Label: "set-bandwidth: quota 128 B/day", Evidence: "S-C/audit.jsonl"},
					seed(SC),
					{At: 1, Kind: evidence.MarkBandwidth, Label: "set-bandwidth: 32 B/s (burst 16 B), quota 128 B/day", Evidence: "S-C/audit.jsonl"},
					{At: 3.5, Kind: evidence.MarkPhase, Label: "2 DEADLETTER", Evidence: "S-C/ledger-dump.json"},
					end(SC),
				},
				Source: []string{"S-C/peer-evidence.json", "S-C/edge.toml", "S-C/audit.jsonl"},
			},
		},
		{
			name: "no audit log: the CLI's recorded answer stands in",
			rec: func() *Recorded {
				r := recorded(SB, config.Bandwidth{}, 0.7)
				r.problems[labrun.FileAudit] = fs.ErrNotExist
				r.SetBandwidth[labrun.SetBandwidthFile("rate-64")] = labrun.SetBandwidthRun{CommandResult: harness.CommandResult{
					ExitCode: 0, StartedAt: at(0.25), Seconds: 0.25,
					Stdout: `{"applied":true,"bandwidth":{"bytes_per_second":64,"burst_bytes":128}}`,
				}}
				r.SetBandwidth["set-bandwidth-refused.json"] = labrun.SetBandwidthRun{CommandResult: harness.CommandResult{ExitCode: 1, StartedAt: at(0.3)}}
				return r
			},
			want: &evidence.Timeline{
				Origin: t0, End: 5,
				Deliveries: []evidence.Delivery{{At: 0.7, ID: "val23-sb-001", Bytes: 64, Cumulative: 64}},
				Limits: []evidence.Limit{
					{From: 0.1, Until: 0.5, Source: "default"},
					{From: 0.5, Until: 5, BytesPerSecond: 64, BurstBytes: 128, Source: "runtime"},
				},
				Marks: []evidence.Mark{
					{At: 0.5, Kind: evidence.MarkBandwidth, Label: "set-bandwidth: 64 B/s (burst 128 B)", Evidence: "S-B/set-bandwidth-rate-64.json"},
					seed(SB), end(SB),
				},
				Source: []string{"S-B/peer-evidence.json", "S-B/edge.toml", "S-B/set-bandwidth-rate-64.json"},
			},
		},
		{name: "S-E delivers nothing", rec: func() *Recorded { return recorded(SE, config.Bandwidth{}) }, wantNil: true},
		{name: "not run", rec: func() *Recorded {
			r := recorded(SA, config.Bandwidth{}, 0.7)
			r.Run.Error = "port 19054 is in use"
			return r
		}, wantNil: true},
		{name: "no peer evidence", rec: func() *Recorded {
			r := recorded(SA, config.Bandwidth{})
			r.problems[FilePeer] = fs.ErrNotExist
			return r
		}, wantNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildTimeline(tt.rec())
			if tt.wantNil {
				if got != nil {
					t.Errorf("buildTimeline() = %+v, want nil", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("buildTimeline() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
