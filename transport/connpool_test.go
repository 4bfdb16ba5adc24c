package transport_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"

	"edgelab/transport"
)

// Concurrent first deliveries to one peer share one connection: HTTP/2
// carries them as streams. Without the gate each dialled its own (64
// handshakes at start for one peer).
func TestClient_ConcurrentFirstDeliveriesShareOneConnection(t *testing.T) {
	p := certs(t)
	rec := &recorder{next: http.StatusCreated}
	addr := serve(t, p.PeerFiles(), rec)
	c := newClient(t, p.EdgedFiles(), "edge-val23", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a61")

	var mu sync.Mutex
	conns := map[string]bool{}
	handshakes := 0
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			mu.Lock()
			conns[info.Conn.LocalAddr().String()] = true
			mu.Unlock()
		},
		TLSHandshakeStart: func() {
			mu.Lock()
			handshakes++
			mu.Unlock()
		},
	})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: fmt.Sprintf("seg-%d", i), TargetPeer: "peer-val23", Payload: []byte("x")})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(conns) != 1 || handshakes != 1 {
		t.Errorf("%d concurrent first deliveries used %d connections after %d TLS handshakes, want 1 and 1", n, len(conns), handshakes)
	}
}
