package val23

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// scenarioFixture is the evidence files of one scenario; nil or empty
// fields are not written.
type scenarioFixture struct {
	run       *labrun.ScenarioRecord
	seeded    []string
	peer      *received.Evidence
	status    *api.Status
	ledger    *api.Ledger
	audit     *string
	setBW     map[string]harness.CommandResult
	preReload *PreReload
	goTest    *string
}

type labFixture map[string]*scenarioFixture

func peerEvidence(ids ...string) *received.Evidence {
	ev := &received.Evidence{PeerID: PeerID, Ingress: received.Ingress{ByPeer: map[string]int64{}}}
	for _, id := range ids {
		ev.Segments = append(ev.Segments, received.Segment{ID: id, Bytes: SegmentSize, FromPeer: NodeID, Deliveries: 1})
		ev.Ingress.Bytes += SegmentSize
		ev.Ingress.ByPeer[NodeID] += SegmentSize
	}
	return ev
}

func ledgerOf(states map[string]string) *api.Ledger {
	l := &api.Ledger{}
	for id, st := range states {
		l.Segments = append(l.Segments, api.Segment{ID: id, TargetPeer: PeerID, Size: SegmentSize, State: st})
	}
	return l
}

func ptr[T any](v T) *T { return &v }

const passingGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"start","Package":"edgelab/edged/bandwidth"}
{"Time":"2026-03-14T09:00:10Z","Action":"run","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Output":"=== RUN   TestBandwidthLimiter_DailyQuota_ResetsAfter24h\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Elapsed":0}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"PASS\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Elapsed":0.01}
`

const noTestsGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"start","Package":"edgelab/edged/bandwidth"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"testing: warning: no tests to run\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"PASS\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"ok  \tedgelab/edged/bandwidth\t0.004s [no tests to run]\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Elapsed":0.004}
`

const failingGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"run","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Output":"    limiter_test.go:80: allowed after 23h59m\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"fail","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Elapsed":0}
{"Time":"2026-03-14T09:00:10Z","Action":"fail","Package":"edgelab/edged/bandwidth","Elapsed":0.01}
`

func setBWResult(exit int, stdout, stderr string) harness.CommandResult {
	return harness.CommandResult{
		Args:     []string{"edged", "relay", "config", "set-bandwidth", "--bytes-per-second", "0", "--daily-quota-bytes", "0", "--json"},
		ExitCode: exit, Stdout: stdout, Stderr: stderr, StartedAt: t0,
	}
}

const appliedUnlimited = `{"applied":true,"bandwidth":{"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0,"source":"runtime"},"previous":{"bytes_per_second":8,"burst_bytes":8,"daily_quota_bytes":0,"source":"config"},"warnings":[]}`

func record(name string, start time.Time, seconds int) *labrun.ScenarioRecord {
	s, _ := ScenarioByName(name)
	reached := start.Add(time.Duration(seconds) * time.Second)
	return &labrun.ScenarioRecord{
		Name: name, Title: s.Title, StartedAt: start, EndedAt: reached.Add(200 * time.Millisecond),
		EndCondition: "all seeded segments terminal", ReachedAt: &reached,
	}
}

// passingLab is evidence of a run in which every check passes.
func passingLab() labFixture {
	sa, sb, sc, sd := Scenarios[0].IDs(), Scenarios[1].IDs(), Scenarios[2].IDs(), Scenarios[3].IDs()
	return labFixture{
		SA: {
			run: record(SA, t0, 1), seeded: sa, peer: peerEvidence(sa...),
			status: &api.Status{NodeID: NodeID, Unlimited: true, Segments: api.SegmentCounts{Delivered: 4}},
			ledger: ledgerOf(map[string]string{sa[0]: "DELIVERED", sa[1]: "DELIVERED", sa[2]: "DELIVERED", sa[3]: "DELIVERED"}),
		},
		SB: {
			run: record(SB, t0.Add(2*time.Second), 4), seeded: sb, peer: peerEvidence(sb...),
			status: &api.Status{NodeID: NodeID, Bandwidth: api.Bandwidth{BytesPerSecond: 64, Source: "runtime"},
				ThrottleCount: 10, Segments: api.SegmentCounts{Delivered: 5}},
			audit: ptr(`{"time":"2026-03-14T09:00:02Z","event":"relay.bandwidth.configured","bandwidth":{"bytes_per_second":64,"burst_bytes":0,"daily_quota_bytes":0},"previous":{"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0},"peer":"","actor":"uid=0"}` + "\n"),
			setBW: map[string]harness.CommandResult{labrun.SetBandwidthFile("rate-64"): setBWResult(0, `{"applied":true}`, "")},
		},
		SC: {
			run: record(SC, t0.Add(7*time.Second), 4), seeded: sc, peer: peerEvidence(sc[0], sc[1]),
			status: &api.Status{NodeID: NodeID, Bandwidth: api.Bandwidth{DailyQuotaBytes: 128, Source: "runtime"},
				QuotaDropCount: 12, DailyUsedBytes: 128, Segments: api.SegmentCounts{Delivered: 2, Deadletter: 4}},
			ledger: ledgerOf(map[string]string{
				sc[0]: "DELIVERED", sc[1]: "DELIVERED",
				sc[2]: "DEADLETTER", sc[3]: "DEADLETTER", sc[4]: "DEADLETTER", sc[5]: "DEADLETTER",
			}),
		},
		SD: {
			run: record(SD, t0.Add(12*time.Second), 3), seeded: sd, peer: peerEvidence(sd...),
			status: &api.Status{NodeID: NodeID, Unlimited: true, ThrottleCount: 12, Segments: api.SegmentCounts{Delivered: 6}},
			setBW:  map[string]harness.CommandResult{FileSetBandwidthUnlimited: setBWResult(0, appliedUnlimited, "")},
			preReload: &PreReload{
				BaselineAt: t0.Add(12 * time.Second), Baseline: api.Status{ExecutorCycles: 3},
				LastAt: t0.Add(14 * time.Second),
				Last: api.Status{ExecutorCycles: 5, LastCycleThrottled: 6, ThrottleCount: 12,
					Segments: api.SegmentCounts{Pending: 6, BlockedOversize: 6}},
				PeerIDs: []string{}, Reached: true,
			},
		},
		SE: {run: record(SE, t0.Add(16*time.Second), 1), goTest: ptr(passingGoTest)},
	}
}

func (f labFixture) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, s := range f {
		sdir := filepath.Join(dir, name)
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			t.Fatal(err)
		}
		put := func(file string, v any) {
			t.Helper()
			if err := labrun.WriteJSON(sdir, file, v); err != nil {
				t.Fatal(err)
			}
		}
		raw := func(file, content string) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(sdir, file), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if s.run != nil {
			put(labrun.FileScenario, s.run)
		}
		if s.seeded != nil {
			put(labrun.FileSeeded, s.seeded)
		}
		if s.peer != nil {
			put(FilePeer, s.peer)
		}
		if s.status != nil {
			put(labrun.FileStatus, s.status)
		}
		if s.ledger != nil {
			put(labrun.FileLedger, s.ledger)
		}
		if s.audit != nil {
			raw(labrun.FileAudit, *s.audit)
		}
		for file, res := range s.setBW {
			put(file, res)
		}
		if s.preReload != nil {
			put(FilePreReload, s.preReload)
		}
		if s.goTest != nil {
			raw(labrun.FileGoTest, *s.goTest)
		}
	}
	return dir
}

func statuses(checks []evidence.Check) map[string]evidence.Status {
	m := map[string]evidence.Status{}
	for _, c := range checks {
		m[c.ID] = c.Status
	}
	return m
}

func checkByID(t *testing.T, checks []evidence.Check, id string) evidence.Check {
	t.Helper()
	for _, c := range checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s", id)
	return evidence.Check{}
}

