package val24

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/labs/verify"
	"edgelab/peer/received"
	"edgelab/transport"
)

// CheckDef is one row of the lab's check matrix.
type CheckDef = labrun.CheckDef[*Recorded]

// Checks is the 10-check matrix, in report order.
var Checks = []CheckDef{
	{
		ID: "VAL24-01", Scenario: SA, Label: "exact ingress per sender id",
		Description: "Ingress bytes attributed exactly per sender id, two senders with several connections each",
		Criterion: "status ingress.by_peer equals, byte for byte, the sum of every accepted PUT credited to its identity " +
			"(declared peer id, else session id) and ingress.bytes their total; sender-1 and sender-2 each used as many distinct " +
			"TCP connections as planned (≥ 2) and every one of their PUTs was accepted",
		Eval: checkIngressExact,
	},
	{
		ID: "VAL24-02", Scenario: SA, Label: "legacy sender by session id",
		Description: "A sender without Edge-Peer-Id is attributed to its Edge-Session-Id",
		Criterion:   "the legacy sender's PUTs were accepted and ingress.by_peer[session:<its session id>] equals their bytes and key_kinds names it a session; no series for its certificate identity",
		Eval:        checkLegacy,
	},
	{
		ID: "VAL24-03", Scenario: SA, Label: "spoofed id refused",
		Description: "A declared peer id contradicting the client certificate is refused (403) and credited nothing",
		Criterion:   "every spoofed PUT answered 403; ingress (total and by_peer) identical before and after them; none of their ids in the ledger or at a peer",
		Eval:        checkSpoof,
	},
	{
		ID: "VAL24-04", Scenario: SA, Label: "end-to-end relay",
		Description: "Segments PUT to edged's listener arrive at their Edge-Target-Peer and are DELIVERED in edged's ledger",
		Criterion: "each peer's evidence holds exactly the accepted ids targeted at it, each with the sent size and sha256, once, from edge-val24; " +
			"the ledger holds exactly the accepted ids, all DELIVERED to their target; the redelivery was answered 200",
		Eval: checkRelay,
	},
	{
		ID: "VAL24-05", Scenario: SA, Label: "/metrics equals status",
		Description: "/metrics on the control socket passes promlint and every series equals the status figures",
		Criterion: "metrics.txt parses (Prometheus text format), promlint (the rules of promtool check metrics) reports nothing, nor does " +
			"promtool check metrics where promtool is installed, and its series " +
			"(all but edged_executor_cycles_total) are exactly those derived from the status taken right after the scrape",
		Eval: checkMetrics,
	},
	{
		ID: "VAL24-06", Scenario: SB, Label: "per-peer setting",
		Description: "set-bandwidth --peer applies, shows in status, is audited with the peer; an unknown peer is refused",
		Criterion: "`set-bandwidth --peer peer-a --bytes-per-second 64` exits 0 with applied=true; status peers.peer-a.bandwidth is 64 B/s (runtime), " +
			"peer-b's and the global ones unlimited; audit.jsonl holds exactly one event, for peer-a at 64 B/s; --peer peer-z exits 1 with HTTP 400 naming peer-z",
		Eval: checkPeerSetting,
	},
	{
		ID: "VAL24-07", Scenario: SB, Label: "peer-a throttled, peer-b not",
		Description: "A per-peer limit throttles peer A while peer B runs unthrottled",
		Criterion: "each peer holds exactly its 5 seeded ids; peers.peer-b.throttle_count = 0, peers.peer-a.throttle_count ≥ 4 and equal to the " +
			"relay-wide count and to the throttled peer-a decisions of the complete limiter journal, none for peer-b; every peer-b segment was " +
			"received before peer-a's second; peer-a's receipts keep to a 64 B/s bucket of 64 B imposed when its set-bandwidth started (by each " +
			"receipt at most 64 + 64 × (t − t_set) B, between any two at most the refill) at one segment per refill (consecutive receipts at most " +
			"1 s + one tick apart); the journal's peer-a settings are 0/0/0 at boot then 64/0/0 inside the CLI call, and its peer-a decisions " +
			"replayed against the checker's own token bucket find no admission it would refuse and no throttle it would allow" +
			fmt.Sprintf(" [tolerances: receipt jitter %s, model token epsilon %.1f, retry_at ±%s]", verify.ReceiptJitter, verify.TokenEpsilon, verify.RetryTolerance),
		Files: []string{labrun.PeerEvidenceFile(PeerA), labrun.FileDecisions, labrun.FileStatus, labrun.SetBandwidthFile(LabelPeerRate)},
		Eval:  checkPeerThrottle,
	},
	{
		ID: "VAL24-08", Scenario: SC, Label: "quota survives kill -9",
		Description: "Daily quota usage survives kill -9 and restart exactly",
		Criterion: "edged ended by SIGKILL while peer-a had segments pending on its quota; daily_used_bytes, daily_window_start and daily_remaining_bytes " +
			"(global, peer-a, peer-b) after the restart equal those before the kill exactly; used bytes equal the DELIVERED bytes of the ledger per scope; " +
			"both quota settings are still in force (runtime)",
		Eval: checkQuotaSurvives,
	},
	{
		ID: "VAL24-09", Scenario: SC, Label: "restored quota enforced",
		Description: "After the restart the restored usage is enforced",
		Criterion: "peer-a stays at exactly 3 delivered, its other 2 failing with \"quota exceeded (daily quota of peer peer-a)\" (≥ 2 drops after the restart); " +
			"peer-b's new segment is DELIVERED and received; the global remaining quota fell by exactly its 64 bytes; no window moved",
		Eval: checkQuotaEnforced,
	},
	{
		ID: "VAL24-10", Scenario: SD, Label: "per-peer limiter unit tests",
		Description: "Per-peer limiter and executor unit tests (fake clock) pass",
		Criterion:   "go test -json shows a pass for each of " + strings.Join(unitTestNames(), ", ") + " and no fail",
		Eval:        checkUnitTests,
	},
}

