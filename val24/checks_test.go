package val24

import (
	"context"
	"io"
	"io/fs"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/metrics"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
	"edgelab/transport"
)

func ptr[T any](v T) *T { return &v }

// recorded is a scenario that ran, with the given evidence.
func recorded(name string) *Recorded {
	s, _ := ScenarioByName(name)
	return &Recorded{Scenario: s, Run: labrun.ScenarioRecord{Name: name}, Peers: map[string]received.Evidence{},
		Statuses: map[string]api.Status{}, problems: map[string]error{}}
}

func send(sender, peerID, session, localAddr, id string, bytes int64, code int, phase string) Send {
	return Send{Sender: sender, PeerID: peerID, Session: session, LocalAddr: localAddr, ID: id, Bytes: bytes, Code: code, Phase: phase}
}

// legacySession is the legacy sender's session id in the plan.
var legacySession = planOf("legacy").Session

// ingressEvidence is S-A evidence in which everything holds.
func ingressEvidence() *Recorded {
	r := recorded(SA)
	r.Sends = []Send{
		send(Sender1, Sender1, "s1", "127.0.0.1:1001", "a", 100, 201, PhaseSend),
		send(Sender1, Sender1, "s1", "127.0.0.1:1002", "b", 101, 201, PhaseSend),
		send(Sender1, Sender1, "s1", "127.0.0.1:1003", "c", 102, 201, PhaseSend),
		send(Sender2, Sender2, "s2", "127.0.0.1:2001", "d", 300, 201, PhaseSend),
		send(Sender2, Sender2, "s2", "127.0.0.1:2002", "e", 301, 201, PhaseSend),
		send("legacy", "", legacySession, "127.0.0.1:3001", "f", 500, 201, PhaseSend),
		send("spoof", Sender1, "s2", "127.0.0.1:4001", "g", 700, 403, PhaseSpoof),
		send(Sender1, Sender1, "s1", "127.0.0.1:1002", "a", 100, 200, PhaseRedeliver),
	}
	ingress := api.Ingress{Bytes: 1504, ByPeer: map[string]int64{Sender1: 403, Sender2: 601, transport.SessionKey(legacySession): 500}}
	ingress.KeyKinds = map[string]string{Sender1: transport.KindPeer, Sender2: transport.KindPeer, transport.SessionKey(legacySession): transport.KindSession}
	r.Status.Ingress = ingress
	r.Statuses[FileStatusPreSpoof] = api.Status{Ingress: api.Ingress{Bytes: 1404, ByPeer: map[string]int64{Sender1: 303, Sender2: 601, transport.SessionKey(legacySession): 500}}}
	r.Statuses[FileStatusSpoofed] = r.Statuses[FileStatusPreSpoof]
	return r
}

func TestChecks_Ingress(t *testing.T) {
	tests := []struct {
		name  string
		check func(*Recorded) (labrun.Outcome, error)
		edit  func(*Recorded)
		pass  bool
		want  string // in the detail of a failure
	}{
		{"exact", checkIngressExact, func(*Recorded) {}, true, ""},
		{"one byte more in status", checkIngressExact, func(r *Recorded) { r.Status.Ingress.ByPeer[Sender2]++ }, false, "status ingress"},
		{"one connection only", checkIngressExact, func(r *Recorded) { r.Sends[4].LocalAddr = r.Sends[3].LocalAddr }, false, "sender-2 used 1 distinct connections"},
		{"a refused legitimate PUT", checkIngressExact, func(r *Recorded) { r.Sends[1].Code = 500 }, false, "want it accepted"},
		{"legacy by session", checkLegacy, func(*Recorded) {}, true, ""},
		{"legacy by certificate", checkLegacy, func(r *Recorded) { r.Status.Ingress.ByPeer[LegacySender] = 500 }, false, `series "sender-legacy"`},
		{"spoof refused", checkSpoof, func(*Recorded) {}, true, ""},
		{"spoof accepted", checkSpoof, func(r *Recorded) { r.Sends[6].Code = 201 }, false, "want 403"},
		{"spoof credited", checkSpoof, func(r *Recorded) {
			st := r.Statuses[FileStatusSpoofed]
			st.Ingress = api.Ingress{Bytes: 2104, ByPeer: map[string]int64{Sender1: 1003, Sender2: 601, transport.SessionKey(legacySession): 500}}
			r.Statuses[FileStatusSpoofed] = st
		}, false, "ingress after the spoofed PUTs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ingressEvidence()
			tt.edit(r)
			out, err := tt.check(r)
			if err != nil {
				t.Fatalf("got error %v, want an outcome", err)
			}
			if out.Pass != tt.pass || !strings.Contains(out.Detail, tt.want) {
				t.Errorf("got pass=%v detail:\n%s\nwant pass=%v with %q in the detail", out.Pass, out.Detail, tt.pass, tt.want)
			}
		})
	}
}

