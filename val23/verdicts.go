package val23

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/labs/verify"
	"edgelab/setup/labsetup"
)

// The labels of the set-bandwidth runs, as their evidence files name them
// (labrun.SetBandwidthFile).
const (
	rateLabel  = "rate-64"
	quotaLabel = "quota-128"
)

// Ledger states as ledger dumps show them.
const (
	stateDelivered  = "DELIVERED"
	stateDeadletter = "DEADLETTER"
)

// causeQuota is the last_error, and the history's error, of an attempt the
// daily quota refused (DESIGN.md §2).
const causeQuota = "quota exceeded"

// findings collects what a check found wrong, one entry per finding.
type findings []string

func (f *findings) add(why ...string) {
	for _, w := range why {
		if w != "" {
			*f = append(*f, w)
		}
	}
}

func (f *findings) addf(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

func (f findings) outcome(text string, observed map[string]any) labrun.Outcome {
	return labrun.Outcome{Pass: len(f) == 0, Text: text, Observed: observed, Detail: strings.Join(f, "\n")}
}

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
	if diff := verify.SetDiff("seeded ids", want, got); diff != "" {
		return nil, fmt.Errorf("%s/%s is not the scenario's seeded set:\n%s", r.Scenario.Name, labrun.FileSeeded, diff)
	}
	return want, nil
}

// payloads are the seeded segments ids as the peer must hold them: setup
// seeds labsetup.Payload(id, SegmentSize), a function of the id alone.
func payloads(ids []string) []verify.Payload {
	out := make([]verify.Payload, 0, len(ids))
	for _, id := range ids {
		out = append(out, verify.Payload{ID: id, Size: SegmentSize, SHA256: labsetup.PayloadSHA256(id, SegmentSize)})
	}
	return out
}

// delivered checks the exact delivery of ids (of the scenario's seeded set
// all) from the witness and edged's record: the rule `exactly`.
func delivered(r *Recorded, all, ids []string) findings {
	var f findings
	f.add(verify.Receipts(r.Peer, payloads(ids), NodeID)...)
	f.add(verify.DeliveredOnce(r.Ledger, ids, PeerID)...)
	f.add(verify.ReceiptsInsideAttempts(r.Peer, r.Ledger)...)
	var held []string
	for _, s := range r.Ledger.Segments {
		held = append(held, s.ID)
	}
	slices.Sort(held)
	f.add(verify.SetDiff("ledger ids", all, held))
	if got := r.Status.Segments.Delivered; got != int64(len(ids)) {
		f.addf("status: %d delivered, want %d", got, len(ids))
	}
	if got := r.Status.Segments.Pending; got != 0 {
		f.addf("status: %d pending, want 0", got)
	}
	return f
}

var deliveryFiles = []string{labrun.FileSeeded, FilePeer, labrun.FileLedger, labrun.FileStatus}

func checkExactDelivery(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(deliveryFiles...); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	f := delivered(r, all, all)
	got := peerIDs(r)
	return f.outcome(fmt.Sprintf("%d/%d delivered", len(got), len(all)),
		map[string]any{"peer_ids": got, "seeded_ids": all, "peer_segments": r.Peer.Segments}), nil
}

// bootBandwidth is the bandwidth edged booted with as status shows it.
func bootBandwidth(r *Recorded) api.Bandwidth {
	b := api.Bandwidth{BytesPerSecond: r.Boot.BytesPerSecond, BurstBytes: r.Boot.BurstBytes, DailyQuotaBytes: r.Boot.DailyQuotaBytes, Source: api.SourceConfig}
	if r.Boot.IsZero() {
		b.Source = api.SourceDefault
	}
	return b
}

func sameLimits(a, b api.Bandwidth) bool {
	return a.BytesPerSecond == b.BytesPerSecond && a.BurstBytes == b.BurstBytes && a.DailyQuotaBytes == b.DailyQuotaBytes
}

func bw(b api.Bandwidth) string {
	s := fmt.Sprintf("%d/%d/%d", b.BytesPerSecond, b.BurstBytes, b.DailyQuotaBytes)
	if b.Source != "" {
		s += " (" + b.Source + ")"
	}
	return s
}

