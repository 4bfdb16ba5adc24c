package val23

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
)

// Ledger states as ledger dumps show them.
const (
	stateDelivered  = "DELIVERED"
	stateDeadletter = "DEADLETTER"
)

// CheckDef is one row of the seed's 10-check matrix (§7).
type CheckDef = labrun.CheckDef[*Recorded]

// Checks is the 10-check matrix, in report order.
var Checks = []CheckDef{
	{
		ID: "VAL23-01", Scenario: SA, Label: "unlimited baseline",
		Description: "Unlimited baseline: exact 4 seeded segments delivered",
		Criterion:   "peer evidence holds exactly the seeded ids val23-sa-001..004",
		Files:       []string{FilePeer, labrun.FileSeeded},
		Eval:        exactDelivery,
	},
	{
		ID: "VAL23-02", Scenario: SA, Label: "unlimited status",
		Description: "relay status: unlimited=true when no bandwidth configured",
		Criterion:   "relay status after S-A shows unlimited=true",
		Files:       []string{labrun.FileStatus},
		Eval:        checkUnlimited,
	},
	{
		ID: "VAL23-03", Scenario: SB, Label: "set-bandwidth audit",
		Description: "set-bandwidth audit event emitted",
		Criterion:   "audit.jsonl holds a relay.bandwidth.configured event with bandwidth.bytes_per_second=64",
		Files:       []string{labrun.FileAudit, labrun.SetBandwidthFile("rate-64")},
		Eval:        checkAudit,
	},
	{
		ID: "VAL23-04", Scenario: SB, Label: "rate throttle counters",
		Description: "Rate throttle: ThrottleCount >= 4, QuotaDropCount = 0",
		Criterion:   "relay status after S-B shows throttle_count >= 4 and quota_drop_count = 0",
		Files:       []string{labrun.FileStatus, labrun.FileObservations},
		Eval:        checkRateCounters,
	},
	{
		ID: "VAL23-05", Scenario: SB, Label: "rate-limited delivery",
		Description: "Rate-limited delivery: exact 5 seeded segments delivered",
		Criterion:   "peer evidence holds exactly the seeded ids val23-sb-001..005",
		Files:       []string{FilePeer, labrun.FileSeeded},
		Eval:        exactDelivery,
	},
	{
		ID: "VAL23-06", Scenario: SC, Label: "quota enforcement",
		Description: "Quota enforcement: first 2 deliver, remaining 4 deadletter",
		Criterion: "peer holds exactly val23-sc-001..002; ledger DELIVERED is exactly val23-sc-001..002 and " +
			"DEADLETTER exactly val23-sc-003..006; delivered and deadletter are disjoint and together the seeded set",
		Files: []string{FilePeer, labrun.FileLedger, labrun.FileSeeded},
		Eval:  checkQuotaEnforcement,
	},
	{
		ID: "VAL23-07", Scenario: SC, Label: "quota drop counters",
		Description: "QuotaDropCount >= 4 and daily_used_bytes <= daily_quota_bytes",
		Criterion:   "relay status after S-C shows quota_drop_count >= 4 and daily_used_bytes <= 128",
		Files:       []string{labrun.FileStatus, labrun.FileObservations},
		Eval:        checkQuotaCounters,
	},
	{
		ID: "VAL23-08", Scenario: SD, Label: "hot-reload applied",
		Description: "Hot-reload: applied=true returned immediately",
		Criterion:   "`edged relay config set-bandwidth --bytes-per-second 0 --daily-quota-bytes 0 --json` exits 0 with applied=true",
		Files:       []string{FileSetBandwidthUnlimited, labrun.FileAudit},
		Eval:        checkApplied,
	},
	{
		ID: "VAL23-09", Scenario: SD, Label: "post-hotreload delivery",
		Description: "Post-hot-reload delivery: exact 6 seeded segments delivered",
		Criterion: "before the reload: >= 2 executor cycles after seeding, the last throttling all 6, throttle_count >= 12, " +
			"nothing delivered and the peer holding none of the 6; after it the peer holds exactly val23-sd-001..006",
		Files: []string{FilePeer, FilePreReload, labrun.FileSeeded, labrun.FileObservations},
		Eval:  checkPostReload,
	},
	{
		ID: "VAL23-10", Scenario: SE, Label: "daily quota reset",
		Description: "Daily quota reset via deterministic clock",
		Criterion:   "go test -json shows " + UnitTest + " with Action pass and no fail",
		Files:       []string{labrun.FileGoTest, labrun.FileGoTestRun},
		Eval:        checkUnitTest,
	},
}

