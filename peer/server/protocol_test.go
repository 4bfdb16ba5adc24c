package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"edgelab/peer/received"
	"edgelab/peer/server"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

var ignoreReceivedAt = cmpopts.IgnoreFields(received.Segment{}, "ReceivedAt")

func TestDeliver_RedeliveryIsIdempotent(t *testing.T) {
	l := startPeer(t, nil)
	c := l.client(t, l.tls.EdgedFiles(), "edge-val23", "11111111-1111-4111-8111-111111111111")
	ctx := context.Background()
	payload := labsetup.Payload("val23-sa-001", 64)

	for i, wantCreated := range []bool{true, false} {
		created, err := l.deliver(ctx, c, "val23-sa-001", payload)
		if err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		if created != wantCreated {
			t.Errorf("delivery %d created = %v, want %v (201 then 200)", i+1, created, wantCreated)
		}
	}
	want := received.Evidence{
		PeerID: peerID,
		Segments: []received.Segment{{
			ID: "val23-sa-001", Bytes: 64, SHA256: labsetup.PayloadSHA256("val23-sa-001", 64),
			FromPeer: "edge-val23", Session: "11111111-1111-4111-8111-111111111111", TargetPeer: peerID, Deliveries: 2,
		}},
		// Both bodies crossed the wire: ingress counts bytes, not segments.
		Ingress: received.Ingress{Bytes: 128, ByPeer: map[string]int64{"edge-val23": 128}},
	}
	file := l.fileEvidence(t)
	if diff := cmp.Diff(want, file, ignoreReceivedAt); diff != "" {
		t.Errorf("evidence file (-want +got):\n%s", diff)
	}
	if file.Segments[0].ReceivedAt.IsZero() {
		t.Error("received_at is zero")
	}

	hc := httpClient(t, clientConfig(t, l.tls.EdgedFiles()), true)
	var served received.Evidence
	if code := getJSON(t, hc, l.url(server.PathEvidence), &served); code != http.StatusOK {
		t.Errorf("GET %s = %d, want 200", server.PathEvidence, code)
	}
	if diff := cmp.Diff(file, served); diff != "" {
		t.Errorf("GET %s differs from the file (-file +served):\n%s", server.PathEvidence, diff)
	}
	var health server.Health
	if code := getJSON(t, hc, l.url(server.PathHealth), &health); code != http.StatusOK {
		t.Errorf("GET %s = %d, want 200", server.PathHealth, code)
	}
	if diff := cmp.Diff(server.Health{Status: "ok", PeerID: peerID, Segments: 1}, health); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
}

func TestDeliver_SpoofedPeerIDIsRefused(t *testing.T) {
	l := startPeer(t, nil)
	// The certificate says edge-a; the header claims edge-b.
	c := l.client(t, l.issue(t, "edge-a", "edge-a", labsetup.CertOptions{}), "edge-b", "s")
	_, err := l.deliver(context.Background(), c, "val23-sa-001", []byte("spoof"))
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("Deliver = %v, want a 403 *transport.StatusError", err)
	}
	if !strings.Contains(se.Message, `\"edge-b\" contradicts the client certificate identity \"edge-a\"`) {
		t.Errorf("403 message = %s, want it to name both identities", se.Message)
	}
	l.checkNothingReceived(t)
}

