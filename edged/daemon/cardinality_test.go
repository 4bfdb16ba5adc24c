package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/metrics"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
	"edgelab/transport"
)

// Targets beyond [ingress] max_tracked_peers, seeded straight into the
// ledger, are summed into the _overflow entry of status.peers, so every
// per-peer series family of /metrics stays within the SDK's cardinality
// limit and /metrics equals the status it was read from.
func TestStatus_FoldsTargetsBeyondTheCap(t *testing.T) {
	const max = 3
	d, cfg := startTestDaemon(t, func(c *config.Config) { c.Ingress.MaxTrackedPeers = max })
	var total int
	for _, target := range []string{"t-a", "t-b", "t-c", "t-d", "t-e", "t-f"} {
		if _, err := seed.Seed(context.Background(), cfg.Ledger, labsetup.SeedOptions{Prefix: target, Count: 2, Size: 8, TargetPeer: target}); err != nil {
			t.Fatal(err)
		}
		total += 2
	}
	var snap api.Status
	h, err := metrics.New(func(ctx context.Context) (api.Status, error) {
		st, err := d.Status(ctx)
		snap = st
		return st, err
	}, max)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	var ids []string
	var sum int64
	for id, p := range snap.Peers {
		ids = append(ids, id)
		sum += p.PendingSegments + p.DeliveredSegments + p.DeadletterSegments
	}
	if len(snap.Peers) != max+1 {
		t.Errorf("status.peers holds %v, want %d ids plus %s", ids, max, transport.OverflowPeer)
	}
	for _, id := range []string{"peer-ut", "t-a", "t-b", transport.OverflowPeer} {
		if _, ok := snap.Peers[id]; !ok {
			t.Errorf("status.peers has no %s: %v", id, ids)
		}
	}
	if sum != int64(total) {
		t.Errorf("status.peers counts %d segments, want all %d", sum, total)
	}
	for id, p := range snap.Peers {
		for state, n := range map[string]int64{"pending": p.PendingSegments, "delivered": p.DeliveredSegments, "deadletter": p.DeadletterSegments} {
			line := fmt.Sprintf("edged_segments_by_peer{peer_id=%q,state=%q} %d\n", id, state, n)
			if !strings.Contains(string(body), line) {
				t.Errorf("/metrics lacks %q", line)
			}
		}
	}
	if n := strings.Count(string(body), "edged_segments_by_peer{"); n != 3*(max+1) {
		t.Errorf("/metrics holds %d edged_segments_by_peer series, want %d", n, 3*(max+1))
	}
}
