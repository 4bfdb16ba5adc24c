// Package metrics exposes edged's status as Prometheus metrics through the
// OpenTelemetry metric SDK. Every instrument is observable and reads the same
// status snapshot during a scrape, so /metrics always agrees with
// GET /v1/relay/status taken at the same moment.
package metrics

import (
	"context"
	"edgelab/internal/version"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"edgelab/edged/api"
	"edgelab/transport"
)

// StatusFunc returns the daemon's current status.
type StatusFunc func(ctx context.Context) (api.Status, error)

// Attribute keys.
const (
	AttrPeerID = "peer_id"
	AttrState  = "state"
	// AttrKeyKind says what an ingress key is: peer, session or overflow.
	AttrKeyKind = "key_kind"
)

type handler struct {
	src  StatusFunc
	prom http.Handler

	// mu serialises scrapes: the callback reads snap, which the scrape that
	// holds mu has just fetched.
	mu   sync.Mutex
	snap api.Status
}

// SeriesPerPeer is the most series one peer id has in one instrument
// (segments-by-peer: pending, delivered, deadletter).
const SeriesPerPeer = 3

// CardinalityLimit is the OTel SDK cardinality limit for a daemon whose
// per-peer figures are capped at maxPeers ids plus the overflow id (status
// ingress.by_peer and peers follow that rule): the most series any
// instrument can have, plus the one the SDK keeps for its own overflow
// series, which it starts at limit-1 distinct attribute sets. A scrape
// therefore never folds a series away and always equals the status; the
// SDK's default of 2000 would from 2000 sender ids (667 targets) on.
func CardinalityLimit(maxPeers int) int {
	if maxPeers < 1 {
		maxPeers = 1
	}
	return SeriesPerPeer*(maxPeers+1) + 1
}

// New returns the /metrics handler for src, whose per-peer figures hold at
// most maxPeers peer ids plus one overflow id (config's [ingress]
// max_tracked_peers). It uses its own Prometheus registry, so several
// daemons (or tests) in one process never collide.
func New(src StatusFunc, maxPeers int) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// One meter, one process: scope labels on every series and a
		// target_info series would be noise in a lab exposition.
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
		// Prometheus convention: every series of the program under its
		// name (the instruments keep the seed's names, ingress-bytes…).
		otelprom.WithNamespace("edged"),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	meter := sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithCardinalityLimit(CardinalityLimit(maxPeers)),
	).Meter("edgelab/edged")
	h := &handler{
		src:  src,
		prom: promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}),
	}
	if err := h.register(meter); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// The Go runtime's own series (go_*), and which build is running.
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: go collector: %w", err)
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "edged_build_info", Help: "Always 1: the version and VCS revision of the running edged.",
	}, []string{"version", "revision"})
	version, revision := buildVersion()
	buildInfo.WithLabelValues(version, revision).Set(1)
	if err := reg.Register(buildInfo); err != nil {
		return nil, fmt.Errorf("metrics: build info: %w", err)
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
	ingressByPeer := counter("ingress-bytes-by-peer", "By", "Bytes of segments accepted by the segment listener, per sender key: the peer id, session:<uuid> when none was sent, or _overflow (attribute key_kind).")
	deliveredBytes := counter("delivered-bytes", "By", "Bytes of segments delivered, per target peer.")
	deliveredSegs := counter("delivered-segments", "{segment}", "Segments delivered, per target peer.")
	throttles := counter("throttled-segments", "{deferral}", "Segments deferred because the token bucket held too few tokens.")
	quotaDrops := counter("quota-drops", "{attempt}", "Delivery attempts failed because the daily quota was used up.")
	cycles := counter("executor-cycles", "{cycle}", "Relay executor passes over the due segments.")
	segments := gauge("segments", "{segment}", "Ledger segments by state.")
	blocked := gauge("blocked-oversize-segments", "{segment}", "Pending segments larger than the burst, which the rate limit can never pass.")
	dailyUsed := gauge("daily-used-bytes", "By", "Bytes counted against the daily quota in the current window.")
	dailyRemaining := gauge("daily-remaining-bytes", "By", "Bytes left in the global daily quota window; absent when no global quota is in force.")
	peerThrottles := counter("throttled-segments-by-peer", "{deferral}", "Segments for a configured target peer deferred on a rate limit, global or the peer's own.")
	peerQuotaDrops := counter("quota-drops-by-peer", "{attempt}", "Delivery attempts to a configured target peer failed on a daily quota, global or the peer's own.")
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
			o.ObserveInt64(ingressByPeer, st.Ingress.ByPeer[id], metric.WithAttributes(
				attribute.String(AttrPeerID, id), attribute.String(AttrKeyKind, transport.KeyKind(id))))
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

// buildVersion is the module version and VCS revision from the build info
// ("(devel)" and "" when the build has none).
func buildVersion() (string, string) {
	b, _ := version.Info()
	return b.Version, b.Revision
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
