package val25

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/evidence"
	"edgelab/labs/labrun"
	"edgelab/labs/verify"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
)

// CheckDef is one row of the lab's check matrix.
type CheckDef = labrun.CheckDef[*Recorded]

// quotaError is the last_error of a quota drop (relay.ErrQuotaExceeded).
const quotaError = "quota exceeded"

// Checks is the 12-check matrix, in report order.
var Checks = []CheckDef{
	{
		ID: "VAL25-01", Scenario: SA, Label: "quota spent live",
		Description: "A 128 B quota passes exactly two 64 B segments; the third is refused on the quota",
		Criterion: "the peer holds val25-sa-001 and -002 intact (seeded size and sha256, once, from edge-val25), each DELIVERED at its first attempt; " +
			"val25-sa-003 is DEADLETTER after exactly one failed attempt \"quota exceeded\" and never reached the peer; status then: clock \"lab\", " +
			"daily_used_bytes = quota.used_bytes = 128, left 0, state exhausted; the complete limiter journal decided allowed, allowed, quota_exceeded for " +
			"-001, -002, -003; every receipt, placed on the lab clock through the recorded moves, lies inside edged's delivered attempt" + fmt.Sprintf(" [tolerance: the move's own duration + clock skew %s]", verify.ClockSkew),
		Files: []string{labrun.PeerEvidenceFile(Peer), labrun.FileLedger, StatusFile(StatusSpent), labrun.FileDecisions},
		Eval:  checkQuotaSpent,
	},
	{
		ID: "VAL25-02", Scenario: SA, Label: "kept at +23h59m, reset at +24h",
		Description: "Set to the window's start + 23h59m the quota still refuses a new segment; at + 24h it is delivered in a new window",
		Criterion: "with W = daily_window_start = quota.start when spent (quota.end = W + 24h): the clock was set to W + 23h59m, then W + 24h, each answered with that now; " +
			"val25-sa-004's round 1 is one attempt failed \"quota exceeded\" at a lab time in [W + 23h59m, W + 24h), with status still used 128 in window W; " +
			"`edged ledger requeue --id val25-sa-004` exited 0 naming it; its round 2 is one delivered attempt at ≥ W + 24h; the journal's decisions on it are " +
			"quota_exceeded in [W + 23h59m, W + 24h) then allowed at ≥ W + 24h; the peer received it (intact, once) after the " +
			"+24h move; final status: used 64, left 64, state open, daily_window_start ≥ W + 24h",
		Files: []string{labrun.FileLedger, FileClock, labrun.FileStatus, FileRequeueLate, labrun.FileDecisions},
		Eval:  checkWindowReset,
	},
	{
		ID: "VAL25-03", Scenario: SB, Label: "autumn DST: a 25 h day",
		Description: "A day period at 04:00 Europe/Berlin on the autumn DST change day lasts 25 h and resets at local 04:00, not 24 h after its start",
		Criterion:   dstCriterion(Autumn, 25),
		Files:       []string{StatusFile(SBSpent(Autumn)), labrun.FileLedger, FileClock, FilePlan},
		Eval:        func(r *Recorded) (labrun.Outcome, error) { return checkDST(r, Autumn, 25) },
	},
	{
		ID: "VAL25-04", Scenario: SB, Label: "spring DST: a 23 h day",
		Description: "A day period at 04:00 Europe/Berlin on the spring DST change day lasts 23 h and resets at local 04:00",
		Criterion:   dstCriterion(Spring, 23),
		Files:       []string{StatusFile(SBSpent(Spring)), labrun.FileLedger, FileClock, FilePlan},
		Eval:        func(r *Recorded) (labrun.Outcome, error) { return checkDST(r, Spring, 23) },
	},
	{
		ID: "VAL25-05", Scenario: SC, Label: "period usage survives SIGKILL",
		Description: "Killed with SIGKILL at local 03:59 and restarted, edged keeps the period's usage exactly",
		Criterion: "edged exited \"signal: killed\" at a lab time of local 03:59 on the plan's day; after the restart the clock was set again to [03:59, 04:00) local; " +
			"status quota (period, start, end, used, left, state), daily_used_bytes and daily_window_start after the restart equal those before the kill; " +
			"used = 128 = the bytes the ledger holds DELIVERED; the period is the plan's day 04:00 local from the day before",
		Files: []string{StatusFile(StatusPostRestart), StatusFile(StatusPreKill), FileKill, FileClock},
		Eval:  checkRestartKept,
	},
	{
		ID: "VAL25-06", Scenario: SC, Label: "reset at 04:00 after the restart",
		Description: "After the restart the kept usage refuses until local 04:00, then the period resets",
		Criterion: "val25-sc-003's failed attempts all say \"quota exceeded\" at lab times before 04:00 local, its delivered attempt is at ≥ 04:00 local; the peer holds all three intact, once, " +
			"and received -003 after the restarted daemon's clock was set to 04:00; final status: quota.start = the plan's day 04:00 local, used 64, state open",
		Files: []string{labrun.FileLedger, labrun.PeerEvidenceFile(Peer), labrun.FileStatus, FileClock},
		Eval:  checkRestartReset,
	},
	{
		ID: "VAL25-07", Scenario: SD, Label: "dead letters redriven once",
		Description: "`edged ledger requeue --all` moves every DEADLETTER segment back, and each is delivered intact exactly once",
		Criterion: "before the requeue all three were DEADLETTER after one failed attempt (the peer down); `requeue --all --json` exited 0 answering exactly them, dry_run false; " +
			"the peer (started after the dead-lettering) holds exactly them, intact, once each, received after the requeue; each is DELIVERED with history " +
			"[failed r1, requeued r1, delivered r2] and attempts 1",
		Files: []string{labrun.PeerEvidenceFile(Peer), labrun.FileLedger, FileDeadletter, FileRequeueAll},
		Eval:  checkRequeued,
	},
	{
		ID: "VAL25-08", Scenario: SD, Label: "requeue audited, DELIVERED refused",
		Description: "The requeue is audited with its count and ids; a requeue naming a DELIVERED id is refused by name and moves nothing",
		Criterion: "audit.jsonl holds exactly one ledger.requeued event: count 3, the three ids, selector all, actor uid=<the lab's uid>, written during the CLI call; " +
			"`requeue --id val25-sd-001` exited non-zero with stderr naming val25-sd-001 as DELIVERED (HTTP 409); afterwards every segment is still DELIVERED with one requeue " +
			"in its history, and the peer still holds each once" + fmt.Sprintf(" [tolerance: clock skew %s]", verify.ClockSkew),
		Files: []string{labrun.FileAudit, FileRequeueDone, labrun.FileLedger},
		Eval:  checkRequeueAudit,
	},
	{
		ID: "VAL25-09", Scenario: SE, Label: "partial update keeps the rate",
		Description: "`set-bandwidth --daily-quota-bytes 4096` alone keeps the 64 B/s rate in force, at the peer too",
		Criterion: "`--bytes-per-second 64` then `--daily-quota-bytes 4096` both exit 0 applied; the second answers previous 64 B/s and new 64 B/s + 4096 B, and status ends at 64 B/s, " +
			"quota 4096 B (runtime), used 256 B; the complete journal's global settings are 0/0/0 at boot, 64/0/0 inside the first call and 64/0/4096 inside the second (the rate " +
			"never left), its decisions replayed against the checker's own 64 B/s bucket (verify.ReplayBucket) clean with 4 admissions; " +
			"the peer holds the four segments intact, all received after the second change, within a 64 B/s bucket of 64 B imposed when " +
			"the first began (verify.Envelope) at one per refill (consecutive receipts at most 1 s + one tick apart, verify.Pace)" +
			fmt.Sprintf(" [tolerances: receipt jitter %s, clock skew %s, model token epsilon %.1f, retry_at ±%s]", verify.ReceiptJitter, verify.ClockSkew, verify.TokenEpsilon, verify.RetryTolerance),
		Files: []string{labrun.PeerEvidenceFile(Peer), labrun.SetBandwidthFile(LabelQuota), labrun.FileStatus, labrun.FileDecisions},
		Eval:  checkPartialUpdate,
	},
	{
		ID: "VAL25-10", Scenario: SF, Label: "ingress report survives SIGKILL",
		Description: "`edged ingress report --json` after a SIGKILL and restart equals what the senders sent, per sender, and what the peer received",
		Criterion: "edged exited \"signal: killed\"; the restarted daemon's report, summed over hours, has ingress bytes and segments per sender equal to that sender's accepted PUTs " +
			"(and no other sender), and delivered bytes and segments for peer-a equal to the peer's evidence, which holds every sent id with its sha256 once; " +
			"the in-memory status ingress before the kill said the same per sender",
		Files: []string{FileIngress, FileSends, labrun.PeerEvidenceFile(Peer), FileKill},
		Eval:  checkIngressReport,
	},
	{
		ID: "VAL25-11", Scenario: SG, Label: "quota hold loses nothing",
		Description: "Under quota_action = \"hold\" segments over a spent quota wait PENDING with no attempt and go when the window ends",
		Criterion: "while held (max_retry_count 1): -001..-002 at the peer, -003..-004 PENDING with 0 attempts and no history, status deadletter 0, " +
			"quota_drop_count 0, quota_held_count > 0, quota used 128 exhausted; the journal complete, every quota decision quota_held with " +
			"retry_at = that window's end exactly, none quota_exceeded, 4 admissions; at the end the peer holds exactly the four, intact, once, " +
			"the ledger all four DELIVERED after one delivered attempt each, the held two's starting at or after the window's end (lab clock), " +
			"status deadletter 0, quota_drop_count 0, used 128 in the new window",
		Files: []string{labrun.PeerEvidenceFile(Peer), FileHeld, StatusFile(StatusHeld), labrun.FileLedger, labrun.FileDecisions, labrun.FileStatus},
		Eval:  checkQuotaHold,
	},
	{
		ID: "VAL25-12", Scenario: SH, Label: "timetable switches the rate live",
		Description: "A timetable (64 B/s from 08:00, off from 19:00 Europe/Berlin) switches the rate at 19:00 local without a restart, audited as the schedule's",
		Criterion: "status before 19:00 local: 64/64/0 source schedule; after: 0/0/0 source schedule; audit.jsonl's last relay.bandwidth.configured event is " +
			"actor schedule, 64/64 → 0/0, at lab time ≥ 19:00:00 local and within one tick + reload slack of it; the journal's last global settings entry " +
			"0/0/0 at the same bound and the one before it 64/64/0; the peer holds exactly the five, intact, once; the first two receipts at most the " +
			"64 B/s bucket's refill apart (verify.Envelope), the other three after the 19:00 move began and within one tick + reload slack of its answer" +
			fmt.Sprintf(" [tolerances: receipt jitter %s, reload slack %s]", verify.ReceiptJitter, verify.ReloadSlack),
		Files: []string{labrun.PeerEvidenceFile(Peer), labrun.FileAudit, StatusFile(StatusDay), StatusFile(StatusOff), FileClock, labrun.FileDecisions},
		Eval:  checkTimetable,
	},
}

