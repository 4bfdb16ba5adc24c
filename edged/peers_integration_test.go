package main_test

// Integration tests of issue #5 on the real edged binary: per-peer limits,
// quota usage across a kill -9, ingress attribution over real mTLS
// connections, and /metrics against the status.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
	"edgelab/transport"
)

// twoPeerLab is an edged with two receivers, peer-a and peer-b, each with
// its own certificate from the lab CA.
type twoPeerLab struct {
	*lab
	peers map[string]*receiver
}

func newTwoPeerLab(t *testing.T, opts labsetup.ConfigOptions, edit func(*config.Config)) *twoPeerLab {
	t.Helper()
	dir, err := os.MkdirTemp("", "edg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	paths, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{NodeID: "edge-it", PeerID: "peer-a"})
	if err != nil {
		t.Fatal(err)
	}
	filesB, err := labsetup.PeerTLSDir(paths.Dir, filepath.Join(dir, "tls-b"), "peer-b", labsetup.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &twoPeerLab{
		lab:   &lab{t: t, dir: dir, config: filepath.Join(dir, "edge.toml"), tls: paths},
		peers: map[string]*receiver{"peer-a": startReceiver(t, paths.PeerFiles()), "peer-b": startReceiver(t, filesB)},
	}
	l.peer = l.peers["peer-a"]
	opts.NodeID, opts.PeerID, opts.PeerAddr, opts.Listen = "edge-it", "peer-a", l.peers["peer-a"].addr, "127.0.0.1:0"
	_, err = labsetup.WriteConfigWith(l.config, opts, func(c *config.Config) {
		c.Peers = append(c.Peers, config.Peer{ID: "peer-b", Addr: l.peers["peer-b"].addr})
		if edit != nil {
			edit(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	l.client = &control.Client{Socket: filepath.Join(dir, "ctl.sock")}
	return l
}

func (l *twoPeerLab) seedFor(peer, prefix string, n int) []string {
	l.t.Helper()
	ids, err := seed.Seed(context.Background(), filepath.Join(l.dir, "ledger.db"),
		labsetup.SeedOptions{Prefix: prefix, Count: n, Size: 64, TargetPeer: peer})
	if err != nil {
		l.t.Fatal(err)
	}
	return ids
}

// kill ends edged with SIGKILL: no shutdown code runs.
func (l *lab) kill() {
	l.t.Helper()
	if err := l.cmd.Process.Kill(); err != nil {
		l.t.Fatal(err)
	}
	<-l.done
}

// cliFails runs an edged client command that must fail and returns its
// exit code and stderr.
func (l *lab) cliFails(args ...string) (int, string) {
	l.t.Helper()
	cmd := exec.Command(edgedBinary(l.t), args...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		l.t.Fatalf("edged %s: got err=%v, want a non-zero exit\n%s", strings.Join(args, " "), err, out)
	}
	return exit.ExitCode(), string(out)
}

func TestEdged_PerPeerLimitThrottlesOnlyThatPeer(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	l := newTwoPeerLab(t, opts, nil)
	l.start()

	resp := l.setBandwidth("--peer", "peer-a", "--bytes-per-second", "64")
	want := api.Bandwidth{BytesPerSecond: 64, Source: api.SourceRuntime}
	if diff := cmp.Diff(want, resp.Bandwidth); diff != "" || !resp.Applied || resp.Previous.Source != api.SourceDefault {
		t.Fatalf("set-bandwidth --peer peer-a: got %+v (-want +got bandwidth):\n%s", resp, diff)
	}
	code, out := l.cliFails("relay", "config", "set-bandwidth", "--socket", l.client.Socket, "--peer", "peer-z", "--bytes-per-second", "1")
	if code != 1 || !strings.Contains(out, `unknown peer "peer-z"`) || !strings.Contains(out, "HTTP 400") {
		t.Fatalf("unknown peer: got exit %d:\n%s\nwant exit 1 naming peer-z with HTTP 400", code, out)
	}

	idsA := l.seedFor("peer-a", "it-a", 3)
	idsB := l.seedFor("peer-b", "it-b", 3)
	l.waitFor("all 6 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 6, fmt.Sprintf("segments=%+v peers=%+v", st.Segments, st.Peers)
	})
	if diff := cmp.Diff(idsA, l.peers["peer-a"].IDs()); diff != "" {
		t.Errorf("peer-a ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(idsB, l.peers["peer-b"].IDs()); diff != "" {
		t.Errorf("peer-b ids (-want +got):\n%s", diff)
	}
	st := l.status()
	a, b := st.Peers["peer-a"], st.Peers["peer-b"]
	if a.ThrottleCount < 2 || b.ThrottleCount != 0 || st.ThrottleCount != a.ThrottleCount {
		t.Errorf("throttle counts: got peer-a=%d peer-b=%d total=%d, want a ≥ 2, b = 0, total = a", a.ThrottleCount, b.ThrottleCount, st.ThrottleCount)
	}
	if st.Bandwidth != (api.Bandwidth{Source: api.SourceDefault}) || st.Unlimited || a.Unlimited || !b.Unlimited {
		t.Errorf("unlimited flags: got global bandwidth %+v, status unlimited=%v, a=%v, b=%v; want global unlimited, status false (a limit is in force), a false, b true",
			st.Bandwidth, st.Unlimited, a.Unlimited, b.Unlimited)
	}
	if diff := cmp.Diff(&want, a.Bandwidth); diff != "" {
		t.Errorf("peer-a bandwidth in status (-want +got):\n%s", diff)
	}
	if b.DailyUsedBytes != 192 || a.DailyUsedBytes != 192 || st.DailyUsedBytes != 384 || a.DailyWindowStart == nil || a.DailyRemainingBytes != nil {
		t.Errorf("daily figures: got a used=%d start=%v remaining=%v, b used=%d, global used=%d; want 192 each, a window open, no peer quota",
			a.DailyUsedBytes, a.DailyWindowStart, a.DailyRemainingBytes, b.DailyUsedBytes, st.DailyUsedBytes)
	}

	// The audit log names the peer.
	events, err := audit.Read(filepath.Join(l.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Peer != "peer-a" || events[0].Bandwidth.BytesPerSecond != 64 {
		t.Fatalf("audit events: got %+v, want one for peer-a at 64 B/s", events)
	}

	// The per-peer setting survives a restart; --reset --peer drops it.
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	l.start()
	if got := l.status().Peers["peer-a"].Bandwidth; got == nil || *got != want {
		t.Fatalf("peer-a bandwidth after restart: got %+v, want %+v", got, want)
	}
	resp = l.setBandwidth("--reset", "--peer", "peer-a")
	if diff := cmp.Diff(api.Bandwidth{Source: api.SourceDefault}, resp.Bandwidth); diff != "" || resp.Previous != want {
		t.Fatalf("--reset --peer peer-a: got %+v (-want +got):\n%s", resp, diff)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	l.start()
	if got := l.status(); !got.Unlimited || got.Peers["peer-a"].Bandwidth.Source != api.SourceDefault {
		t.Fatalf("after reset and restart: got unlimited=%v peer-a=%+v, want unlimited with the default", got.Unlimited, got.Peers["peer-a"].Bandwidth)
	}
	l.stop()
}

// quotaFigures are the quota figures a restart must keep exactly.
type quotaFigures struct {
	Used      int64
	Remaining *int64
	Start     *time.Time
}

func figures(st api.Status) map[string]quotaFigures {
	out := map[string]quotaFigures{"(global)": {st.DailyUsedBytes, st.DailyRemainingBytes, st.DailyWindowStart}}
	for id, p := range st.Peers {
		out[id] = quotaFigures{p.DailyUsedBytes, p.DailyRemainingBytes, p.DailyWindowStart}
	}
	return out
}

func TestEdged_QuotaUsageSurvivesKill9(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	opts.MaxRetryCount = 10 // quota drops keep segments pending, retrying, until the kill
	opts.BackoffBaseSeconds = 1
	l := newTwoPeerLab(t, opts, nil)
	l.start()
	l.setBandwidth("--daily-quota-bytes", "4096")
	l.setBandwidth("--peer", "peer-a", "--daily-quota-bytes", "192")
	l.seedFor("peer-a", "it-a", 5)
	l.seedFor("peer-b", "it-b", 2)

	// Mid-run: peer-a's quota is spent and its last two segments keep
	// failing on it, attempt after attempt.
	var before api.Status
	l.waitFor("peer-a at its quota and still retrying", func() (bool, string) {
		before = l.status()
		a := before.Peers["peer-a"]
		return a.DeliveredSegments == 3 && a.PendingSegments == 2 && a.QuotaDropCount >= 2 && before.Peers["peer-b"].DeliveredSegments == 2,
			fmt.Sprintf("peers=%+v", before.Peers)
	})
	l.kill()
	l.start()
	after := l.status()
	if diff := cmp.Diff(figures(before), figures(after)); diff != "" {
		t.Fatalf("quota figures across kill -9 and restart (-before +after):\n%s", diff)
	}
	if a := after.Peers["peer-a"]; a.DailyUsedBytes != 192 || *a.DailyRemainingBytes != 0 || after.DailyUsedBytes != 320 || *after.DailyRemainingBytes != 4096-320 {
		t.Fatalf("after restart: got global used=%d remaining=%d, peer-a used=%d remaining=%d; want 320, 3776, 192, 0",
			after.DailyUsedBytes, *after.DailyRemainingBytes, a.DailyUsedBytes, *a.DailyRemainingBytes)
	}

	// The restored figures are enforced: peer-a stays at its quota,
	// peer-b's next segment takes exactly its size off the global quota.
	l.seedFor("peer-b", "it-b2", 1)
	l.waitFor("peer-b's new segment delivered and peer-a dropped again", func() (bool, string) {
		st := l.status()
		return st.Peers["peer-b"].DeliveredSegments == 3 && st.Peers["peer-a"].QuotaDropCount >= 2,
			fmt.Sprintf("peers=%+v", st.Peers)
	})
	st := l.status()
	if st.Peers["peer-a"].DeliveredSegments != 3 || *st.DailyRemainingBytes != 4096-384 || !st.DailyWindowStart.Equal(*before.DailyWindowStart) {
		t.Fatalf("after restart: got peer-a delivered=%d, global remaining=%d window=%v; want 3, %d, %v",
			st.Peers["peer-a"].DeliveredSegments, *st.DailyRemainingBytes, st.DailyWindowStart, 4096-384, before.DailyWindowStart)
	}
	l.stop()
}

// sender is one sender identity with several connections: one
// transport.Client (so one connection pool) each.
type sender struct {
	conns []*transport.Client
}

func newSender(t *testing.T, files transport.TLSFiles, peerID, session string, conns int) *sender {
	t.Helper()
	tlsCfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	s := &sender{}
	for range conns {
		c := &transport.Client{TLS: tlsCfg, PeerID: peerID, SessionID: session}
		t.Cleanup(c.CloseIdle)
		s.conns = append(s.conns, c)
	}
	return s
}

func TestEdged_IngressAttributionAndMetrics(t *testing.T) {
	l := newTwoPeerLab(t, labsetup.DefaultConfigOptions(), func(c *config.Config) { c.Ingress.MaxTrackedPeers = 3 })
	l.start()
	addr := l.status().Listen
	if addr == "" {
		t.Fatal("status has no listen address")
	}
	certs, err := labsetup.IssueClientCerts(l.tls.Dir, filepath.Join(l.dir, "senders"), labsetup.CertOptions{}, "sender-1", "sender-2", "legacy")
	if err != nil {
		t.Fatal(err)
	}
	senders := []struct {
		name    string
		s       *sender
		size    int
		credit  string // identity credited
		wantErr int    // HTTP status of a refusal; 0: accepted
	}{
		{"sender-1", newSender(t, certs["sender-1"], "sender-1", "11111111-1111-4111-8111-111111111111", 3), 100, "sender-1", 0},
		{"sender-2", newSender(t, certs["sender-2"], "sender-2", "22222222-2222-4222-8222-222222222222", 2), 30, "sender-2", 0},
		// An old client: no Edge-Peer-Id, credited to its session id.
		{"legacy", newSender(t, certs["legacy"], "", "33333333-3333-4333-8333-333333333333", 2), 7, "session:33333333-3333-4333-8333-333333333333", 0},
		// Beyond max_tracked_peers = 3: the overflow series.
		{"legacy-2", newSender(t, certs["legacy"], "", "44444444-4444-4444-8444-444444444444", 1), 5, transport.OverflowPeer, 0},
		// sender-2's certificate claiming to be sender-1: refused.
		{"spoof", newSender(t, certs["sender-2"], "sender-1", "22222222-2222-4222-8222-222222222222", 1), 1000, "", http.StatusForbidden},
	}
	wantIngress := map[string]int64{}
	var wantTotal int64
	wantAt := map[string][]string{}
	for _, s := range senders {
		for i, c := range s.s.conns {
			for j := range 2 {
				id := fmt.Sprintf("%s-c%d-%d", s.name, i, j)
				target := []string{"peer-a", "peer-b"}[(i+j)%2]
				_, err := c.Deliver(context.Background(), transport.Delivery{
					Addr: addr, ServerName: "edge-it", ID: id, TargetPeer: target, Payload: labsetup.Payload(id, s.size),
				})
				var se *transport.StatusError
				switch {
				case s.wantErr == 0 && err != nil:
					t.Fatalf("%s: PUT %s: %v", s.name, id, err)
				case s.wantErr != 0 && (!errors.As(err, &se) || se.Code != s.wantErr):
					t.Fatalf("%s: PUT %s: got %v, want HTTP %d", s.name, id, err, s.wantErr)
				case s.wantErr == 0:
					wantIngress[s.credit] += int64(s.size)
					wantTotal += int64(s.size)
					wantAt[target] = append(wantAt[target], id)
				}
			}
		}
	}
	l.waitFor("every accepted segment delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == int64(len(wantAt["peer-a"])+len(wantAt["peer-b"])) && st.Segments.Pending == 0,
			fmt.Sprintf("segments=%+v", st.Segments)
	})
	st := l.status()
	wantKinds := map[string]string{}
	for k := range wantIngress {
		wantKinds[k] = transport.KeyKind(k)
	}
	if diff := cmp.Diff(api.Ingress{Bytes: wantTotal, ByPeer: wantIngress, KeyKinds: wantKinds}, st.Ingress); diff != "" {
		t.Errorf("ingress attribution (-want +got):\n%s", diff)
	}
	for peer, ids := range wantAt {
		if diff := cmp.Diff(sorted(ids), sorted(l.peers[peer].IDs())); diff != "" {
			t.Errorf("%s received (-want +got):\n%s", peer, diff)
		}
	}

	// /metrics: promlint-clean, and every series equal to the status.
	text, err := l.client.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := promlint.New(strings.NewReader(text)).Lint(); err != nil || len(problems) > 0 {
		t.Errorf("promlint: err=%v problems=%+v", err, problems)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	st = l.status() // nothing moves any more: the same figures as the scrape
	got := map[string]int64{}
	for _, name := range []string{"edged_ingress_bytes_by_peer_total", "edged_throttled_segments_by_peer_total", "edged_delivered_bytes_total"} {
		for _, m := range families[name].GetMetric() {
			got[name+"/"+label(m, "peer_id")] = int64(value(m))
		}
	}
	got["edged_ingress_bytes_total"] = int64(value(families["edged_ingress_bytes_total"].GetMetric()[0]))
	want := map[string]int64{"edged_ingress_bytes_total": st.Ingress.Bytes}
	for id, n := range st.Ingress.ByPeer {
		want["edged_ingress_bytes_by_peer_total/"+id] = n
	}
	for id, p := range st.Peers {
		want["edged_delivered_bytes_total/"+id] = p.DeliveredBytes
		want["edged_throttled_segments_by_peer_total/"+id] = p.ThrottleCount
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/metrics against status (-status +metrics):\n%s", diff)
	}
	tracked := slices.Collect(func(yield func(string) bool) {
		for _, m := range families["edged_ingress_bytes_by_peer_total"].GetMetric() {
			if !yield(label(m, "peer_id")) {
				return
			}
		}
	})
	if len(tracked) != 4 || !slices.Contains(tracked, transport.OverflowPeer) {
		t.Errorf("ingress series: got %v, want the 3 tracked ids and %s", tracked, transport.OverflowPeer)
	}
	l.stop()
}

func label(m *dto.Metric, name string) string {
	for _, p := range m.GetLabel() {
		if p.GetName() == name {
			return p.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}