// Evaluate re-reads the evidence directory and evaluates every check: the
// same path for a fresh run and for a saved directory.
func Evaluate(evidenceDir string) ([]evidence.Scenario, []evidence.Check) {
	recs := map[string]*Recorded{}
	for _, s := range Scenarios {
		recs[s.Name] = Load(evidenceDir, s)
	}
	return EvaluateRecorded(recs)
}

// EvaluateRecorded evaluates the checks over scenarios already read. A
// scenario absent from recs counts as not recorded.
func EvaluateRecorded(recs map[string]*Recorded) ([]evidence.Scenario, []evidence.Check) {
	get := func(name string) *Recorded {
		if r := recs[name]; r != nil {
			return r
		}
		s, _ := ScenarioByName(name)
		return &Recorded{Scenario: s, problems: map[string]error{labrun.FileScenario: errNotRecorded}}
	}
	var scenarios []evidence.Scenario
	for _, s := range Scenarios {
		scenarios = append(scenarios, summarize(get(s.Name)))
	}
	var checks []evidence.Check
	for _, def := range Checks {
		checks = append(checks, def.Evaluate(get(def.Scenario)))
	}
	return scenarios, checks
}

var errNotRecorded = errors.New("not recorded")

// peerIDs are the ids in the peer's evidence, sorted; a duplicate entry is
// kept so that a diff shows it.
func peerIDs(r *Recorded) []string {
	ids := r.Peer.IDs()
	slices.Sort(ids)
	return ids
}

// seeded is the recorded seeded set, which must be the scenario's.
func seeded(r *Recorded) ([]string, error) {
	want := r.Scenario.IDs()
	got := slices.Sorted(slices.Values(r.Seeded))
	if diff := cmp.Diff(want, got); diff != "" {
		return nil, fmt.Errorf("%s/%s is not the scenario's seeded set (-want +got):\n%s", r.Scenario.Name, labrun.FileSeeded, diff)
	}
	return want, nil
}