func TestEvaluate_PassingEvidence(t *testing.T) {
	scenarios, checks := Evaluate(passingLab().write(t))

	var got []string
	for _, s := range scenarios {
		got = append(got, s.Summary)
	}
	for _, c := range checks {
		got = append(got, c.ID+" "+string(c.Status)+" "+c.Summary)
	}
	want := []string{
		"S-A unlimited baseline: 4/4 delivered, unlimited=true",
		"S-B rate only (64B/s): 5/5 delivered, throttle_count=10, quota_drop_count=0",
		"S-C quota only (128B): 2/6 delivered, quota_drop_count=12, daily_used=128B",
		"S-D hot-reload (8→∞ B/s): 6/6 delivered after unlimited applied",
		"S-E daily reset unit test: PASS",
		"VAL23-01 PASS unlimited baseline: 4/4 delivered",
		"VAL23-02 PASS unlimited status: unlimited=true",
		"VAL23-03 PASS set-bandwidth audit: found",
		"VAL23-04 PASS rate throttle counters: throttle=10, quota_drops=0",
		"VAL23-05 PASS rate-limited delivery: 5/5 delivered",
		"VAL23-06 PASS quota enforcement: 2/6 delivered",
		"VAL23-07 PASS quota drop counters: quota_drops=12, daily_used=128B",
		"VAL23-08 PASS hot-reload applied: true",
		"VAL23-09 PASS post-hotreload delivery: 6/6",
		"VAL23-10 PASS daily quota reset: PASS",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report lines mismatch (-want +got):\n%s", diff)
	}
	for _, c := range checks {
		if c.Detail != "" {
			t.Errorf("%s passed with detail %q, want none", c.ID, c.Detail)
		}
	}
	if got, want := checkByID(t, checks, "VAL23-01").Seconds, 1.2; got != want {
		t.Errorf("VAL23-01 seconds = %v, want the scenario's %v", got, want)
	}
}

