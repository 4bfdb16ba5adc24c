package transport_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"edgelab/transport"
)

// listen serves a 204 over transport.Listener with lim and returns it with
// the client configuration of the edged certificate.
func listen(t *testing.T, lim transport.ListenerLimits) (*transport.Listener, *tls.Config) {
	t.Helper()
	p := certs(t)
	scfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := transport.NewListener(raw, scfg, lim, quietLog())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	ccfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	ccfg.ServerName = "peer-val23"
	return ln, ccfg
}

// authenticated dials a TLS connection and reads the server's first HTTP/2
// frame: an error means the server closed it.
func authenticated(addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

func idleTCP(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// Connections that never speak, more than the connection cap, take no slot
// of an authenticated client (tls.NewListener over a counting listener let
// them take every one).
func TestListener_IdleConnectionsDoNotTakeSlots(t *testing.T) {
	ln, cfg := listen(t, transport.ListenerLimits{MaxConns: 2, MaxHandshakes: 16, HandshakeTimeout: time.Minute})
	addr := ln.Addr().String()
	idleTCP(t, addr, 5)
	waitFor(t, "the idle connections in their handshakes", func() (bool, string) {
		return ln.Stats().Handshakes == 5, fmt.Sprintf("%+v", ln.Stats())
	})
	c, err := authenticated(addr, cfg)
	if err != nil {
		t.Fatalf("authenticated client beside 5 idle connections over a cap of 2: %v", err)
	}
	c.Close()
}

// The cap counts authenticated connections: over it a client is closed
// after its handshake, and served once a slot is free.
func TestListener_AuthenticatedCap(t *testing.T) {
	ln, cfg := listen(t, transport.ListenerLimits{MaxConns: 2})
	addr := ln.Addr().String()
	var held []*tls.Conn
	for range 2 {
		c, err := authenticated(addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	if c, err := authenticated(addr, cfg); err == nil {
		c.Close()
		t.Fatalf("a third authenticated connection was served over a cap of 2: %+v", ln.Stats())
	}
	if st := ln.Stats(); st.Refused != 1 || st.Conns != 2 {
		t.Errorf("stats %+v, want 2 conns and 1 refused", st)
	}
	held[0].Close()
	waitFor(t, "a slot freed by the closed connection", func() (bool, string) {
		return ln.Stats().Conns == 1, fmt.Sprintf("%+v", ln.Stats())
	})
	c, err := authenticated(addr, cfg)
	if err != nil {
		t.Fatalf("connection with a free slot: %v", err)
	}
	c.Close()
}

// A connection that does not complete its handshake within the deadline is
// closed; handshakes beyond their own budget are closed at once.
func TestListener_HandshakeDeadlineAndBudget(t *testing.T) {
	ln, _ := listen(t, transport.ListenerLimits{MaxHandshakes: 2, HandshakeTimeout: 50 * time.Millisecond})
	conns := idleTCP(t, ln.Addr().String(), 1)
	conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := conns[0].Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("idle connection read %v, want it closed by the handshake deadline", err)
	}
	waitFor(t, "the timed-out handshake counted", func() (bool, string) {
		st := ln.Stats()
		return st.Failed == 1 && st.Handshakes == 0, fmt.Sprintf("%+v", st)
	})

	ln2, _ := listen(t, transport.ListenerLimits{MaxHandshakes: 2, HandshakeTimeout: time.Minute})
	idleTCP(t, ln2.Addr().String(), 3)
	waitFor(t, "the third handshake refused", func() (bool, string) {
		st := ln2.Stats()
		return st.Handshakes == 2 && st.Refused == 1, fmt.Sprintf("%+v", st)
	})
}