func ledgerIDs(l api.Ledger, state string) []string {
	var ids []string
	for _, s := range l.Segments {
		if s.State == state {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// setDiff is a go-cmp diff of two id lists, labelled; empty when equal.
// nil and empty lists are equal.
func setDiff(label string, want, got []string) string {
	if len(want) == 0 && len(got) == 0 {
		return ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Sprintf("%s (-want +got):\n%s", label, diff)
	}
	return ""
}

func exactDelivery(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileSeeded, FilePeer); err != nil {
		return labrun.Outcome{}, err
	}
	want, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	got := peerIDs(r)
	diff := setDiff("peer evidence ids", want, got)
	return labrun.Outcome{
		Pass:     diff == "",
		Text:     fmt.Sprintf("%d/%d delivered", len(got), len(want)),
		Observed: map[string]any{"peer_ids": got, "seeded_ids": want},
		Detail:   diff,
	}, nil
}

func checkUnlimited(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	out := labrun.Outcome{
		Pass:     st.Unlimited,
		Text:     fmt.Sprintf("unlimited=%v", st.Unlimited),
		Observed: map[string]any{"unlimited": st.Unlimited, "bandwidth": st.Bandwidth},
	}
	if !out.Pass {
		out.Detail = fmt.Sprintf("relay status says unlimited=false with bandwidth %+v", st.Bandwidth)
	}
	return out, nil
}

func checkAudit(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(); err != nil {
		return labrun.Outcome{}, err
	}
	// An absent audit.jsonl from a scenario that ran means edged wrote no
	// audit event at all: that is a finding, not missing evidence.
	if err := r.problems[labrun.FileAudit]; err != nil && !errors.Is(err, fs.ErrNotExist) {
		return labrun.Outcome{}, r.need(labrun.FileAudit)
	}
	var found *audit.Event
	var seen []string
	for i, e := range r.Audit {
		seen = append(seen, fmt.Sprintf("%s bytes_per_second=%d", e.Event, e.Bandwidth.BytesPerSecond))
		if found == nil && e.Event == audit.EventBandwidthConfigured && e.Bandwidth.BytesPerSecond == RateBytesPerSecond {
			found = &r.Audit[i]
		}
	}
	out := labrun.Outcome{Pass: found != nil, Text: "found", Observed: map[string]any{"events": len(r.Audit)}}
	if found != nil {
		out.Observed["event"] = *found
		return out, nil
	}
	out.Text = "not found"
	switch {
	case !r.has(labrun.FileAudit):
		out.Detail = "edged left no audit log (audit.jsonl absent)"
	case len(seen) == 0:
		out.Detail = "audit.jsonl holds no events"
	default:
		out.Detail = "audit.jsonl holds no relay.bandwidth.configured event with bytes_per_second=64; events seen:\n" + strings.Join(seen, "\n")
	}
	return out, nil
}

func checkRateCounters(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	out := labrun.Outcome{
		Pass:     st.ThrottleCount >= 4 && st.QuotaDropCount == 0,
		Text:     fmt.Sprintf("throttle=%d, quota_drops=%d", st.ThrottleCount, st.QuotaDropCount),
		Observed: map[string]any{"throttle_count": st.ThrottleCount, "quota_drop_count": st.QuotaDropCount},
	}
	var why []string
	if st.ThrottleCount < 4 {
		why = append(why, fmt.Sprintf("throttle_count=%d, want >= 4", st.ThrottleCount))
	}
	if st.QuotaDropCount != 0 {
		why = append(why, fmt.Sprintf("quota_drop_count=%d, want 0", st.QuotaDropCount))
	}
	out.Detail = strings.Join(why, "; ")
	return out, nil
}

func checkQuotaEnforcement(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileSeeded, FilePeer, labrun.FileLedger); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	wantDelivered, wantDead := all[:QuotaDelivered], all[QuotaDelivered:]
	peer := peerIDs(r)
	delivered := ledgerIDs(r.Ledger, stateDelivered)
	dead := ledgerIDs(r.Ledger, stateDeadletter)

	var diffs []string
	add := func(d string) {
		if d != "" {
			diffs = append(diffs, d)
		}
	}
	add(setDiff("peer evidence ids", wantDelivered, peer))
	add(setDiff("ledger DELIVERED ids", wantDelivered, delivered))
	add(setDiff("ledger DEADLETTER ids", wantDead, dead))
	union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(peer), dead...))))
	add(setDiff("peer ∪ ledger DEADLETTER vs the seeded set", all, union))
	var both []string
	for _, id := range peer {
		if slices.Contains(dead, id) {
			both = append(both, id)
		}
	}
	if len(both) > 0 {
		diffs = append(diffs, fmt.Sprintf("delivered to the peer and DEADLETTER both: %v", both))
	}
	return labrun.Outcome{
		Pass: len(diffs) == 0,
		Text: fmt.Sprintf("%d/%d delivered", len(peer), len(all)),
		Observed: map[string]any{
			"peer_ids": peer, "ledger_delivered_ids": delivered, "ledger_deadletter_ids": dead, "seeded_ids": all,
		},
		Detail: strings.Join(diffs, "\n"),
	}, nil
}

func checkQuotaCounters(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	out := labrun.Outcome{
		Pass: st.QuotaDropCount >= 4 && st.DailyUsedBytes <= QuotaBytes,
		Text: fmt.Sprintf("quota_drops=%d, daily_used=%dB", st.QuotaDropCount, st.DailyUsedBytes),
		Observed: map[string]any{
			"quota_drop_count": st.QuotaDropCount, "daily_used_bytes": st.DailyUsedBytes,
			"daily_quota_bytes": st.Bandwidth.DailyQuotaBytes,
		},
	}
	var why []string
	if st.QuotaDropCount < 4 {
		why = append(why, fmt.Sprintf("quota_drop_count=%d, want >= 4", st.QuotaDropCount))
	}
	if st.DailyUsedBytes > QuotaBytes {
		why = append(why, fmt.Sprintf("daily_used_bytes=%d, want <= %d", st.DailyUsedBytes, QuotaBytes))
	}
	out.Detail = strings.Join(why, "; ")
	return out, nil
}