// clockMove is the recorded move labelled label.
func clockMove(r *Recorded, label string) (ClockMove, bool) {
	for _, m := range r.Clock {
		if m.Label == label {
			return m, true
		}
	}
	return ClockMove{}, false
}

func checkQuotaHold(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.PeerEvidenceFile(Peer), FileHeld, StatusFile(StatusHeld), labrun.FileLedger, labrun.FileDecisions, labrun.FileStatus, FileClock); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	held := r.Statuses[StatusHeld]
	var end time.Time
	switch q := held.Quota; {
	case q == nil || q.End == nil:
		f.add("status while held has no quota window")
	default:
		end = *q.End
		if q.UsedBytes != Quota || q.State != api.QuotaExhausted {
			f.add("status while held: quota used %d state %s, want %d exhausted", q.UsedBytes, q.State, Quota)
		}
	}
	if held.Segments.Deadletter != 0 || held.QuotaDropCount != 0 || held.QuotaHeldCount <= 0 {
		f.add("status while held: deadletter %d quota_drop_count %d quota_held_count %d, want 0, 0, > 0", held.Segments.Deadletter, held.QuotaDropCount, held.QuotaHeldCount)
	}
	for _, s := range r.Deadletter.Segments { // the ledger while held
		isHeld := s.ID == SGIDs[2] || s.ID == SGIDs[3]
		if isHeld && (s.State != Pending || s.Attempts != 0 || len(s.History) != 0) {
			f.add("while held: %s %s after %d attempts, history %d entries; want PENDING, 0, none", s.ID, s.State, s.Attempts, len(s.History))
		}
	}
	journalComplete(&f, r.Decisions)
	allowed := 0
	for _, d := range r.Decisions.Decisions {
		switch d.Kind {
		case api.DecisionAllowed:
			allowed++
		case api.DecisionQuotaExceeded:
			f.add("journal: %s refused quota_exceeded at %s, want held", d.Segment, stamp(d.At))
		case api.DecisionQuotaHeld:
			if d.RetryAt == nil || !d.RetryAt.Equal(end) {
				f.add("journal: %s held until %v, want the window's end %s", d.Segment, d.RetryAt, stamp(end))
			}
		}
	}
	if n := verify.Count(r.Decisions.Decisions, api.DecisionQuotaHeld, ""); n == 0 {
		f.add("journal: no quota_held decision")
	}
	if allowed != len(SGIDs) {
		f.add("journal: %d admissions, want %d", allowed, len(SGIDs))
	}
	f.all(verify.Receipts(r.Peer, payloads(SGIDs...), NodeID))
	for _, s := range r.Ledger.Segments {
		if s.State != Delivered || s.Attempts != 1 || len(s.History) != 1 || s.History[0].Outcome != api.AttemptDelivered {
			f.add("ledger: %s %s after %d attempts (history %+v), want DELIVERED after one delivered attempt", s.ID, s.State, s.Attempts, s.History)
			continue
		}
		if (s.ID == SGIDs[2] || s.ID == SGIDs[3]) && s.History[0].StartedAt.Before(end) {
			f.add("ledger: held %s delivered at lab %s, before its window ended (%s)", s.ID, stamp(s.History[0].StartedAt), stamp(end))
		}
	}
	if st := r.Status; st.Segments.Deadletter != 0 || st.QuotaDropCount != 0 || st.DailyUsedBytes != Quota {
		f.add("final status: deadletter %d quota_drop_count %d used %d, want 0, 0, %d", st.Segments.Deadletter, st.QuotaDropCount, st.DailyUsedBytes, Quota)
	}
	return f.outcome(fmt.Sprintf("%d/%d delivered, %d held until the window's end, 0 dead-lettered", len(r.Peer.Segments), len(SGIDs), held.Segments.Pending),
		map[string]any{"quota_held_count": held.QuotaHeldCount, "window_end": end}), nil
}

