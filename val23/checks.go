package val23

import (
	"errors"
	"fmt"

	"edgelab/edged/api"
	"edgelab/evidence"
	"edgelab/labs/labrun"
)

// CheckDef is one row of the seed's 10-check matrix (§7).
type CheckDef = labrun.CheckDef[*Recorded]

// exactly is the rule every delivery check shares: the witness and edged's
// ledger agree on exactly the seeded segments, delivered once, intact.
const exactly = "the peer holds exactly the seeded ids, each with its seeded size and sha256 (labsetup.Payload), " +
	"deliveries = 1, from edge-val23, stamped inside edged's delivered attempt of it; " +
	"the ledger holds exactly the seeded ids, these DELIVERED with attempts = 1 and a history of one delivered attempt; " +
	"status: delivered = their number, pending = 0"

// Checks is the 10-check matrix, in report order.
var Checks = []CheckDef{
	{
		ID: "VAL23-01", Scenario: SA, Label: "unlimited baseline",
		Description: "Unlimited baseline: exact 4 seeded segments delivered",
		Criterion:   "val23-sa-001..004: " + exactly + tolerances("clock"),
		Files:       []string{FilePeer, labrun.FileLedger, labrun.FileSeeded, labrun.FileStatus},
		Eval:        checkExactDelivery,
	},
	{
		ID: "VAL23-02", Scenario: SA, Label: "unlimited status",
		Description: "relay status: unlimited=true when no bandwidth configured",
		Criterion: "relay status after S-A shows unlimited=true, bandwidth 0/0/0 from edge.toml's (all-zero: source default), " +
			"throttle_count = quota_drop_count = 0; the limiter journal is complete, its only global settings entry the boot's 0/0/0, " +
			"and it holds exactly one allowed decision per seeded segment and no throttle or quota drop",
		Files: []string{labrun.FileStatus, labrun.FileDecisions, labrun.FileEdgeTOML},
		Eval:  checkUnlimited,
	},
	{
		ID: "VAL23-03", Scenario: SB, Label: "set-bandwidth audit",
		Description: "set-bandwidth audit event emitted",
		Criterion: "set-bandwidth --bytes-per-second 64 exited 0 with applied=true, bandwidth 64/0/0 (runtime) and previous equal to the status read " +
			"just before the call (edge.toml's 0/0/0, default); audit.jsonl holds exactly one relay.bandwidth.configured event: bandwidth 64/0/0 " +
			"(runtime), previous as the answer's, no peer, actor naming the caller's uid, time inside the CLI call",
		Files: []string{labrun.FileAudit, labrun.SetBandwidthFile(rateLabel)},
		Eval:  checkAudit,
	},
	{
		ID: "VAL23-04", Scenario: SB, Label: "rate throttle counters",
		Description: "Rate throttle: ThrottleCount >= 4, QuotaDropCount = 0",
		Criterion: "relay status after S-B shows 64 B/s in force, throttle_count >= 4 and equal to the throttled decisions of the complete " +
			"limiter journal, quota_drop_count = 0 = its quota drops; the journal's global settings are the boot's 0/0/0 then 64/0/0 set inside " +
			"the CLI call; its first five decisions are the seed's §4 first tick (-001 allowed, -002..-005 throttled); replayed against the " +
			"checker's own token bucket (64 B/s, burst 64, full when imposed) no admission is one it would refuse, no throttle one it would allow, " +
			"every retry_at is when it holds the segment, and exactly 5 are allowed" + tolerances("tokens"),
		Files: []string{labrun.FileDecisions, labrun.FileStatus, labrun.SetBandwidthFile(rateLabel)},
		Eval:  checkRateCounters,
	},
	{
		ID: "VAL23-05", Scenario: SB, Label: "rate-limited delivery",
		Description: "Rate-limited delivery: exact 5 seeded segments delivered",
		Criterion: "val23-sb-001..005: " + exactly + "; the peer's receipts keep to a 64 B/s bucket of 64 B imposed when set-bandwidth " +
			"started: by each receipt at most 64 + 64 × (t − t_set) B, between any two at most what the bucket refills (so the 5th " +
			"no sooner than 4 s after t_set and 4 s after the 1st), one segment per refill: consecutive receipts at most 1 s + one " +
			"tick_interval apart" + tolerances("receipt", "clock"),
		Files: []string{FilePeer, labrun.FileLedger, labrun.FileSeeded, labrun.FileStatus, labrun.SetBandwidthFile(rateLabel)},
		Eval:  checkRateDelivery,
	},
	{
		ID: "VAL23-06", Scenario: SC, Label: "quota enforcement",
		Description: "Quota enforcement: first 2 deliver, remaining 4 deadletter",
		Criterion: "peer and ledger: val23-sc-001..002 delivered (" + exactly + "); val23-sc-003..006 DEADLETTER, never at the peer, each after " +
			"exactly max_retry_count (3) attempts, every one failed \"quota exceeded\", attempt k+1 starting backoff_base × 2^(k-1) " +
			"(1 s, then 2 s) after attempt k ended" + tolerances("backoff", "clock"),
		Files: []string{labrun.FileLedger, FilePeer, labrun.FileSeeded, labrun.FileStatus},
		Eval:  checkQuotaEnforcement,
	},
	{
		ID: "VAL23-07", Scenario: SC, Label: "quota drop counters",
		Description: "QuotaDropCount >= 4 and daily_used_bytes <= daily_quota_bytes",
		Criterion: "relay status after S-C shows the quota in force (0/0/128, runtime), quota_drop_count = 12 (4 segments × 3 attempts) = " +
			"the ledger history's attempts failed \"quota exceeded\" = the journal's quota drops, throttle_count = 0, daily_used_bytes = 128 = " +
			"the bytes DELIVERED in the ledger = the bytes at the peer, daily_remaining_bytes = 0, and a window opened by the first delivery" +
			tolerances("clock"),
		Files: []string{labrun.FileStatus, labrun.FileLedger, labrun.FileDecisions, FilePeer},
		Eval:  checkQuotaCounters,
	},
	{
		ID: "VAL23-08", Scenario: SD, Label: "hot-reload applied",
		Description: "Hot-reload: applied=true returned immediately",
		Criterion: "`edged relay config set-bandwidth --bytes-per-second 0 --daily-quota-bytes 0 --json` exits 0 with applied=true, bandwidth 0/0/0 " +
			"(runtime) and previous equal to the status read just before (edge.toml's 8/8/0, config); audit.jsonl holds exactly that one " +
			"relay.bandwidth.configured event (previous 8 B/s, actor the caller's uid, time inside the call); the limiter journal's global " +
			"settings are the boot's 8/8/0 then 0/0/0 taking effect inside the call (applied when answered, not later); status afterwards unlimited",
		Files: []string{FileSetBandwidthUnlimited, labrun.FileAudit, labrun.FileStatus, labrun.FileDecisions},
		Eval:  checkApplied,
	},
	{
		ID: "VAL23-09", Scenario: SD, Label: "post-hotreload delivery",
		Description: "Post-hot-reload delivery: exact 6 seeded segments delivered",
		Criterion: "before the reload: >= 2 executor cycles after seeding, the last throttling all 6, throttle_count >= 12, nothing delivered; " +
			"no peer receipt stamped before the reload was requested, the first within one tick_interval of its answer; the journal's global " +
			"settings are the boot's 8/8/0 then 0/0/0 set inside the CLI call, every decision before it a throttle with no retry_at (64 B " +
			"never fits a burst of 8), none allowed, at least as many throttles as status counted before the reload, the replay against the " +
			"checker's bucket finds nothing, and the final throttle_count equals the journal's throttles; after it val23-sd-001..006: " +
			exactly + ", each attempt started after the reload" + tolerances("reload", "tokens", "clock"),
		Files: []string{FilePeer, FileSetBandwidthUnlimited, labrun.FileDecisions, labrun.FileLedger, FilePreReload, labrun.FileSeeded, labrun.FileObservations},
		Eval:  checkPostReload,
	},
	{
		ID: "VAL23-10", Scenario: SE, Label: "daily quota reset",
		Description: "Daily quota reset via deterministic clock",
		Criterion:   "go test -json shows " + UnitTest + " run, not skipped, with Action pass, and no fail",
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
			run := r.SetBandwidth[FileSetBandwidthUnlimited]
			resp, err := run.Response()
			applied = err == nil && run.ExitCode == 0 && resp.Applied
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