// setBandwidthResponse decodes the CLI's --json answer from its recorded
// run.
func setBandwidthResponse(r *Recorded, file string) (resp api.SetBandwidthResponse, exitCode int, err error) {
	res := r.SetBandwidth[file]
	if err := json.Unmarshal([]byte(res.Stdout), &resp); err != nil {
		return resp, res.ExitCode, fmt.Errorf("stdout is not a set-bandwidth answer: %v (stdout %q, stderr %q)", err, res.Stdout, res.Stderr)
	}
	return resp, res.ExitCode, nil
}

func checkApplied(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSetBandwidthUnlimited); err != nil {
		return labrun.Outcome{}, err
	}
	resp, exit, decodeErr := setBandwidthResponse(r, FileSetBandwidthUnlimited)
	out := labrun.Outcome{
		Pass:     decodeErr == nil && exit == 0 && resp.Applied,
		Text:     fmt.Sprintf("%v", resp.Applied),
		Observed: map[string]any{"exit_code": exit, "applied": resp.Applied, "bandwidth": resp.Bandwidth, "warnings": resp.Warnings},
	}
	switch {
	case decodeErr != nil:
		out.Detail = fmt.Sprintf("exit status %d; %v", exit, decodeErr)
	case exit != 0:
		out.Detail = fmt.Sprintf("set-bandwidth exited %d", exit)
	case !resp.Applied:
		out.Detail = "set-bandwidth answered applied=false"
	}
	return out, nil
}

func checkPostReload(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileSeeded, FilePeer, FilePreReload); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	got := peerIDs(r)
	var why []string
	if d := setDiff("peer evidence ids after the reload", all, got); d != "" {
		why = append(why, d)
	}
	blocking := blockingProblems(r.PreReload, all)
	why = append(why, blocking...)
	pre := r.PreReload
	text := fmt.Sprintf("%d/%d", len(got), len(all))
	if len(blocking) > 0 {
		text += " (blocking before the reload not shown)"
	}
	return labrun.Outcome{
		Pass: len(why) == 0,
		Text: text,
		Observed: map[string]any{
			"peer_ids":                       got,
			"peer_ids_before_reload":         pre.PeerIDs,
			"executor_cycles_before_reload":  pre.Last.ExecutorCycles - pre.Baseline.ExecutorCycles,
			"last_cycle_throttled":           pre.Last.LastCycleThrottled,
			"throttle_count_before_reload":   pre.Last.ThrottleCount,
			"delivered_before_reload":        pre.Last.Segments.Delivered,
			"blocked_oversize_before_reload": pre.Last.Segments.BlockedOversize,
			"seconds_blocked_before_reload":  pre.LastAt.Sub(pre.BaselineAt).Seconds(),
		},
		Detail: strings.Join(why, "\n"),
	}, nil
}

// blockingProblems says what in pre fails to show that all of seeded were
// really held back for at least two executor cycles before the reload.
func blockingProblems(pre PreReload, seeded []string) []string {
	n := int64(len(seeded))
	var why []string
	if cycles := pre.Last.ExecutorCycles - pre.Baseline.ExecutorCycles; cycles < 2 {
		why = append(why, fmt.Sprintf("before the reload: %d executor cycles after seeding, want >= 2", cycles))
	}
	if pre.Last.LastCycleThrottled != n {
		why = append(why, fmt.Sprintf("before the reload: the last cycle throttled %d segments, want %d", pre.Last.LastCycleThrottled, n))
	}
	if pre.Last.ThrottleCount < 2*n {
		why = append(why, fmt.Sprintf("before the reload: throttle_count=%d, want >= %d", pre.Last.ThrottleCount, 2*n))
	}
	if pre.Last.Segments.Delivered != 0 {
		why = append(why, fmt.Sprintf("before the reload: %d segments delivered, want 0", pre.Last.Segments.Delivered))
	}
	var early []string
	for _, id := range pre.PeerIDs {
		if slices.Contains(seeded, id) {
			early = append(early, id)
		}
	}
	if len(early) > 0 {
		why = append(why, fmt.Sprintf("before the reload the peer already held %v", early))
	}
	if pre.Error != "" {
		why = append(why, "before the reload: "+pre.Error)
	}
	return why
}