func checkTimetable(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.PeerEvidenceFile(Peer), labrun.FileAudit, StatusFile(StatusDay), StatusFile(StatusOff), FileClock, labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	day := api.Bandwidth{BytesPerSecond: ScheduleRate, BurstBytes: ScheduleRate, Source: api.SourceSchedule}
	off := api.Bandwidth{Source: api.SourceSchedule}
	if got := r.Statuses[StatusDay].Bandwidth; got != day {
		f.add("status before 19:00: bandwidth %+v, want %+v", got, day)
	}
	if got := r.Statuses[StatusOff].Bandwidth; got != off {
		f.add("status after 19:00: bandwidth %+v, want %+v", got, off)
	}
	move, ok := clockMove(r, "at-19")
	if !ok || move.Error != "" {
		return labrun.Outcome{}, fmt.Errorf("no successful at-19 clock move in %s", FileClock)
	}
	boundary := move.Now.Add(-move.SysAfter.Sub(move.SysBefore)) // the set instant, at the latest
	if l := move.Now.In(Zone()); l.Hour() != 19 || l.Minute() != 0 {
		f.add("the boundary move answered lab %s, want 19:00 local", l.Format("15:04:05 MST"))
	}
	late := move.Now.Add(tick + verify.ReloadSlack)
	inBound := func(t time.Time) bool { return !t.Before(boundary.Truncate(time.Minute)) && !t.After(late) }
	if len(r.Bandwidth) == 0 {
		f.add("audit.jsonl holds no relay.bandwidth.configured event")
	} else if e := r.Bandwidth[len(r.Bandwidth)-1]; e.Actor != "schedule" ||
		e.Bandwidth.BytesPerSecond != 0 || e.Bandwidth.BurstBytes != 0 || e.Previous.BytesPerSecond != ScheduleRate || !inBound(e.Time) {
		f.add("audit: the last change is %s %+v → %+v at %s by %q; want the schedule's 64/64 → 0/0 at 19:00 local", e.Event, e.Previous, e.Bandwidth, stamp(e.Time), e.Actor)
	}
	journalComplete(&f, r.Decisions)
	settings := verify.SettingsOf(r.Decisions.Decisions, "")
	if n := len(settings); n < 2 {
		f.add("journal: %d global settings entries, want at least the day's and the night's", n)
	} else {
		last, prev := settings[n-1], settings[n-2]
		if b := last.Settings; b.BytesPerSecond != 0 || b.BurstBytes != 0 || !inBound(last.At) {
			f.add("journal: last settings %+v at lab %s, want 0/0/0 at 19:00 local (by %s)", *b, stamp(last.At), stamp(late))
		}
		if b := prev.Settings; b.BytesPerSecond != ScheduleRate || b.BurstBytes != ScheduleRate {
			f.add("journal: settings before the boundary %+v, want 64/64/0", *b)
		}
	}
	f.all(verify.Receipts(r.Peer, payloads(SHIDs...), NodeID))
	receipts := verify.ByReceipt(r.Peer)
	if len(receipts) == len(SHIDs) {
		f.all(verify.Envelope(receipts[:2], ScheduleRate, ScheduleRate, receipts[0].ReceivedAt.Add(-time.Hour), verify.ReceiptJitter))
		sysLate := move.SysAfter.Add(tick + verify.ReloadSlack)
		for _, rc := range receipts[2:] {
			if rc.ReceivedAt.Before(move.SysBefore) || rc.ReceivedAt.After(sysLate) {
				f.add("the peer received %s at %s, want after the 19:00 move began (%s) and by %s", rc.ID, stamp(rc.ReceivedAt), stamp(move.SysBefore), stamp(sysLate))
			}
		}
	}
	gap := "?"
	if len(receipts) >= 2 {
		gap = fmt.Sprintf("%.2fs", receipts[1].ReceivedAt.Sub(receipts[0].ReceivedAt).Seconds())
	}
	return f.outcome(fmt.Sprintf("64 B/s until 19:00 (first gap %s), off after: %d/%d delivered", gap, len(receipts), len(SHIDs)),
		map[string]any{"boundary_lab": move.Now, "audit_events": len(r.Bandwidth)}), nil
}

func dstCriterion(side string, hours int) string {
	return fmt.Sprintf("the plan's %s day is the last Sunday of %s and Europe/Berlin's offset changes on it; spent at local 03:59, status quota.start = the day before 04:00 local, "+
		"quota.end = that day 04:00 local, end − start = %d h, used 128, exhausted; val25-sb-%s-003's first attempt failed \"quota exceeded\" at lab 03:59:xx local "+
		"(for autumn past start + 24 h: no reset at 24 h), its delivered attempt at ≥ 04:00 local (and < start + 24 h for spring); the peer holds all three intact, once, "+
		"-003 received after the 04:00 move; status then quota.start = 04:00 local, used 64", side, map[string]string{Spring: "March", Autumn: "October"}[side], hours, side)
}

// Evaluate re-reads the evidence directory and evaluates every check: the
// same path for a fresh run and for a saved directory.
func Evaluate(evidenceDir string) ([]evidence.Scenario, []evidence.Check) {
	recs := map[string]*Recorded{}
	for _, s := range Scenarios {
		recs[s.Name] = Load(evidenceDir, s)
	}
	var scenarios []evidence.Scenario
	for _, s := range Scenarios {
		scenarios = append(scenarios, summarize(recs[s.Name]))
	}
	var checks []evidence.Check
	for _, def := range Checks {
		checks = append(checks, def.Evaluate(recs[def.Scenario]))
	}
	return scenarios, checks
}

func summarize(r *Recorded) evidence.Scenario {
	s, ran := r.Run.ReportEntry(r.Scenario.Name, r.Scenario.Title, r.need())
	if !ran {
		return s
	}
	if r.problems[labrun.FileStatus] == nil {
		s.Observed["final_status"] = r.Status
	}
	s.Summary += fmt.Sprintf("%d/%d delivered, %d at the peer", r.Status.Segments.Delivered, len(r.Ledger.Segments), len(r.Peer.Segments))
	switch r.Scenario.Name {
	case SA, SB, SC:
		s.Summary += fmt.Sprintf(", %d clock moves, used %dB", len(r.Clock), r.Status.DailyUsedBytes)
	case SD:
		s.Summary += fmt.Sprintf(", %d requeue event(s)", len(r.Audit))
	case SE:
		s.Summary += fmt.Sprintf(", %dB/s, quota %dB", r.Status.Bandwidth.BytesPerSecond, r.Status.Bandwidth.DailyQuotaBytes)
	case SF:
		s.Summary += fmt.Sprintf(", %d PUTs, %s", len(r.Sends), r.Kill.ExitedAs)
	}
	if len(r.Run.Problems) > 0 {
		s.Summary += fmt.Sprintf(" (%d problem(s), see scenario.json)", len(r.Run.Problems))
	}
	return s
}

// findings collects why a check fails; it passes when there are none.
type findings []string

func (f *findings) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }
func (f *findings) all(why []string)               { *f = append(*f, why...) }

func (f *findings) diff(label string, want, got any) {
	if d := cmp.Diff(want, got); d != "" {
		f.add("%s (-want +got):\n%s", label, d)
	}
}

func (f findings) outcome(text string, observed map[string]any) labrun.Outcome {
	return labrun.Outcome{Pass: len(f) == 0, Text: text, Observed: observed, Detail: strings.Join(f, "\n")}
}