// put sends one raw PUT and returns the status code.
func put(t *testing.T, hc *http.Client, u string, body io.Reader, length int64, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", u, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestDeliver_BadIDs(t *testing.T) {
	l := startPeer(t, nil)
	hc := httpClient(t, clientConfig(t, l.tls.EdgedFiles()), true)
	tests := []struct {
		name string
		path string // escaped, after /v1/segments/
		want int
	}{
		{"dot dot", "..", http.StatusBadRequest},
		{"dot", ".", http.StatusBadRequest},
		{"traversal", "a/../../etc", http.StatusBadRequest},
		{"escaped slash", "a%2Fb", http.StatusBadRequest},
		{"129 characters", strings.Repeat("a", 129), http.StatusBadRequest},
		{"non-ASCII", url.PathEscape("sëgment"), http.StatusBadRequest},
		{"space", "a%20b", http.StatusBadRequest},
		{"empty", "", http.StatusBadRequest},
		{"128 characters (accepted)", strings.Repeat("b", 128), http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, "https://"+l.srv.Addr()+"/v1/segments/", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			// An opaque URL goes out byte for byte: no cleaning of "..",
			// no re-escaping.
			req.URL.Opaque = "//" + l.srv.Addr() + transport.SegmentsPath + tt.path
			req.ContentLength = 1
			req.Header.Set(transport.HeaderPeerID, "edge-val23")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("PUT %s%s = %d, want %d", transport.SegmentsPath, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
	want := []string{strings.Repeat("b", 128)}
	if diff := cmp.Diff(want, l.fileEvidence(t).IDs()); diff != "" {
		t.Errorf("evidence ids (-want +got):\n%s", diff)
	}
	if got := l.srv.Store().Ingress().Total(); got != 1 {
		t.Errorf("ingress total = %d, want 1 (only the accepted body)", got)
	}
}

func TestDeliver_SizeLimitAndLength(t *testing.T) {
	l := startPeer(t, nil) // max 1024 bytes
	hdr := map[string]string{transport.HeaderPeerID: "edge-val23"}
	h2 := httpClient(t, clientConfig(t, l.tls.EdgedFiles()), true)
	h1 := httpClient(t, clientConfig(t, l.tls.EdgedFiles()), false)
	tests := []struct {
		name   string
		hc     *http.Client
		id     string
		body   io.Reader
		length int64
		want   int
	}{
		{"one byte over the limit", h2, "big", bytes.NewReader(make([]byte, 1025)), 1025, http.StatusRequestEntityTooLarge},
		{"exactly the limit", h2, "limit", bytes.NewReader(make([]byte, 1024)), 1024, http.StatusCreated},
		// A reader the client cannot size: HTTP/2 sends no content-length.
		{"h2 without content-length", h2, "nolen-h2", io.MultiReader(strings.NewReader("abc")), -1, http.StatusLengthRequired},
		{"HTTP/1.1 chunked", h1, "nolen-h1", io.MultiReader(strings.NewReader("abc")), -1, http.StatusLengthRequired},
		{"HTTP/1.1 with length", h1, "len-h1", strings.NewReader("abc"), 3, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := put(t, tt.hc, l.url(transport.SegmentsPath+tt.id), tt.body, tt.length, hdr); got != tt.want {
				t.Errorf("PUT %s = %d, want %d", tt.id, got, tt.want)
			}
		})
	}
	if diff := cmp.Diff([]string{"limit", "len-h1"}, l.fileEvidence(t).IDs()); diff != "" {
		t.Errorf("evidence ids (-want +got):\n%s", diff)
	}
	if got := l.srv.Store().Ingress().Total(); got != 1024+3 {
		t.Errorf("ingress total = %d, want %d", got, 1024+3)
	}
}

func TestRoutes(t *testing.T) {
	l := startPeer(t, nil)
	hc := httpClient(t, clientConfig(t, l.tls.EdgedFiles()), true)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, server.PathHealth, http.StatusOK},
		{http.MethodGet, server.PathEvidence, http.StatusOK},
		{http.MethodPost, server.PathHealth, http.StatusMethodNotAllowed},
		{http.MethodGet, transport.SegmentsPath + "x", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/nothing", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, l.url(tt.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// A sender that declares no peer id (an old client) is attributed to its
// session id; from_peer still names its certificate.
func TestIngress_SessionFallback(t *testing.T) {
	l := startPeer(t, nil)
	c := l.client(t, l.tls.EdgedFiles(), "", "22222222-2222-4222-8222-222222222222")
	if _, err := l.deliver(context.Background(), c, "old-1", make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	ev := l.fileEvidence(t)
	got := []any{ev.Segments[0].FromPeer, ev.Segments[0].Session, ev.Ingress}
	want := []any{"edge-val23", "22222222-2222-4222-8222-222222222222", received.Ingress{Bytes: 40, ByPeer: map[string]int64{"session:22222222-2222-4222-8222-222222222222": 40}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("[from_peer session ingress] (-want +got):\n%s", diff)
	}
}

// All connections of one peer add into one counter; another peer has its
// own, and the total is their sum.
func TestIngress_TwoConnectionsOnePeer(t *testing.T) {
	l := startPeer(t, nil)
	ctx := context.Background()
	conn1 := l.client(t, l.tls.EdgedFiles(), "edge-val23", "33333333-3333-4333-8333-333333333333")
	conn2 := l.client(t, l.tls.EdgedFiles(), "edge-val23", "55555555-5555-4555-8555-555555555555")
	other := l.client(t, l.issue(t, "edge-b", "edge-b", labsetup.CertOptions{}), "edge-b", "66666666-6666-4666-8666-666666666666")

	var mu sync.Mutex
	localAddrs := map[string]bool{}
	traced := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		defer mu.Unlock()
		localAddrs[info.Conn.LocalAddr().String()] = true
	}})
	sends := []struct {
		c    *transport.Client
		ctx  context.Context
		id   string
		size int
	}{
		{conn1, traced, "a-1", 100}, {conn2, traced, "a-2", 200}, {conn1, traced, "a-3", 300},
		{conn2, traced, "a-4", 7}, {other, ctx, "b-1", 50},
	}
	for _, s := range sends {
		if _, err := l.deliver(s.ctx, s.c, s.id, make([]byte, s.size)); err != nil {
			t.Fatalf("deliver %s: %v", s.id, err)
		}
	}
	if len(localAddrs) != 2 {
		t.Fatalf("edge-val23 used connections %v, want 2 distinct", localAddrs)
	}
	want := received.Ingress{Bytes: 657, ByPeer: map[string]int64{"edge-val23": 607, "edge-b": 50}}
	if diff := cmp.Diff(want, l.fileEvidence(t).Ingress); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
}

// While 200 segments arrive concurrently, a reader parses the evidence file
// in a loop: every read must be valid JSON, and each snapshot must extend
// the one before (segments are listed in receive order, never removed).
func TestEvidence_ValidJSONUnderConcurrentDeliveries(t *testing.T) {
	l := startPeer(t, nil)
	const n, size = 200, 64
	ids := labsetup.SegmentIDs("conc", 1, n)

	stop := make(chan struct{})
	type readerResult struct {
		reads int
		err   error
	}
	result := make(chan readerResult, 1)
	go func() {
		var prev []string
		reads := 0
		for {
			select {
			case <-stop:
				result <- readerResult{reads: reads}
				return
			default:
			}
			ev, err := received.ReadFile(l.evidence)
			if err != nil {
				result <- readerResult{reads, fmt.Errorf("read %d: %w", reads, err)}
				return
			}
			got := ev.IDs()
			if len(got) < len(prev) || !cmp.Equal(prev, got[:len(prev)], cmpopts.EquateEmpty()) {
				result <- readerResult{reads, fmt.Errorf("read %d: ids %v do not extend the previous %v", reads, got, prev)}
				return
			}
			var sum int64
			for _, s := range ev.Segments {
				sum += s.Bytes * int64(s.Deliveries)
			}
			if sum != ev.Ingress.Bytes {
				result <- readerResult{reads, fmt.Errorf("read %d: segments hold %d bytes, ingress says %d", reads, sum, ev.Ingress.Bytes)}
				return
			}
			prev = got
			reads++
		}
	}()

	// Four connections, 50 concurrent streams each.
	clients := make([]*transport.Client, 4)
	for i := range clients {
		clients[i] = l.client(t, l.tls.EdgedFiles(), "edge-val23", fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := l.deliver(context.Background(), clients[i%len(clients)], id, labsetup.Payload(id, size))
			if err != nil || !created {
				errs <- fmt.Errorf("deliver %s = (%v, %v), want (true, nil)", id, created, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(stop)
	for err := range errs {
		t.Error(err)
	}
	r := <-result
	if r.err != nil {
		t.Fatalf("evidence reader after %d good reads: %v", r.reads, r.err)
	}
	if r.reads == 0 {
		t.Fatal("the reader never read the evidence file")
	}

	ev := l.fileEvidence(t)
	got := ev.IDs()
	sort.Strings(got)
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("evidence ids (-want +got):\n%s", diff)
	}
	for _, s := range ev.Segments {
		if s.Deliveries != 1 || s.SHA256 != labsetup.PayloadSHA256(s.ID, size) {
			t.Errorf("%s: deliveries %d sha256 %s, want 1 and the seeded payload's digest", s.ID, s.Deliveries, s.SHA256)
		}
	}
	if diff := cmp.Diff(received.Ingress{Bytes: n * size, ByPeer: map[string]int64{"edge-val23": n * size}}, ev.Ingress); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	t.Logf("reader parsed the evidence %d times", r.reads)
}

func TestRun_ReadyFileAndGracefulStop(t *testing.T) {
	dir := t.TempDir()
	paths, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "peer.ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Options{
			Listen: "127.0.0.1:0", PeerID: peerID, TLS: paths.PeerFiles(),
			EvidencePath: filepath.Join(dir, "ev.json"), ReadyFile: ready, Log: quietLog(),
		})
	}()

	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			addr = strings.TrimSpace(string(data))
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before the ready file appeared: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file within 10s; last error: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cfg, err := paths.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &transport.Client{TLS: cfg, PeerID: "edge-val23"}
	if _, err := c.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: peerID, ID: "r-1", Payload: []byte("hi")}); err != nil {
		t.Fatalf("deliver to the address in the ready file (%s): %v", addr, err)
	}
	// An open HTTP/2 connection would hold the graceful stop for the
	// server's GOAWAY grace period (1s); close it as edged would.
	c.CloseIdle()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file still there after shutdown (stat: %v)", err)
	}
}

func TestStart_BadOptions(t *testing.T) {
	dir := t.TempDir()
	paths, err := labsetup.GenerateTLS(dir, labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	missing := paths.PeerFiles()
	missing.CA = filepath.Join(dir, "nope.pem")
	tests := []struct {
		name string
		opts server.Options
		want string
	}{
		{"no id", server.Options{Listen: "127.0.0.1:0", TLS: paths.PeerFiles()}, "peer id is required"},
		{"bad id", server.Options{Listen: "127.0.0.1:0", PeerID: "a b", TLS: paths.PeerFiles()}, `peer id "a b"`},
		{"missing CA", server.Options{Listen: "127.0.0.1:0", PeerID: peerID, TLS: missing}, "nope.pem"},
		{"bad listen", server.Options{Listen: "127.0.0.1", PeerID: peerID, TLS: paths.PeerFiles()}, "listen on 127.0.0.1"},
		{"evidence dir missing", server.Options{Listen: "127.0.0.1:0", PeerID: peerID, TLS: paths.PeerFiles(), EvidencePath: filepath.Join(dir, "no", "ev.json")}, "ev.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Log = quietLog()
			s, err := server.Start(tt.opts)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatalf("Start succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