func bwPtr(b *api.Bandwidth) string {
	if b == nil {
		return "none"
	}
	return bw(*b)
}

// journal checks that the limiter journal is complete: every decision
// edged made since it started is in the file.
func journal(r *Recorded) findings {
	var f findings
	d := r.Decisions
	if d.Dropped != 0 || d.Total != int64(len(d.Decisions)) {
		f.addf("the limiter journal is incomplete: %d decisions made, %d kept, %d dropped", d.Total, len(d.Decisions), d.Dropped)
	}
	return f
}

// settingsTimeline checks the journal's global settings entries against
// the boot bandwidth and then the changes made through the CLI, each inside
// its call; it returns the limits for the reference model.
func settingsTimeline(r *Recorded, changes ...labrun.SetBandwidthRun) ([]verify.Limit, findings) {
	var f findings
	entries := verify.SettingsOf(r.Decisions.Decisions, "")
	want := []api.Bandwidth{bootBandwidth(r)}
	for _, c := range changes {
		resp, err := c.Response()
		if err != nil {
			f.add(err.Error())
			return nil, f
		}
		want = append(want, resp.Bandwidth)
	}
	if len(entries) != len(want) {
		var got []string
		for _, e := range entries {
			got = append(got, bwPtr(e.Settings))
		}
		f.addf("journal: %d global settings entries %v, want %d (boot, then each set-bandwidth)", len(entries), got, len(want))
		return verify.LimitsOf(entries), f
	}
	for i, e := range entries {
		if !sameLimits(*e.Settings, want[i]) {
			f.addf("journal: global settings entry %d is %s, want %s", i+1, bwPtr(e.Settings), bw(want[i]))
		}
		if i == 0 {
			if !e.At.Before(r.Run.EndedAt) || e.At.Before(r.Run.StartedAt) {
				f.addf("journal: the boot settings entry at %s is outside the scenario", e.At.Format(time.RFC3339Nano))
			}
			continue
		}
		c := changes[i-1]
		if e.At.Before(c.StartedAt) || e.At.After(c.EndedAt()) {
			f.addf("journal: settings %s took effect at %s, outside the CLI call %s–%s", bwPtr(e.Settings),
				e.At.Format(time.RFC3339Nano), c.StartedAt.Format(time.RFC3339Nano), c.EndedAt().Format(time.RFC3339Nano))
		}
	}
	return verify.LimitsOf(entries), f
}

func checkUnlimited(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus, labrun.FileDecisions, labrun.FileEdgeTOML); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	var f findings
	if !st.Unlimited {
		f.addf("relay status says unlimited=false with bandwidth %s", bw(st.Bandwidth))
	}
	if want := bootBandwidth(r); st.Bandwidth != want {
		f.addf("status bandwidth %s, want edge.toml's %s", bw(st.Bandwidth), bw(want))
	}
	if st.ThrottleCount != 0 || st.QuotaDropCount != 0 {
		f.addf("throttle_count=%d quota_drop_count=%d, want 0 and 0", st.ThrottleCount, st.QuotaDropCount)
	}
	f.add(journal(r)...)
	_, tf := settingsTimeline(r)
	f.add(tf...)
	decs := r.Decisions.Decisions
	if n := verify.Count(decs, api.DecisionThrottled, ""); n != 0 {
		f.addf("journal: %d throttled decisions, want 0", n)
	}
	if n := verify.Count(decs, api.DecisionQuotaExceeded, ""); n != 0 {
		f.addf("journal: %d quota drops, want 0", n)
	}
	var allowed []string
	for _, d := range decs {
		if d.Kind == api.DecisionAllowed {
			allowed = append(allowed, d.Segment)
		}
	}
	slices.Sort(allowed)
	f.add(verify.SetDiff("journal: allowed segments", r.Scenario.IDs(), allowed))
	return f.outcome(fmt.Sprintf("unlimited=%v", st.Unlimited),
		map[string]any{"unlimited": st.Unlimited, "bandwidth": st.Bandwidth, "decisions": len(decs)}), nil
}