// unitTestVerdict reads the go test -json stream of S-E.
func unitTestVerdict(events []harness.TestEvent) (pass bool, detail string) {
	var passed, noTests bool
	var failed []string
	for _, e := range events {
		switch {
		case e.Action == "pass" && e.Test == UnitTest:
			passed = true
		case e.Action == "fail":
			name := e.Test
			if name == "" {
				name = "package " + e.Package
			}
			failed = append(failed, name)
		case strings.Contains(e.Output, "no tests to run"):
			noTests = true
		}
	}
	switch {
	case len(failed) > 0:
		return false, "go test reported fail: " + strings.Join(failed, ", ")
	case noTests && !passed:
		return false, "go test: no tests to run (" + UnitTest + " does not exist)"
	case !passed:
		return false, "the go test -json stream has no pass event for " + UnitTest
	}
	return true, ""
}

func checkUnitTest(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileGoTest); err != nil {
		return labrun.Outcome{}, err
	}
	pass, detail := unitTestVerdict(r.GoTest)
	text := "FAIL"
	if pass {
		text = "PASS"
	}
	return labrun.Outcome{Pass: pass, Text: text, Observed: map[string]any{"events": len(r.GoTest), "test": UnitTest}, Detail: detail}, nil
}

// summarize is the scenario's entry in the report, its summary line filled
// from the recorded evidence.
func summarize(r *Recorded) evidence.Scenario {
	s, ran := r.Run.ReportEntry(r.Scenario.Name, r.Scenario.Title, r.need())
	for _, f := range r.Files {
		s.Files = append(s.Files, r.rel(f))
	}
	s.Timeline = buildTimeline(r)
	if !ran {
		return s
	}
	if r.Run.Last != nil {
		s.Observed["last_observation"] = *r.Run.Last
	}
	if r.has(labrun.FileStatus) {
		s.Observed["final_status"] = r.Status
	}
	if r.has(FilePeer) {
		s.Observed["peer_ids"] = peerIDs(r)
	}

	count := "?"
	if r.has(FilePeer) {
		count = fmt.Sprint(len(peerIDs(r)))
	}
	status := func(f func(api.Status) any) string {
		if !r.has(labrun.FileStatus) {
			return "?"
		}
		return fmt.Sprint(f(r.Status))
	}
	n := r.Scenario.Count
	switch r.Scenario.Name {
	case SA:
		s.Summary += fmt.Sprintf("%s/%d delivered, unlimited=%s", count, n, status(func(st api.Status) any { return st.Unlimited }))
	case SB:
		s.Summary += fmt.Sprintf("%s/%d delivered, throttle_count=%s, quota_drop_count=%s", count, n,
			status(func(st api.Status) any { return st.ThrottleCount }), status(func(st api.Status) any { return st.QuotaDropCount }))
	case SC:
		s.Summary += fmt.Sprintf("%s/%d delivered, quota_drop_count=%s, daily_used=%sB", count, n,
			status(func(st api.Status) any { return st.QuotaDropCount }), status(func(st api.Status) any { return st.DailyUsedBytes }))
	case SD:
		applied := false
		if r.has(FileSetBandwidthUnlimited) {
			resp, exit, err := setBandwidthResponse(r, FileSetBandwidthUnlimited)
			applied = err == nil && exit == 0 && resp.Applied
		}
		if applied {
			s.Summary += fmt.Sprintf("%s/%d delivered after unlimited applied", count, n)
		} else {
			s.Summary += fmt.Sprintf("%s/%d delivered, unlimited not applied", count, n)
		}
	case SE:
		verdict := "not run (go-test.json missing)"
		if r.has(labrun.FileGoTest) {
			if pass, _ := unitTestVerdict(r.GoTest); pass {
				verdict = "PASS"
			} else {
				verdict = "FAIL"
			}
		}
		s.Summary += verdict
	default:
		s.Summary += fmt.Sprintf("%s/%d delivered", count, n)
	}
	return s
}
