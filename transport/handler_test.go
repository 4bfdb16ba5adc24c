package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// rawPut sends one PUT over HTTP/2 with the given certificate and headers.
func rawPut(t *testing.T, hc *http.Client, addr, path string, body io.Reader, length int64, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "https://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func h2Client(t *testing.T, files transport.TLSFiles) *http.Client {
	t.Helper()
	cfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "peer-val23"
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// The handler's answers over real mutual TLS, and what it credits: only
// accepted bodies, to the declared peer id or else the session id.
func TestSegmentHandler_Answers(t *testing.T) {
	p := certs(t)
	store := &memStore{}
	ingress := &transport.Attribution{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, Ingress: ingress, Log: quietLog()})
	hc := h2Client(t, p.EdgedFiles())
	edge := map[string]string{transport.HeaderPeerID: "edge-val23", transport.HeaderSessionID: "11111111-1111-4111-8111-111111111111", transport.HeaderTargetPeer: "peer-val23"}

	tests := []struct {
		name   string
		path   string
		body   string
		length int64 // -1: unknown (no content-length)
		hdr    map[string]string
		want   int
		msg    string // part of the error body
	}{
		{"new segment", "/v1/segments/seg-1", "hello", 5, edge, http.StatusCreated, ""},
		{"redelivery", "/v1/segments/seg-1", "hello", 5, edge, http.StatusOK, ""},
		{"session only", "/v1/segments/seg-2", "abc", 3, map[string]string{transport.HeaderSessionID: "22222222-2222-4222-8222-222222222222"}, http.StatusCreated, ""},
		{"spoofed peer id", "/v1/segments/seg-3", "x", 1, map[string]string{transport.HeaderPeerID: "edge-b"}, http.StatusForbidden, `contradicts the client certificate identity \"edge-val23\"`},
		{"no identity at all", "/v1/segments/seg-4", "x", 1, nil, http.StatusBadRequest, "Edge-Peer-Id or Edge-Session-Id is required"},
		{"bad id", "/v1/segments/a%20b", "x", 1, edge, http.StatusBadRequest, "bad segment id"},
		{"too large", "/v1/segments/seg-5", strings.Repeat("x", 101), 101, edge, http.StatusRequestEntityTooLarge, "101 bytes exceeds the limit of 100"},
		{"no length", "/v1/segments/seg-6", "xyz", -1, edge, http.StatusLengthRequired, "Content-Length is required"},
		{"outside the segment path", "/v2/other", "x", 1, edge, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.length < 0 {
				body = io.MultiReader(body) // unsizable, so no content-length is sent
			}
			code, msg := rawPut(t, hc, addr, tt.path, body, tt.length, tt.hdr)
			if code != tt.want || !strings.Contains(msg, tt.msg) {
				t.Errorf("PUT %s = %d %q, want %d containing %q", tt.path, code, msg, tt.want, tt.msg)
			}
		})
	}

	total, byPeer := ingress.Snapshot()
	if diff := cmp.Diff(map[string]int64{"edge-val23": 10, "session:22222222-2222-4222-8222-222222222222": 3}, byPeer); diff != "" {
		t.Errorf("credited (-want +got):\n%s", diff)
	}
	if total != 13 {
		t.Errorf("total = %d, want 13", total)
	}
	got, _ := store.get("seg-1")
	want := transport.Incoming{ID: "seg-1", Payload: []byte("hello"), FromPeer: "edge-val23", Session: "11111111-1111-4111-8111-111111111111", TargetPeer: "peer-val23", Identity: "edge-val23"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored seg-1 (-want +got):\n%s", diff)
	}
	got, _ = store.get("seg-2")
	want = transport.Incoming{ID: "seg-2", Payload: []byte("abc"), FromPeer: "edge-val23", Session: "22222222-2222-4222-8222-222222222222", Identity: "session:22222222-2222-4222-8222-222222222222"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored seg-2: from_peer falls back to the certificate, credit to the session (-want +got):\n%s", diff)
	}
	if n := store.len(); n != 2 {
		t.Errorf("store holds %d segments, want 2", n)
	}
}

func TestSegmentHandler_StoreErrors(t *testing.T) {
	p := certs(t)
	hc := h2Client(t, p.EdgedFiles())
	hdr := map[string]string{transport.HeaderPeerID: "edge-val23"}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"store refuses the segment", &transport.BadSegmentError{Reason: "not for me"}, http.StatusBadRequest},
		{"store fails", errors.New("disk full"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ingress := &transport.Attribution{}
			addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: &memStore{err: tt.err}, Ingress: ingress, Log: quietLog()})
			code, msg := rawPut(t, hc, addr, "/v1/segments/s", strings.NewReader("abc"), 3, hdr)
			if code != tt.want || !strings.Contains(msg, tt.err.Error()) {
				t.Errorf("PUT = %d %q, want %d naming %q", code, msg, tt.want, tt.err)
			}
			if total := ingress.Total(); total != 0 {
				t.Errorf("credited %d bytes for a body the store did not take", total)
			}
		})
	}
}

// Without a verified client certificate (a listener misconfigured to not
// require one) the handler refuses on its own.
func TestSegmentHandler_NoClientCertificate(t *testing.T) {
	store := &memStore{}
	h := &transport.SegmentHandler{Store: store, Log: quietLog()}
	req := httptest.NewRequest(http.MethodPut, "/v1/segments/s", bytes.NewReader([]byte("x")))
	req.Header.Set(transport.HeaderPeerID, "edge-val23")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || store.puts != 0 {
		t.Errorf("answer %d with %d puts, want 401 and none", rec.Code, store.puts)
	}
	req = httptest.NewRequest(http.MethodGet, "/v1/segments/s", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPut {
		t.Errorf("GET answer %d Allow %q, want 405 Allow PUT", rec.Code, rec.Header().Get("Allow"))
	}
}

// Two clients (two connections) of the same peer add into one counter;
// another peer certificate gets its own.
func TestSegmentHandler_PeerConnectionsShareACounter(t *testing.T) {
	p := certs(t)
	other, err := labsetup.IssueCert(p.Dir, t.TempDir(), "edge-b", "edge-b", labsetup.CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ingress := &transport.Attribution{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: &memStore{}, Ingress: ingress, Log: quietLog()})
	ctx := context.Background()
	c1 := newClient(t, p.EdgedFiles(), "edge-val23", "33333333-3333-4333-8333-333333333333")
	c2 := newClient(t, p.EdgedFiles(), "edge-val23", "55555555-5555-4555-8555-555555555555")
	cb := newClient(t, other.Files(p.CA), "edge-b", "66666666-6666-4666-8666-666666666666")
	for i, s := range []struct {
		c    *transport.Client
		size int
	}{{c1, 11}, {c2, 22}, {c1, 33}, {cb, 5}} {
		if _, err := s.c.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "seg-" + string(rune('a'+i)), Payload: make([]byte, s.size)}); err != nil {
			t.Fatal(err)
		}
	}
	total, byPeer := ingress.Snapshot()
	if diff := cmp.Diff(map[string]int64{"edge-val23": 66, "edge-b": 5}, byPeer); diff != "" {
		t.Errorf("by peer (-want +got):\n%s", diff)
	}
	if total != 71 {
		t.Errorf("total = %d, want 71", total)
	}
}