// change checks one set-bandwidth run and its audit event: the CLI
// answered applied with want and previous equal to what status showed
// right before (wantPrev); the audit log holds exactly one configured
// event, that change, made by the caller inside the call.
func change(r *Recorded, file string, want, wantPrev api.Bandwidth) (labrun.Outcome, error) {
	if err := r.need(file); err != nil {
		return labrun.Outcome{}, err
	}
	// An absent audit.jsonl from a scenario that ran means edged wrote no
	// audit event at all: that is a finding, not missing evidence.
	if err := r.problems[labrun.FileAudit]; err != nil && !errors.Is(err, fs.ErrNotExist) {
		return labrun.Outcome{}, r.need(labrun.FileAudit)
	}
	run := r.SetBandwidth[file]
	var f findings
	resp, err := run.Response()
	switch {
	case err != nil:
		f.add(err.Error())
	case run.ExitCode != 0:
		f.addf("set-bandwidth exited %d: %s", run.ExitCode, strings.TrimSpace(run.Stderr))
	case !resp.Applied:
		f.add("set-bandwidth answered applied=false")
	}
	if err == nil {
		if resp.Bandwidth != want {
			f.addf("the answer's bandwidth is %s, want %s", bw(resp.Bandwidth), bw(want))
		}
		if resp.Previous != wantPrev {
			f.addf("the answer's previous is %s, want %s", bw(resp.Previous), bw(wantPrev))
		}
	}
	switch {
	case run.StatusBefore == nil:
		f.addf("no status was read before the call (%s): previous cannot be confirmed", run.StatusBeforeError)
	case run.StatusBefore.Bandwidth != wantPrev:
		f.addf("status before the call showed %s, want %s", bw(run.StatusBefore.Bandwidth), bw(wantPrev))
	}

	var events []audit.Event
	for _, e := range r.Audit {
		if e.Event == audit.EventBandwidthConfigured {
			events = append(events, e)
		}
	}
	text := "found"
	switch {
	case !r.has(labrun.FileAudit):
		text = "not found"
		f.add("edged left no audit log (audit.jsonl absent)")
	case len(events) != 1:
		text = "not found"
		var seen []string
		for _, e := range r.Audit {
			seen = append(seen, fmt.Sprintf("%s %s", e.Event, bw(e.Bandwidth)))
		}
		f.addf("audit.jsonl holds %d relay.bandwidth.configured events, want exactly 1; events seen:\n%s", len(events), strings.Join(seen, "\n"))
	default:
		e := events[0]
		if e.Bandwidth != want {
			text = "wrong"
			f.addf("audit: bandwidth %s, want %s", bw(e.Bandwidth), bw(want))
		}
		if e.Previous != wantPrev {
			f.addf("audit: previous %s, want %s", bw(e.Previous), bw(wantPrev))
		}
		if e.Peer != "" {
			f.addf("audit: peer %q, want none (a global change)", e.Peer)
		}
		uid := fmt.Sprintf("uid=%d", run.CallerUID)
		if e.Actor != uid && !strings.HasPrefix(e.Actor, uid+" ") {
			f.addf("audit: actor %q, want the caller %s", e.Actor, uid)
		}
		if e.Time.Before(run.StartedAt) || e.Time.After(run.EndedAt()) {
			f.addf("audit: time %s outside the CLI call %s–%s", e.Time.Format(time.RFC3339Nano),
				run.StartedAt.Format(time.RFC3339Nano), run.EndedAt().Format(time.RFC3339Nano))
		}
	}
	if len(f) > 0 && text == "found" {
		text = "wrong"
	}
	return f.outcome(text, map[string]any{"events": r.Audit, "answer": resp, "exit_code": run.ExitCode}), nil
}

func checkAudit(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileEdgeTOML); err != nil {
		return labrun.Outcome{}, err
	}
	return change(r, labrun.SetBandwidthFile(rateLabel),
		api.Bandwidth{BytesPerSecond: RateBytesPerSecond, Source: api.SourceRuntime}, bootBandwidth(r))
}