func unitTestNames() []string {
	var names []string
	for _, pkg := range slices.Sorted(maps.Keys(UnitTests)) {
		names = append(names, UnitTests[pkg]...)
	}
	return names
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

// findings collects why a check fails; it passes when there are none.
type findings []string

func (f *findings) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

// diff adds a labelled go-cmp diff when want and got differ.
func (f *findings) diff(label string, want, got any) {
	if d := cmp.Diff(want, got); d != "" {
		f.add("%s (-want +got):\n%s", label, d)
	}
}

func (f findings) outcome(text string, observed map[string]any) labrun.Outcome {
	return labrun.Outcome{Pass: len(f) == 0, Text: text, Observed: observed, Detail: strings.Join(f, "\n")}
}

func sendsIn(r *Recorded, phase string) []Send {
	var out []Send
	for _, s := range r.Sends {
		if s.Phase == phase {
			out = append(out, s)
		}
	}
	return out
}

func planOf(name string) SenderPlan {
	for _, p := range SenderPlans {
		if p.Name == name {
			return p
		}
	}
	return SenderPlan{}
}

func checkIngressExact(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSends, labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	want := api.Ingress{ByPeer: map[string]int64{}}
	for _, s := range r.Sends {
		if s.Accepted() {
			want.ByPeer[s.Credited()] += s.Bytes
			want.Bytes += s.Bytes
		}
	}
	conns := map[string]map[string]bool{}
	for _, s := range sendsIn(r, PhaseSend) {
		if !s.Accepted() {
			f.add("%s PUT %s over connection %d: got HTTP %d %s, want it accepted", s.Sender, s.ID, s.Conn, s.Code, s.Error)
		}
		if conns[s.Sender] == nil {
			conns[s.Sender] = map[string]bool{}
		}
		if s.LocalAddr != "" {
			conns[s.Sender][s.LocalAddr] = true
		}
	}
	want.KeyKinds = map[string]string{}
	for k := range want.ByPeer {
		want.KeyKinds[k] = transport.KeyKind(k)
	}
	got := r.Status.Ingress
	if got.ByPeer == nil {
		got.ByPeer = map[string]int64{}
	}
	if got.KeyKinds == nil {
		got.KeyKinds = map[string]string{}
	}
	f.diff("status ingress against the accepted PUTs", want, got)
	var parts []string
	for _, name := range []string{Sender1, Sender2} {
		p := planOf(name)
		if n := len(conns[name]); n != p.Conns || n < 2 {
			f.add("%s used %d distinct connections, want %d (≥ 2)", name, n, p.Conns)
		}
		parts = append(parts, fmt.Sprintf("%s=%dB over %d conns", name, got.ByPeer[name], len(conns[name])))
	}
	text := strings.Join(parts, ", ") + fmt.Sprintf(", total=%dB", got.Bytes)
	if len(f) == 0 {
		text += " (exact)"
	}
	connCount := map[string]int{}
	for s, c := range conns {
		connCount[s] = len(c)
	}
	return f.outcome(text, map[string]any{"want": want, "got": got, "connections": connCount}), nil
}

func checkLegacy(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSends, labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	p := planOf("legacy")
	var want int64
	n := 0
	for _, s := range r.Sends {
		if s.Sender != p.Name {
			continue
		}
		n++
		if s.PeerID != "" {
			f.add("legacy PUT %s declared Edge-Peer-Id %q: the lab must send none", s.ID, s.PeerID)
		}
		if !s.Accepted() {
			f.add("legacy PUT %s: got HTTP %d %s, want it accepted", s.ID, s.Code, s.Error)
			continue
		}
		want += s.Bytes
	}
	if n == 0 {
		f.add("sends.json holds no PUT of the legacy sender")
	}
	key := transport.SessionKey(p.Session)
	got, ok := r.Status.Ingress.ByPeer[key]
	if !ok || got != want {
		f.add("ingress.by_peer[%q]: got %d (present=%v), want %d", key, got, ok, want)
	}
	if kind := r.Status.Ingress.KeyKinds[key]; kind != transport.KindSession {
		f.add("ingress.key_kinds[%q]: got %q, want %q", key, kind, transport.KindSession)
	}
	for _, id := range []string{p.Cert, ""} {
		if v, ok := r.Status.Ingress.ByPeer[id]; ok {
			f.add("ingress.by_peer has a series %q (%d bytes): the legacy sender must be known by its session id only", id, v)
		}
	}
	return f.outcome(fmt.Sprintf("%s=%dB from %d PUTs", key, got, n),
		map[string]any{"session": p.Session, "key": key, "want_bytes": want, "got_bytes": got}), nil
}

func checkSpoof(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSends, FileStatusPreSpoof, FileStatusSpoofed, labrun.FileLedger); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	spoofs := sendsIn(r, PhaseSpoof)
	if len(spoofs) == 0 {
		f.add("sends.json holds no spoofed PUT")
	}
	refused := 0
	ids := map[string]bool{}
	for _, s := range spoofs {
		ids[s.ID] = true
		if s.Code == 403 {
			refused++
		} else {
			f.add("spoofed PUT %s (certificate %s declaring %s): got HTTP %d %s, want 403", s.ID, s.Cert, s.PeerID, s.Code, s.Error)
		}
	}
	before, after := r.Statuses[FileStatusPreSpoof].Ingress, r.Statuses[FileStatusSpoofed].Ingress
	f.diff("ingress after the spoofed PUTs against before them", before, after)
	for _, seg := range r.Ledger.Segments {
		if ids[seg.ID] {
			f.add("spoofed segment %s is in the ledger (%s)", seg.ID, seg.State)
		}
	}
	for peer, ev := range r.Peers {
		for _, id := range ev.IDs() {
			if ids[id] {
				f.add("spoofed segment %s reached %s", id, peer)
			}
		}
	}
	return f.outcome(fmt.Sprintf("%d/%d refused 403, ingress unchanged at %dB", refused, len(spoofs), after.Bytes),
		map[string]any{"refused": refused, "spoofed": len(spoofs), "ingress_before": before, "ingress_after": after}), nil
}

