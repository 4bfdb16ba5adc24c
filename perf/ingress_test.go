package perf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"edgelab/transport"
)

// BenchmarkIngressHandler is the listener's handler alone (no network):
// PUTs of 1 KiB from 1,000 distinct senders with per-sender attribution
// (on) and without (off), in one run. The ratio of the two is the cost of
// attribution; the whole-process figure is in perf/relaybench.
func BenchmarkIngressHandler(b *testing.B) {
	p := labTLS(b)
	cert, err := tls.LoadX509KeyPair(p.Edged, p.EdgedKey)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		b.Fatal(err)
	}
	const senders = 1000
	sessions := make([]string, senders)
	for i := range sessions {
		sessions[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	payload := bytes.Repeat([]byte{'i'}, 1<<10)
	for _, on := range []bool{false, true} {
		name := "attribution=off"
		h := &transport.SegmentHandler{Store: discardStore{}, MaxBytes: 1 << 20}
		if on {
			name = "attribution=on"
			h.Ingress = &transport.Attribution{MaxPeers: senders}
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPut, transport.SegmentsPath+"seg-1", bytes.NewReader(payload))
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
				r.Header.Set(transport.HeaderSessionID, sessions[i%senders])
				i++
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusCreated {
					b.Fatalf("answered %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// Attribution stays exact under the measurement: every sender credited
// with what it sent, nothing in the overflow series.
func TestIngressRate_AttributesEverySender(t *testing.T) {
	p := labTLS(t)
	rate, attr, err := IngressRate(t.Context(), p, true, 50, 64, 4, 100e6)
	if err != nil {
		t.Fatal(err)
	}
	total, byPeer := attr.Snapshot()
	if want := (rate.Ops + 1) * 64; total != want {
		t.Errorf("ingress total: got %d, want %d (%d PUTs of 64 B)", total, want, rate.Ops+1)
	}
	if len(byPeer) != 50 {
		t.Errorf("senders attributed: got %d, want 50", len(byPeer))
	}
	if n := byPeer[transport.OverflowPeer]; n != 0 {
		t.Errorf("overflow series: got %d bytes, want 0", n)
	}
}
