package val23

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/evidence"
	"edgelab/labs/labrun"
	"edgelab/labs/labtest"
	"edgelab/peer/received"
)

// The check tests start from a real run (testdata/recorded-pass: `go run
// ./labs/val23` on a correct daemon) and break its evidence the way a
// broken daemon would, one behaviour at a time: every check must FAIL on
// the breakage it guards, and stay ERROR, not PASS, when its evidence is
// missing.

// lab is a copy of the recorded run that a test may edit
// (labtest.Evidence), with this lab's editors.
type lab struct {
	labtest.Evidence
	t   *testing.T
	dir string
}

func recordedLab(t *testing.T) lab {
	t.Helper()
	e := labtest.CopyEvidence(t, recordedRun)
	return lab{e, t, e.Dir}
}

func (l lab) path(scenario, file string) string { return l.Path(scenario, file) }

// edit decodes one JSON file of a scenario into v, lets f change it and
// writes it back.
func edit[T any](l lab, scenario, file string, f func(*T)) {
	l.t.Helper()
	labtest.EditJSON(l.Evidence, scenario, file, f)
}

// editAudit rewrites a scenario's audit.jsonl event by event.
func (l lab) editAudit(scenario string, f func([]audit.Event) []audit.Event) {
	l.t.Helper()
	file, err := os.Open(l.path(scenario, labrun.FileAudit))
	require.NoError(l.t, err)
	var events []audit.Event
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var e audit.Event
		require.NoError(l.t, json.Unmarshal(sc.Bytes(), &e))
		events = append(events, e)
	}
	file.Close()
	var b strings.Builder
	for _, e := range f(events) {
		line, err := json.Marshal(e)
		require.NoError(l.t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	l.write(scenario, labrun.FileAudit, b.String())
}

func (l lab) write(scenario, file, content string) { l.t.Helper(); l.Write(scenario, file, content) }

func (l lab) remove(scenario, file string) { l.t.Helper(); l.Remove(scenario, file) }

func (l lab) peer(scenario string, f func(*received.Evidence)) { edit(l, scenario, FilePeer, f) }
func (l lab) status(scenario string, f func(*api.Status))      { edit(l, scenario, labrun.FileStatus, f) }
func (l lab) ledger(scenario string, f func(*api.Ledger))      { edit(l, scenario, labrun.FileLedger, f) }
func (l lab) decisions(scenario string, f func(*api.Decisions)) {
	edit(l, scenario, labrun.FileDecisions, f)
}
func (l lab) setBandwidth(scenario, file string, f func(*labrun.SetBandwidthRun)) {
	edit(l, scenario, file, f)
}

// answer edits the JSON answer a set-bandwidth run printed.
func (l lab) answer(scenario, file string, f func(*api.SetBandwidthResponse)) {
	l.setBandwidth(scenario, file, func(run *labrun.SetBandwidthRun) {
		var resp api.SetBandwidthResponse
		require.NoError(l.t, json.Unmarshal([]byte(run.Stdout), &resp))
		f(&resp)
		out, err := json.Marshal(resp)
		require.NoError(l.t, err)
		run.Stdout = string(out)
	})
}

func segment(l *api.Ledger, id string) *api.Segment {
	for i := range l.Segments {
		if l.Segments[i].ID == id {
			return &l.Segments[i]
		}
	}
	panic("no segment " + id)
}

func received1(e *received.Evidence, id string) *received.Segment {
	for i := range e.Segments {
		if e.Segments[i].ID == id {
			return &e.Segments[i]
		}
	}
	panic("no receipt " + id)
}

var statuses = labtest.Statuses

func checkByID(t *testing.T, checks []evidence.Check, id string) evidence.Check {
	t.Helper()
	return labtest.CheckByID(t, checks, id)
}

// assertStatuses checks every one of the lab's checks: the named ones as
// given, all others PASS.
func assertStatuses(t *testing.T, checks []evidence.Check, notPass map[string]evidence.Status) {
	t.Helper()
	ids := make([]string, len(Checks))
	for i, d := range Checks {
		ids[i] = d.ID
	}
	labtest.AssertStatuses(t, checks, ids, notPass)
}

func TestEvaluate_PassingEvidence(t *testing.T) {
	scenarios, checks := Evaluate(recordedLab(t).dir)

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
	assert.Empty(t, cmp.Diff(want, got), "report lines (-want +got)")
	for _, c := range checks {
		assert.Empty(t, c.Detail, "%s passed with a detail", c.ID)
	}
}

// flipFirst turns the journal's first decision of kind from into one of
// kind to: a limiter that decided otherwise than it recorded.
func flipFirst(from, to string) func(*api.Decisions) {
	return func(d *api.Decisions) {
		for i := range d.Decisions {
			if d.Decisions[i].Kind == from {
				d.Decisions[i].Kind = to
				return
			}
		}
	}
}

// shift moves a time by d.
func shift(t *time.Time, d time.Duration) { *t = t.Add(d) }

func TestEvaluate_EachCheckFailsOnBadEvidence(t *testing.T) {
	const (
		fail = evidence.Fail
		rate = "set-bandwidth-rate-64.json"
	)
	tests := []struct {
		name   string
		break_ func(l lab)
		want   map[string]evidence.Status // checks that are not PASS
		detail map[string]string          // a substring of those checks' detail
	}{
		// VAL23-01/05/09: the witness and the ledger, exactly.
		{
			name: "S-A wrong bytes of the right length",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) { received1(e, "val23-sa-002").SHA256 = strings.Repeat("0", 64) })
			},
			want: map[string]evidence.Status{"VAL23-01": fail}, detail: map[string]string{"VAL23-01": "val23-sa-002"},
		},
		{
			name:   "S-A every segment delivered twice",
			break_: func(l lab) { l.peer(SA, func(e *received.Evidence) { e.Segments[0].Deliveries = 2 }) },
			want:   map[string]evidence.Status{"VAL23-01": fail}, detail: map[string]string{"VAL23-01": "delivered 2 times"},
		},
		{
			name: "S-A ledger left PENDING",
			break_: func(l lab) {
				l.ledger(SA, func(g *api.Ledger) {
					s := segment(g, "val23-sa-003")
					s.State, s.DeliveredAt, s.History = "PENDING", nil, nil
				})
			},
			want: map[string]evidence.Status{"VAL23-01": fail}, detail: map[string]string{"VAL23-01": "val23-sa-003"},
		},
		{
			name: "S-A an extra segment at the peer",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) {
					x := e.Segments[0]
					x.ID = "val23-sa-005"
					e.Segments = append(e.Segments, x)
				})
			},
			want: map[string]evidence.Status{"VAL23-01": fail},
		},
		{
			name:   "S-A a segment missing at the peer",
			break_: func(l lab) { l.peer(SA, func(e *received.Evidence) { e.Segments = e.Segments[1:] }) },
			want:   map[string]evidence.Status{"VAL23-01": fail},
		},
		{
			name: "S-A receipt stamped outside edged's attempt",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) { shift(&e.Segments[0].ReceivedAt, time.Second) })
			},
			want: map[string]evidence.Status{"VAL23-01": fail},
		},
		{
			name:   "S-A status still counts a pending segment",
			break_: func(l lab) { l.status(SA, func(s *api.Status) { s.Segments.Pending = 1 }) },
			want:   map[string]evidence.Status{"VAL23-01": fail, "VAL23-02": evidence.Pass},
		},
		// VAL23-02
		{
			name:   "S-A status not unlimited",
			break_: func(l lab) { l.status(SA, func(s *api.Status) { s.Unlimited = false }) },
			want:   map[string]evidence.Status{"VAL23-02": fail},
		},
		{
			name:   "S-A a throttle in the journal",
			break_: func(l lab) { l.decisions(SA, flipFirst(api.DecisionAllowed, api.DecisionThrottled)) },
			want:   map[string]evidence.Status{"VAL23-02": fail},
		},
		{
			name:   "S-A journal dropped entries",
			break_: func(l lab) { l.decisions(SA, func(d *api.Decisions) { d.Dropped, d.Total = 3, d.Total+3 }) },
			want:   map[string]evidence.Status{"VAL23-02": fail}, detail: map[string]string{"VAL23-02": "incomplete"},
		},
		// VAL23-03
		{
			name: "S-B audit event with another rate",
			break_: func(l lab) {
				l.editAudit(SB, func(es []audit.Event) []audit.Event { es[0].Bandwidth.BytesPerSecond = 65; return es })
			},
			want: map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			name:   "S-B audit actor empty",
			break_: func(l lab) { l.editAudit(SB, func(es []audit.Event) []audit.Event { es[0].Actor = ""; return es }) },
			want:   map[string]evidence.Status{"VAL23-03": fail}, detail: map[string]string{"VAL23-03": "actor"},
		},
		{
			name: "S-B audit previous wrong",
			break_: func(l lab) {
				l.editAudit(SB, func(es []audit.Event) []audit.Event { es[0].Previous.BytesPerSecond = 8; return es })
			},
			want: map[string]evidence.Status{"VAL23-03": fail}, detail: map[string]string{"VAL23-03": "previous"},
		},
		{
			name: "S-B audit names a peer",
			break_: func(l lab) {
				l.editAudit(SB, func(es []audit.Event) []audit.Event { es[0].Peer = "peer-val23"; return es })
			},
			want: map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			name: "S-B audit written after the call",
			break_: func(l lab) {
				l.editAudit(SB, func(es []audit.Event) []audit.Event { shift(&es[0].Time, 5*time.Second); return es })
			},
			want: map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			name:   "S-B no audit log at all",
			break_: func(l lab) { l.remove(SB, labrun.FileAudit) },
			want:   map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			name:   "S-B empty audit log",
			break_: func(l lab) { l.write(SB, labrun.FileAudit, "") },
			want:   map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			// A torn last line (a crash mid-append) loses only that line:
			// here it was the only one, so the event is missing.
			name:   "S-B audit log of only a torn line",
			break_: func(l lab) { l.write(SB, labrun.FileAudit, `{"time":`) },
			want:   map[string]evidence.Status{"VAL23-03": fail},
		},
		{
			name: "S-B torn tail after the event loses only that line",
			break_: func(l lab) {
				data, err := os.ReadFile(l.path(SB, labrun.FileAudit))
				require.NoError(l.t, err)
				l.write(SB, labrun.FileAudit, string(data)+`{"time":`)
			},
			want: map[string]evidence.Status{},
		},
		{
			name: "S-B foreign audit line cannot be judged",
			break_: func(l lab) {
				data, err := os.ReadFile(l.path(SB, labrun.FileAudit))
				require.NoError(l.t, err)
				l.write(SB, labrun.FileAudit, string(data)+"not an event\n")
			},
			want: map[string]evidence.Status{"VAL23-03": evidence.Error},
		},
		{
			name:   "S-B the CLI answered applied=false",
			break_: func(l lab) { l.answer(SB, rate, func(r *api.SetBandwidthResponse) { r.Applied = false }) },
			want:   map[string]evidence.Status{"VAL23-03": fail},
		},
		// VAL23-04
		{
			name:   "S-B throttle_count too low",
			break_: func(l lab) { l.status(SB, func(s *api.Status) { s.ThrottleCount = 3 }) },
			want:   map[string]evidence.Status{"VAL23-04": fail},
		},
		{
			name:   "S-B throttle_count off the journal",
			break_: func(l lab) { l.status(SB, func(s *api.Status) { s.ThrottleCount++ }) },
			want:   map[string]evidence.Status{"VAL23-04": fail}, detail: map[string]string{"VAL23-04": "journal holds"},
		},
		{
			name:   "S-B quota drop counted",
			break_: func(l lab) { l.status(SB, func(s *api.Status) { s.QuotaDropCount = 1 }) },
			want:   map[string]evidence.Status{"VAL23-04": fail},
		},
		{
			// A bucket refilling 10× too fast admits the second segment
			// long before a 64 B/s bucket holds it.
			name: "S-B an admission the bucket would refuse",
			break_: func(l lab) {
				l.decisions(SB, func(d *api.Decisions) {
					seen := 0
					for i := range d.Decisions {
						if d.Decisions[i].Kind == api.DecisionAllowed {
							if seen++; seen == 2 {
								shift(&d.Decisions[i].At, -900*time.Millisecond)
							}
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL23-04": fail},
		},
		{
			name: "S-B a wrong retry_at",
			break_: func(l lab) {
				l.decisions(SB, func(d *api.Decisions) {
					for i := range d.Decisions {
						if d.Decisions[i].RetryAt != nil {
							shift(d.Decisions[i].RetryAt, 100*time.Millisecond)
							return
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL23-04": fail}, detail: map[string]string{"VAL23-04": "retry"},
		},
		{
			name:   "S-B the rate is not in force in status",
			break_: func(l lab) { l.status(SB, func(s *api.Status) { s.Bandwidth.BytesPerSecond = 640 }) },
			want:   map[string]evidence.Status{"VAL23-04": fail},
		},
		// VAL23-05
		{
			name: "S-B receipts 10× too fast",
			break_: func(l lab) {
				l.peer(SB, func(e *received.Evidence) {
					first := e.Segments[0].ReceivedAt
					for i := range e.Segments {
						e.Segments[i].ReceivedAt = first.Add(e.Segments[i].ReceivedAt.Sub(first) / 10)
					}
				})
			},
			// The receipts leave the attempts the ledger recorded too.
			want: map[string]evidence.Status{"VAL23-05": fail}, detail: map[string]string{"VAL23-05": "bucket"},
		},
		{
			name: "S-B a stall between receipts",
			break_: func(l lab) {
				l.peer(SB, func(e *received.Evidence) {
					for i := range e.Segments {
						if e.Segments[i].ID == "val23-sb-005" {
							shift(&e.Segments[i].ReceivedAt, 2*time.Second)
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL23-05": fail},
		},
		{
			name: "S-B an extra segment at the peer",
			break_: func(l lab) {
				l.peer(SB, func(e *received.Evidence) {
					x := e.Segments[0]
					x.ID = "val23-sb-006"
					e.Segments = append(e.Segments, x)
				})
			},
			want: map[string]evidence.Status{"VAL23-05": fail},
		},
		// VAL23-06
		{
			name: "S-C over-quota segment reached the peer",
			break_: func(l lab) {
				l.peer(SC, func(e *received.Evidence) {
					x := e.Segments[0]
					x.ID = "val23-sc-003"
					e.Segments = append(e.Segments, x)
				})
			},
			want: map[string]evidence.Status{"VAL23-06": fail, "VAL23-07": fail},
		},
		{
			name: "S-C dead-lettered at the first failed attempt",
			break_: func(l lab) {
				l.ledger(SC, func(g *api.Ledger) {
					s := segment(g, "val23-sc-004")
					s.Attempts, s.History = 1, s.History[:1]
				})
			},
			want: map[string]evidence.Status{"VAL23-06": fail, "VAL23-07": fail},
		},
		{
			name: "S-C retried with no backoff",
			break_: func(l lab) {
				l.ledger(SC, func(g *api.Ledger) {
					h := segment(g, "val23-sc-005").History
					h[1].StartedAt, h[1].EndedAt = h[0].EndedAt, h[0].EndedAt
				})
			},
			want: map[string]evidence.Status{"VAL23-06": fail}, detail: map[string]string{"VAL23-06": "val23-sc-005"},
		},
		{
			name:   "S-C segment still pending, not dead-lettered",
			break_: func(l lab) { l.ledger(SC, func(g *api.Ledger) { segment(g, "val23-sc-006").State = "PENDING" }) },
			want:   map[string]evidence.Status{"VAL23-06": fail},
		},
		// VAL23-07
		{
			name:   "S-C too few quota drops",
			break_: func(l lab) { l.status(SC, func(s *api.Status) { s.QuotaDropCount = 4 }) },
			want:   map[string]evidence.Status{"VAL23-07": fail},
		},
		{
			name:   "S-C daily_used_bytes 0",
			break_: func(l lab) { l.status(SC, func(s *api.Status) { s.DailyUsedBytes = 0 }) },
			want:   map[string]evidence.Status{"VAL23-07": fail}, detail: map[string]string{"VAL23-07": "daily_used_bytes=0"},
		},
		{
			name:   "S-C quota not in force in status",
			break_: func(l lab) { l.status(SC, func(s *api.Status) { s.Bandwidth.DailyQuotaBytes = 0 }) },
			want:   map[string]evidence.Status{"VAL23-07": fail},
		},
		{
			name:   "S-C no quota window",
			break_: func(l lab) { l.status(SC, func(s *api.Status) { s.DailyWindowStart = nil }) },
			want:   map[string]evidence.Status{"VAL23-07": fail},
		},
		// VAL23-08
		{
			name: "S-D applied=true with the old bandwidth",
			break_: func(l lab) {
				l.answer(SD, FileSetBandwidthUnlimited, func(r *api.SetBandwidthResponse) { r.Bandwidth = r.Previous })
			},
			// VAL23-09 judges the journal by the answer, so it fails too.
			want: map[string]evidence.Status{"VAL23-08": fail, "VAL23-09": fail},
		},
		{
			name: "S-D applied=false",
			break_: func(l lab) {
				l.answer(SD, FileSetBandwidthUnlimited, func(r *api.SetBandwidthResponse) { r.Applied = false })
			},
			want: map[string]evidence.Status{"VAL23-08": fail},
		},
		{
			name: "S-D set-bandwidth failed",
			break_: func(l lab) {
				l.setBandwidth(SD, FileSetBandwidthUnlimited, func(r *labrun.SetBandwidthRun) {
					r.ExitCode, r.Stdout, r.Stderr = 1, "", "Error: is edged running?\n"
				})
			},
			want: map[string]evidence.Status{"VAL23-08": fail, "VAL23-09": fail},
		},
		{
			name: "S-D the reload's audit previous is wrong",
			break_: func(l lab) {
				l.editAudit(SD, func(es []audit.Event) []audit.Event { es[len(es)-1].Previous.BytesPerSecond = 0; return es })
			},
			want: map[string]evidence.Status{"VAL23-08": fail},
		},
		{
			name:   "S-D status still limited afterwards",
			break_: func(l lab) { l.status(SD, func(s *api.Status) { s.Unlimited = false }) },
			want:   map[string]evidence.Status{"VAL23-08": fail},
		},
		// VAL23-09
		{
			name: "S-D a receipt stamped before the reload",
			break_: func(l lab) {
				var start time.Time
				l.setBandwidth(SD, FileSetBandwidthUnlimited, func(r *labrun.SetBandwidthRun) { start = r.StartedAt })
				l.peer(SD, func(e *received.Evidence) { e.Segments[0].ReceivedAt = start.Add(-time.Millisecond) })
			},
			want: map[string]evidence.Status{"VAL23-09": fail}, detail: map[string]string{"VAL23-09": "before the reload"},
		},
		{
			name: "S-D delivery seconds late after the reload",
			break_: func(l lab) {
				l.peer(SD, func(e *received.Evidence) {
					for i := range e.Segments {
						shift(&e.Segments[i].ReceivedAt, 3*time.Second)
					}
				})
			},
			want: map[string]evidence.Status{"VAL23-09": fail}, detail: map[string]string{"VAL23-09": "after the reload's answer"},
		},
		{
			name:   "S-D an admission before the reload",
			break_: func(l lab) { l.decisions(SD, flipFirst(api.DecisionThrottled, api.DecisionAllowed)) },
			want:   map[string]evidence.Status{"VAL23-09": fail},
		},
		{
			name: "S-D only one blocked cycle before the reload",
			break_: func(l lab) {
				edit(l, SD, FilePreReload, func(p *PreReload) { p.Last.ExecutorCycles = p.Baseline.ExecutorCycles + 1 })
			},
			want: map[string]evidence.Status{"VAL23-09": fail},
		},
		{
			name:   "S-D the last cycle did not throttle all six",
			break_: func(l lab) { edit(l, SD, FilePreReload, func(p *PreReload) { p.Last.LastCycleThrottled = 5 }) },
			want:   map[string]evidence.Status{"VAL23-09": fail},
		},
		{
			name:   "S-D the peer had a segment before the reload",
			break_: func(l lab) { edit(l, SD, FilePreReload, func(p *PreReload) { p.PeerIDs = []string{"val23-sd-001"} }) },
			want:   map[string]evidence.Status{"VAL23-09": fail},
		},
		// VAL23-10
		{
			name:   "S-E the test was skipped",
			break_: func(l lab) { l.write(SE, labrun.FileGoTest, skippedGoTest) },
			want:   map[string]evidence.Status{"VAL23-10": fail}, detail: map[string]string{"VAL23-10": "skipped"},
		},
		{
			name:   "S-E no tests to run",
			break_: func(l lab) { l.write(SE, labrun.FileGoTest, noTestsGoTest) },
			want:   map[string]evidence.Status{"VAL23-10": fail},
		},
		{
			name:   "S-E test failed",
			break_: func(l lab) { l.write(SE, labrun.FileGoTest, failingGoTest) },
			want:   map[string]evidence.Status{"VAL23-10": fail},
		},
		{
			name:   "S-E another test passed, not ours",
			break_: func(l lab) { l.write(SE, labrun.FileGoTest, strings.ReplaceAll(passingGoTest, UnitTest, "TestOther")) },
			want:   map[string]evidence.Status{"VAL23-10": fail},
		},
		// Scenario faults: nothing the scenario proved stands.
		{
			name: "S-B end condition timed out",
			break_: func(l lab) {
				edit(l, SB, labrun.FileScenario, func(r *ScenarioRecord) { r.TimedOut, r.ReachedAt = true, nil })
			},
			want: map[string]evidence.Status{"VAL23-03": fail, "VAL23-04": fail, "VAL23-05": fail},
		},
		{
			name: "S-D edged died before it was stopped",
			break_: func(l lab) {
				edit(l, SD, labrun.FileScenario, func(r *ScenarioRecord) { r.Problems = append(r.Problems, "edged exited before stop") })
			},
			want: map[string]evidence.Status{"VAL23-08": fail, "VAL23-09": fail},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := recordedLab(t)
			tt.break_(l)
			_, checks := Evaluate(l.dir)
			want := map[string]evidence.Status{}
			for id, s := range tt.want {
				if s != evidence.Pass {
					want[id] = s
				}
			}
			assertStatuses(t, checks, want)
			for id, sub := range tt.detail {
				assert.Contains(t, checkByID(t, checks, id).Detail, sub, "%s detail", id)
			}
		})
	}
}

const passingGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"start","Package":"edgelab/edged/bandwidth"}
{"Time":"2026-03-14T09:00:10Z","Action":"run","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h"}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Elapsed":0}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Elapsed":0.01}
`

const skippedGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"run","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Output":"    limiter_test.go:80: skipped\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"skip","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Elapsed":0}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Elapsed":0.01}
`

const noTestsGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"start","Package":"edgelab/edged/bandwidth"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"testing: warning: no tests to run\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Output":"ok  \tedgelab/edged/bandwidth\t0.004s [no tests to run]\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"pass","Package":"edgelab/edged/bandwidth","Elapsed":0.004}
`

const failingGoTest = `{"Time":"2026-03-14T09:00:10Z","Action":"run","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h"}
{"Time":"2026-03-14T09:00:10Z","Action":"output","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Output":"    limiter_test.go:80: allowed after 23h59m\n"}
{"Time":"2026-03-14T09:00:10Z","Action":"fail","Package":"edgelab/edged/bandwidth","Test":"TestBandwidthLimiter_DailyQuota_ResetsAfter24h","Elapsed":0}
{"Time":"2026-03-14T09:00:10Z","Action":"fail","Package":"edgelab/edged/bandwidth","Elapsed":0.01}
`

func TestEvaluate_MissingEvidenceIsError(t *testing.T) {
	tests := []struct {
		scenario, file string
		want           []string // the checks that read the file: ERROR
	}{
		{SA, FilePeer, []string{"VAL23-01"}},
		{SA, labrun.FileLedger, []string{"VAL23-01"}},
		{SA, labrun.FileStatus, []string{"VAL23-01", "VAL23-02"}},
		{SA, labrun.FileDecisions, []string{"VAL23-02"}},
		{SA, labrun.FileSeeded, []string{"VAL23-01"}},
		{SB, labrun.FileDecisions, []string{"VAL23-04"}},
		{SB, labrun.SetBandwidthFile(rateLabel), []string{"VAL23-03", "VAL23-04", "VAL23-05"}},
		{SB, labrun.FileEdgeTOML, []string{"VAL23-03", "VAL23-04", "VAL23-05"}},
		{SC, labrun.FileLedger, []string{"VAL23-06", "VAL23-07"}},
		{SC, FilePeer, []string{"VAL23-06", "VAL23-07"}},
		{SD, FileSetBandwidthUnlimited, []string{"VAL23-08", "VAL23-09"}},
		{SD, FilePreReload, []string{"VAL23-09"}},
		{SD, labrun.FileDecisions, []string{"VAL23-08", "VAL23-09"}},
		{SE, labrun.FileGoTest, []string{"VAL23-10"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"/"+tt.file, func(t *testing.T) {
			l := recordedLab(t)
			l.remove(tt.scenario, tt.file)
			_, checks := Evaluate(l.dir)
			want := map[string]evidence.Status{}
			for _, id := range tt.want {
				want[id] = evidence.Error
			}
			assertStatuses(t, checks, want)
			for _, id := range tt.want {
				assert.Contains(t, checkByID(t, checks, id).Detail, "evidence missing: "+tt.scenario+"/"+tt.file, "%s detail", id)
			}
		})
	}
}

func TestEvaluate_ScenarioThatCouldNotRunIsError(t *testing.T) {
	l := recordedLab(t)
	l.notRun(SA, "port 19054 is in use")
	_, checks := Evaluate(l.dir)
	assertStatuses(t, checks, map[string]evidence.Status{"VAL23-01": evidence.Error, "VAL23-02": evidence.Error})
	assert.Contains(t, checkByID(t, checks, "VAL23-01").Detail, "S-A could not run: port 19054 is in use")
	assert.Equal(t, "unlimited baseline: n/a (S-A could not run: port 19054 is in use)", checkByID(t, checks, "VAL23-01").Summary)
}

func TestEvaluate_SeededSetThatIsNotTheScenarioIsError(t *testing.T) {
	l := recordedLab(t)
	require.NoError(t, labrun.WriteJSON(filepath.Join(l.dir, SB), labrun.FileSeeded, []string{"val23-sb-001"}))
	_, checks := Evaluate(l.dir)
	assert.Equal(t, evidence.Error, checkByID(t, checks, "VAL23-05").Status)
	assert.Contains(t, checkByID(t, checks, "VAL23-05").Detail, "S-B/seeded.json is not the scenario's seeded set")
}

func TestEvaluate_NoScenarioRecordIsError(t *testing.T) {
	l := recordedLab(t)
	require.NoError(t, os.RemoveAll(filepath.Join(l.dir, SE)))
	_, checks := Evaluate(l.dir)
	assertStatuses(t, checks, map[string]evidence.Status{"VAL23-10": evidence.Error})
	assert.Contains(t, checkByID(t, checks, "VAL23-10").Detail, "S-E did not record a run")
}

func TestEvaluate_EmptyDirectoryIsAllError(t *testing.T) {
	scenarios, checks := Evaluate(t.TempDir())
	require.Len(t, checks, 10)
	for _, c := range checks {
		assert.Equal(t, evidence.Error, c.Status, c.ID)
	}
	assert.Equal(t, "S-A unlimited baseline: not run (S-A did not record a run (S-A/scenario.json: file does not exist))", scenarios[0].Summary)
}

// notRun replaces a scenario's evidence with a record saying it could not
// run.
func (l lab) notRun(scenario, why string) {
	l.t.Helper()
	require.NoError(l.t, os.RemoveAll(filepath.Join(l.dir, scenario)))
	require.NoError(l.t, os.Mkdir(filepath.Join(l.dir, scenario), 0o755))
	require.NoError(l.t, labrun.WriteJSON(filepath.Join(l.dir, scenario), labrun.FileScenario, labrun.ScenarioRecord{Name: scenario, Error: why}))
}

func TestEvaluate_NotRunScenarioSummary(t *testing.T) {
	l := recordedLab(t)
	l.notRun(SD, "edged exited: exit status 1")
	scenarios, _ := Evaluate(l.dir)
	assert.Equal(t, "S-D hot-reload (8→∞ B/s): not run (edged exited: exit status 1)", scenarios[3].Summary)
	assert.Equal(t, "edged exited: exit status 1", scenarios[3].Error)
}

func TestEvaluate_MultiLineReasonStaysOnOneReportLine(t *testing.T) {
	l := recordedLab(t)
	l.notRun(SE, "build ./edged: exit status 1: # edgelab/edged\nedged/main.go:3: syntax error")
	scenarios, checks := Evaluate(l.dir)
	assert.Equal(t, "S-E daily reset unit test: not run (build ./edged: exit status 1: # edgelab/edged …)", scenarios[4].Summary)
	c := checkByID(t, checks, "VAL23-10")
	assert.Equal(t, "daily quota reset: n/a (S-E could not run: build ./edged: exit status 1: # edgelab/edged …)", c.Summary)
	assert.Contains(t, c.Detail, "edged/main.go:3: syntax error", "the detail keeps the second line")
}

func TestEvaluate_ChecksLinkTheirEvidence(t *testing.T) {
	l := recordedLab(t)
	l.notRun(SD, "edged not ready")
	_, checks := Evaluate(l.dir)
	got := map[string][]string{}
	for _, c := range checks {
		got[c.ID] = c.Evidence
	}
	want := map[string][]string{}
	for _, def := range Checks {
		for _, f := range def.Files {
			want[def.ID] = append(want[def.ID], def.Scenario+"/"+f)
		}
	}
	// ERROR: the record that says why comes first.
	want["VAL23-08"] = []string{"S-D/scenario.json"}
	want["VAL23-09"] = []string{"S-D/scenario.json"}
	assert.Empty(t, cmp.Diff(want, got), "check evidence (-want +got)")
}

func TestLoad_KeepsEveryFile(t *testing.T) {
	r := Load(recordedLab(t).dir, Scenarios[3])
	require.NoError(t, r.need(labrun.FileSeeded, FilePeer, labrun.FileStatus, FilePreReload, FileSetBandwidthUnlimited, labrun.FileDecisions, labrun.FileLedger))
	assert.True(t, r.PreReload.Reached, "pre-reload reached")
	resp, err := r.SetBandwidth[FileSetBandwidthUnlimited].Response()
	require.NoError(t, err)
	assert.True(t, resp.Applied)
	assert.NotEmpty(t, r.Decisions.Decisions)
	for _, s := range r.Ledger.Segments {
		assert.NotEmpty(t, s.History, "%s history", s.ID)
	}
}

func TestIDs(t *testing.T) {
	want := []string{"val23-sc-001", "val23-sc-002", "val23-sc-003", "val23-sc-004", "val23-sc-005", "val23-sc-006"}
	assert.Equal(t, want, Scenarios[2].IDs())
	assert.Empty(t, Scenarios[4].IDs())
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