// exposition is what edged's own metrics handler serves for st.
func exposition(t *testing.T, st api.Status) string {
	t.Helper()
	h, err := metrics.New(func(context.Context) (api.Status, error) { return st, nil }, config.DefaultMaxTrackedPeers)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestChecks_MetricsAgainstEdgedsExposition(t *testing.T) {
	st := api.Status{
		ThrottleCount: 3, QuotaDropCount: 1, DailyUsedBytes: 64, DailyRemainingBytes: ptr[int64](10), ExecutorCycles: 9,
		Segments: api.SegmentCounts{Pending: 1, Delivered: 1, Deadletter: 1},
		Peers: map[string]api.PeerStatus{
			PeerA:  {Configured: true, DeliveredSegments: 1, DeliveredBytes: 64, ThrottleCount: 3, DailyUsedBytes: 64, DailyRemainingBytes: ptr[int64](0), PendingSegments: 1},
			PeerB:  {Configured: true, QuotaDropCount: 1},
			"gone": {DeadletterSegments: 1},
		},
		Ingress: api.Ingress{Bytes: 7, ByPeer: map[string]int64{Sender1: 7}},
	}
	r := recorded(SA)
	r.Metrics = exposition(t, st)
	st.ExecutorCycles = 10 // a tick between the scrape and the status changes nothing
	r.Statuses[FileMetricsStatus] = st
	out, err := checkMetrics(r)
	if err != nil || !out.Pass {
		t.Fatalf("edged's exposition of the same status: got pass=%v err=%v detail:\n%s", out.Pass, err, out.Detail)
	}

	r.Promtool = &harness.CommandResult{ExitCode: 3, Stdout: "x_bytes counter metrics should have \"_total\" suffix"}
	if out, _ := checkMetrics(r); out.Pass || !strings.Contains(out.Detail, "promtool check metrics: exit 3") {
		t.Errorf("promtool refusing the exposition: got pass=%v detail:\n%s", out.Pass, out.Detail)
	}
	r.Promtool = nil

	st.Peers[PeerB] = api.PeerStatus{Configured: true, QuotaDropCount: 2}
	r.Statuses[FileMetricsStatus] = st
	if out, _ := checkMetrics(r); out.Pass || !strings.Contains(out.Detail, `edged_quota_drops_by_peer_total{peer_id="peer-b"}`) {
		t.Errorf("a status that differs in one series: got pass=%v detail:\n%s", out.Pass, out.Detail)
	}
	r.Metrics += "# HELP bad_bytes x\n# TYPE bad_bytes counter\nbad_bytes 1\n"
	if out, _ := checkMetrics(r); out.Pass || !strings.Contains(out.Detail, "promlint") {
		t.Errorf("an exposition promlint refuses: got pass=%v detail:\n%s", out.Pass, out.Detail)
	}
}

// recordedSB is S-B as a real run on a correct daemon left it
// (testdata/recorded: `go run ./labs/val24`, logs left out).
func recordedSB(t *testing.T) *Recorded {
	t.Helper()
	s, _ := ScenarioByName(SB)
	r := Load("testdata/recorded", s)
	if out, err := checkPeerThrottle(r); err != nil || !out.Pass {
		t.Fatalf("the recorded run: got pass=%v err=%v detail:\n%s", out.Pass, err, out.Detail)
	}
	return r
}

func TestChecks_PeerThrottle(t *testing.T) {
	shiftA := func(r *Recorded, f func(i int, at time.Time) time.Time) {
		ev := r.Peers[PeerA]
		segs := slices.Clone(ev.Segments)
		slices.SortFunc(segs, func(a, b received.Segment) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
		for i := range segs {
			segs[i].ReceivedAt = f(i, segs[i].ReceivedAt)
		}
		ev.Segments = segs
		r.Peers[PeerA] = ev
	}
	tests := []struct {
		name   string
		break_ func(r *Recorded)
		want   string // in the detail
	}{
		{
			name: "peer-b's last segment waited behind peer-a's second",
			break_: func(r *Recorded) {
				ev := r.Peers[PeerB]
				ev.Segments = slices.Clone(ev.Segments)
				ev.Segments[len(ev.Segments)-1].ReceivedAt = time.Now().Add(time.Hour)
				r.Peers[PeerB] = ev
			},
			want: "waited behind peer-a's limit",
		},
		{
			name: "peer-a's bucket refilled 10× too fast",
			break_: func(r *Recorded) {
				var first time.Time
				shiftA(r, func(i int, at time.Time) time.Time {
					if i == 0 {
						first = at
					}
					return first.Add(at.Sub(first) / 10)
				})
			},
			want: "peer-a: by ",
		},
		{
			name: "peer-a stalled between receipts",
			break_: func(r *Recorded) {
				shiftA(r, func(i int, at time.Time) time.Time { return at.Add(time.Duration(i) * 1500 * time.Millisecond) })
			},
			want: "peer-a: ",
		},
		{
			name: "peer-a's throttle_count off the journal",
			break_: func(r *Recorded) {
				p := r.Status.Peers[PeerA]
				p.ThrottleCount++
				r.Status.Peers[PeerA] = p
				r.Status.ThrottleCount++
			},
			want: "throttled peer-a decisions",
		},
		{
			name: "a peer-a admission its bucket would refuse",
			break_: func(r *Recorded) {
				r.Decisions.Decisions = slices.Clone(r.Decisions.Decisions)
				for i, d := range r.Decisions.Decisions {
					if d.TargetPeer == PeerA && d.Kind == api.DecisionThrottled {
						r.Decisions.Decisions[i].Kind = api.DecisionAllowed
						break
					}
				}
			},
			want: "peer-a: ",
		},
		{
			name:   "an incomplete journal",
			break_: func(r *Recorded) { r.Decisions.Dropped = 1 },
			want:   "incomplete",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := recordedSB(t)
			tt.break_(r)
			out, err := checkPeerThrottle(r)
			if err != nil || out.Pass || !strings.Contains(out.Detail, tt.want) {
				t.Errorf("got pass=%v err=%v, want FAIL with %q in the detail:\n%s", out.Pass, err, tt.want, out.Detail)
			}
		})
	}
	t.Run("no journal is missing evidence", func(t *testing.T) {
		r := recordedSB(t)
		r.problems[labrun.FileDecisions] = fs.ErrNotExist
		if _, err := checkPeerThrottle(r); err == nil {
			t.Errorf("no journal: got no error, want ERROR")
		}
	})
	t.Run("no set-bandwidth run is missing evidence", func(t *testing.T) {
		r := recordedSB(t)
		delete(r.SetBandwidth, LabelPeerRate)
		if _, err := checkPeerThrottle(r); err == nil {
			t.Errorf("no set-bandwidth run: got no error, want ERROR")
		}
	})
}

func TestChecks_QuotaSurvivesIsExactToTheNanosecond(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 123456789, time.UTC)
	st := api.Status{
		DailyUsedBytes: 320, DailyRemainingBytes: ptr[int64](GlobalQuota - 320), DailyWindowStart: &start,
		Bandwidth: api.Bandwidth{DailyQuotaBytes: GlobalQuota, Source: api.SourceRuntime},
		Peers: map[string]api.PeerStatus{
			PeerA: {DailyUsedBytes: PeerQuota, DailyRemainingBytes: ptr[int64](0), DailyWindowStart: &start, PendingSegments: 2, QuotaDropCount: 2,
				Bandwidth: &api.Bandwidth{DailyQuotaBytes: PeerQuota, Source: api.SourceRuntime}},
			PeerB: {DailyUsedBytes: 128, DailyWindowStart: &start},
		},
	}
	r := recorded(SC)
	r.Kill = KillRecord{ExitedAs: "signal: killed"}
	r.Statuses[FilePreKill], r.Statuses[FilePostRestart] = st, st
	for i, size := range []int64{64, 64, 64} {
		r.PostLedger.Segments = append(r.PostLedger.Segments, api.Segment{ID: SCPeerA[i], TargetPeer: PeerA, Size: size, State: "DELIVERED"})
	}
	for _, id := range SCPeerB {
		r.PostLedger.Segments = append(r.PostLedger.Segments, api.Segment{ID: id, TargetPeer: PeerB, Size: 64, State: "DELIVERED"})
	}
	if out, err := checkQuotaSurvives(r); err != nil || !out.Pass {
		t.Fatalf("identical figures: got pass=%v err=%v detail:\n%s", out.Pass, err, out.Detail)
	}
	moved := start.Add(time.Nanosecond)
	post := st
	post.Peers = map[string]api.PeerStatus{PeerA: st.Peers[PeerA], PeerB: {DailyUsedBytes: 128, DailyWindowStart: &moved}}
	r.Statuses[FilePostRestart] = post
	if out, _ := checkQuotaSurvives(r); out.Pass || !strings.Contains(out.Detail, "123456790") {
		t.Errorf("a window 1 ns later: got pass=%v detail:\n%s", out.Pass, out.Detail)
	}
	r.Statuses[FilePostRestart] = st
	r.Kill.ExitedAs = "exit status 0"
	if out, _ := checkQuotaSurvives(r); out.Pass || !strings.Contains(out.Detail, "signal: killed") {
		t.Errorf("a clean exit instead of a kill: got pass=%v detail:\n%s", out.Pass, out.Detail)
	}
}

func TestChecks_ErrorWhenNotRun(t *testing.T) {
	dir := t.TempDir()
	_, checks := Evaluate(dir)
	if len(checks) != 10 {
		t.Fatalf("got %d checks, want 10", len(checks))
	}
	for _, c := range checks {
		if c.Status != evidence.Error || !strings.Contains(c.Detail, "was not recorded") {
			t.Errorf("%s over an empty directory: got %s %q, want ERROR saying the scenario was not recorded", c.ID, c.Status, c.Detail)
		}
	}
}
