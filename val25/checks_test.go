package val25

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/evidence"
	"edgelab/labs/labrun"
	"edgelab/labs/labtest"
	"edgelab/peer/received"
)

// The check tests start from a real run (testdata/recorded: `go run
// ./labs/val25` on a correct daemon) and break its evidence the way a
// broken daemon would, one behaviour at a time: every check must FAIL on
// the breakage it guards, and be ERROR, not PASS, when its evidence is
// missing.
const recordedRun = "testdata/recorded"

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

func (l lab) write(scenario, file, content string) { l.t.Helper(); l.Write(scenario, file, content) }

func (l lab) remove(scenario, file string) { l.t.Helper(); l.Remove(scenario, file) }

func (l lab) peer(scenario string, f func(*received.Evidence)) {
	edit(l, scenario, labrun.PeerEvidenceFile(Peer), f)
}
func (l lab) ledger(scenario string, f func(*api.Ledger)) { edit(l, scenario, labrun.FileLedger, f) }
func (l lab) status(scenario, label string, f func(*api.Status)) {
	file := labrun.FileStatus
	if label != "" {
		file = StatusFile(label)
	}
	edit(l, scenario, file, f)
}
func (l lab) cli(scenario, file string, f func(*CLIRun)) { edit(l, scenario, file, f) }

func segment(l *api.Ledger, id string) *api.Segment {
	for i := range l.Segments {
		if l.Segments[i].ID == id {
			return &l.Segments[i]
		}
	}
	panic("no segment " + id)
}

func receiptOf(e *received.Evidence, id string) *received.Segment {
	for i := range e.Segments {
		if e.Segments[i].ID == id {
			return &e.Segments[i]
		}
	}
	panic("no receipt " + id)
}

func moveOf(moves []ClockMove, label string) *ClockMove {
	for i := range moves {
		if moves[i].Label == label {
			return &moves[i]
		}
	}
	panic("no clock move " + label)
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
	require.Len(t, scenarios, len(Scenarios))
	require.Len(t, checks, 12)
	for _, c := range checks {
		assert.Equal(t, evidence.Pass, c.Status, "%s: %s", c.ID, c.Detail)
		assert.Empty(t, c.Detail, "%s passed with a detail", c.ID)
	}
	for _, s := range scenarios {
		assert.NotContains(t, s.Summary, "problem", s.Name)
	}
	assert.Contains(t, checkByID(t, checks, "VAL25-03").Summary, "(25 h)")
	assert.Contains(t, checkByID(t, checks, "VAL25-04").Summary, "(23 h)")
}

