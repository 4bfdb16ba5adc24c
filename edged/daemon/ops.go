package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/control"
	"edgelab/edged/ledger"
)

// Requeue implements control.Requeuer: the DEADLETTER segments selected go
// back to PENDING, due now on the daemon's clock, in one ledger
// transaction, and the executor is woken so they go at once. As with a
// bandwidth change, nothing is requeued without its audit event: the
// selection is found first (a dry run), its event written and synced, and
// only then the segments moved — by their ids, all or none; if that fails
// the event is taken back. A request naming ids that are not DEADLETTER (or
// not held) is refused whole, 409, naming each.
func (d *Daemon) Requeue(ctx context.Context, req api.RequeueRequest, actor string) (api.RequeueResponse, error) {
	ctx = context.WithoutCancel(ctx)
	// One requeue at a time, and none beside a bandwidth change, so the
	// selection the event names is the one moved.
	d.mu.Lock()
	defer d.mu.Unlock()
	sel := ledger.RequeueSelector{IDs: req.IDs, Peer: req.Peer, All: req.All}
	ids, err := d.ledger.Requeue(ctx, d.clock.Now(), sel, true)
	var refused *ledger.NotRequeuableError
	switch {
	case errors.As(err, &refused):
		return api.RequeueResponse{}, &control.RequestError{Code: http.StatusConflict, Msg: refused.Error()}
	case errors.Is(err, ledger.ErrNoSelector):
		return api.RequeueResponse{}, &control.RequestError{Code: http.StatusBadRequest, Msg: err.Error()}
	case err != nil:
		return api.RequeueResponse{}, err
	}
	if req.Peer != "" && len(ids) == 0 {
		if _, ok := d.cfg.Peer(req.Peer); !ok {
			// Most likely a typo: say so rather than answer "none".
			return api.RequeueResponse{}, &control.RequestError{Code: http.StatusBadRequest,
				Msg: d.unknownPeer(req.Peer) + "; no dead-lettered segment targets it either"}
		}
	}
	resp := api.RequeueResponse{Requeued: ids, DryRun: req.DryRun}
	if req.DryRun || len(ids) == 0 {
		d.log.Info("requeue", "dry_run", req.DryRun, "segments", len(ids), "peer", req.Peer, "all", req.All, "actor", actor)
		return resp, nil
	}
	ev := audit.Requeued{Time: d.clock.Now().UTC(), Count: len(ids), IDs: ids, Selector: "ids", Actor: actor}
	switch {
	case req.All:
		ev.Selector = "all"
	case req.Peer != "":
		ev.Selector, ev.Peer = "peer", req.Peer
	}
	revert, err := d.audit.AppendRequeued(ev)
	if err != nil {
		d.log.Error("requeue refused: audit event not written", "audit_log", d.audit.Path(), "actor", actor, "err", err)
		return api.RequeueResponse{}, fmt.Errorf("requeue refused, nothing changed: cannot write its audit event to %s: %w", d.audit.Path(), err)
	}
	if _, err := d.ledger.Requeue(ctx, d.clock.Now(), ledger.RequeueSelector{IDs: ids}, false); err != nil {
		if rerr := revert(); rerr != nil {
			return api.RequeueResponse{}, fmt.Errorf("requeue refused: %w; its audit event stays in %s: %v", err, d.audit.Path(), rerr)
		}
		return api.RequeueResponse{}, fmt.Errorf("requeue refused, nothing changed: %w", err)
	}
	d.executor.Wake()
	d.log.Info("dead-lettered segments requeued", "segments", len(ids), "selector", ev.Selector, "peer", req.Peer, "actor", actor)
	return resp, nil
}

// IngressReport implements control.TrafficReporter: the hourly buckets the
// ledger keeps, between since and until (RFC 3339, or a duration before
// the daemon's now; "" unbounded).
func (d *Daemon) IngressReport(ctx context.Context, since, until string) (api.IngressReport, error) {
	now := d.clock.Now()
	lo, err := reportBound("since", since, now)
	if err != nil {
		return api.IngressReport{}, err
	}
	hi, err := reportBound("until", until, now)
	if err != nil {
		return api.IngressReport{}, err
	}
	if lo != nil && hi != nil && !hi.After(*lo) {
		return api.IngressReport{}, &control.RequestError{Code: http.StatusBadRequest,
			Msg: fmt.Sprintf("until %s is not after since %s", hi.Format(time.RFC3339), lo.Format(time.RFC3339))}
	}
	var from, to time.Time
	if lo != nil {
		from = *lo
	}
	if hi != nil {
		to = *hi
	}
	buckets, err := d.ledger.Traffic(ctx, from, to)
	if err != nil {
		return api.IngressReport{}, err
	}
	out := api.IngressReport{Since: lo, Until: hi, Buckets: make([]api.TrafficBucket, len(buckets))}
	for i, b := range buckets {
		out.Buckets[i] = api.TrafficBucket{Hour: b.Hour, Peer: b.Peer, Kind: b.Kind, Bytes: b.Bytes, Segments: b.Segments}
	}
	return out, nil
}

// reportBound reads a report bound: RFC 3339, or a duration (with or without
// a trailing " ago") before now; "" is nil (unbounded).
func reportBound(name, v string, now time.Time) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if dur, err := time.ParseDuration(strings.TrimSpace(strings.TrimSuffix(v, "ago"))); err == nil && dur >= 0 {
		t := now.Add(-dur).UTC()
		return &t, nil
	}
	return nil, &control.RequestError{Code: http.StatusBadRequest,
		Msg: fmt.Sprintf("%s %q: want RFC 3339 (2026-03-01T00:00:00Z) or a duration before now (24h)", name, v)}
}

var (
	_ control.Requeuer        = (*Daemon)(nil)
	_ control.TrafficReporter = (*Daemon)(nil)
	_ control.LabClock        = (*Daemon)(nil)
)
