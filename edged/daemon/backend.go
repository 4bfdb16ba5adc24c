package daemon

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/bandwidth"
	"edgelab/edged/control"
	"edgelab/edged/ledger"
)

// settingBandwidth holds the runtime bandwidth setting; it wins over
// edge.toml until set-bandwidth --reset drops it.
const settingBandwidth = "bandwidth"

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

func (d *Daemon) configBandwidth() (bandwidth.Settings, string) {
	b := d.cfg.Relay.Bandwidth
	if b.IsZero() {
		return bandwidth.Settings{}, api.SourceDefault
	}
	return bandwidth.Settings{BytesPerSecond: b.BytesPerSecond, BurstBytes: b.BurstBytes, DailyQuotaBytes: b.DailyQuotaBytes}, api.SourceConfig
}

func apiBandwidth(s bandwidth.Settings, source string) api.Bandwidth {
	return api.Bandwidth{BytesPerSecond: s.BytesPerSecond, BurstBytes: s.BurstBytes, DailyQuotaBytes: s.DailyQuotaBytes, Source: source}
}

// Status implements control.Backend.
func (d *Daemon) Status(ctx context.Context) (api.Status, error) {
	d.mu.Lock()
	source := d.source
	d.mu.Unlock()
	st := d.limiter.Stats()
	counts, err := d.ledger.Counts(ctx)
	if err != nil {
		return api.Status{}, err
	}
	byPeer, err := d.ledger.DeliveredByPeer(ctx)
	if err != nil {
		return api.Status{}, err
	}
	var oversize int64
	if st.Settings.BytesPerSecond > 0 {
		if oversize, err = d.ledger.PendingLargerThan(ctx, st.Settings.Burst(), ""); err != nil {
			return api.Status{}, err
		}
	}
	total, ingress := d.ingress.Snapshot()
	out := api.Status{
		NodeID:         d.nodeID,
		Unlimited:      st.Settings.Unlimited(),
		Bandwidth:      apiBandwidth(st.Settings, source),
		ThrottleCount:  st.ThrottleCount,
		QuotaDropCount: st.QuotaDropCount,
		DailyUsedBytes: st.Usage.UsedBytes,
		Segments: api.SegmentCounts{
			Pending:         counts[ledger.Pending],
			Delivered:       counts[ledger.Delivered],
			Deadletter:      counts[ledger.Deadletter],
			BlockedOversize: oversize,
		},
		Peers:              map[string]api.PeerStatus{},
		Ingress:            api.Ingress{Bytes: total, ByPeer: ingress},
		ExecutorCycles:     d.executor.Cycles(),
		LastCycleThrottled: d.executor.LastCycleThrottled(),
	}
	if rem, ok := st.Remaining(); ok {
		out.DailyRemainingBytes = &rem
	}
	if !st.Usage.WindowStart.IsZero() {
		ws := st.Usage.WindowStart
		out.DailyWindowStart = &ws
	}
	for _, p := range d.cfg.Peers {
		out.Peers[p.ID] = api.PeerStatus{}
	}
	for id, t := range byPeer {
		out.Peers[id] = api.PeerStatus{DeliveredSegments: t.Segments, DeliveredBytes: t.Bytes}
	}
	return out, nil
}

// SetBandwidth implements control.Backend: the change is persisted, applied
// to the live limiter, audited, and wakes the executor, in that order, so a
// crash after the answer never loses an applied setting.
func (d *Daemon) SetBandwidth(ctx context.Context, req api.SetBandwidthRequest, actor string) (api.SetBandwidthResponse, error) {
	if req.Peer != "" {
		return api.SetBandwidthResponse{}, &control.RequestError{Code: http.StatusNotImplemented,
			Msg: fmt.Sprintf("per-peer bandwidth limits (peer %q) are not supported yet; omit \"peer\" to set the global limit", req.Peer)}
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	prev := apiBandwidth(d.limiter.Settings(), d.source)
	next := bandwidth.Settings{BytesPerSecond: req.BytesPerSecond, BurstBytes: req.BurstBytes, DailyQuotaBytes: req.DailyQuotaBytes}
	source := api.SourceRuntime
	if req.Reset {
		next, source = d.configBandwidth()
		if err := d.ledger.DeleteSetting(ctx, settingBandwidth); err != nil {
			return api.SetBandwidthResponse{}, err
		}
	} else if err := d.ledger.SetSetting(ctx, settingBandwidth, next); err != nil {
		return api.SetBandwidthResponse{}, err
	}
	d.limiter.Set(next)
	d.source = source
	applied := apiBandwidth(next, source)

	resp := api.SetBandwidthResponse{Applied: true, Bandwidth: applied, Previous: prev, Warnings: []string{}}
	if next.BytesPerSecond > 0 {
		n, err := d.ledger.PendingLargerThan(ctx, next.Burst(), "")
		if err != nil {
			return api.SetBandwidthResponse{}, err
		}
		if n > 0 {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf(
				"%d pending segment(s) are larger than the burst of %d bytes and can never pass; raise --burst-bytes", n, next.Burst()))
		}
	}
	if next.BurstBytes > 0 && next.BytesPerSecond == 0 {
		resp.Warnings = append(resp.Warnings, "burst_bytes has no effect without bytes_per_second")
	}
	if err := d.audit.Append(audit.Event{
		Time: time.Now().UTC(), Event: audit.EventBandwidthConfigured,
		Bandwidth: applied, Previous: prev, Peer: req.Peer, Actor: actor,
	}); err != nil {
		// The setting is in force and persisted; say so rather than fail.
		d.log.Error("audit log write failed", "err", err)
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("applied, but the audit event could not be written: %v", err))
	}
	d.executor.Wake()
	d.log.Info("bandwidth configured", "bandwidth", next, "source", source, "previous", prev, "actor", actor)
	return resp, nil
}

// Ledger implements control.Backend.
func (d *Daemon) Ledger(ctx context.Context) (api.Ledger, error) {
	segs, err := d.ledger.List(ctx)
	if err != nil {
		return api.Ledger{}, err
	}
	out := api.Ledger{Segments: make([]api.Segment, 0, len(segs))}
	for _, s := range segs {
		a := api.Segment{
			ID: s.ID, TargetPeer: s.TargetPeer, Size: s.Size, State: string(s.State),
			Attempts: s.Attempts, NextAttemptAt: s.NextAttemptAt, LastError: s.LastError,
			CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		}
		if !s.DeliveredAt.IsZero() {
			t := s.DeliveredAt
			a.DeliveredAt = &t
		}
		out.Segments = append(out.Segments, a)
	}
	return out, nil
}