func TestEvaluate_EachCheckFailsOnBadEvidence(t *testing.T) {
	const fail = evidence.Fail
	tests := []struct {
		name   string
		break_ func(l lab)
		want   map[string]evidence.Status // checks that are not PASS
		detail map[string]string          // a substring of those checks' detail
	}{
		// VAL25-01: the quota spent live.
		{
			name: "S-A wrong bytes of the right length",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) { receiptOf(e, "val25-sa-002").SHA256 = strings.Repeat("0", 64) })
			},
			want: map[string]evidence.Status{"VAL25-01": fail}, detail: map[string]string{"VAL25-01": "val25-sa-002 has sha256"},
		},
		{
			name: "S-A the refused segment reached the peer",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) {
					x := *receiptOf(e, "val25-sa-001")
					x.ID = "val25-sa-003"
					e.Segments = append(e.Segments, x)
				})
			},
			want: map[string]evidence.Status{"VAL25-01": fail}, detail: map[string]string{"VAL25-01": "val25-sa-003"},
		},
		{
			name:   "S-A quota not exhausted when spent",
			break_: func(l lab) { l.status(SA, StatusSpent, func(s *api.Status) { s.Quota.State = api.QuotaOpen }) },
			want:   map[string]evidence.Status{"VAL25-01": fail, "VAL25-02": fail}, detail: map[string]string{"VAL25-01": `quota.state "open"`},
		},
		{
			name: "S-A a receipt outside edged's attempt on the lab clock",
			break_: func(l lab) {
				l.peer(SA, func(e *received.Evidence) {
					receiptOf(e, "val25-sa-001").ReceivedAt = receiptOf(e, "val25-sa-001").ReceivedAt.Add(time.Second)
				})
			},
			want: map[string]evidence.Status{"VAL25-01": fail}, detail: map[string]string{"VAL25-01": "outside edged's delivered attempt"},
		},
		{
			name: "S-A the journal admitted the third",
			break_: func(l lab) {
				edit(l, SA, labrun.FileDecisions, func(d *api.Decisions) {
					for i := range d.Decisions {
						if d.Decisions[i].Segment == "val25-sa-003" {
							d.Decisions[i].Kind = api.DecisionAllowed
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-01": fail}, detail: map[string]string{"VAL25-01": "journal: val25-sa-003"},
		},
		// VAL25-02: kept at +23h59m, reset at +24h.
		{
			name: "S-A the journal shows no refusal at +23h59m",
			break_: func(l lab) {
				edit(l, SA, labrun.FileDecisions, func(d *api.Decisions) {
					var keep []api.Decision
					for _, x := range d.Decisions {
						if x.Segment != "val25-sa-004" || x.Kind != api.DecisionQuotaExceeded {
							keep = append(keep, x)
						}
					}
					d.Decisions = keep
				})
			},
			want: map[string]evidence.Status{"VAL25-02": fail}, detail: map[string]string{"VAL25-02": "journal: val25-sa-004"},
		},
		{
			name: "S-A the window reset before +23h59m (refusal earlier)",
			break_: func(l lab) {
				l.ledger(SA, func(g *api.Ledger) {
					h := segment(g, "val25-sa-004").History
					h[0].StartedAt = h[0].StartedAt.Add(-2 * time.Minute)
				})
			},
			want: map[string]evidence.Status{"VAL25-02": fail}, detail: map[string]string{"VAL25-02": "refused at lab"},
		},
		{
			name:   "S-A usage not reset at +24h",
			break_: func(l lab) { l.status(SA, "", func(s *api.Status) { s.DailyUsedBytes, s.Quota.UsedBytes = 128, 128 }) },
			want:   map[string]evidence.Status{"VAL25-02": fail}, detail: map[string]string{"VAL25-02": "want 64"},
		},
		{
			name: "S-A delivered at +23h59m",
			break_: func(l lab) {
				l.ledger(SA, func(g *api.Ledger) { h := segment(g, "val25-sa-004").History; h[2].StartedAt = h[0].StartedAt })
			},
			want: map[string]evidence.Status{"VAL25-02": fail}, detail: map[string]string{"VAL25-02": "before W+24h"},
		},
		// VAL25-03/04: both DST days.
		{
			name: "S-B autumn reset at 24 h (a 24 h window)",
			break_: func(l lab) {
				l.status(SB, SBSpent(Autumn), func(s *api.Status) { e := s.Quota.End.Add(-time.Hour); s.Quota.End = &e })
			},
			want: map[string]evidence.Status{"VAL25-03": fail}, detail: map[string]string{"VAL25-03": "end − start = 24h0m0s"},
		},
		{
			name: "S-B autumn refusal before start + 24 h",
			break_: func(l lab) {
				l.ledger(SB, func(g *api.Ledger) {
					h := segment(g, "val25-sb-autumn-003").History
					h[0].StartedAt = h[0].StartedAt.Add(-2 * time.Hour)
				})
			},
			want: map[string]evidence.Status{"VAL25-03": fail}, detail: map[string]string{"VAL25-03": "before start + 24 h"},
		},
		{
			name: "S-B spring delivered before local 04:00",
			break_: func(l lab) {
				l.ledger(SB, func(g *api.Ledger) {
					h := segment(g, "val25-sb-spring-003").History
					h[len(h)-1].StartedAt = h[len(h)-1].StartedAt.Add(-30 * time.Second)
				})
			},
			want: map[string]evidence.Status{"VAL25-04": fail}, detail: map[string]string{"VAL25-04": "want delivered at ≥ 04:00 local"},
		},
		{
			name: "S-B spring received before the 04:00 move",
			break_: func(l lab) {
				edit(l, SB, FileClock, func(m *[]ClockMove) {
					mv := moveOf(*m, "spring-04:00")
					mv.SysBefore, mv.SysAfter = mv.SysBefore.Add(time.Minute), mv.SysAfter.Add(time.Minute)
				})
			},
			want: map[string]evidence.Status{"VAL25-04": fail}, detail: map[string]string{"VAL25-04": "before the clock was set to 04:00"},
		},
		{
			name: "S-B spring not a DST day",
			break_: func(l lab) {
				edit(l, SB, FilePlan, func(p *Plan) { p.Sides[0].Day = p.Sides[0].Day.AddDate(0, 0, -7) })
			},
			want: map[string]evidence.Status{"VAL25-04": fail}, detail: map[string]string{"VAL25-04": "is not the last Sunday"},
		},
		// VAL25-05/06: across SIGKILL.
		{
			name: "S-C usage lost on restart",
			break_: func(l lab) {
				l.status(SC, StatusPostRestart, func(s *api.Status) { s.DailyUsedBytes, s.Quota.UsedBytes = 0, 0 })
			},
			want: map[string]evidence.Status{"VAL25-05": fail}, detail: map[string]string{"VAL25-05": "quota after the restart"},
		},
		{
			name:   "S-C stopped cleanly, not killed",
			break_: func(l lab) { edit(l, SC, FileKill, func(k *KillRecord) { k.ExitedAs = "exit status 0" }) },
			want:   map[string]evidence.Status{"VAL25-05": fail}, detail: map[string]string{"VAL25-05": "signal: killed"},
		},
		{
			name: "S-C delivered before 04:00 after the restart",
			break_: func(l lab) {
				l.ledger(SC, func(g *api.Ledger) {
					h := segment(g, "val25-sc-003").History
					h[len(h)-1].StartedAt = h[len(h)-1].StartedAt.Add(-10 * time.Second)
				})
			},
			want: map[string]evidence.Status{"VAL25-05": fail, "VAL25-06": fail}, detail: map[string]string{"VAL25-06": "before 04:00 local"},
		},
		{
			name: "S-C no reset after the restart",
			break_: func(l lab) {
				l.status(SC, "", func(s *api.Status) {
					s.Quota.Start = s.DailyWindowStart
					st := s.Quota.Start.AddDate(0, 0, -1)
					s.Quota.Start = &st
				})
			},
			want: map[string]evidence.Status{"VAL25-06": fail}, detail: map[string]string{"VAL25-06": "quota.start"},
		},
		// VAL25-07/08: redrive.
		{
			name: "S-D one segment left out of the requeue",
			break_: func(l lab) {
				l.cli(SD, FileRequeueAll, func(c *CLIRun) { c.Stdout = `{"requeued":["val25-sd-001","val25-sd-002"],"dry_run":false}` })
			},
			want: map[string]evidence.Status{"VAL25-07": fail}, detail: map[string]string{"VAL25-07": "requeue --all answered"},
		},
		{
			name:   "S-D a segment delivered twice",
			break_: func(l lab) { l.peer(SD, func(e *received.Evidence) { receiptOf(e, "val25-sd-002").Deliveries = 2 }) },
			want:   map[string]evidence.Status{"VAL25-07": fail, "VAL25-08": fail}, detail: map[string]string{"VAL25-07": "delivered 2 times"},
		},
		{
			name: "S-D history without the requeue",
			break_: func(l lab) {
				l.ledger(SD, func(g *api.Ledger) { s := segment(g, "val25-sd-003"); s.History = s.History[2:] })
			},
			want: map[string]evidence.Status{"VAL25-07": fail, "VAL25-08": fail}, detail: map[string]string{"VAL25-07": "val25-sd-003"},
		},
		{
			name:   "S-D requeue not audited",
			break_: func(l lab) { l.write(SD, labrun.FileAudit, "") },
			want:   map[string]evidence.Status{"VAL25-08": fail}, detail: map[string]string{"VAL25-08": "0 ledger.requeued events"},
		},
		{
			name:   "S-D DELIVERED id requeued",
			break_: func(l lab) { l.cli(SD, FileRequeueDone, func(c *CLIRun) { c.ExitCode, c.Stderr = 0, "" }) },
			want:   map[string]evidence.Status{"VAL25-08": fail}, detail: map[string]string{"VAL25-08": "want non-zero"},
		},
		// VAL25-09: partial update.
		{
			name:   "S-E the quota change dropped the rate",
			break_: func(l lab) { l.status(SE, "", func(s *api.Status) { s.Bandwidth.BytesPerSecond = 0 }) },
			want:   map[string]evidence.Status{"VAL25-09": fail}, detail: map[string]string{"VAL25-09": "final status bandwidth"},
		},
		{
			name: "S-E the quota-only change passed through no rate",
			break_: func(l lab) {
				edit(l, SE, labrun.FileDecisions, func(d *api.Decisions) {
					for i := range d.Decisions {
						if s := d.Decisions[i].Settings; s != nil && s.DailyQuotaBytes == PartialQuota {
							s.BytesPerSecond = 0
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-09": fail}, detail: map[string]string{"VAL25-09": "the journal's global settings"},
		},
		{
			name: "S-E receipts faster than 64 B/s",
			break_: func(l lab) {
				l.peer(SE, func(e *received.Evidence) {
					for i := range e.Segments {
						e.Segments[i].ReceivedAt = e.Segments[0].ReceivedAt.Add(time.Duration(i) * 100 * time.Millisecond)
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-09": fail}, detail: map[string]string{"VAL25-09": "bucket"},
		},
		// VAL25-11: quota hold.
		{
			name:   "S-G a held segment dead-lettered",
			break_: func(l lab) { l.status(SG, StatusHeld, func(s *api.Status) { s.Segments.Deadletter = 1 }) },
			want:   map[string]evidence.Status{"VAL25-11": fail}, detail: map[string]string{"VAL25-11": "deadletter"},
		},
		{
			name: "S-G a held segment counted an attempt",
			break_: func(l lab) {
				edit(l, SG, FileHeld, func(g *api.Ledger) {
					for i := range g.Segments {
						if g.Segments[i].ID == SGIDs[3] {
							g.Segments[i].Attempts = 1
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-11": fail}, detail: map[string]string{"VAL25-11": SGIDs[3]},
		},
		{
			name: "S-G a hold until the wrong time",
			break_: func(l lab) {
				edit(l, SG, labrun.FileDecisions, func(d *api.Decisions) {
					for i := range d.Decisions {
						if d.Decisions[i].RetryAt != nil && d.Decisions[i].Kind == api.DecisionQuotaHeld {
							t := d.Decisions[i].RetryAt.Add(time.Hour)
							d.Decisions[i].RetryAt = &t
							return
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-11": fail}, detail: map[string]string{"VAL25-11": "held until"},
		},
		{
			name: "S-G a held segment delivered before its window ended",
			break_: func(l lab) {
				l.ledger(SG, func(g *api.Ledger) {
					for i := range g.Segments {
						if g.Segments[i].ID == SGIDs[2] {
							g.Segments[i].History[0].StartedAt = g.Segments[i].History[0].StartedAt.Add(-48 * time.Hour)
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-11": fail}, detail: map[string]string{"VAL25-11": "before its window ended"},
		},
		{
			name:   "S-G a segment lost",
			break_: func(l lab) { l.peer(SG, func(e *received.Evidence) { e.Segments = e.Segments[:3] }) },
			want:   map[string]evidence.Status{"VAL25-11": fail},
		},
		// VAL25-12: the timetable.
		{
			name:   "S-H the day rate not in force",
			break_: func(l lab) { l.status(SH, StatusDay, func(s *api.Status) { s.Bandwidth.Source = api.SourceConfig }) },
			want:   map[string]evidence.Status{"VAL25-12": fail}, detail: map[string]string{"VAL25-12": "before 19:00"},
		},
		{
			name: "S-H the rate still on after 19:00",
			break_: func(l lab) {
				l.status(SH, StatusOff, func(s *api.Status) { s.Bandwidth.BytesPerSecond = ScheduleRate })
			},
			want: map[string]evidence.Status{"VAL25-12": fail}, detail: map[string]string{"VAL25-12": "after 19:00"},
		},
		{
			name: "S-H the boundary not audited as the schedule's",
			break_: func(l lab) {
				data, err := os.ReadFile(l.path(SH, labrun.FileAudit))
				require.NoError(t, err)
				l.write(SH, labrun.FileAudit, strings.ReplaceAll(string(data), `"actor":"schedule"`, `"actor":"uid=0"`))
			},
			want: map[string]evidence.Status{"VAL25-12": fail}, detail: map[string]string{"VAL25-12": "audit"},
		},
		{
			name: "S-H the switch applied late",
			break_: func(l lab) {
				edit(l, SH, labrun.FileDecisions, func(d *api.Decisions) {
					for i := len(d.Decisions) - 1; i >= 0; i-- {
						if d.Decisions[i].Kind == api.DecisionSettings {
							d.Decisions[i].At = d.Decisions[i].At.Add(5 * time.Second)
							return
						}
					}
				})
			},
			want: map[string]evidence.Status{"VAL25-12": fail}, detail: map[string]string{"VAL25-12": "journal: last settings"},
		},
		{
			name: "S-H the day rate refilled 10× too fast",
			break_: func(l lab) {
				l.peer(SH, func(e *received.Evidence) {
					first, second := -1, -1
					for i := range e.Segments {
						switch e.Segments[i].ID {
						case SHIDs[0]:
							first = i
						case SHIDs[1]:
							second = i
						}
					}
					e.Segments[second].ReceivedAt = e.Segments[first].ReceivedAt.Add(100 * time.Millisecond)
				})
			},
			want: map[string]evidence.Status{"VAL25-12": fail}, detail: map[string]string{"VAL25-12": "bucket"},
		},
		// VAL25-10: the ingress report.
		{
			name: "S-F a byte lost in the report",
			break_: func(l lab) {
				l.cli(SF, FileIngress, func(c *CLIRun) {
					var rep api.IngressReport
					require.NoError(t, json.Unmarshal([]byte(c.Stdout), &rep))
					for i := range rep.Buckets {
						if rep.Buckets[i].Peer == "sender-1" {
							rep.Buckets[i].Bytes--
						}
					}
					out, _ := json.Marshal(rep)
					c.Stdout = string(out)
				})
			},
			want: map[string]evidence.Status{"VAL25-10": fail}, detail: map[string]string{"VAL25-10": "ingress report summed over hours"},
		},
		{
			name:   "S-F report read before the kill",
			break_: func(l lab) { l.cli(SF, FileIngress, func(c *CLIRun) { c.StartedAt = c.StartedAt.Add(-time.Hour) }) },
			want:   map[string]evidence.Status{"VAL25-10": fail}, detail: map[string]string{"VAL25-10": "before the kill"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := recordedLab(t)
			tt.break_(l)
			_, checks := Evaluate(l.dir)
			assertStatuses(t, checks, tt.want)
			for id, s := range tt.detail {
				assert.Contains(t, checkByID(t, checks, id).Detail, s, "%s detail", id)
			}
		})
	}
}

func TestEvaluate_MissingEvidenceIsError(t *testing.T) {
	tests := []struct {
		scenario, file string
		want           []string // the checks that read the file: ERROR
	}{
		{SA, labrun.PeerEvidenceFile(Peer), []string{"VAL25-01", "VAL25-02"}},
		{SA, labrun.FileLedger, []string{"VAL25-01", "VAL25-02"}},
		{SA, FileClock, []string{"VAL25-01", "VAL25-02"}},
		{SA, StatusFile(StatusLateRefused), []string{"VAL25-02"}},
		{SA, FileRequeueLate, []string{"VAL25-02"}},
		{SA, labrun.FileDecisions, []string{"VAL25-01", "VAL25-02"}},
		{SE, labrun.FileDecisions, []string{"VAL25-09"}},
		{SB, FilePlan, []string{"VAL25-03", "VAL25-04"}},
		{SB, StatusFile(SBSpent(Autumn)), []string{"VAL25-03"}},
		{SB, StatusFile(SBReset(Spring)), []string{"VAL25-04"}},
		{SC, FileKill, []string{"VAL25-05", "VAL25-06"}},
		{SC, StatusFile(StatusPostRestart), []string{"VAL25-05"}},
		{SC, labrun.FileStatus, []string{"VAL25-06"}},
		{SD, FileDeadletter, []string{"VAL25-07"}},
		{SD, labrun.FileAudit, []string{"VAL25-08"}},
		{SD, FileRequeueDone, []string{"VAL25-08"}},
		{SE, labrun.SetBandwidthFile(LabelQuota), []string{"VAL25-09"}},
		{SF, FileIngress, []string{"VAL25-10"}},
		{SF, FileSends, []string{"VAL25-10"}},
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
	edit(l, SD, labrun.FileScenario, func(r *labrun.ScenarioRecord) { r.Error = "port 19060 is in use" })
	_, checks := Evaluate(l.dir)
	assertStatuses(t, checks, map[string]evidence.Status{"VAL25-07": evidence.Error, "VAL25-08": evidence.Error})
	assert.Contains(t, checkByID(t, checks, "VAL25-07").Detail, "port 19060 is in use")
}

func TestEvaluate_ScenarioFaultFailsItsChecks(t *testing.T) {
	l := recordedLab(t)
	edit(l, SF, labrun.FileScenario, func(r *labrun.ScenarioRecord) { r.Problems = []string{"edged exited before the lab stopped it"} })
	_, checks := Evaluate(l.dir)
	assertStatuses(t, checks, map[string]evidence.Status{"VAL25-10": evidence.Fail})
}

func TestEvaluate_EmptyDirectoryIsAllError(t *testing.T) {
	_, checks := Evaluate(t.TempDir())
	for _, c := range checks {
		assert.Equal(t, evidence.Error, c.Status, c.ID)
		assert.Contains(t, c.Detail, "was not recorded", c.ID)
	}
}

func TestNextDSTSides(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	got := NextDSTSides(at("2026-12-02T16:00:00Z"))
	require.Len(t, got, 2)
	assert.Equal(t, Spring, got[0].Side)
	assert.Equal(t, "2027-03-28", got[0].Day.Format(time.DateOnly))
	assert.Equal(t, 23, got[0].Hours)
	assert.Equal(t, Autumn, got[1].Side)
	assert.Equal(t, "2027-10-31", got[1].Day.Format(time.DateOnly))
	assert.Equal(t, 25, got[1].Hours)

	// In June the autumn change comes first, this year's.
	got = NextDSTSides(at("2026-06-01T00:00:00Z"))
	assert.Equal(t, []string{"2026-10-25", "2027-03-28"}, []string{got[0].Day.Format(time.DateOnly), got[1].Day.Format(time.DateOnly)})
	assert.Equal(t, []string{Autumn, Spring}, []string{got[0].Side, got[1].Side})
	assert.Equal(t, "2026-10-24T02:00:00Z", got[0].PeriodStart().UTC().Format(time.RFC3339))
	assert.Equal(t, "2026-10-25T03:00:00Z", got[0].PeriodEnd().UTC().Format(time.RFC3339))
}

func TestRestartDay_IsAPlain24hDay(t *testing.T) {
	// A week after 2027-03-21 is the spring change day: the next one is
	// taken.
	d := RestartDay(time.Date(2027, 3, 21, 12, 0, 0, 0, time.UTC))
	assert.Equal(t, "2027-03-29", d.Format(time.DateOnly))
}

func TestLabTime(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	moves := []ClockMove{{SysBefore: t0, SysAfter: t0.Add(time.Millisecond), Now: t0.Add(24 * time.Hour)}}
	lab, slack := labTime(moves, t0.Add(time.Second))
	assert.Equal(t, t0.Add(24*time.Hour+time.Second-time.Millisecond), lab)
	assert.Equal(t, time.Millisecond, slack)
	lab, slack = labTime(moves, t0.Add(-time.Second))
	assert.Equal(t, t0.Add(-time.Second), lab, "before any move the lab clock is the system clock")
	assert.Zero(t, slack)
}

func TestLabTimes_ReceiptDuringAMove(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	moves := []ClockMove{{SysBefore: t0, SysAfter: t0.Add(2 * time.Millisecond), Now: t0.Add(24 * time.Hour)}}
	// The daemon acted on the move before its answer arrived: the receipt
	// may be on either side of it.
	got := labTimes(moves, t0.Add(time.Millisecond))
	require.Len(t, got, 2)
	assert.Equal(t, t0.Add(time.Millisecond), got[0].lab)
	assert.Equal(t, t0.Add(24*time.Hour-time.Millisecond), got[1].lab)
	assert.Equal(t, 2*time.Millisecond, got[1].slack)
}