// payloads are the seeded segments ids as setup wrote them.
func payloads(ids ...string) []verify.Payload {
	out := make([]verify.Payload, 0, len(ids))
	for _, id := range ids {
		out = append(out, verify.Payload{ID: id, Size: SegmentSize, SHA256: labsetup.PayloadSHA256(id, SegmentSize)})
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
func local(t time.Time) string { return t.In(Zone()).Format("2006-01-02 15:04:05.000 MST") }

// moveByLabel is the recorded clock move called label.
func moveByLabel(moves []ClockMove, label string) (ClockMove, bool) {
	for _, m := range moves {
		if m.Label == label {
			return m, true
		}
	}
	return ClockMove{}, false
}

// labTime places a system-clock reading t (the peer's received_at) on the
// lab clock: from the last move answered before t, lab = now + (t −
// sys_after); slack is that move's duration (the daemon set its clock
// somewhere inside it). Before any move the lab clock is the system clock.
func labTime(moves []ClockMove, t time.Time) (lab time.Time, slack time.Duration) {
	var last *ClockMove
	for i := range moves {
		if moves[i].Error == "" && !moves[i].SysAfter.After(t) {
			last = &moves[i]
		}
	}
	if last == nil {
		return t, 0
	}
	return last.Now.Add(t.Sub(last.SysAfter)), last.SysAfter.Sub(last.SysBefore)
}

// placement is a system-clock reading placed on the lab clock.
type placement struct {
	lab   time.Time
	slack time.Duration
}

// labTimes are the places of t on the lab clock: labTime's, and when t
// falls inside a move's call (the daemon moved its clock and acted on it
// before the answer arrived) also that move's.
func labTimes(moves []ClockMove, t time.Time) []placement {
	lab, slack := labTime(moves, t)
	out := []placement{{lab, slack}}
	for _, m := range moves {
		if m.Error == "" && !t.Before(m.SysBefore) && t.Before(m.SysAfter) {
			out = append(out, placement{m.Now.Add(t.Sub(m.SysAfter)), m.SysAfter.Sub(m.SysBefore)})
		}
	}
	return out
}

// receiptsOnLabClock reconciles the witness with edged's record on the lab
// clock: each receipt, placed on it, lies inside edged's delivered attempt.
func receiptsOnLabClock(ev received.Evidence, l api.Ledger, moves []ClockMove) []string {
	var why []string
	segs := verify.Segments(l)
	for _, rc := range ev.Segments {
		s, ok := segs[rc.ID]
		if !ok {
			why = append(why, fmt.Sprintf("the peer received %s, which edged's ledger does not hold", rc.ID))
			continue
		}
		a := lastAttempt(s.History, api.AttemptDelivered)
		if a == nil {
			why = append(why, fmt.Sprintf("the peer received %s but edged's history has no delivered attempt of it", rc.ID))
			continue
		}
		inside := false
		var places []string
		for _, p := range labTimes(moves, rc.ReceivedAt) {
			slack := p.slack + verify.ClockSkew
			if !p.lab.Before(a.StartedAt.Add(-slack)) && !p.lab.After(a.EndedAt.Add(slack)) {
				inside = true
			}
			places = append(places, fmt.Sprintf("%s (±%s)", stamp(p.lab), slack))
		}
		if !inside {
			why = append(why, fmt.Sprintf("the peer received %s at lab %s, outside edged's delivered attempt %s–%s",
				rc.ID, strings.Join(places, " or "), stamp(a.StartedAt), stamp(a.EndedAt)))
		}
	}
	return why
}

// journalComplete: a check that reads the whole journal refuses one that
// dropped entries.
func journalComplete(f *findings, d api.Decisions) {
	if d.Dropped > 0 {
		f.add("journal: %d decisions dropped from the ring; it is not complete", d.Dropped)
	}
}

// decisionsOf are the journal's decisions on segment, in order.
func decisionsOf(d api.Decisions, segment string) []api.Decision {
	var out []api.Decision
	for _, x := range d.Decisions {
		if x.Segment == segment && x.Kind != api.DecisionSettings {
			out = append(out, x)
		}
	}
	return out
}

// kinds are the kinds of decisionsOf(d, segment).
func kinds(d api.Decisions, segment string) []string {
	var out []string
	for _, x := range decisionsOf(d, segment) {
		out = append(out, x.Kind)
	}
	return out
}

func lastAttempt(h []api.Attempt, outcome string) *api.Attempt {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Outcome == outcome {
			return &h[i]
		}
	}
	return nil
}

func receipt(ev received.Evidence, id string) (received.Segment, bool) {
	for _, s := range ev.Segments {
		if s.ID == id {
			return s, true
		}
	}
	return received.Segment{}, false
}

func historyText(h []api.Attempt) string {
	parts := make([]string, 0, len(h))
	for _, a := range h {
		p := fmt.Sprintf("r%d#%d %s@%s", a.Round, a.Attempt, a.Outcome, stamp(a.StartedAt))
		if a.Error != "" {
			p += " (" + a.Error + ")"
		}
		parts = append(parts, p)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// quotaWindow checks a status's quota window: used, start and end, state.
func quotaWindow(f *findings, label string, st api.Status, used int64, start, end *time.Time) {
	q := st.Quota
	if q == nil {
		f.add("%s: status has no quota", label)
		return
	}
	if q.UsedBytes != used || st.DailyUsedBytes != used {
		f.add("%s: quota.used_bytes %d, daily_used_bytes %d, want %d", label, q.UsedBytes, st.DailyUsedBytes, used)
	}
	if q.LeftBytes != Quota-used {
		f.add("%s: quota.left_bytes %d, want %d", label, q.LeftBytes, Quota-used)
	}
	wantState := api.QuotaOpen
	if used >= Quota {
		wantState = api.QuotaExhausted
	}
	if q.State != wantState {
		f.add("%s: quota.state %q, want %q", label, q.State, wantState)
	}
	if start != nil && (q.Start == nil || !q.Start.Equal(*start)) {
		f.add("%s: quota.start %v, want %s (%s)", label, q.Start, stamp(*start), local(*start))
	}
	if end != nil && (q.End == nil || !q.End.Equal(*end)) {
		f.add("%s: quota.end %v, want %s (%s)", label, q.End, stamp(*end), local(*end))
	}
	if st.Clock != api.ClockLab {
		f.add("%s: status clock %q, want %q", label, st.Clock, api.ClockLab)
	}
}

func checkQuotaSpent(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.PeerEvidenceFile(Peer), labrun.FileLedger, StatusFile(StatusSpent), FileClock, labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	journalComplete(&f, r.Decisions)
	for i, want := range []string{api.DecisionAllowed, api.DecisionAllowed, api.DecisionQuotaExceeded} {
		if got := kinds(r.Decisions, SAFirst[i]); !slices.Equal(got, []string{want}) {
			f.add("journal: %s decided %v, want [%s]", SAFirst[i], got, want)
		}
	}
	delivered := SAFirst[:2]
	// The fourth (VAL25-02's) is at the peer too by the end.
	f.all(verify.Receipts(r.Peer, payloads(append(slices.Clone(delivered), SALate...)...), NodeID))
	f.all(verify.DeliveredOnce(r.Ledger, delivered, Peer))
	third := SAFirst[2]
	s, ok := verify.Segments(r.Ledger)[third]
	switch {
	case !ok:
		f.add("ledger: %s is missing", third)
	case s.State != Deadletter:
		f.add("ledger: %s is %s, want DEADLETTER", third, s.State)
	}
	if ok && (len(s.History) != 1 || s.History[0].Outcome != api.AttemptFailed || s.History[0].Error != quotaError) {
		f.add("ledger: %s history %s, want one attempt failed %q", third, historyText(s.History), quotaError)
	}
	st := r.Statuses[StatusSpent]
	quotaWindow(&f, StatusFile(StatusSpent), st, Quota, nil, nil)
	f.all(receiptsOnLabClock(r.Peer, r.Ledger, r.Clock))
	n := 0
	for _, id := range SAFirst {
		if verify.Segments(r.Ledger)[id].State == Delivered {
			n++
		}
	}
	text := fmt.Sprintf("%d/3 delivered, %s %s, used %dB", n, third, s.State, st.DailyUsedBytes)
	return f.outcome(text, map[string]any{"status_spent": st.Quota, "third": s}), nil
}

func checkWindowReset(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.PeerEvidenceFile(Peer), labrun.FileLedger, StatusFile(StatusSpent), StatusFile(StatusLateRefused), FileClock, labrun.FileStatus, FileRequeueLate, labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	spent := r.Statuses[StatusSpent]
	if spent.DailyWindowStart == nil {
		return f.outcome("no daily_window_start", nil), fmt.Errorf("evidence %s/%s: no daily_window_start", SA, StatusFile(StatusSpent))
	}
	w := *spent.DailyWindowStart
	end := w.Add(24 * time.Hour)
	quotaWindow(&f, StatusFile(StatusSpent), spent, Quota, &w, &end)
	keep, reset := w.Add(23*time.Hour+59*time.Minute), w.Add(24*time.Hour)
	m1, ok1 := moveByLabel(r.Clock, "window+23h59m")
	m2, ok2 := moveByLabel(r.Clock, "window+24h")
	if !ok1 || !ok2 {
		f.add("clock-moves.json: want the moves window+23h59m and window+24h, got %d moves", len(r.Clock))
	} else {
		if !m1.Now.Equal(keep) || m1.Error != "" {
			f.add("clock move window+23h59m answered %s (%s), want %s", stamp(m1.Now), m1.Error, stamp(keep))
		}
		if !m2.Now.Equal(reset) || m2.Error != "" {
			f.add("clock move window+24h answered %s (%s), want %s", stamp(m2.Now), m2.Error, stamp(reset))
		}
	}
	late := r.Statuses[StatusLateRefused]
	quotaWindow(&f, StatusFile(StatusLateRefused), late, Quota, &w, &end)
	id := SALate[0]
	s, ok := verify.Segments(r.Ledger)[id]
	if !ok {
		f.add("ledger: %s is missing", id)
	} else {
		h := s.History
		if len(h) != 3 || h[0].Outcome != api.AttemptFailed || h[0].Error != quotaError || h[0].Round != 1 ||
			h[1].Outcome != api.AttemptRequeued || h[2].Outcome != api.AttemptDelivered || h[2].Round != 2 {
			f.add("ledger: %s history %s, want [failed %q r1, requeued, delivered r2]", id, historyText(h), quotaError)
		} else {
			if at := h[0].StartedAt; at.Before(keep) || !at.Before(reset) {
				f.add("ledger: %s refused at lab %s, want in [W+23h59m, W+24h) = [%s, %s)", id, stamp(at), stamp(keep), stamp(reset))
			}
			if at := h[2].StartedAt; at.Before(reset) {
				f.add("ledger: %s delivered at lab %s, before W+24h %s", id, stamp(at), stamp(reset))
			}
		}
		if s.State != Delivered {
			f.add("ledger: %s is %s, want DELIVERED", id, s.State)
		}
	}
	journalComplete(&f, r.Decisions)
	ds := decisionsOf(r.Decisions, id)
	if len(ds) != 2 || ds[0].Kind != api.DecisionQuotaExceeded || ds[1].Kind != api.DecisionAllowed ||
		ds[0].At.Before(keep) || !ds[0].At.Before(reset) || ds[1].At.Before(reset) {
		var got []string
		for _, d := range ds {
			got = append(got, d.Kind+"@"+stamp(d.At))
		}
		f.add("journal: %s decided %v, want quota_exceeded in [%s, %s) then allowed at ≥ %s", id, got, stamp(keep), stamp(reset), stamp(reset))
	}
	if rc, ok := receipt(r.Peer, id); !ok {
		f.add("the peer does not hold %s", id)
	} else if ok2 && rc.ReceivedAt.Before(m2.SysBefore.Add(-verify.ClockSkew)) {
		f.add("the peer received %s at %s, before the +24h move (%s)", id, stamp(rc.ReceivedAt), stamp(m2.SysBefore))
	}
	rq := r.Requeue[FileRequeueLate]
	var resp api.RequeueResponse
	if rq.ExitCode != 0 || json.Unmarshal([]byte(rq.Stdout), &resp) != nil || !slices.Equal(resp.Requeued, []string{id}) {
		f.add("requeue --id %s: exit %d, stdout %q, want exit 0 answering [%s]", id, rq.ExitCode, rq.Stdout, id)
	}
	final := r.Status
	quotaWindow(&f, labrun.FileStatus, final, SegmentSize, nil, nil)
	if final.DailyWindowStart == nil || final.DailyWindowStart.Before(reset) {
		f.add("final daily_window_start %v, want ≥ W+24h %s", final.DailyWindowStart, stamp(reset))
	}
	text := fmt.Sprintf("refused at W+23h59m, delivered at W+24h, used %dB→%dB", late.DailyUsedBytes, final.DailyUsedBytes)
	return f.outcome(text, map[string]any{"window_start": w, "segment": s, "final_quota": final.Quota}), nil
}

func sideOf(p Plan, side string) (DSTSide, bool) {
	for _, s := range p.Sides {
		if s.Side == side {
			return s, true
		}
	}
	return DSTSide{}, false
}

func checkDST(r *Recorded, sideName string, hours int) (labrun.Outcome, error) {
	if err := r.need(FilePlan, FileClock, labrun.FileLedger, labrun.PeerEvidenceFile(Peer), StatusFile(SBSpent(sideName)), StatusFile(SBReset(sideName))); err != nil {
		return labrun.Outcome{}, err
	}
	side, ok := sideOf(r.Plan, sideName)
	if !ok {
		return labrun.Outcome{}, fmt.Errorf("evidence %s/%s: no %s side", SB, FilePlan, sideName)
	}
	var f findings
	// The day, independently of the runner: the last Sunday of its month,
	// with an offset change in Europe/Berlin.
	day := side.Day.In(Zone())
	month := map[string]time.Month{Spring: time.March, Autumn: time.October}[sideName]
	if day.Month() != month || day.Weekday() != time.Sunday || day.AddDate(0, 0, 7).Month() == month {
		f.add("plan: %s day %s is not the last Sunday of %s", sideName, day.Format(time.DateOnly), month)
	}
	_, off0 := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, Zone()).Zone()
	_, off1 := time.Date(day.Year(), day.Month(), day.Day(), 23, 0, 0, 0, Zone()).Zone()
	if off0 == off1 {
		f.add("plan: Europe/Berlin's offset does not change on %s", day.Format(time.DateOnly))
	}
	start, end := side.PeriodStart(), side.PeriodEnd()
	if got := end.Sub(start); got != time.Duration(hours)*time.Hour {
		f.add("the period %s – %s lasts %s, want %d h", local(start), local(end), got, hours)
	}
	spent := r.Statuses[SBSpent(sideName)]
	quotaWindow(&f, StatusFile(SBSpent(sideName)), spent, Quota, &start, &end)
	if q := spent.Quota; q != nil && q.Start != nil && q.End != nil && q.End.Sub(*q.Start) != time.Duration(hours)*time.Hour {
		f.add("status quota end − start = %s, want %d h", q.End.Sub(*q.Start), hours)
	}
	ids := SBIDs(sideName)
	at0359, at0400 := side.Local(3, 59, 0), side.Local(4, 0, 0)
	segs := verify.Segments(r.Ledger)
	for _, id := range ids[:2] {
		if s := segs[id]; s.DeliveredAt == nil || s.DeliveredAt.Before(at0359) || !s.DeliveredAt.Before(at0400) {
			f.add("ledger: %s delivered at lab %v, want at 03:59 local", id, s.DeliveredAt)
		}
	}
	third := segs[ids[2]]
	var refusedAt, deliveredAt time.Time
	if len(third.History) < 2 || third.History[0].Outcome != api.AttemptFailed || third.History[0].Error != quotaError {
		f.add("ledger: %s history %s, want failed %q then delivered", ids[2], historyText(third.History), quotaError)
	} else {
		refusedAt = third.History[0].StartedAt
		if refusedAt.Before(at0359) || !refusedAt.Before(at0400) {
			f.add("ledger: %s refused at lab %s, want at 03:59:xx local", ids[2], local(refusedAt))
		}
		if sideName == Autumn && refusedAt.Before(start.Add(24*time.Hour)) {
			f.add("ledger: %s refused at %s, before start + 24 h: the refusal does not show that 24 h did not reset", ids[2], local(refusedAt))
		}
		for _, a := range third.History[1 : len(third.History)-1] {
			if a.Outcome != api.AttemptFailed || a.Error != quotaError || !a.StartedAt.Before(at0400) {
				f.add("ledger: %s attempt %s, want only quota refusals before 04:00 local", ids[2], historyText([]api.Attempt{a}))
			}
		}
		last := third.History[len(third.History)-1]
		deliveredAt = last.StartedAt
		if last.Outcome != api.AttemptDelivered || deliveredAt.Before(at0400) {
			f.add("ledger: %s last attempt %s, want delivered at ≥ 04:00 local", ids[2], historyText([]api.Attempt{last}))
		}
		if sideName == Spring && !deliveredAt.Before(start.Add(24*time.Hour)) {
			f.add("ledger: %s delivered at %s, not before start + 24 h: the 23 h day is not shown", ids[2], local(deliveredAt))
		}
	}
	f.all(verify.Receipts(received.Evidence{Segments: only(r.Peer, ids)}, payloads(ids...), NodeID))
	if m, ok := moveByLabel(r.Clock, sideName+"-04:00"); !ok || !m.Now.Equal(at0400) {
		f.add("no clock move %s-04:00 answered %s", sideName, local(at0400))
	} else if rc, ok := receipt(r.Peer, ids[2]); ok && rc.ReceivedAt.Before(m.SysBefore.Add(-verify.ClockSkew)) {
		f.add("the peer received %s at %s, before the clock was set to 04:00 (%s)", ids[2], stamp(rc.ReceivedAt), stamp(m.SysBefore))
	}
	reset := r.Statuses[SBReset(sideName)]
	nextEnd := end.AddDate(0, 0, 1)
	quotaWindow(&f, StatusFile(SBReset(sideName)), reset, SegmentSize, &end, &nextEnd)
	f.all(receiptsOnLabClock(received.Evidence{Segments: only(r.Peer, ids)}, r.Ledger, r.Clock))
	text := fmt.Sprintf("%s → %s (%d h), refused %s, delivered %s", start.In(Zone()).Format("2006-01-02 15:04 MST"),
		end.In(Zone()).Format("2006-01-02 15:04 MST"), int(end.Sub(start).Hours()), refusedAt.In(Zone()).Format("15:04:05"), deliveredAt.In(Zone()).Format("15:04:05"))
	return f.outcome(text, map[string]any{"period_start": start, "period_end": end, "spent": spent.Quota, "reset": reset.Quota, "third": third}), nil
}

// only are the peer's receipts of ids.
func only(ev received.Evidence, ids []string) []received.Segment {
	var out []received.Segment
	for _, s := range ev.Segments {
		if slices.Contains(ids, s.ID) {
			out = append(out, s)
		}
	}
	return out
}

func restartDay(r *Recorded) (time.Time, time.Time, time.Time) {
	d := r.Plan.RestartDay.In(Zone())
	at := func(h, m int) time.Time { return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, Zone()) }
	return at(3, 59), at(4, 0), at(4, 0).AddDate(0, 0, -1)
}

func checkRestartKept(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FilePlan, FileClock, FileKill, labrun.FileLedger, StatusFile(StatusPreKill), StatusFile(StatusPostRestart)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	at0359, at0400, start := restartDay(r)
	if r.Kill.Signal != "SIGKILL" || r.Kill.ExitedAs != "signal: killed" || r.Kill.Error != "" {
		f.add("kill: %s, exited as %q (%s), want SIGKILL and \"signal: killed\"", r.Kill.Signal, r.Kill.ExitedAs, r.Kill.Error)
	}
	var pre []ClockMove
	for _, m := range r.Clock {
		if m.SysAfter.Before(r.Kill.At) {
			pre = append(pre, m)
		}
	}
	if killLab, _ := labTime(pre, r.Kill.At); killLab.Before(at0359) || !killLab.Before(at0400) {
		f.add("killed at lab %s, want at 03:59 local", local(killLab))
	}
	if m, ok := moveByLabel(r.Clock, "03:59-after-restart"); !ok || m.SysBefore.Before(r.Kill.At) || m.Now.Before(at0359) || !m.Now.Before(at0400) {
		f.add("no clock move after the restart to [03:59, 04:00) local (got %+v)", m)
	}
	pre1, post := r.Statuses[StatusPreKill], r.Statuses[StatusPostRestart]
	quotaWindow(&f, StatusFile(StatusPreKill), pre1, Quota, &start, &at0400)
	f.diff("quota after the restart against before the kill", pre1.Quota, post.Quota)
	if pre1.DailyUsedBytes != post.DailyUsedBytes || !equalTime(pre1.DailyWindowStart, post.DailyWindowStart) {
		f.add("daily_used_bytes %d → %d, daily_window_start %v → %v across the restart, want equal", pre1.DailyUsedBytes, post.DailyUsedBytes, pre1.DailyWindowStart, post.DailyWindowStart)
	}
	var deliveredBytes int64
	for _, s := range r.Ledger.Segments {
		if d := lastAttempt(s.History, api.AttemptDelivered); d != nil && d.StartedAt.Before(at0400) {
			deliveredBytes += s.Size
		}
	}
	if deliveredBytes != post.DailyUsedBytes {
		f.add("the ledger holds %d B DELIVERED before 04:00, status after the restart says %d B used", deliveredBytes, post.DailyUsedBytes)
	}
	text := fmt.Sprintf("used %dB before kill -9, %dB after restart, window %s", pre1.DailyUsedBytes, post.DailyUsedBytes, start.In(Zone()).Format("2006-01-02 15:04 MST"))
	return f.outcome(text, map[string]any{"pre_kill": pre1.Quota, "post_restart": post.Quota, "kill": r.Kill}), nil
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func checkRestartReset(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FilePlan, FileClock, FileKill, labrun.FileLedger, labrun.PeerEvidenceFile(Peer), labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	_, at0400, _ := restartDay(r)
	id := SCIDs[2]
	s := verify.Segments(r.Ledger)[id]
	h := s.History
	if len(h) < 2 || lastAttempt(h, api.AttemptDelivered) != &h[len(h)-1] {
		f.add("ledger: %s history %s, want quota refusals then delivered", id, historyText(h))
	} else {
		for _, a := range h[:len(h)-1] {
			if a.Outcome != api.AttemptFailed || a.Error != quotaError || !a.StartedAt.Before(at0400) {
				f.add("ledger: %s attempt %s, want only quota refusals before 04:00 local", id, historyText([]api.Attempt{a}))
			}
		}
		if d := h[len(h)-1]; d.StartedAt.Before(at0400) {
			f.add("ledger: %s delivered at lab %s, before 04:00 local", id, local(d.StartedAt))
		}
	}
	if s.State != Delivered {
		f.add("ledger: %s is %s, want DELIVERED", id, s.State)
	}
	f.all(verify.Receipts(r.Peer, payloads(SCIDs...), NodeID))
	m, ok := moveByLabel(r.Clock, "04:00")
	switch rc, held := receipt(r.Peer, id); {
	case !ok || !m.Now.Equal(at0400) || m.SysBefore.Before(r.Kill.At):
		f.add("no clock move to 04:00 local after the restart")
	case held && rc.ReceivedAt.Before(m.SysBefore.Add(-verify.ClockSkew)):
		f.add("the peer received %s at %s, before the restarted daemon's clock was set to 04:00 (%s)", id, stamp(rc.ReceivedAt), stamp(m.SysBefore))
	}
	nextEnd := at0400.AddDate(0, 0, 1)
	quotaWindow(&f, labrun.FileStatus, r.Status, SegmentSize, &at0400, &nextEnd)
	var moves []ClockMove
	for _, mv := range r.Clock {
		if mv.SysBefore.After(r.Kill.At) {
			moves = append(moves, mv)
		}
	}
	f.all(receiptsOnLabClock(received.Evidence{Segments: only(r.Peer, []string{id})}, r.Ledger, moves))
	text := fmt.Sprintf("%s delivered after 04:00, used %dB in the period from %s", id, r.Status.DailyUsedBytes, at0400.In(Zone()).Format("2006-01-02 15:04 MST"))
	return f.outcome(text, map[string]any{"segment": s, "final_quota": r.Status.Quota}), nil
}

func checkRequeued(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileDeadletter, FileRequeueAll, labrun.FileLedger, labrun.PeerEvidenceFile(Peer)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	if d := verify.SetDiff("DEADLETTER before the requeue", SDIDs, verify.StateIDs(r.Deadletter, Deadletter)); d != "" {
		f.add("%s", d)
	}
	for _, s := range r.Deadletter.Segments {
		if len(s.History) != 1 || s.History[0].Outcome != api.AttemptFailed {
			f.add("before the requeue: %s history %s, want one failed attempt", s.ID, historyText(s.History))
		}
	}
	rq := r.Requeue[FileRequeueAll]
	var resp api.RequeueResponse
	if err := json.Unmarshal([]byte(rq.Stdout), &resp); rq.ExitCode != 0 || err != nil {
		f.add("requeue --all: exit %d, stdout %q: want exit 0 and its JSON answer", rq.ExitCode, rq.Stdout)
	} else {
		if d := verify.SetDiff("requeue --all answered", SDIDs, resp.Requeued); d != "" {
			f.add("%s", d)
		}
		if resp.DryRun {
			f.add("requeue --all answered dry_run true")
		}
	}
	f.all(verify.Receipts(r.Peer, payloads(SDIDs...), NodeID))
	for _, rc := range r.Peer.Segments {
		if rc.ReceivedAt.Before(rq.StartedAt.Add(-verify.ClockSkew)) {
			f.add("the peer received %s at %s, before the requeue (%s)", rc.ID, stamp(rc.ReceivedAt), stamp(rq.StartedAt))
		}
	}
	segs := verify.Segments(r.Ledger)
	for _, id := range SDIDs {
		s := segs[id]
		h := s.History
		if s.State != Delivered || s.Attempts != 1 || len(h) != 3 ||
			h[0].Outcome != api.AttemptFailed || h[0].Round != 1 ||
			h[1].Outcome != api.AttemptRequeued || h[1].Round != 1 ||
			h[2].Outcome != api.AttemptDelivered || h[2].Round != 2 || h[2].Attempt != 1 {
			f.add("ledger: %s %s attempts %d history %s, want DELIVERED, attempts 1, [failed r1, requeued r1, delivered r2#1]", id, s.State, s.Attempts, historyText(h))
		}
	}
	f.all(verify.ReceiptsInsideAttempts(r.Peer, r.Ledger))
	text := fmt.Sprintf("%d dead-lettered, %d requeued, %d delivered once", len(verify.StateIDs(r.Deadletter, Deadletter)), len(resp.Requeued), len(r.Peer.Segments))
	return f.outcome(text, map[string]any{"requeued": resp.Requeued}), nil
}

func checkRequeueAudit(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileAudit, FileRequeueAll, FileRequeueDone, labrun.FileLedger, labrun.PeerEvidenceFile(Peer)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	rq := r.Requeue[FileRequeueAll]
	if len(r.Audit) != 1 {
		f.add("audit.jsonl holds %d ledger.requeued events, want 1", len(r.Audit))
	}
	var e RequeueEvent
	if len(r.Audit) > 0 {
		e = r.Audit[0]
		if e.Count != len(SDIDs) || !slices.Equal(e.IDs, SDIDs) || e.Selector != "all" {
			f.add("audit: count %d ids %v selector %q, want %d %v \"all\"", e.Count, e.IDs, e.Selector, len(SDIDs), SDIDs)
		}
		if want := fmt.Sprintf("uid=%d ", rq.CallerUID); !strings.HasPrefix(e.Actor, want) {
			f.add("audit actor %q, want %q…", e.Actor, want)
		}
		endAt := rq.StartedAt.Add(time.Duration(rq.Seconds * float64(time.Second)))
		if e.Time.Before(rq.StartedAt.Add(-verify.ClockSkew)) || e.Time.After(endAt.Add(verify.ClockSkew)) {
			f.add("audit time %s outside the CLI call %s–%s", stamp(e.Time), stamp(rq.StartedAt), stamp(endAt))
		}
	}
	done := r.Requeue[FileRequeueDone]
	id := SDIDs[0]
	if done.ExitCode == 0 || done.StartError != "" || !strings.Contains(done.Stderr, id+" is DELIVERED") || !strings.Contains(done.Stderr, "409") {
		f.add("requeue --id %s: exit %d, stderr %q: want non-zero, naming %s as DELIVERED (HTTP 409)", id, done.ExitCode, done.Stderr, id)
	}
	for _, s := range r.Ledger.Segments {
		n := 0
		for _, a := range s.History {
			if a.Outcome == api.AttemptRequeued {
				n++
			}
		}
		if s.State != Delivered || n != 1 {
			f.add("ledger after the refused requeue: %s %s with %d requeues, want DELIVERED with 1", s.ID, s.State, n)
		}
	}
	for _, rc := range r.Peer.Segments {
		if rc.Deliveries != 1 {
			f.add("the peer got %s %d times", rc.ID, rc.Deliveries)
		}
	}
	text := fmt.Sprintf("%d event(s), count=%d, DELIVERED id refused (exit %d)", len(r.Audit), e.Count, done.ExitCode)
	return f.outcome(text, map[string]any{"events": r.Audit, "refusal": done.Stderr}), nil
}

func checkPartialUpdate(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.SetBandwidthFile(LabelRate), labrun.SetBandwidthFile(LabelQuota), labrun.FileStatus, labrun.PeerEvidenceFile(Peer), labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	rate, quota := r.SetBandwidth[LabelRate], r.SetBandwidth[LabelQuota]
	rr, err1 := rate.Response()
	qr, err2 := quota.Response()
	if err1 != nil || rate.ExitCode != 0 || !rr.Applied || rr.Bandwidth.BytesPerSecond != Rate {
		f.add("set-bandwidth --bytes-per-second %d: exit %d applied %v bandwidth %+v (%v)", Rate, rate.ExitCode, rr.Applied, rr.Bandwidth, err1)
	}
	if err2 != nil || quota.ExitCode != 0 || !qr.Applied {
		f.add("set-bandwidth --daily-quota-bytes %d: exit %d applied %v (%v)", PartialQuota, quota.ExitCode, qr.Applied, err2)
	}
	if qr.Previous.BytesPerSecond != Rate || qr.Bandwidth.BytesPerSecond != Rate || qr.Bandwidth.DailyQuotaBytes != PartialQuota || qr.Bandwidth.BurstBytes != rr.Bandwidth.BurstBytes {
		f.add("the quota-only change answered previous %+v new %+v, want the rate %d B/s kept and quota %d", qr.Previous, qr.Bandwidth, Rate, PartialQuota)
	}
	bw := r.Status.Bandwidth
	if bw.BytesPerSecond != Rate || bw.DailyQuotaBytes != PartialQuota || bw.Source != "runtime" {
		f.add("final status bandwidth %+v, want %d B/s, quota %d, runtime", bw, Rate, PartialQuota)
	}
	if r.Status.DailyUsedBytes != int64(len(SEIDs)*SegmentSize) {
		f.add("final daily_used_bytes %d, want %d", r.Status.DailyUsedBytes, len(SEIDs)*SegmentSize)
	}
	f.all(verify.Receipts(r.Peer, payloads(SEIDs...), NodeID))
	receipts := verify.ByReceipt(r.Peer)
	for _, rc := range receipts {
		if rc.ReceivedAt.Before(quota.EndedAt()) {
			f.add("the peer received %s at %s, before the quota-only change returned (%s)", rc.ID, stamp(rc.ReceivedAt), stamp(quota.EndedAt()))
		}
	}
	journalComplete(&f, r.Decisions)
	settings := verify.SettingsOf(r.Decisions.Decisions, "")
	wantSettings := []api.Bandwidth{{}, {BytesPerSecond: Rate}, {BytesPerSecond: Rate, DailyQuotaBytes: PartialQuota}}
	var gotSettings []api.Bandwidth
	for _, d := range settings {
		gotSettings = append(gotSettings, api.Bandwidth{BytesPerSecond: d.Settings.BytesPerSecond, BurstBytes: d.Settings.BurstBytes, DailyQuotaBytes: d.Settings.DailyQuotaBytes})
	}
	f.diff("the journal's global settings", wantSettings, gotSettings)
	if len(settings) == 3 {
		for i, run := range []labrun.SetBandwidthRun{rate, quota} {
			if at := settings[i+1].At; at.Before(run.StartedAt.Add(-verify.ClockSkew)) || at.After(run.EndedAt().Add(verify.ClockSkew)) {
				f.add("journal: settings entry %d at %s, outside its CLI call %s–%s", i+2, stamp(at), stamp(run.StartedAt), stamp(run.EndedAt()))
			}
		}
	}
	rep := verify.ReplayBucket(verify.LimitsOf(settings), r.Decisions.Decisions, "")
	f.all(rep.Problems)
	if rep.Allowed != len(SEIDs) {
		f.add("journal: %d admissions, want %d", rep.Allowed, len(SEIDs))
	}
	burst := max(rr.Bandwidth.BurstBytes, Rate)
	f.all(verify.Envelope(receipts, Rate, burst, rate.StartedAt, verify.ReceiptJitter))
	f.all(verify.Pace(receipts, time.Second+tick+verify.ReceiptJitter))
	var gaps []string
	for i := 1; i < len(receipts); i++ {
		gaps = append(gaps, fmt.Sprintf("%.2fs", receipts[i].ReceivedAt.Sub(receipts[i-1].ReceivedAt).Seconds()))
	}
	text := fmt.Sprintf("%d B/s kept, quota %dB, %d receipts %s apart", bw.BytesPerSecond, bw.DailyQuotaBytes, len(receipts), strings.Join(gaps, "/"))
	return f.outcome(text, map[string]any{"response": qr, "status_bandwidth": bw}), nil
}

func checkIngressReport(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSends, FileKill, FileIngress, labrun.PeerEvidenceFile(Peer), StatusFile(StatusPreKillF)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	if r.Kill.Signal != "SIGKILL" || r.Kill.ExitedAs != "signal: killed" || r.Kill.Error != "" {
		f.add("kill: %s, exited as %q (%s), want SIGKILL and \"signal: killed\"", r.Kill.Signal, r.Kill.ExitedAs, r.Kill.Error)
	}
	if r.Ingress.StartedAt.Before(r.Kill.At) {
		f.add("the report was read at %s, before the kill", stamp(r.Ingress.StartedAt))
	}
	var rep api.IngressReport
	if err := json.Unmarshal([]byte(r.Ingress.Stdout), &rep); r.Ingress.ExitCode != 0 || err != nil {
		f.add("ingress report: exit %d, stdout %q: want exit 0 and its JSON answer (%v)", r.Ingress.ExitCode, r.Ingress.Stdout, err)
	}
	type total struct{ Bytes, Segments int64 }
	got := map[string]map[string]total{}
	for _, b := range rep.Buckets {
		if got[b.Kind] == nil {
			got[b.Kind] = map[string]total{}
		}
		t := got[b.Kind][b.Peer]
		t.Bytes += b.Bytes
		t.Segments += b.Segments
		got[b.Kind][b.Peer] = t
	}
	want := map[string]map[string]total{api.TrafficIngress: {}, api.TrafficDelivered: {}}
	var sent []verify.Payload
	for _, s := range r.Sends {
		if !s.Accepted() {
			f.add("PUT %s by %s: HTTP %d %s, want it accepted", s.ID, s.Sender, s.Code, s.Error)
			continue
		}
		t := want[api.TrafficIngress][s.Sender]
		t.Bytes += s.Bytes
		t.Segments++
		want[api.TrafficIngress][s.Sender] = t
		sent = append(sent, verify.Payload{ID: s.ID, Size: s.Bytes, SHA256: s.SHA256})
	}
	var held total
	for _, s := range r.Peer.Segments {
		held.Bytes += s.Bytes
		held.Segments++
	}
	want[api.TrafficDelivered][Peer] = held
	if len(r.Sends) == 0 {
		f.add("sends.json holds no PUT")
	}
	f.diff("ingress report summed over hours against the senders and the peer", want, got)
	f.all(verify.Receipts(r.Peer, sent, NodeID))
	pre := r.Statuses[StatusPreKillF].Ingress.ByPeer
	for sender, t := range want[api.TrafficIngress] {
		if pre[sender] != t.Bytes {
			f.add("status ingress before the kill: %s %d B, the senders sent %d B", sender, pre[sender], t.Bytes)
		}
	}
	var parts []string
	for _, p := range SenderPlans {
		parts = append(parts, fmt.Sprintf("%s=%dB/%d", p.Name, got[api.TrafficIngress][p.Name].Bytes, got[api.TrafficIngress][p.Name].Segments))
	}
	text := strings.Join(parts, ", ") + fmt.Sprintf(", delivered %s=%dB/%d after kill -9", Peer, got[api.TrafficDelivered][Peer].Bytes, got[api.TrafficDelivered][Peer].Segments)
	return f.outcome(text, map[string]any{"want": want, "got": got}), nil
}
