package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
)

// fakeSource hands out statuses and counts how often it was asked.
type fakeSource struct {
	mu    sync.Mutex
	st    api.Status
	err   error
	calls int
}

func (f *fakeSource) status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.st, f.err
}

func (f *fakeSource) set(st api.Status, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.err = st, err
}

// scrape returns the status code and the sample lines (no comments), sorted.
func scrape(t *testing.T, h http.Handler) (int, []string, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	for _, line := range strings.Split(string(body), "\n") {
		// The Go runtime's series (go_*) are not the status's: left out
		// here, asserted by TestExposition_RuntimeAndBuildInfo.
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "go_") {
			samples = append(samples, line)
		}
	}
	sort.Strings(samples)
	return resp.StatusCode, samples, string(body)
}

func ptr[T any](v T) *T { return &v }

// labStatus is a status with every kind of figure: a configured peer with a
// quota, a target that is only in the ledger, ingress from two senders.
func labStatus() api.Status {
	return api.Status{
		NodeID:              "edge-val23",
		ThrottleCount:       7,
		QuotaDropCount:      4,
		DailyUsedBytes:      128,
		DailyRemainingBytes: ptr[int64](872),
		ExecutorCycles:      12,
		Segments:            api.SegmentCounts{Pending: 3, Delivered: 3, Deadletter: 4, BlockedOversize: 1},
		Peers: map[string]api.PeerStatus{
			"peer-val23": {
				DeliveredSegments: 2, DeliveredBytes: 128, Configured: true,
				ThrottleCount: 5, QuotaDropCount: 4, DailyUsedBytes: 128, DailyRemainingBytes: ptr[int64](0),
				PendingSegments: 3, DeadletterSegments: 4,
			},
			"peer-b": {DeliveredSegments: 1, DeliveredBytes: 64},
		},
		Ingress: api.Ingress{Bytes: 256, ByPeer: map[string]int64{"a": 192, "b": 64}},
	}
}