func TestEvaluate_EachCheckFailsOnBadEvidence(t *testing.T) {
	sa, sb, sc, sd := Scenarios[0].IDs(), Scenarios[1].IDs(), Scenarios[2].IDs(), Scenarios[3].IDs()
	tests := []struct {
		name       string
		mutate     func(f labFixture)
		want       map[string]evidence.Status // checks that are not PASS
		wantDetail map[string][]string        // substrings of those checks' detail
		wantText   map[string]string          // exact report.txt summaries
	}{
		{
			name:       "S-A extra segment",
			mutate:     func(f labFixture) { f[SA].peer = peerEvidence(append(sa, "val23-sa-005")...) },
			want:       map[string]evidence.Status{"VAL23-01": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-01": {"peer evidence ids (-want +got)", `+ 	"val23-sa-005"`}},
			wantText:   map[string]string{"VAL23-01": "unlimited baseline: 5/4 delivered"},
		},
		{
			name:       "S-A missing segment",
			mutate:     func(f labFixture) { f[SA].peer = peerEvidence(sa[:3]...) },
			want:       map[string]evidence.Status{"VAL23-01": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-01": {`- 	"val23-sa-004"`}},
			wantText:   map[string]string{"VAL23-01": "unlimited baseline: 3/4 delivered"},
		},
		{
			name:       "S-A segment received twice as two entries",
			mutate:     func(f labFixture) { f[SA].peer = peerEvidence(append(sa, sa[0])...) },
			want:       map[string]evidence.Status{"VAL23-01": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-01": {`+ 	"val23-sa-001"`}},
		},
		{
			name:     "S-A status not unlimited",
			mutate:   func(f labFixture) { f[SA].status.Unlimited = false },
			want:     map[string]evidence.Status{"VAL23-02": evidence.Fail},
			wantText: map[string]string{"VAL23-02": "unlimited status: unlimited=false"},
		},
		{
			name: "S-B audit event with another rate",
			mutate: func(f labFixture) {
				f[SB].audit = ptr(`{"event":"relay.bandwidth.configured","bandwidth":{"bytes_per_second":32}}` + "\n")
			},
			want:       map[string]evidence.Status{"VAL23-03": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-03": {"relay.bandwidth.configured bytes_per_second=32"}},
			wantText:   map[string]string{"VAL23-03": "set-bandwidth audit: not found"},
		},
		{
			name:       "S-B audit event missing: no audit log at all",
			mutate:     func(f labFixture) { f[SB].audit = nil },
			want:       map[string]evidence.Status{"VAL23-03": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-03": {"audit.jsonl absent"}},
		},
		{
			name:       "S-B audit event missing: empty audit log",
			mutate:     func(f labFixture) { f[SB].audit = ptr("") },
			want:       map[string]evidence.Status{"VAL23-03": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-03": {"holds no events"}},
		},
		{
			name:       "S-B torn audit log cannot be judged",
			mutate:     func(f labFixture) { f[SB].audit = ptr(`{"event":"relay.bandw`) },
			want:       map[string]evidence.Status{"VAL23-03": evidence.Error},
			wantDetail: map[string][]string{"VAL23-03": {"evidence unusable: S-B/audit.jsonl"}},
		},
		{
			name:       "S-B throttle count too low",
			mutate:     func(f labFixture) { f[SB].status.ThrottleCount = 3 },
			want:       map[string]evidence.Status{"VAL23-04": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-04": {"throttle_count=3, want >= 4"}},
			wantText:   map[string]string{"VAL23-04": "rate throttle counters: throttle=3, quota_drops=0"},
		},
		{
			name:       "S-B quota drop counted",
			mutate:     func(f labFixture) { f[SB].status.QuotaDropCount = 1 },
			want:       map[string]evidence.Status{"VAL23-04": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-04": {"quota_drop_count=1, want 0"}},
		},
		{
			name:     "S-B missing segment",
			mutate:   func(f labFixture) { f[SB].peer = peerEvidence(sb[:4]...) },
			want:     map[string]evidence.Status{"VAL23-05": evidence.Fail},
			wantText: map[string]string{"VAL23-05": "rate-limited delivery: 4/5 delivered"},
		},
		{
			name:       "S-B extra segment",
			mutate:     func(f labFixture) { f[SB].peer = peerEvidence(append(sb, "stranger-1")...) },
			want:       map[string]evidence.Status{"VAL23-05": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-05": {`+ 	"stranger-1"`}},
		},
		{
			name:   "S-C over-quota segment reached the peer",
			mutate: func(f labFixture) { f[SC].peer = peerEvidence(sc[0], sc[1], sc[2]) },
			want:   map[string]evidence.Status{"VAL23-06": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-06": {
				"peer evidence ids (-want +got)", `+ 	"val23-sc-003"`,
				"delivered to the peer and DEADLETTER both: [val23-sc-003]",
			}},
			wantText: map[string]string{"VAL23-06": "quota enforcement: 3/6 delivered"},
		},
		{
			name:       "S-C segment still pending, not deadletter",
			mutate:     func(f labFixture) { f[SC].ledger.Segments[indexOf(f[SC].ledger, sc[5])].State = "PENDING" },
			want:       map[string]evidence.Status{"VAL23-06": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-06": {"ledger DEADLETTER ids (-want +got)", "peer ∪ ledger DEADLETTER vs the seeded set"}},
		},
		{
			name:       "S-C ledger delivered set differs from the peer",
			mutate:     func(f labFixture) { f[SC].ledger.Segments[indexOf(f[SC].ledger, sc[1])].State = "PENDING" },
			want:       map[string]evidence.Status{"VAL23-06": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-06": {"ledger DELIVERED ids (-want +got)"}},
		},
		{
			name:       "S-C too few quota drops",
			mutate:     func(f labFixture) { f[SC].status.QuotaDropCount = 3 },
			want:       map[string]evidence.Status{"VAL23-07": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-07": {"quota_drop_count=3, want >= 4"}},
			wantText:   map[string]string{"VAL23-07": "quota drop counters: quota_drops=3, daily_used=128B"},
		},
		{
			name:       "S-C daily usage over the quota",
			mutate:     func(f labFixture) { f[SC].status.DailyUsedBytes = 192 },
			want:       map[string]evidence.Status{"VAL23-07": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-07": {"daily_used_bytes=192, want <= 128"}},
		},
		{
			name: "S-D applied=false",
			mutate: func(f labFixture) {
				f[SD].setBW[FileSetBandwidthUnlimited] = setBWResult(0, strings.Replace(appliedUnlimited, `"applied":true`, `"applied":false`, 1), "")
			},
			want:       map[string]evidence.Status{"VAL23-08": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-08": {"applied=false"}},
			wantText:   map[string]string{"VAL23-08": "hot-reload applied: false"},
		},
		{
			name: "S-D set-bandwidth failed",
			mutate: func(f labFixture) {
				f[SD].setBW[FileSetBandwidthUnlimited] = setBWResult(1, "", "Error: is edged running?\n")
			},
			want:       map[string]evidence.Status{"VAL23-08": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-08": {"exit status 1", "is edged running?"}},
		},
		{
			name:       "S-D missing segment",
			mutate:     func(f labFixture) { f[SD].peer = peerEvidence(sd[:5]...) },
			want:       map[string]evidence.Status{"VAL23-09": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-09": {`- 	"val23-sd-006"`}},
			wantText:   map[string]string{"VAL23-09": "post-hotreload delivery: 5/6"},
		},
		{
			name:       "S-D peer had a segment before the reload",
			mutate:     func(f labFixture) { f[SD].preReload.PeerIDs = []string{sd[0]} },
			want:       map[string]evidence.Status{"VAL23-09": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-09": {"before the reload the peer already held [val23-sd-001]"}},
			wantText:   map[string]string{"VAL23-09": "post-hotreload delivery: 6/6 (blocking before the reload not shown)"},
		},
		{
			name: "S-D only one blocked cycle before the reload",
			mutate: func(f labFixture) {
				f[SD].preReload.Last.ExecutorCycles = 4
				f[SD].preReload.Last.ThrottleCount = 6
			},
			want: map[string]evidence.Status{"VAL23-09": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-09": {
				"1 executor cycles after seeding, want >= 2", "throttle_count=6, want >= 12",
			}},
		},
		{
			name:       "S-D last cycle did not throttle all six",
			mutate:     func(f labFixture) { f[SD].preReload.Last.LastCycleThrottled = 5 },
			want:       map[string]evidence.Status{"VAL23-09": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-09": {"the last cycle throttled 5 segments, want 6"}},
		},
		{
			name:       "S-E no tests to run",
			mutate:     func(f labFixture) { f[SE].goTest = ptr(noTestsGoTest) },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-10": {"no tests to run"}},
			wantText:   map[string]string{"VAL23-10": "daily quota reset: FAIL"},
		},
		{
			name:       "S-E test failed",
			mutate:     func(f labFixture) { f[SE].goTest = ptr(failingGoTest) },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-10": {"go test reported fail: " + UnitTest}},
		},
		{
			name:       "S-E build failure before the stream",
			mutate:     func(f labFixture) { f[SE].goTest = ptr("# edgelab/edged/bandwidth\nlimiter.go:3:1: syntax error\n") },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-10": {"no pass event for " + UnitTest}},
		},
		{
			name:       "S-E another test passed, not ours",
			mutate:     func(f labFixture) { f[SE].goTest = ptr(strings.ReplaceAll(passingGoTest, UnitTest, "TestOther")) },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Fail},
			wantDetail: map[string][]string{"VAL23-10": {"no pass event"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := passingLab()
			tt.mutate(f)
			_, checks := Evaluate(f.write(t))
			assertStatuses(t, checks, tt.want)
			for id, subs := range tt.wantDetail {
				detail := checkByID(t, checks, id).Detail
				for _, sub := range subs {
					if !strings.Contains(squash(detail), squash(sub)) {
						t.Errorf("%s detail lacks %q:\n%s", id, sub, detail)
					}
				}
			}
			for id, want := range tt.wantText {
				if got := checkByID(t, checks, id).Summary; got != want {
					t.Errorf("%s summary = %q, want %q", id, got, want)
				}
			}
		})
	}
}

// squash collapses runs of white space, so diffs match whatever spaces
// go-cmp chose (it mixes in non-breaking ones on purpose).
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func indexOf(l *api.Ledger, id string) int {
	for i, s := range l.Segments {
		if s.ID == id {
			return i
		}
	}
	panic("no segment " + id)
}

// assertStatuses checks every one of the ten statuses: the named ones as
// given, all others PASS.
func assertStatuses(t *testing.T, checks []evidence.Check, notPass map[string]evidence.Status) {
	t.Helper()
	want := map[string]evidence.Status{}
	for _, d := range Checks {
		want[d.ID] = evidence.Pass
	}
	for id, s := range notPass {
		want[id] = s
	}
	if diff := cmp.Diff(want, statuses(checks)); diff != "" {
		t.Errorf("check statuses mismatch (-want +got):\n%s", diff)
	}
}

func TestEvaluate_MissingEvidenceIsError(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(f labFixture)
		want       map[string]evidence.Status
		wantDetail map[string]string
		wantText   map[string]string
	}{
		{
			name: "scenario could not run",
			mutate: func(f labFixture) {
				f[SA] = &scenarioFixture{run: &labrun.ScenarioRecord{Name: SA, Error: "port 19054 is in use"}}
			},
			want: map[string]evidence.Status{"VAL23-01": evidence.Error, "VAL23-02": evidence.Error},
			wantDetail: map[string]string{
				"VAL23-01": "S-A could not run: port 19054 is in use",
				"VAL23-02": "S-A could not run: port 19054 is in use",
			},
			wantText: map[string]string{"VAL23-01": "unlimited baseline: n/a (S-A could not run: port 19054 is in use)"},
		},
		{
			name:       "peer evidence missing",
			mutate:     func(f labFixture) { f[SA].peer = nil },
			want:       map[string]evidence.Status{"VAL23-01": evidence.Error},
			wantDetail: map[string]string{"VAL23-01": "evidence missing: S-A/peer-evidence.json"},
		},
		{
			name:       "relay status missing",
			mutate:     func(f labFixture) { f[SB].status = nil },
			want:       map[string]evidence.Status{"VAL23-04": evidence.Error},
			wantDetail: map[string]string{"VAL23-04": "evidence missing: S-B/relay-status.json"},
		},
		{
			name:   "ledger dump missing",
			mutate: func(f labFixture) { f[SC].ledger = nil },
			want:   map[string]evidence.Status{"VAL23-06": evidence.Error},
		},
		{
			name:       "set-bandwidth response missing",
			mutate:     func(f labFixture) { delete(f[SD].setBW, FileSetBandwidthUnlimited) },
			want:       map[string]evidence.Status{"VAL23-08": evidence.Error},
			wantDetail: map[string]string{"VAL23-08": "evidence missing: S-D/set-bandwidth-unlimited.json"},
		},
		{
			name:   "pre-reload proof missing",
			mutate: func(f labFixture) { f[SD].preReload = nil },
			want:   map[string]evidence.Status{"VAL23-09": evidence.Error},
		},
		{
			name:       "unit test output missing",
			mutate:     func(f labFixture) { f[SE].goTest = nil },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Error},
			wantDetail: map[string]string{"VAL23-10": "evidence missing: S-E/go-test.json"},
		},
		{
			name:       "seeded ids differ from the scenario",
			mutate:     func(f labFixture) { f[SB].seeded = []string{"val23-sb-001"} },
			want:       map[string]evidence.Status{"VAL23-05": evidence.Error},
			wantDetail: map[string]string{"VAL23-05": "S-B/seeded.json is not the scenario's seeded set"},
		},
		{
			name:       "no scenario record",
			mutate:     func(f labFixture) { delete(f, SE) },
			want:       map[string]evidence.Status{"VAL23-10": evidence.Error},
			wantDetail: map[string]string{"VAL23-10": "S-E did not record a run"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := passingLab()
			tt.mutate(f)
			_, checks := Evaluate(f.write(t))
			assertStatuses(t, checks, tt.want)
			for id, sub := range tt.wantDetail {
				if detail := checkByID(t, checks, id).Detail; !strings.Contains(detail, sub) {
					t.Errorf("%s detail = %q, want it to contain %q", id, detail, sub)
				}
			}
			for id, want := range tt.wantText {
				if got := checkByID(t, checks, id).Summary; got != want {
					t.Errorf("%s summary = %q, want %q", id, got, want)
				}
			}
		})
	}
}

func TestEvaluate_EmptyDirectoryIsAllError(t *testing.T) {
	scenarios, checks := Evaluate(t.TempDir())
	for _, c := range checks {
		if c.Status != evidence.Error {
			t.Errorf("%s = %s, want ERROR", c.ID, c.Status)
		}
	}
	if got, want := len(checks), 10; got != want {
		t.Fatalf("%d checks, want %d", got, want)
	}
	if got, want := scenarios[0].Summary, "S-A unlimited baseline: not run (S-A did not record a run (S-A/scenario.json: file does not exist))"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestEvaluate_NotRunScenarioSummary(t *testing.T) {
	f := passingLab()
	f[SD] = &scenarioFixture{run: &labrun.ScenarioRecord{Name: SD, Error: "edged exited: exit status 1"}}
	scenarios, _ := Evaluate(f.write(t))
	if got, want := scenarios[3].Summary, "S-D hot-reload (8→∞ B/s): not run (edged exited: exit status 1)"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got, want := scenarios[3].Error, "edged exited: exit status 1"; got != want {
		t.Errorf("scenario error = %q, want %q", got, want)
	}
}

func TestEvaluate_MultiLineReasonStaysOnOneReportLine(t *testing.T) {
	f := passingLab()
	f[SE] = &scenarioFixture{run: &labrun.ScenarioRecord{Name: SE, Error: "build ./edged: exit status 1: # edgelab/edged\nedged/main.go:3: syntax error"}}
	scenarios, checks := Evaluate(f.write(t))
	if got, want := scenarios[4].Summary, "S-E daily reset unit test: not run (build ./edged: exit status 1: # edgelab/edged …)"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	c := checkByID(t, checks, "VAL23-10")
	if got, want := c.Summary, "daily quota reset: n/a (S-E could not run: build ./edged: exit status 1: # edgelab/edged …)"; got != want {
		t.Errorf("check summary = %q, want %q", got, want)
	}
	if !strings.Contains(c.Detail, "edged/main.go:3: syntax error") {
		t.Errorf("detail %q lost the second line", c.Detail)
	}
}

func TestLoad_KeepsEveryFile(t *testing.T) {
	f := passingLab()
	dir := f.write(t)
	r := Load(dir, Scenarios[3])
	if err := r.need(labrun.FileSeeded, FilePeer, labrun.FileStatus, FilePreReload, FileSetBandwidthUnlimited); err != nil {
		t.Fatalf("need() = %v, want nil", err)
	}
	if diff := cmp.Diff(*f[SD].preReload, r.PreReload); diff != "" {
		t.Errorf("pre-reload mismatch (-want +got):\n%s", diff)
	}
	var resp api.SetBandwidthResponse
	if err := json.Unmarshal([]byte(r.SetBandwidth[FileSetBandwidthUnlimited].Stdout), &resp); err != nil || !resp.Applied {
		t.Errorf("set-bandwidth stdout decodes to %+v, %v; want applied", resp, err)
	}
}

func TestIDs(t *testing.T) {
	got := Scenarios[2].IDs()
	want := []string{"val23-sc-001", "val23-sc-002", "val23-sc-003", "val23-sc-004", "val23-sc-005", "val23-sc-006"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IDs() mismatch (-want +got):\n%s", diff)
	}
	if got := Scenarios[4].IDs(); len(got) != 0 {
		t.Errorf("S-E IDs() = %v, want none", got)
	}
}
