package val24

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"edgelab/edged/api"
	"edgelab/transport"
)

// seriesKey names one series: the metric name and its labels, sorted, as
// the text format writes them.
func seriesKey(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	pairs := make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// volatileSeries move with time alone (a cycle every tick), so no status
// taken at another instant can equal them.
var volatileSeries = []string{"edged_executor_cycles_total"}

// notFromStatus are series no status figure stands for: the Go runtime's
// (go_*) and edged_build_info.
func notFromStatus(name string) bool {
	return strings.HasPrefix(name, "go_") || name == "edged_build_info"
}

// parseExposition reads the Prometheus text format into one value per
// series.
func parseExposition(text string) (map[string]int64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parse the exposition: %w", err)
	}
	out := map[string]int64{}
	for name, f := range families {
		if slices.Contains(volatileSeries, name) || notFromStatus(name) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			out[seriesKey(name, labels...)] = int64(value(m))
		}
	}
	return out, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// lint runs promlint, the rules of `promtool check metrics`.
func lint(text string) ([]string, error) {
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, p := range problems {
		out = append(out, p.Metric+": "+p.Text)
	}
	return out, nil
}

// seriesFromStatus is every series /metrics must show for st, derived from
// the status independently of edged's metrics code (DESIGN.md §7 names
// them).
func seriesFromStatus(st api.Status) map[string]int64 {
	const peerID, state = "peer_id", "state"
	out := map[string]int64{
		"edged_ingress_bytes_total":                      st.Ingress.Bytes,
		"edged_throttled_segments_total":                 st.ThrottleCount,
		"edged_quota_drops_total":                        st.QuotaDropCount,
		"edged_blocked_oversize_segments":                st.Segments.BlockedOversize,
		"edged_daily_used_bytes":                         st.DailyUsedBytes,
		seriesKey("edged_segments", state, "pending"):    st.Segments.Pending,
		seriesKey("edged_segments", state, "delivered"):  st.Segments.Delivered,
		seriesKey("edged_segments", state, "deadletter"): st.Segments.Deadletter,
	}
	out["edged_ledger_error"] = 0 // 1 while status carries a ledger_error
	if st.LedgerError != nil {
		out["edged_ledger_error"] = 1
	}
	if st.DailyRemainingBytes != nil {
		out["edged_daily_remaining_bytes"] = *st.DailyRemainingBytes
	}
	for id, n := range st.Ingress.ByPeer {
		out[seriesKey("edged_ingress_bytes_by_peer_total", peerID, id, "key_kind", transport.KeyKind(id))] = n
	}
	for id, p := range st.Peers {
		out[seriesKey("edged_delivered_bytes_total", peerID, id)] = p.DeliveredBytes
		out[seriesKey("edged_delivered_segments_total", peerID, id)] = p.DeliveredSegments
		out[seriesKey("edged_segments_by_peer", peerID, id, state, "pending")] = p.PendingSegments
		out[seriesKey("edged_segments_by_peer", peerID, id, state, "delivered")] = p.DeliveredSegments
		out[seriesKey("edged_segments_by_peer", peerID, id, state, "deadletter")] = p.DeadletterSegments
		if !p.Configured {
			continue
		}
		out[seriesKey("edged_throttled_segments_by_peer_total", peerID, id)] = p.ThrottleCount
		out[seriesKey("edged_quota_drops_by_peer_total", peerID, id)] = p.QuotaDropCount
		out[seriesKey("edged_daily_used_bytes_by_peer", peerID, id)] = p.DailyUsedBytes
		if p.DailyRemainingBytes != nil {
			out[seriesKey("edged_daily_remaining_bytes_by_peer", peerID, id)] = *p.DailyRemainingBytes
		}
	}
	return out
}