func TestExpositionMatchesStatus(t *testing.T) {
	src := &fakeSource{st: labStatus()}
	h, err := New(src.status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	code, got, body := scrape(t, h)
	if code != http.StatusOK {
		t.Fatalf("scrape: got %d, want 200:\n%s", code, body)
	}
	want := []string{
		`edged_blocked_oversize_segments 1`,
		`edged_build_info{revision="",version="(devel)"} 1`,
		`edged_daily_remaining_bytes 872`,
		`edged_daily_remaining_bytes_by_peer{peer_id="peer-val23"} 0`,
		`edged_daily_used_bytes 128`,
		`edged_daily_used_bytes_by_peer{peer_id="peer-val23"} 128`,
		`edged_delivered_bytes_total{peer_id="peer-b"} 64`,
		`edged_delivered_bytes_total{peer_id="peer-val23"} 128`,
		`edged_delivered_segments_total{peer_id="peer-b"} 1`,
		`edged_delivered_segments_total{peer_id="peer-val23"} 2`,
		`edged_executor_cycles_total 12`,
		`edged_ingress_bytes_by_peer_total{key_kind="peer",peer_id="a"} 192`,
		`edged_ingress_bytes_by_peer_total{key_kind="peer",peer_id="b"} 64`,
		`edged_ingress_bytes_total 256`,
		`edged_ledger_error 0`,
		`edged_quota_drops_by_peer_total{peer_id="peer-val23"} 4`,
		`edged_quota_drops_total 4`,
		`edged_segments_by_peer{peer_id="peer-b",state="deadletter"} 0`,
		`edged_segments_by_peer{peer_id="peer-b",state="delivered"} 1`,
		`edged_segments_by_peer{peer_id="peer-b",state="pending"} 0`,
		`edged_segments_by_peer{peer_id="peer-val23",state="deadletter"} 4`,
		`edged_segments_by_peer{peer_id="peer-val23",state="delivered"} 2`,
		`edged_segments_by_peer{peer_id="peer-val23",state="pending"} 3`,
		`edged_segments{state="deadletter"} 4`,
		`edged_segments{state="delivered"} 3`,
		`edged_segments{state="pending"} 3`,
		`edged_throttled_segments_by_peer_total{peer_id="peer-val23"} 5`,
		`edged_throttled_segments_total 7`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series mismatch (-want +got):\n%s\nfull exposition:\n%s", diff, body)
	}
	for _, typ := range []string{"# TYPE edged_ingress_bytes_total counter", "# TYPE edged_segments gauge", "# TYPE edged_daily_used_bytes gauge"} {
		if !strings.Contains(body, typ+"\n") {
			t.Errorf("exposition lacks %q", typ)
		}
	}
	if src.calls != 1 {
		t.Errorf("status snapshots per scrape: got %d, want 1", src.calls)
	}
}

// Without quotas the remaining-bytes series are absent rather than a
// misleading zero.
func TestNoQuotaNoRemainingSeries(t *testing.T) {
	st := labStatus()
	st.DailyRemainingBytes = nil
	p := st.Peers["peer-val23"]
	p.DailyRemainingBytes = nil
	st.Peers["peer-val23"] = p
	h, err := New((&fakeSource{st: st}).status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, got, body := scrape(t, h)
	for _, s := range got {
		if strings.HasPrefix(s, "daily_remaining") {
			t.Errorf("got %q, want no remaining series without a quota\n%s", s, body)
		}
	}
}

func TestSeriesFollowStatus(t *testing.T) {
	src := &fakeSource{st: api.Status{Ingress: api.Ingress{Bytes: 10, ByPeer: map[string]int64{"gone": 10}}}}
	h, err := New(src.status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	scrape(t, h)
	// A later status no longer lists "gone": its series disappears, the values move.
	src.set(api.Status{Ingress: api.Ingress{Bytes: 30, ByPeer: map[string]int64{"new": 20}}}, nil)
	_, got, body := scrape(t, h)
	var ingress []string
	for _, s := range got {
		if strings.HasPrefix(s, "edged_ingress_") {
			ingress = append(ingress, s)
		}
	}
	want := []string{`edged_ingress_bytes_by_peer_total{key_kind="peer",peer_id="new"} 20`, `edged_ingress_bytes_total 30`}
	if diff := cmp.Diff(want, ingress); diff != "" {
		t.Errorf("ingress series mismatch (-want +got):\n%s\n%s", diff, body)
	}
}

func TestStatusErrorFailsScrape(t *testing.T) {
	src := &fakeSource{err: errors.New("ledger closed")}
	h, err := New(src.status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := scrape(t, h)
	if code != http.StatusInternalServerError || !strings.Contains(body, "ledger closed") {
		t.Errorf("got %d %q, want 500 naming the cause", code, body)
	}
}

func TestHandlersAreIndependent(t *testing.T) {
	// Each handler has its own registry: a second one in the same process
	// neither fails to register nor sees the first one's figures.
	a := &fakeSource{st: api.Status{ThrottleCount: 1}}
	b := &fakeSource{st: api.Status{ThrottleCount: 2}}
	ha, err := New(a.status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := New(b.status, 1024)
	if err != nil {
		t.Fatalf("second New: %v", err)
	}
	for _, tt := range []struct {
		h    http.Handler
		want string
	}{{ha, "edged_throttled_segments_total 1"}, {hb, "edged_throttled_segments_total 2"}} {
		_, got, _ := scrape(t, tt.h)
		found := false
		for _, s := range got {
			if strings.HasPrefix(s, "edged_throttled_segments_total") {
				found = s == tt.want
				if !found {
					t.Errorf("got %q, want %q", s, tt.want)
				}
			}
		}
		if !found {
			t.Errorf("no %q in %v", tt.want, got)
		}
	}
}

func TestConcurrentScrapes(t *testing.T) {
	src := &fakeSource{st: api.Status{DailyUsedBytes: 5}}
	h, err := New(src.status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "\nedged_daily_used_bytes 5\n") {
				t.Errorf("scrape lacks edged_daily_used_bytes 5:\n%s", b)
			}
		}()
	}
	wg.Wait()
}

func TestExposition_RuntimeAndBuildInfo(t *testing.T) {
	h, err := New((&fakeSource{st: labStatus()}).status, 8)
	if err != nil {
		t.Fatal(err)
	}
	_, _, body := scrape(t, h)
	for _, want := range []string{"\ngo_goroutines ", "\n# TYPE edged_build_info gauge\n", "\n# TYPE edged_throttled_segments_total counter\n", "\n# TYPE edged_quota_drops_total counter\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("the exposition lacks %q", want)
		}
	}
	for _, old := range []string{"\nthrottle_count_total ", "\nquota_drop_count_total "} {
		if strings.Contains(body, old) {
			t.Errorf("the exposition still has the old series %q", old)
		}
	}
}

// edged_ledger_error is 1 while status carries a ledger error, else 0.
func TestLedgerErrorGauge(t *testing.T) {
	st := labStatus()
	st.LedgerError = &api.LedgerError{Message: "database or disk is full"}
	src := &fakeSource{st: st}
	h, err := New(src.status, 8)
	if err != nil {
		t.Fatal(err)
	}
	_, got, body := scrape(t, h)
	if !slices.Contains(got, "edged_ledger_error 1") {
		t.Errorf("no edged_ledger_error 1 while the ledger fails:\n%s", body)
	}
	src.set(labStatus(), nil)
	if _, got, body = scrape(t, h); !slices.Contains(got, "edged_ledger_error 0") {
		t.Errorf("no edged_ledger_error 0 once it records:\n%s", body)
	}
}