func checkRateCounters(r *Recorded) (labrun.Outcome, error) {
	file := labrun.SetBandwidthFile(rateLabel)
	if err := r.need(labrun.FileStatus, labrun.FileDecisions, labrun.FileEdgeTOML, file); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	decs := r.Decisions.Decisions
	var f findings
	if want := (api.Bandwidth{BytesPerSecond: RateBytesPerSecond, Source: api.SourceRuntime}); st.Bandwidth != want {
		f.addf("status bandwidth %s, want %s in force", bw(st.Bandwidth), bw(want))
	}
	if st.ThrottleCount < int64(r.Scenario.Count-1) {
		f.addf("throttle_count=%d, want >= %d", st.ThrottleCount, r.Scenario.Count-1)
	}
	if st.QuotaDropCount != 0 {
		f.addf("quota_drop_count=%d, want 0", st.QuotaDropCount)
	}
	f.add(journal(r)...)
	throttled := verify.Count(decs, api.DecisionThrottled, "")
	if int64(throttled) != st.ThrottleCount {
		f.addf("throttle_count=%d, but the journal holds %d throttled decisions", st.ThrottleCount, throttled)
	}
	if n := verify.Count(decs, api.DecisionQuotaExceeded, ""); n != 0 {
		f.addf("journal: %d quota drops, want 0", n)
	}
	limits, tf := settingsTimeline(r, r.SetBandwidth[file])
	f.add(tf...)
	f.add(firstTick(decs, r.Scenario.IDs())...)
	rep := verify.ReplayBucket(limits, decs, "")
	f.add(rep.Problems...)
	if rep.Allowed != r.Scenario.Count {
		f.addf("journal: %d admissions, want one per seeded segment (%d)", rep.Allowed, r.Scenario.Count)
	}
	return f.outcome(fmt.Sprintf("throttle=%d, quota_drops=%d", st.ThrottleCount, st.QuotaDropCount), map[string]any{
		"throttle_count": st.ThrottleCount, "quota_drop_count": st.QuotaDropCount,
		"journal_throttled": throttled, "journal_allowed": rep.Allowed,
	}), nil
}

// firstTick is the seed's §4 table at t=0: the first decisions are the
// first segment admitted and every other one throttled.
func firstTick(decs []api.Decision, ids []string) []string {
	var first []api.Decision
	for _, d := range decs {
		if d.Kind != api.DecisionSettings && len(first) < len(ids) {
			first = append(first, d)
		}
	}
	var got, want []string
	for i, id := range ids {
		kind := api.DecisionThrottled
		if i == 0 {
			kind = api.DecisionAllowed
		}
		want = append(want, id+" "+kind)
	}
	for _, d := range first {
		got = append(got, d.Segment+" "+d.Kind)
	}
	if d := verify.SetDiff("journal: the first tick (seed §4, t=0)", want, got); d != "" {
		return []string{d}
	}
	return nil
}

func checkRateDelivery(r *Recorded) (labrun.Outcome, error) {
	file := labrun.SetBandwidthFile(rateLabel)
	if err := r.need(append(deliveryFiles, file, labrun.FileEdgeTOML)...); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	f := delivered(r, all, all)
	receipts := verify.ByReceipt(r.Peer)
	set := r.SetBandwidth[file].StartedAt
	f.add(verify.Envelope(receipts, RateBytesPerSecond, RateBytesPerSecond, set, verify.ReceiptJitter)...)
	refill := time.Duration(SegmentSize) * time.Second / RateBytesPerSecond
	f.add(verify.Pace(receipts, refill+r.Relay.TickInterval+verify.ReceiptJitter)...)
	observed := map[string]any{"peer_ids": peerIDs(r), "seeded_ids": all}
	if len(receipts) > 0 {
		observed["seconds_set_to_last_receipt"] = receipts[len(receipts)-1].ReceivedAt.Sub(set).Seconds()
		observed["seconds_first_to_last_receipt"] = receipts[len(receipts)-1].ReceivedAt.Sub(receipts[0].ReceivedAt).Seconds()
	}
	return f.outcome(fmt.Sprintf("%d/%d delivered", len(receipts), len(all)), observed), nil
}