func checkRelay(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileSends, labrun.FileLedger, labrun.PeerEvidenceFile(PeerA), labrun.PeerEvidenceFile(PeerB)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	stored := map[string]Send{} // the PUT that created each segment
	wantAt := map[string][]string{PeerA: {}, PeerB: {}}
	redelivered := 0
	for _, s := range r.Sends {
		switch {
		case s.Code == 201:
			stored[s.ID] = s
			wantAt[s.Target] = append(wantAt[s.Target], s.ID)
		case s.Phase == PhaseRedeliver:
			redelivered++
			if s.Code != 200 {
				f.add("redelivery of %s: got HTTP %d %s, want 200 (already held)", s.ID, s.Code, s.Error)
			}
		}
	}
	if redelivered == 0 {
		f.add("sends.json holds no redelivery")
	}
	counts := map[string]string{}
	for _, peer := range []string{PeerA, PeerB} {
		ev := r.Peers[peer]
		got := slices.Sorted(slices.Values(ev.IDs()))
		want := slices.Sorted(slices.Values(wantAt[peer]))
		f.diff(peer+" evidence ids", want, got)
		for _, seg := range ev.Segments {
			s, ok := stored[seg.ID]
			if !ok {
				continue
			}
			if seg.Bytes != s.Bytes || seg.SHA256 != s.SHA256 || seg.Deliveries != 1 || seg.FromPeer != NodeID {
				f.add("%s holds %s as %d bytes sha256 %s, %d deliveries, from %q; want %d bytes sha256 %s, once, from %q",
					peer, seg.ID, seg.Bytes, seg.SHA256, seg.Deliveries, seg.FromPeer, s.Bytes, s.SHA256, NodeID)
			}
		}
		counts[peer] = fmt.Sprintf("%d/%d", len(got), len(want))
	}
	var ledgerIDs []string
	for _, seg := range r.Ledger.Segments {
		ledgerIDs = append(ledgerIDs, seg.ID)
		if s, ok := stored[seg.ID]; ok && (seg.State != "DELIVERED" || seg.TargetPeer != s.Target) {
			f.add("ledger: %s is %s for %s, want DELIVERED for %s", seg.ID, seg.State, seg.TargetPeer, s.Target)
		}
	}
	f.diff("ledger ids", slices.Sorted(maps.Keys(stored)), slices.Sorted(slices.Values(ledgerIDs)))
	text := fmt.Sprintf("%s %s, %s %s received intact and DELIVERED", PeerA, counts[PeerA], PeerB, counts[PeerB])
	if redelivered > 0 && len(f) == 0 {
		text += "; redelivery 200"
	}
	return f.outcome(text, map[string]any{"want": wantAt, "received": counts}), nil
}

func checkMetrics(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FileMetrics, FileMetricsStatus); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	problems, err := lint(r.Metrics)
	if err != nil {
		f.add("promlint could not read metrics.txt: %v", err)
	}
	for _, p := range problems {
		f.add("promlint: %s", p)
	}
	got, err := parseExposition(r.Metrics)
	if err != nil {
		f.add("%v", err)
	}
	want := seriesFromStatus(r.Statuses[FileMetricsStatus])
	if err == nil {
		f.diff("/metrics series against the status (edged_executor_cycles_total aside)", want, got)
	}
	linters := "promlint"
	if p := r.Promtool; p != nil {
		linters = "promtool and promlint"
		if out := strings.TrimSpace(p.Stdout + p.Stderr); p.ExitCode != 0 || out != "" {
			f.add("promtool check metrics: exit %d %s: %s", p.ExitCode, p.StartError, out)
		}
	}
	text := fmt.Sprintf("%d series equal the status, %s clean", len(got), linters)
	if len(f) > 0 {
		text = fmt.Sprintf("%d series scraped, %d derived from the status, %d promlint problems", len(got), len(want), len(problems))
	}
	return f.outcome(text, map[string]any{"series": len(got), "promlint_problems": problems}), nil
}

// setBandwidthResponse decodes a set-bandwidth run's JSON answer.
func setBandwidthResponse(r *Recorded, label string) (labrun.SetBandwidthRun, api.SetBandwidthResponse, error) {
	res, ok := r.SetBandwidth[label]
	if !ok {
		return res, api.SetBandwidthResponse{}, fmt.Errorf("evidence %s/%s is missing", r.Scenario.Name, labrun.SetBandwidthFile(label))
	}
	var resp api.SetBandwidthResponse
	if res.ExitCode == 0 {
		if err := json.Unmarshal([]byte(res.Stdout), &resp); err != nil {
			return res, resp, fmt.Errorf("%s: stdout is not the daemon's answer: %w", labrun.SetBandwidthFile(label), err)
		}
	}
	return res, resp, nil
}

func bandwidthPtr(b api.Bandwidth) *api.Bandwidth { return &b }

func checkPeerSetting(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	rate := api.Bandwidth{BytesPerSecond: PeerRate, Source: api.SourceRuntime}
	res, resp, err := setBandwidthResponse(r, LabelPeerRate)
	if err != nil {
		return labrun.Outcome{}, err
	}
	if res.ExitCode != 0 || !resp.Applied {
		f.add("set-bandwidth --peer %s: exit %d applied=%v, want exit 0 and applied=true; stderr: %s", PeerA, res.ExitCode, resp.Applied, res.Stderr)
	}
	f.diff("set-bandwidth answer's bandwidth", rate, resp.Bandwidth)
	f.diff("status peers.peer-a.bandwidth", bandwidthPtr(rate), r.Status.Peers[PeerA].Bandwidth)
	f.diff("status peers.peer-b.bandwidth", bandwidthPtr(api.Bandwidth{Source: api.SourceDefault}), r.Status.Peers[PeerB].Bandwidth)
	f.diff("status global bandwidth", api.Bandwidth{Source: api.SourceDefault}, r.Status.Bandwidth)

	if err := r.problems[labrun.FileAudit]; err != nil {
		f.add("audit.jsonl: %v", err)
	}
	var audited []string
	for _, e := range r.Audit {
		audited = append(audited, fmt.Sprintf("%s peer=%q bytes_per_second=%d", e.Event, e.Peer, e.Bandwidth.BytesPerSecond))
	}
	f.diff("audit events", []string{fmt.Sprintf("%s peer=%q bytes_per_second=%d", audit.EventBandwidthConfigured, PeerA, PeerRate)}, audited)

	unknown, _, err := setBandwidthResponse(r, LabelUnknownPeer)
	if err != nil {
		return labrun.Outcome{}, err
	}
	wantErr := fmt.Sprintf("unknown peer %q", UnknownPeer)
	if unknown.ExitCode != 1 || !strings.Contains(unknown.Stderr, wantErr) || !strings.Contains(unknown.Stderr, "HTTP 400") {
		f.add("set-bandwidth --peer %s: exit %d, stderr %q; want exit 1 with HTTP 400 saying %s", UnknownPeer, unknown.ExitCode, unknown.Stderr, wantErr)
	}
	text := fmt.Sprintf("applied=%v peer-a %d B/s (%s), audited with peer=%s; %s refused (exit %d)",
		resp.Applied, resp.Bandwidth.BytesPerSecond, resp.Bandwidth.Source, PeerA, UnknownPeer, unknown.ExitCode)
	return f.outcome(text, map[string]any{"answer": resp, "audit": audited, "unknown_peer_stderr": unknown.Stderr}), nil
}

// receivedAt is the arrival time of each id at a peer.
func receivedAt(ev received.Evidence) []time.Time {
	var ts []time.Time
	for _, s := range ev.Segments {
		ts = append(ts, s.ReceivedAt)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

func checkPeerThrottle(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus, labrun.PeerEvidenceFile(PeerA), labrun.PeerEvidenceFile(PeerB), labrun.FileDecisions); err != nil {
		return labrun.Outcome{}, err
	}
	if _, ok := r.SetBandwidth[LabelPeerRate]; !ok {
		return labrun.Outcome{}, fmt.Errorf("evidence %s/%s is missing", r.Scenario.Name, labrun.SetBandwidthFile(LabelPeerRate))
	}
	var f findings
	f.diff("peer-a evidence ids", SBPeerA, slices.Sorted(slices.Values(r.Peers[PeerA].IDs())))
	f.diff("peer-b evidence ids", SBPeerB, slices.Sorted(slices.Values(r.Peers[PeerB].IDs())))
	a, b := r.Status.Peers[PeerA], r.Status.Peers[PeerB]
	if b.ThrottleCount != 0 {
		f.add("peers.peer-b.throttle_count = %d, want 0: peer-b has no limit and the global one is unlimited", b.ThrottleCount)
	}
	if a.ThrottleCount < 4 {
		f.add("peers.peer-a.throttle_count = %d, want ≥ 4 (5 × 64 B at 64 B/s)", a.ThrottleCount)
	}
	if r.Status.ThrottleCount != a.ThrottleCount {
		f.add("relay-wide throttle_count = %d, want peer-a's %d (peer-b was never throttled)", r.Status.ThrottleCount, a.ThrottleCount)
	}
	ta, tb := receivedAt(r.Peers[PeerA]), receivedAt(r.Peers[PeerB])
	var lead time.Duration
	if len(ta) >= 2 && len(tb) > 0 {
		lastB := tb[len(tb)-1]
		lead = ta[1].Sub(lastB)
		if !lastB.Before(ta[1]) {
			f.add("peer-b's last segment arrived at %s, not before peer-a's second at %s: peer-b waited behind peer-a's limit",
				lastB.Format(time.RFC3339Nano), ta[1].Format(time.RFC3339Nano))
		}
	} else {
		f.add("too few arrivals to compare: peer-a %d, peer-b %d", len(ta), len(tb))
	}
	f.peerRate(r, a.ThrottleCount)
	text := fmt.Sprintf("peer-b %d/5 throttle_count=%d, all %.1fs before peer-a's 2nd; peer-a %d/5 throttle_count=%d",
		len(tb), b.ThrottleCount, lead.Seconds(), len(ta), a.ThrottleCount)
	return f.outcome(text, map[string]any{
		"peer_a_throttle_count": a.ThrottleCount, "peer_b_throttle_count": b.ThrottleCount,
		"peer_b_lead_seconds": lead.Seconds(),
	}), nil
}

// peerRate proves peer-a's rate from its receipts (the witness) and from
// the limiter journal replayed against the checker's own bucket.
func (f *findings) peerRate(r *Recorded, throttleCount int64) {
	set := r.SetBandwidth[LabelPeerRate] // checkPeerThrottle made sure of it
	receipts := verify.ByReceipt(r.Peers[PeerA])
	for _, w := range verify.Envelope(receipts, PeerRate, PeerRate, set.StartedAt, verify.ReceiptJitter) {
		f.add("peer-a: %s", w)
	}
	refill := time.Duration(SegmentSize) * time.Second / PeerRate
	for _, w := range verify.Pace(receipts, refill+time.Second+verify.ReceiptJitter) {
		f.add("peer-a: %s", w)
	}
	d := r.Decisions
	if d.Dropped != 0 || d.Total != int64(len(d.Decisions)) {
		f.add("the limiter journal is incomplete: %d decisions made, %d kept", d.Total, len(d.Decisions))
	}
	if n := verify.Count(d.Decisions, api.DecisionThrottled, PeerA); int64(n) != throttleCount {
		f.add("peers.peer-a.throttle_count = %d, but the journal holds %d throttled peer-a decisions", throttleCount, n)
	}
	if n := verify.Count(d.Decisions, api.DecisionThrottled, PeerB); n != 0 {
		f.add("the journal holds %d throttled peer-b decisions, want 0", n)
	}
	settings := verify.SettingsOf(d.Decisions, PeerA)
	var got []string
	for _, s := range settings {
		got = append(got, fmt.Sprintf("%d/%d/%d", s.Settings.BytesPerSecond, s.Settings.BurstBytes, s.Settings.DailyQuotaBytes))
	}
	if want := []string{"0/0/0", fmt.Sprintf("%d/0/0", PeerRate)}; !slices.Equal(got, want) {
		f.add("journal: peer-a settings %v, want %v (boot, then set-bandwidth)", got, want)
	} else if at := settings[1].At; at.Before(set.StartedAt) || at.After(set.EndedAt()) {
		f.add("journal: peer-a's rate took effect at %s, outside the CLI call", at.Format(time.RFC3339Nano))
	}
	rep := verify.ReplayBucket(verify.LimitsOf(settings), d.Decisions, PeerA)
	for _, w := range rep.Problems {
		f.add("peer-a: %s", w)
	}
	if rep.Allowed != len(SBPeerA) {
		f.add("journal: %d peer-a admissions, want %d", rep.Allowed, len(SBPeerA))
	}
}

// killText says how edged ended in words a reader of the report expects:
// "edged killed (SIGKILL)" for the crash the scenario made, else the exit
// as the system told it.
func killText(k KillRecord) string {
	if k.ExitedAs == "signal: killed" {
		return "edged killed (SIGKILL)"
	}
	return "edged ended: " + k.ExitedAs
}

// QuotaFigures are one scope's quota window as the status shows it, in a
// form that compares exactly (the instant as RFC 3339 with nanoseconds).
type QuotaFigures struct {
	UsedBytes      int64  `json:"daily_used_bytes"`
	RemainingBytes *int64 `json:"daily_remaining_bytes"`
	WindowStart    string `json:"daily_window_start"`
}

func quotaFigures(used int64, remaining *int64, start *time.Time) QuotaFigures {
	q := QuotaFigures{UsedBytes: used, RemainingBytes: remaining}
	if start != nil {
		// Every nanosecond digit, so two instants a nanosecond apart read
		// apart in a diff.
		q.WindowStart = start.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	}
	return q
}

// figures are the quota figures of every scope: "global" and each peer.
func figures(st api.Status) map[string]QuotaFigures {
	out := map[string]QuotaFigures{"global": quotaFigures(st.DailyUsedBytes, st.DailyRemainingBytes, st.DailyWindowStart)}
	for _, peer := range []string{PeerA, PeerB} {
		p := st.Peers[peer]
		out[peer] = quotaFigures(p.DailyUsedBytes, p.DailyRemainingBytes, p.DailyWindowStart)
	}
	return out
}

func checkQuotaSurvives(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(FilePreKill, FileKill, FilePostRestart, FilePostLedger); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	pre, post := r.Statuses[FilePreKill], r.Statuses[FilePostRestart]
	if r.Kill.ExitedAs != "signal: killed" {
		f.add("edged ended as %q (%s), want \"signal: killed\"", r.Kill.ExitedAs, r.Kill.Error)
	}
	if a := pre.Peers[PeerA]; a.PendingSegments == 0 || a.QuotaDropCount == 0 {
		f.add("before the kill peer-a had %d pending and %d quota drops: not mid-run", a.PendingSegments, a.QuotaDropCount)
	}
	before, after := figures(pre), figures(post)
	f.diff("quota figures across kill -9 and restart", before, after)
	// What was delivered before the kill is what the quotas count.
	delivered := map[string]int64{}
	for _, s := range r.PostLedger.Segments {
		if s.State == "DELIVERED" {
			delivered["global"] += s.Size
			delivered[s.TargetPeer] += s.Size
		}
	}
	for scope, q := range after {
		if q.UsedBytes != delivered[scope] {
			f.add("%s daily_used_bytes after the restart = %d, but the ledger holds %d DELIVERED bytes", scope, q.UsedBytes, delivered[scope])
		}
	}
	wantUsed := int64(PeerQuota + len(SCPeerB)*SegmentSize)
	if after["global"].UsedBytes != wantUsed || after[PeerA].UsedBytes != PeerQuota {
		f.add("used after the restart: global %d, peer-a %d; want %d and %d", after["global"].UsedBytes, after[PeerA].UsedBytes, wantUsed, PeerQuota)
	}
	f.diff("global bandwidth after the restart", api.Bandwidth{DailyQuotaBytes: GlobalQuota, Source: api.SourceRuntime}, post.Bandwidth)
	f.diff("peer-a bandwidth after the restart", bandwidthPtr(api.Bandwidth{DailyQuotaBytes: PeerQuota, Source: api.SourceRuntime}), post.Peers[PeerA].Bandwidth)
	g, a := after["global"], after[PeerA]
	text := fmt.Sprintf("%s; global used=%dB remaining=%s, peer-a used=%dB remaining=%s, windows kept",
		killText(r.Kill), g.UsedBytes, optional(g.RemainingBytes), a.UsedBytes, optional(a.RemainingBytes))
	if len(f) > 0 {
		text = fmt.Sprintf("%s; global used %dB→%dB, peer-a used %dB→%dB", killText(r.Kill),
			before["global"].UsedBytes, g.UsedBytes, before[PeerA].UsedBytes, a.UsedBytes)
	}
	return f.outcome(text, map[string]any{"before": before, "after": after, "ledger_delivered_bytes": delivered}), nil
}

func optional(v *int64) string {
	if v == nil {
		return "unlimited"
	}
	return fmt.Sprintf("%dB", *v)
}

func checkQuotaEnforced(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileStatus, labrun.FileLedger, FilePreKill, labrun.PeerEvidenceFile(PeerB)); err != nil {
		return labrun.Outcome{}, err
	}
	var f findings
	pre, st := r.Statuses[FilePreKill], r.Status
	var deliveredA []string
	wantErr := fmt.Sprintf("quota exceeded (daily quota of peer %s)", PeerA)
	for _, s := range r.Ledger.Segments {
		switch {
		case s.TargetPeer == PeerA && s.State == "DELIVERED":
			deliveredA = append(deliveredA, s.ID)
		case s.TargetPeer == PeerA && s.LastError != wantErr:
			f.add("%s is %s with last_error %q, want %q", s.ID, s.State, s.LastError, wantErr)
		case s.TargetPeer == PeerB && slices.Contains(SCAfterKillB, s.ID) && s.State != "DELIVERED":
			f.add("%s (seeded after the restart) is %s, want DELIVERED", s.ID, s.State)
		}
	}
	slices.Sort(deliveredA)
	f.diff("peer-a DELIVERED in the ledger", SCPeerA[:PeerQuota/SegmentSize], deliveredA)
	if n := st.Peers[PeerA].QuotaDropCount; n < int64(len(SCPeerA)-PeerQuota/SegmentSize) {
		f.add("peers.peer-a.quota_drop_count after the restart = %d, want ≥ %d", n, len(SCPeerA)-PeerQuota/SegmentSize)
	}
	for _, id := range SCAfterKillB {
		if !slices.Contains(r.Peers[PeerB].IDs(), id) {
			f.add("%s is not in peer-b's evidence", id)
		}
	}
	before, after := figures(pre), figures(st)
	added := int64(len(SCAfterKillB) * SegmentSize)
	if before["global"].RemainingBytes == nil || after["global"].RemainingBytes == nil {
		f.add("global daily_remaining_bytes is null (before %v, after %v): the global quota is not in force", before["global"].RemainingBytes, after["global"].RemainingBytes)
	} else if got, want := *after["global"].RemainingBytes, *before["global"].RemainingBytes-added; got != want {
		f.add("global daily_remaining_bytes = %d, want %d (%d before the kill − %d)", got, want, *before["global"].RemainingBytes, added)
	}
	if got, want := after["global"].UsedBytes, before["global"].UsedBytes+added; got != want {
		f.add("global daily_used_bytes = %d, want %d", got, want)
	}
	for scope := range before {
		if before[scope].WindowStart != after[scope].WindowStart {
			f.add("%s window start moved: %q before the kill, %q at the end", scope, before[scope].WindowStart, after[scope].WindowStart)
		}
	}
	text := fmt.Sprintf("peer-a %d delivered, quota_drop_count=%d after restart; global remaining %s→%s",
		len(deliveredA), st.Peers[PeerA].QuotaDropCount, optional(before["global"].RemainingBytes), optional(after["global"].RemainingBytes))
	return f.outcome(text, map[string]any{"before": before, "after": after, "peer_a_delivered": deliveredA}), nil
}

func checkUnitTests(r *Recorded) (labrun.Outcome, error) {
	if err := r.need(labrun.FileGoTest); err != nil {
		return labrun.Outcome{}, err
	}
	names := unitTestNames()
	v := harness.VerdictOf(r.GoTest, names...)
	out := labrun.Outcome{Pass: v.OK(), Observed: map[string]any{"verdict": v}}
	passed := 0
	for _, n := range names {
		if slices.Contains(v.Passed, n) {
			passed++
		}
	}
	out.Text = fmt.Sprintf("%d/%d passed", passed, len(names))
	if !v.OK() {
		out.Detail = v.String()
	}
	return out, nil
}

// summarize is a scenario's line in report.txt and its record in
// report.json.
func summarize(r *Recorded) evidence.Scenario {
	s, ran := r.Run.ReportEntry(r.Scenario.Name, r.Scenario.Title, r.need())
	if !ran {
		return s
	}
	if r.problems[labrun.FileStatus] == nil {
		s.Observed["final_status"] = r.Status
	}
	switch r.Scenario.Name {
	case SA:
		accepted, refused := 0, 0
		for _, x := range r.Sends {
			if x.Accepted() {
				accepted++
			} else {
				refused++
			}
		}
		s.Summary += fmt.Sprintf("%d PUTs (%d accepted, %d refused), ingress=%dB, %d relayed",
			len(r.Sends), accepted, refused, r.Status.Ingress.Bytes, r.Status.Segments.Delivered)
	case SB:
		a, b := r.Status.Peers[PeerA], r.Status.Peers[PeerB]
		s.Summary += fmt.Sprintf("peer-a %d/5 throttle_count=%d, peer-b %d/5 throttle_count=%d",
			len(r.Peers[PeerA].Segments), a.ThrottleCount, len(r.Peers[PeerB].Segments), b.ThrottleCount)
	case SC:
		pre, post := r.Statuses[FilePreKill], r.Statuses[FilePostRestart]
		s.Summary += fmt.Sprintf("daily_used %dB before kill -9, %dB after restart (peer-a %dB/%dB), %s",
			pre.DailyUsedBytes, post.DailyUsedBytes, post.Peers[PeerA].DailyUsedBytes, PeerQuota, killText(r.Kill))
	case SD:
		v := harness.VerdictOf(r.GoTest, unitTestNames()...)
		s.Summary += fmt.Sprintf("go test: %s", v)
	}
	if len(r.Run.Problems) > 0 {
		s.Summary += fmt.Sprintf(" (%d problem(s), see scenario.json)", len(r.Run.Problems))
	}
	return s
}
