// Package metrics exposes edged's status as Prometheus metrics through the
// OpenTelemetry metric SDK. Every instrument is observable and reads the same
// status snapshot during a scrape, so /metrics always agrees with
// GET /v1/relay/status taken at the same moment.
package metrics

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"edgelab/edged/api"
)

// StatusFunc returns the daemon's current status.
type StatusFunc func(ctx context.Context) (api.Status, error)

// Attribute keys.
const (
	AttrPeerID = "peer_id"
	AttrState  = "state"
)

type handler struct {
	src  StatusFunc
	prom http.Handler

	// mu serialises scrapes: the callback reads snap, which the scrape that
	// holds mu has just fetched.
	mu   sync.Mutex
	snap api.Status
}

// New returns the /metrics handler for src. It uses its own Prometheus
// registry, so several daemons (or tests) in one process never collide.
func New(src StatusFunc) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// One meter, one process: scope labels on every series and a
		// target_info series would be noise in a lab exposition.
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)).Meter("edgelab/edged")
	h := &handler{
		src:  src,
		prom: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}),
	}
	if err := h.register(meter); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return h, nil
}

func (h *handler) register(m metric.Meter) error {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	ingress := counter("ingress-bytes", "By", "Bytes of segments accepted by the segment listener, all senders.")
	ingressByPeer := counter("ingress-bytes-by-peer", "By", "Bytes of segments accepted by the segment listener, per sender peer id (session id when none was sent).")
	deliveredBytes := counter("delivered-bytes", "By", "Bytes of segments delivered, per target peer.")
	deliveredSegs := counter("delivered-segments", "{segment}", "Segments delivered, per target peer.")
	throttles := counter("throttle-count", "{deferral}", "Segments deferred because the token bucket held too few tokens.")
	quotaDrops := counter("quota-drop-count", "{attempt}", "Delivery attempts failed because the daily quota was used up.")
	cycles := counter("executor-cycles", "{cycle}", "Relay executor passes over the due segments.")
	segments := gauge("segments", "{segment}", "Ledger segments by state.")
	blocked := gauge("blocked-oversize-segments", "{segment}", "Pending segments larger than the burst, which the rate limit can never pass.")
	dailyUsed := gauge("daily-used-bytes", "By", "Bytes counted against the daily quota in the current window.")
	dailyRemaining := gauge("daily-remaining-bytes", "By", "Bytes left in the global daily quota window; absent when no global quota is in force.")
	peerThrottles := counter("throttle-count-by-peer", "{deferral}", "Segments for a configured target peer deferred on a rate limit, global or the peer's own.")
	peerQuotaDrops := counter("quota-drop-count-by-peer", "{attempt}", "Delivery attempts to a configured target peer failed on a daily quota, global or the peer's own.")
	peerDailyUsed := gauge("daily-used-bytes-by-peer", "By", "Bytes delivered to a configured target peer in its own daily quota window.")
	peerDailyRemaining := gauge("daily-remaining-bytes-by-peer", "By", "Bytes left in a configured target peer's own daily quota; absent when the peer has no quota.")
	ledgerError := gauge("ledger-error", "{error}", "1 while the ledger cannot record delivery outcomes (no new deliveries start), else 0.")
	peerSegments := gauge("segments-by-peer", "{segment}", "Ledger segments by target peer and state.")
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("create instrument: %w", err)
		}
	}

	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := h.snap
		o.ObserveInt64(ingress, st.Ingress.Bytes)
		for _, id := range slices.Sorted(maps.Keys(st.Ingress.ByPeer)) {
			o.ObserveInt64(ingressByPeer, st.Ingress.ByPeer[id], peerAttr(id))
		}
		for _, id := range slices.Sorted(maps.Keys(st.Peers)) {
			p := st.Peers[id]
			o.ObserveInt64(deliveredBytes, p.DeliveredBytes, peerAttr(id))
			o.ObserveInt64(deliveredSegs, p.DeliveredSegments, peerAttr(id))
		}
		o.ObserveInt64(throttles, st.ThrottleCount)
		o.ObserveInt64(quotaDrops, st.QuotaDropCount)
		o.ObserveInt64(cycles, st.ExecutorCycles)
		o.ObserveInt64(segments, st.Segments.Pending, stateAttr("pending"))
		o.ObserveInt64(segments, st.Segments.Delivered, stateAttr("delivered"))
		o.ObserveInt64(segments, st.Segments.Deadletter, stateAttr("deadletter"))
		o.ObserveInt64(blocked, st.Segments.BlockedOversize)
		o.ObserveInt64(dailyUsed, st.DailyUsedBytes)
		o.ObserveInt64(ledgerError, boolInt(st.LedgerError != nil))
		if st.DailyRemainingBytes != nil {
			o.ObserveInt64(dailyRemaining, *st.DailyRemainingBytes)
		}
		for _, id := range slices.Sorted(maps.Keys(st.Peers)) {
			p := st.Peers[id]
			o.ObserveInt64(peerSegments, p.PendingSegments, peerStateAttr(id, "pending"))
			o.ObserveInt64(peerSegments, p.DeliveredSegments, peerStateAttr(id, "delivered"))
			o.ObserveInt64(peerSegments, p.DeadletterSegments, peerStateAttr(id, "deadletter"))
			if !p.Configured {
				continue // no limit of its own, so no per-peer limit figures
			}
			o.ObserveInt64(peerThrottles, p.ThrottleCount, peerAttr(id))
			o.ObserveInt64(peerQuotaDrops, p.QuotaDropCount, peerAttr(id))
			o.ObserveInt64(peerDailyUsed, p.DailyUsedBytes, peerAttr(id))
			if p.DailyRemainingBytes != nil {
				o.ObserveInt64(peerDailyRemaining, *p.DailyRemainingBytes, peerAttr(id))
			}
		}
		return nil
	}, ingress, ingressByPeer, deliveredBytes, deliveredSegs, throttles, quotaDrops, cycles, segments, blocked, dailyUsed,
		dailyRemaining, peerThrottles, peerQuotaDrops, peerDailyUsed, peerDailyRemaining, peerSegments, ledgerError)
	if err != nil {
		return fmt.Errorf("register callback: %w", err)
	}
	return nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, err := h.src(r.Context())
	if err != nil {
		// A scrape without data must fail loudly: zeros would read as a reset.
		http.Error(w, "metrics: read status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.snap = st
	h.prom.ServeHTTP(w, r)
}

func peerAttr(id string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String(AttrPeerID, id))
}

func stateAttr(s string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String(AttrState, s))
}

func peerStateAttr(id, s string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String(AttrPeerID, id), attribute.String(AttrState, s))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