func checkQuotaEnforcement(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(append(deliveryFiles, labrun.FileEdgeTOML)...); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	wantDelivered, wantDead := all[:QuotaDelivered], all[QuotaDelivered:]
	f := delivered(r, all, wantDelivered)
	f.add(verify.SetDiff("ledger DELIVERED ids", wantDelivered, verify.StateIDs(r.Ledger, stateDelivered)))
	f.add(verify.SetDiff("ledger DEADLETTER ids", wantDead, verify.StateIDs(r.Ledger, stateDeadletter)))
	peer := peerIDs(r)
	var both []string
	for _, id := range wantDead {
		if slices.Contains(peer, id) {
			both = append(both, id)
		}
	}
	if len(both) > 0 {
		f.addf("over-quota segments at the peer: %v", both)
	}
	segs := verify.Segments(r.Ledger)
	maxRetry := r.Relay.MaxRetryCount
	base := time.Duration(r.Relay.BackoffBaseSeconds) * time.Second
	for _, id := range wantDead {
		s, ok := segs[id]
		if !ok {
			continue // in the ledger ids diff
		}
		if s.Attempts != maxRetry || s.LastError != causeQuota {
			f.addf("ledger: %s %s after %d attempts, last_error %q; want DEADLETTER after %d, %q", id, s.State, s.Attempts, s.LastError, maxRetry, causeQuota)
		}
		f.add(verify.Backoff(id, s.History, maxRetry, causeQuota, base, verify.BackoffEarly, verify.BackoffLate)...)
	}
	return f.outcome(fmt.Sprintf("%d/%d delivered", len(peer), len(all)), map[string]any{
		"peer_ids": peer, "ledger_delivered_ids": verify.StateIDs(r.Ledger, stateDelivered),
		"ledger_deadletter_ids": verify.StateIDs(r.Ledger, stateDeadletter), "seeded_ids": all,
	}), nil
}

func checkQuotaCounters(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus, labrun.FileLedger, labrun.FileDecisions, FilePeer, labrun.FileEdgeTOML); err != nil {
		return labrun.Outcome{}, err
	}
	st := r.Status
	var f findings
	if want := (api.Bandwidth{DailyQuotaBytes: QuotaBytes, Source: api.SourceRuntime}); st.Bandwidth != want {
		f.addf("status bandwidth %s, want the quota %s in force", bw(st.Bandwidth), bw(want))
	}
	dead := r.Scenario.Count - QuotaDelivered
	if want := int64(dead * r.Relay.MaxRetryCount); st.QuotaDropCount != want {
		f.addf("quota_drop_count=%d, want %d (%d segments × %d attempts)", st.QuotaDropCount, want, dead, r.Relay.MaxRetryCount)
	}
	var historyDrops int
	var deliveredBytes int64
	var firstStart, firstMark time.Time
	for _, s := range r.Ledger.Segments {
		for _, a := range s.History {
			if a.Outcome == api.AttemptFailed && a.Error == causeQuota {
				historyDrops++
			}
			if a.Outcome == api.AttemptDelivered && (firstStart.IsZero() || a.StartedAt.Before(firstStart)) {
				firstStart = a.StartedAt
			}
		}
		if s.State == stateDelivered {
			deliveredBytes += s.Size
			if s.DeliveredAt != nil && (firstMark.IsZero() || s.DeliveredAt.Before(firstMark)) {
				firstMark = *s.DeliveredAt
			}
		}
	}
	if int64(historyDrops) != st.QuotaDropCount {
		f.addf("quota_drop_count=%d, but the ledger history holds %d attempts failed %q", st.QuotaDropCount, historyDrops, causeQuota)
	}
	f.add(journal(r)...)
	if n := verify.Count(r.Decisions.Decisions, api.DecisionQuotaExceeded, ""); int64(n) != st.QuotaDropCount {
		f.addf("quota_drop_count=%d, but the journal holds %d quota drops", st.QuotaDropCount, n)
	}
	if st.ThrottleCount != 0 {
		f.addf("throttle_count=%d, want 0 (no rate)", st.ThrottleCount)
	}
	var peerBytes int64
	for _, s := range r.Peer.Segments {
		peerBytes += s.Bytes
	}
	if st.DailyUsedBytes != QuotaBytes || deliveredBytes != QuotaBytes || peerBytes != QuotaBytes {
		f.addf("daily_used_bytes=%d, ledger DELIVERED bytes=%d, peer bytes=%d; want all %d", st.DailyUsedBytes, deliveredBytes, peerBytes, QuotaBytes)
	}
	if st.DailyRemainingBytes == nil || *st.DailyRemainingBytes != 0 {
		f.addf("daily_remaining_bytes=%v, want 0", ptrText(st.DailyRemainingBytes))
	}
	switch ws := st.DailyWindowStart; {
	case ws == nil:
		f.add("daily_window_start is null, want the first delivery's")
	case firstStart.IsZero():
		f.add("no delivered attempt in the ledger history to open the quota window")
	case ws.Before(firstStart.Add(-verify.ClockSkew)) || ws.After(firstMark.Add(verify.ClockSkew)):
		f.addf("daily_window_start %s is not the first delivery's (attempt from %s, DELIVERED at %s)",
			ws.Format(time.RFC3339Nano), firstStart.Format(time.RFC3339Nano), firstMark.Format(time.RFC3339Nano))
	}
	return f.outcome(fmt.Sprintf("quota_drops=%d, daily_used=%dB", st.QuotaDropCount, st.DailyUsedBytes), map[string]any{
		"quota_drop_count": st.QuotaDropCount, "daily_used_bytes": st.DailyUsedBytes,
		"daily_quota_bytes": st.Bandwidth.DailyQuotaBytes, "history_quota_drops": historyDrops,
		"ledger_delivered_bytes": deliveredBytes, "peer_bytes": peerBytes,
	}), nil
}

