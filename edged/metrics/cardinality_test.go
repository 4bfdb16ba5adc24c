package metrics

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/transport"
)

// capStatus is a status at the cap of maxPeers: maxPeers sender ids plus
// the overflow id, maxPeers targets plus the overflow id, half of them
// configured with every per-peer figure.
func capStatus(maxPeers int) api.Status {
	st := api.Status{
		Segments: api.SegmentCounts{Pending: 1, Delivered: 2, Deadletter: 3},
		Peers:    map[string]api.PeerStatus{},
		Ingress:  api.Ingress{ByPeer: map[string]int64{}},
	}
	ids := make([]string, 0, maxPeers+1)
	for i := range maxPeers {
		ids = append(ids, fmt.Sprintf("peer-%05d", i))
	}
	ids = append(ids, "_overflow")
	for i, id := range ids {
		st.Ingress.ByPeer[id] = int64(i + 1)
		st.Ingress.Bytes += int64(i + 1)
		p := api.PeerStatus{DeliveredSegments: int64(i), DeliveredBytes: int64(2 * i), PendingSegments: int64(i % 7), DeadletterSegments: int64(i % 5)}
		if i%2 == 0 && id != "_overflow" {
			p.Configured, p.ThrottleCount, p.QuotaDropCount, p.DailyUsedBytes = true, int64(i%11), int64(i%13), int64(3*i)
			p.DailyRemainingBytes = ptr(int64(i % 17))
		}
		st.Peers[id] = p
	}
	return st
}

// wantSeries is every per-peer series the exposition of st must hold, as
// the sample lines promhttp writes.
func wantSeries(st api.Status) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, id := range slices.Sorted(maps.Keys(st.Ingress.ByPeer)) {
		add(`edged_ingress_bytes_by_peer_total{key_kind=%q,peer_id=%q} %d`, transport.KeyKind(id), id, st.Ingress.ByPeer[id])
	}
	for _, id := range slices.Sorted(maps.Keys(st.Peers)) {
		p := st.Peers[id]
		add(`edged_delivered_bytes_total{peer_id=%q} %d`, id, p.DeliveredBytes)
		add(`edged_delivered_segments_total{peer_id=%q} %d`, id, p.DeliveredSegments)
		add(`edged_segments_by_peer{peer_id=%q,state="pending"} %d`, id, p.PendingSegments)
		add(`edged_segments_by_peer{peer_id=%q,state="delivered"} %d`, id, p.DeliveredSegments)
		add(`edged_segments_by_peer{peer_id=%q,state="deadletter"} %d`, id, p.DeadletterSegments)
		if p.Configured {
			add(`edged_throttled_segments_by_peer_total{peer_id=%q} %d`, id, p.ThrottleCount)
			add(`edged_quota_drops_by_peer_total{peer_id=%q} %d`, id, p.QuotaDropCount)
			add(`edged_daily_used_bytes_by_peer{peer_id=%q} %d`, id, p.DailyUsedBytes)
			add(`edged_daily_remaining_bytes_by_peer{peer_id=%q} %d`, id, *p.DailyRemainingBytes)
		}
	}
	slices.Sort(out)
	return out
}

// At the cap of max_tracked_peers (sender ids and target ids alike, plus
// the overflow id each) every per-peer series of the status is in the
// exposition with its value: the SDK's cardinality limit, set from the
// cap, folds nothing into otel_metric_overflow. The SDK's default limit
// of 2000 fails this from 667 targets on.
func TestExposition_EqualsStatusAtTheCap(t *testing.T) {
	for _, maxPeers := range []int{1, 700, 2000, config.MaxTrackedPeersLimit} {
		t.Run(fmt.Sprint(maxPeers), func(t *testing.T) {
			st := capStatus(maxPeers)
			h, err := New((&fakeSource{st: st}).status, maxPeers)
			if err != nil {
				t.Fatal(err)
			}
			code, samples, body := scrape(t, h)
			if code != http.StatusOK {
				t.Fatalf("scrape: %d", code)
			}
			if strings.Contains(body, "otel_metric_overflow") {
				t.Errorf("the exposition folded series into the SDK's overflow series")
			}
			var got []string
			for _, s := range samples {
				if strings.Contains(s, `peer_id=`) {
					got = append(got, s)
				}
			}
			want := wantSeries(st)
			if len(got) != len(want) {
				t.Errorf("%d per-peer series, want %d", len(got), len(want))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("per-peer series (-status +exposition), first lines:\n%.3000s", diff)
			}
		})
	}
}
