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
var volatileSeries = []string{"executor_cycles_total"}

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
		if slices.Contains(volatileSeries, name) {
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
		"ingress_bytes_total":                      st.Ingress.Bytes,
		"throttle_count_total":                     st.ThrottleCount,
		"quota_drop_count_total":                   st.QuotaDropCount,
		"blocked_oversize_segments":                st.Segments.BlockedOversize,
		"daily_used_bytes":                         st.DailyUsedBytes,
		seriesKey("segments", state, "pending"):    st.Segments.Pending,
		seriesKey("segments", state, "delivered"):  st.Segments.Delivered,
		seriesKey("segments", state, "deadletter"): st.Segments.Deadletter,
	}
	out["ledger_error"] = 0 // 1 while status carries a ledger_error
	if st.LedgerError != nil {
		out["ledger_error"] = 1
	}
	if st.DailyRemainingBytes != nil {
		out["daily_remaining_bytes"] = *st.DailyRemainingBytes
	}
	for id, n := range st.Ingress.ByPeer {
		out[seriesKey("ingress_bytes_by_peer_total", peerID, id)] = n
	}
	for id, p := range st.Peers {
		out[seriesKey("delivered_bytes_total", peerID, id)] = p.DeliveredBytes
		out[seriesKey("delivered_segments_total", peerID, id)] = p.DeliveredSegments
		out[seriesKey("segments_by_peer", peerID, id, state, "pending")] = p.PendingSegments
		out[seriesKey("segments_by_peer", peerID, id, state, "delivered")] = p.DeliveredSegments
		out[seriesKey("segments_by_peer", peerID, id, state, "deadletter")] = p.DeadletterSegments
		if !p.Configured {
			continue
		}
		out[seriesKey("throttle_count_by_peer_total", peerID, id)] = p.ThrottleCount
		out[seriesKey("quota_drop_count_by_peer_total", peerID, id)] = p.QuotaDropCount
		out[seriesKey("daily_used_bytes_by_peer", peerID, id)] = p.DailyUsedBytes
		if p.DailyRemainingBytes != nil {
			out[seriesKey("daily_remaining_bytes_by_peer", peerID, id)] = *p.DailyRemainingBytes
		}
	}
	return out
}