func ptrText[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func checkApplied(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileEdgeTOML, labrun.FileStatus, labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	out, err := change(r, FileSetBandwidthUnlimited, api.Bandwidth{Source: api.SourceRuntime}, bootBandwidth(r))
	if err != nil {
		return out, err
	}
	run := r.SetBandwidth[FileSetBandwidthUnlimited]
	resp, _ := run.Response()
	out.Text = fmt.Sprintf("%v", resp.Applied)
	// "Applied" means in force when the answer came: the limiter's own
	// record of the change must fall inside the call.
	if _, tf := settingsTimeline(r, run); len(tf) > 0 {
		out.Pass = false
		out.Detail = strings.TrimSpace(out.Detail + "\n" + strings.Join(tf, "\n"))
	}
	if !r.Status.Unlimited || r.Status.Bandwidth != (api.Bandwidth{Source: api.SourceRuntime}) {
		out.Pass = false
		out.Detail = strings.TrimSpace(out.Detail + fmt.Sprintf("\nstatus after the reload: unlimited=%v bandwidth %s, want unlimited 0/0/0 (runtime)",
			r.Status.Unlimited, bw(r.Status.Bandwidth)))
	}
	return out, nil
}

func checkPostReload(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(append(deliveryFiles, FilePreReload, FileSetBandwidthUnlimited, labrun.FileDecisions, labrun.FileEdgeTOML)...); err != nil {
		return labrun.Outcome{}, err
	}
	all, err := seeded(r)
	if err != nil {
		return labrun.Outcome{}, err
	}
	f := delivered(r, all, all)
	f.add(blockingProblems(r.PreReload, all)...)

	reload := r.SetBandwidth[FileSetBandwidthUnlimited]
	receipts := verify.ByReceipt(r.Peer)
	for _, s := range receipts {
		if s.ReceivedAt.Before(reload.StartedAt) {
			f.addf("the peer stamped %s at %s, before the reload was requested (%s)", s.ID, stamp(s.ReceivedAt), stamp(reload.StartedAt))
		}
	}
	if len(receipts) > 0 {
		deadline := reload.EndedAt().Add(r.Relay.TickInterval + verify.ReloadSlack)
		if first := receipts[0]; first.ReceivedAt.After(deadline) {
			f.addf("the first receipt (%s at %s) came %.3f s after the reload's answer, want within one tick_interval (%s) + %s",
				first.ID, stamp(first.ReceivedAt), first.ReceivedAt.Sub(reload.EndedAt()).Seconds(), r.Relay.TickInterval, verify.ReloadSlack)
		}
	}

	f.add(journal(r)...)
	limits, tf := settingsTimeline(r, reload)
	f.add(tf...)
	decs := r.Decisions.Decisions
	if len(limits) == 2 {
		at := limits[1].At
		for _, d := range decs {
			if d.Kind == api.DecisionSettings || !d.At.Before(at) {
				continue
			}
			if d.Kind != api.DecisionThrottled || d.RetryAt != nil {
				f.addf("journal: before the reload %s was %s (retry_at %v), want throttled for good", d.Segment, d.Kind, ptrText(d.RetryAt))
			}
		}
		for _, s := range r.Ledger.Segments {
			for _, a := range s.History {
				if a.StartedAt.Before(at) {
					f.addf("ledger: %s attempt %d started at %s, before the reload took effect (%s)", s.ID, a.Attempt, stamp(a.StartedAt), stamp(at))
				}
			}
		}
	}
	rep := verify.ReplayBucket(limits, decs, "")
	f.add(rep.Problems...)
	if rep.Allowed != len(all) {
		f.addf("journal: %d admissions, want one per seeded segment (%d)", rep.Allowed, len(all))
	}
	// The counter and the journal are two records of the same throttles:
	// before the reload at least the ones status had counted at the last
	// poll (two whole cycles of 6), and at the end exactly the counter.
	throttled := verify.Count(decs, api.DecisionThrottled, "")
	if len(limits) == 2 {
		before := 0
		for _, d := range decs {
			if d.Kind == api.DecisionThrottled && d.At.Before(limits[1].At) {
				before++
			}
		}
		if want := r.PreReload.Last.ThrottleCount; int64(before) < want || before < 2*len(all) {
			f.addf("journal: %d throttles before the reload, want at least the %d status counted before it (and at least 2 cycles × %d)", before, want, len(all))
		}
	}
	if int64(throttled) != r.Status.ThrottleCount {
		f.addf("throttle_count=%d, but the journal holds %d throttled decisions", r.Status.ThrottleCount, throttled)
	}

	pre := r.PreReload
	text := fmt.Sprintf("%d/%d", len(receipts), len(all))
	return f.outcome(text, map[string]any{
		"peer_ids":                       peerIDs(r),
		"peer_ids_before_reload":         pre.PeerIDs,
		"executor_cycles_before_reload":  pre.Last.ExecutorCycles - pre.Baseline.ExecutorCycles,
		"last_cycle_throttled":           pre.Last.LastCycleThrottled,
		"throttle_count_before_reload":   pre.Last.ThrottleCount,
		"delivered_before_reload":        pre.Last.Segments.Delivered,
		"blocked_oversize_before_reload": pre.Last.Segments.BlockedOversize,
		"seconds_blocked_before_reload":  pre.LastAt.Sub(pre.BaselineAt).Seconds(),
		"journal_throttled":              rep.Throttled,
	}), nil
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

// unitTestVerdict reads the go test -json stream of S-E: the named test
// must have run, not been skipped, and passed, and nothing failed.
func unitTestVerdict(events []harness.TestEvent) (pass bool, detail string) {
	var ran, passed, skipped, noTests bool
	var failed []string
	for _, e := range events {
		switch {
		case e.Action == "run" && e.Test == UnitTest:
			ran = true
		case e.Action == "pass" && e.Test == UnitTest:
			passed = true
		case e.Action == "skip" && e.Test == UnitTest:
			skipped = true
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
	case skipped:
		return false, UnitTest + " was skipped"
	case !ran:
		return false, "the go test -json stream has no run event for " + UnitTest
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

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }
