package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/bandwidth"
	"edgelab/edged/control"
	"edgelab/edged/ledger"
	"edgelab/transport"
)

// settingBandwidth holds the runtime bandwidth setting; it wins over
// edge.toml until set-bandwidth --reset drops it.
const settingBandwidth = "bandwidth"

// settingPeerBandwidth prefixes the runtime setting of one peer's limit:
// bandwidth.peer.<id>. set-bandwidth --reset --peer ID drops it.
const settingPeerBandwidth = "bandwidth.peer."

func peerSettingKey(id string) string { return settingPeerBandwidth + id }

// bootBandwidth picks the settings in force at start: runtime (persisted by
// set-bandwidth), else the config file, else none.
func (d *Daemon) bootBandwidth(ctx context.Context) (bandwidth.Settings, string, error) {
	var s bandwidth.Settings
	ok, err := d.ledger.Setting(ctx, settingBandwidth, &s)
	if err != nil {
		return bandwidth.Settings{}, "", err
	}
	if ok {
		return s, api.SourceRuntime, nil
	}
	s, source := d.configBandwidth()
	return s, source, nil
}

// bootPeers gives every configured peer its limit (the persisted runtime
// setting, else none) and its persisted quota usage. A runtime setting left
// for a peer no longer in [[peers]] is kept in the ledger but not applied.
func (d *Daemon) bootPeers(ctx context.Context) error {
	d.peerSource = map[string]string{}
	for _, p := range d.cfg.Peers {
		var s bandwidth.Settings
		ok, err := d.ledger.Setting(ctx, peerSettingKey(p.ID), &s)
		if err != nil {
			return err
		}
		source := api.SourceDefault
		if ok {
			source = api.SourceRuntime
		}
		u, err := d.ledger.Usage(ctx, p.ID)
		if err != nil {
			return err
		}
		d.limits.TrackPeer(p.ID, s, bandwidth.Usage{WindowStart: u.WindowStart, UsedBytes: u.UsedBytes})
		d.peerSource[p.ID] = source
	}
	stale, err := d.ledger.SettingsWithPrefix(ctx, settingPeerBandwidth)
	if err != nil {
		return err
	}
	for id := range stale {
		if _, ok := d.cfg.Peer(id); !ok {
			d.log.Warn("runtime bandwidth setting for a peer not in [[peers]] is ignored", "peer", id, "key", peerSettingKey(id))
		}
	}
	return nil
}

func (d *Daemon) configBandwidth() (bandwidth.Settings, string) {
	if d.schedule != nil {
		return d.scheduled(d.clock.Now()), api.SourceSchedule
	}
	b := d.cfg.Relay.Bandwidth
	if b.IsZero() {
		return bandwidth.Settings{}, api.SourceDefault
	}
	return bandwidth.Settings{BytesPerSecond: b.BytesPerSecond, BurstBytes: b.BurstBytes, DailyQuotaBytes: b.DailyQuotaBytes}, api.SourceConfig
}

func apiBandwidth(s bandwidth.Settings, source string) api.Bandwidth {
	return api.Bandwidth{BytesPerSecond: s.BytesPerSecond, BurstBytes: s.BurstBytes, DailyQuotaBytes: s.DailyQuotaBytes, Source: source}
}

// quotaFigures are a quota window as the status shows it.
func quotaFigures(st bandwidth.Stats) (remaining *int64, windowStart *time.Time) {
	if rem, ok := st.Remaining(); ok {
		remaining = &rem
	}
	if !st.Usage.WindowStart.IsZero() {
		ws := st.Usage.WindowStart.UTC()
		windowStart = &ws
	}
	return remaining, windowStart
}

// quotaWindow is st's quota window for status, nil without a quota.
func quotaWindow(st bandwidth.Stats) *api.QuotaWindow {
	left, ok := st.Remaining()
	if !ok {
		return nil
	}
	w := &api.QuotaWindow{Period: "24h from the first delivery", UsedBytes: st.Usage.UsedBytes, LeftBytes: left, State: api.QuotaOpen}
	if st.Period != nil {
		w.Period = st.Period.String()
	}
	if !st.WindowStart.IsZero() {
		start, end := st.WindowStart, st.WindowEnd
		w.Start, w.End = &start, &end
	}
	if left == 0 {
		w.State = api.QuotaExhausted
	}
	return w
}

// Status implements control.Backend.
func (d *Daemon) Status(ctx context.Context) (api.Status, error) {
	d.mu.Lock()
	source := d.source
	peerSource := make(map[string]string, len(d.peerSource))
	for id, s := range d.peerSource {
		peerSource[id] = s
	}
	d.mu.Unlock()
	ls := d.limits.Stats()
	st := ls.Global
	// One read of the counter rows for the totals and every peer's.
	tallies, err := d.ledger.Tallies(ctx)
	if err != nil {
		return api.Status{}, err
	}
	var counts ledger.Tally
	for _, t := range tallies {
		counts.Pending += t.Pending
		counts.Delivered += t.Delivered
		counts.Deadletter += t.Deadletter
	}
	var globalBurst int64
	if st.Settings.BytesPerSecond > 0 {
		globalBurst = st.Settings.Burst()
	}
	peerBursts := map[string]int64{}
	unlimited := st.Settings.Unlimited()
	for id, ps := range ls.Peers {
		if ps.Settings.BytesPerSecond > 0 {
			peerBursts[id] = ps.Settings.Burst()
		}
		unlimited = unlimited && ps.Settings.Unlimited()
	}
	oversize := map[string]int64{}
	if globalBurst > 0 || len(peerBursts) > 0 {
		if oversize, err = d.ledger.PendingOversize(ctx, globalBurst, peerBursts); err != nil {
			return api.Status{}, err
		}
	}
	var blocked int64
	for _, n := range oversize {
		blocked += n
	}
	total, ingress := d.ingress.Snapshot()
	out := api.Status{
		NodeID:         d.nodeID,
		Unlimited:      unlimited,
		Bandwidth:      apiBandwidth(st.Settings, source),
		ThrottleCount:  st.ThrottleCount,
		QuotaDropCount: st.QuotaDropCount,
		QuotaHeldCount: st.QuotaHeldCount,
		DailyUsedBytes: st.Usage.UsedBytes,
		Segments: api.SegmentCounts{
			Pending:         counts.Pending,
			Delivered:       counts.Delivered,
			Deadletter:      counts.Deadletter,
			BlockedOversize: blocked,
		},
		Peers:              make(map[string]api.PeerStatus, max(len(tallies), len(d.cfg.Peers))),
		Ingress:            api.Ingress{Bytes: total, ByPeer: ingress, KeyKinds: keyKinds(ingress)},
		ExecutorCycles:     d.executor.Cycles(),
		LastCycleThrottled: d.executor.LastCycleThrottled(),
		Listen:             d.listenAddr,
		Clock:              d.clockName(),
	}
	if f := d.executor.LedgerError(); f != nil {
		out.LedgerError = &api.LedgerError{Message: f.Message, Since: f.Since}
	}
	out.DailyRemainingBytes, out.DailyWindowStart = quotaFigures(st)
	out.Quota = quotaWindow(st)
	if d.segListener != nil {
		ls := d.segListener.Stats()
		out.Listener = &api.ListenerStatus{
			Conns: ls.Conns, Handshakes: ls.Handshakes, Refused: ls.Refused, HandshakesFailed: ls.Failed,
			Bodies: d.segHandler.Bodies(), BodyBytes: d.segHandler.InFlightBytes(),
		}
	}
	peer := func(id string) api.PeerStatus {
		p := out.Peers[id]
		t := tallies[id]
		p.PendingSegments, p.DeadletterSegments = t.Pending, t.Deadletter
		p.DeliveredSegments, p.DeliveredBytes = t.Delivered, t.DeliveredBytes
		p.BlockedOversize = oversize[id]
		return p
	}
	// Targets in the ledger that are not configured keep their figures.
	for id := range tallies {
		out.Peers[id] = peer(id)
	}
	for _, cp := range d.cfg.Peers {
		p := peer(cp.ID)
		ps := ls.Peers[cp.ID]
		bw := apiBandwidth(ps.Settings, peerSource[cp.ID])
		p.Configured, p.Bandwidth, p.Unlimited = true, &bw, ps.Settings.Unlimited()
		p.ThrottleCount, p.QuotaDropCount = ps.ThrottleCount, ps.QuotaDropCount
		p.DailyUsedBytes = ps.Usage.UsedBytes
		p.DailyRemainingBytes, p.DailyWindowStart = quotaFigures(ps)
		p.Quota = quotaWindow(ps)
		out.Peers[cp.ID] = p
	}
	foldTargets(out.Peers, d.maxPeers)
	return out, nil
}

// foldTargets caps peers at max ids plus transport.OverflowPeer, the rule
// the ingress figures follow: configured peers (config allows at most max)
// keep their own entries, targets only in the ledger fill the rest in id
// order, and the figures of the others are summed into OverflowPeer. Each
// per-peer series family of /metrics so stays within
// metrics.CardinalityLimit and still equals the status.
func foldTargets(peers map[string]api.PeerStatus, max int) {
	if len(peers) <= max {
		return
	}
	var extra []string
	kept := 0
	for id, p := range peers {
		if p.Configured {
			kept++
		} else if id != transport.OverflowPeer {
			extra = append(extra, id)
		}
	}
	slices.Sort(extra)
	over := peers[transport.OverflowPeer]
	for i, id := range extra {
		if kept+i < max {
			continue
		}
		p := peers[id]
		over.DeliveredSegments += p.DeliveredSegments
		over.DeliveredBytes += p.DeliveredBytes
		over.PendingSegments += p.PendingSegments
		over.DeadletterSegments += p.DeadletterSegments
		over.BlockedOversize += p.BlockedOversize
		delete(peers, id)
	}
	peers[transport.OverflowPeer] = over
}

// auditLog is where SetBandwidth writes its events: *audit.Log, or a test's
// failing stand-in.
type auditLog interface {
	AppendRevertible(audit.Event) (revert func() error, err error)
	AppendRequeued(audit.Requeued) (revert func() error, err error)
	Path() string
	Close() error
}

// SetBandwidth implements control.Backend. No change is in force without
// its audit event: the request is checked, its audit event written and
// fsynced, the setting persisted, and only then applied to the live limiter
// (waking the executor). If the audit event cannot be written nothing
// changes; if the setting cannot be persisted its event is taken back and
// nothing changes. A crash between the event and the persisting leaves an
// event for a change that is not in force, never the reverse. Once
// started, a change runs to its end: a caller that hangs up cannot stop it
// half way. With req.Peer it changes that peer's own limit, which applies
// on top of the global one.
func (d *Daemon) SetBandwidth(ctx context.Context, req api.SetBandwidthRequest, actor string) (api.SetBandwidthResponse, error) {
	ctx = context.WithoutCancel(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()

	// What the change is made to: the global limit or one peer's.
	var (
		key      = settingBandwidth
		current  = d.limits.GlobalSettings()
		source   = d.source
		fallback = d.configBandwidth
		apply    = d.limits.SetGlobal
		scope    = "global"
	)
	if req.Peer != "" {
		s, ok := d.limits.PeerSettings(req.Peer)
		if !ok {
			return api.SetBandwidthResponse{}, &control.RequestError{Code: http.StatusBadRequest, Msg: d.unknownPeer(req.Peer)}
		}
		key, current, source, scope = peerSettingKey(req.Peer), s, d.peerSource[req.Peer], "peer "+req.Peer
		fallback = func() (bandwidth.Settings, string) { return bandwidth.Settings{}, api.SourceDefault }
		apply = func(s bandwidth.Settings) {
			if err := d.limits.SetPeer(req.Peer, s); err != nil {
				d.log.Error("per-peer limit not applied", "peer", req.Peer, "err", err) // tracked above: cannot happen
			}
		}
	}
	prev := apiBandwidth(current, source)
	next := merge(current, req)
	source = api.SourceRuntime
	persist := func() error { return d.ledger.SetSetting(ctx, key, next) }
	if req.Reset {
		next, source = fallback()
		persist = func() error { return d.ledger.DeleteSetting(ctx, key) }
	}
	applied := apiBandwidth(next, source)

	// The warnings only read: a failure here changes nothing.
	resp := api.SetBandwidthResponse{Applied: true, Bandwidth: applied, Previous: prev, Warnings: []string{}}
	if next.BytesPerSecond > 0 {
		n, err := d.ledger.PendingLargerThan(ctx, next.Burst(), req.Peer)
		if err != nil {
			return api.SetBandwidthResponse{}, fmt.Errorf("bandwidth change refused, nothing changed: count the pending segments larger than the burst: %w", err)
		}
		if n > 0 {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf(
				"%d pending segment(s) are larger than the %s burst of %d bytes and can never pass; raise --burst-bytes", n, scope, next.Burst()))
		}
	}
	if next.BurstBytes > 0 && next.BytesPerSecond == 0 {
		resp.Warnings = append(resp.Warnings, "burst_bytes has no effect without bytes_per_second")
	}

	revert, err := d.audit.AppendRevertible(audit.Event{
		Time: time.Now().UTC(), Event: audit.EventBandwidthConfigured,
		Bandwidth: applied, Previous: prev, Peer: req.Peer, Actor: actor,
	})
	if err != nil {
		d.log.Error("bandwidth change refused: audit event not written", "scope", scope, "audit_log", d.audit.Path(), "actor", actor, "err", err)
		return api.SetBandwidthResponse{}, fmt.Errorf("bandwidth change refused, nothing changed: cannot write its audit event to %s: %w", d.audit.Path(), err)
	}
	if err := persist(); err != nil {
		if rerr := revert(); rerr != nil {
			d.log.Error("bandwidth change refused, but its audit event stays", "scope", scope, "audit_log", d.audit.Path(), "persist_err", err, "err", rerr)
			return api.SetBandwidthResponse{}, fmt.Errorf("bandwidth change refused, not in force: persist the setting: %w; its audit event stays in %s: %v", err, d.audit.Path(), rerr)
		}
		return api.SetBandwidthResponse{}, fmt.Errorf("bandwidth change refused, nothing changed: persist the setting: %w", err)
	}
	apply(next)
	if req.Peer != "" {
		d.peerSource[req.Peer] = source
	} else {
		d.source = source
	}
	d.executor.Wake()
	d.log.Info("bandwidth configured", "scope", scope, "bandwidth", next, "source", source, "previous", prev, "actor", actor)
	return resp, nil
}

// merge is current with what req sets: a limit left out keeps its value,
// and a rate set to 0 without a burst clears the burst (it means nothing
// without a rate).
func merge(current bandwidth.Settings, req api.SetBandwidthRequest) bandwidth.Settings {
	next := current
	if v := req.BytesPerSecond; v != nil {
		next.BytesPerSecond = *v
		if *v == 0 && req.BurstBytes == nil {
			next.BurstBytes = 0
		}
	}
	if v := req.BurstBytes; v != nil {
		next.BurstBytes = *v
	}
	if v := req.DailyQuotaBytes; v != nil {
		next.DailyQuotaBytes = *v
	}
	return next
}

// unknownPeer says that id is not a configured peer, and which ones are.
func (d *Daemon) unknownPeer(id string) string {
	ids := make([]string, 0, len(d.cfg.Peers))
	for _, p := range d.cfg.Peers {
		ids = append(ids, p.ID)
	}
	known := "none"
	if len(ids) > 0 {
		known = strings.Join(ids, ", ")
	}
	where := "[[peers]]"
	if d.cfg.File != "" {
		where += " of " + d.cfg.File
	}
	return fmt.Sprintf("unknown peer %q: not in %s (configured peers: %s)", id, where, known)
}

// Ledger implements control.Backend: every segment with its history, read
// in one query, so the dump is one snapshot of rows and history.
func (d *Daemon) Ledger(ctx context.Context) (api.Ledger, error) {
	segs, err := d.ledger.ListHistory(ctx)
	if err != nil {
		return api.Ledger{}, err
	}
	out := api.Ledger{Segments: make([]api.Segment, 0, len(segs))}
	for _, s := range segs {
		out.Segments = append(out.Segments, apiSegment(s))
	}
	return out, nil
}

// History implements control.Backend.
func (d *Daemon) History(ctx context.Context, id string) (api.Segment, error) {
	s, err := d.ledger.SegmentHistory(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return api.Segment{}, control.SegmentNotFound(id)
	}
	if err != nil {
		return api.Segment{}, err
	}
	return apiSegment(s), nil
}

func apiSegment(s ledger.Segment) api.Segment {
	a := api.Segment{
		ID: s.ID, TargetPeer: s.TargetPeer, Size: s.Size, State: string(s.State),
		Attempts: s.Attempts, NextAttemptAt: s.NextAttemptAt, LastError: s.LastError,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		History: make([]api.Attempt, len(s.History)),
	}
	if !s.DeliveredAt.IsZero() {
		t := s.DeliveredAt
		a.DeliveredAt = &t
	}
	rounds := ledger.Rounds(s.History)
	for i, h := range s.History {
		a.History[i] = api.Attempt{Attempt: h.Attempt, StartedAt: h.StartedAt, EndedAt: h.EndedAt, Outcome: string(h.Outcome), Error: h.Error, Round: rounds[i]}
	}
	return a
}

// decisionKinds name the journal's entries as the API does.
var decisionKinds = map[bandwidth.EntryKind]string{
	bandwidth.EntryAllowed:       api.DecisionAllowed,
	bandwidth.EntryThrottled:     api.DecisionThrottled,
	bandwidth.EntryQuotaExceeded: api.DecisionQuotaExceeded,
	bandwidth.EntryQuotaHeld:     api.DecisionQuotaHeld,
	bandwidth.EntrySettings:      api.DecisionSettings,
}

// Decisions implements control.Backend.
func (d *Daemon) Decisions(context.Context) (api.Decisions, error) {
	entries, total, dropped, capacity := d.limits.Journal()
	out := api.Decisions{Capacity: capacity, Total: total, Dropped: dropped, Decisions: make([]api.Decision, len(entries))}
	for i, e := range entries {
		out.Decisions[i] = apiDecision(e)
	}
	return out, nil
}

func apiDecision(e bandwidth.JournalEntry) api.Decision {
	d := api.Decision{
		Seq: e.Seq, At: e.At, Kind: decisionKinds[e.Kind],
		Segment: e.Segment, TargetPeer: e.Peer, Size: e.Size, Scope: e.Scope,
	}
	if e.HasTokens {
		t := e.Tokens
		d.Tokens = &t
	}
	if !e.RetryAt.IsZero() {
		r := e.RetryAt
		d.RetryAt = &r
	}
	if e.Kind == bandwidth.EntrySettings {
		// Without a source: the journal records what was in force, not
		// where it came from.
		b := apiBandwidth(e.Settings, "")
		d.Settings = &b
	}
	return d
}

// keyKinds names the kind of every attribution key (DESIGN.md §3).
func keyKinds(byPeer map[string]int64) map[string]string {
	kinds := make(map[string]string, len(byPeer))
	for k := range byPeer {
		kinds[k] = transport.KeyKind(k)
	}
	return kinds
}
