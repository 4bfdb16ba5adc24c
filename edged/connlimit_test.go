package main_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"edgelab/edged/daemon"
	"edgelab/setup/labsetup"
)

// The segment listener serves at most daemon.MaxInboundConns connections
// at once: with that many held open (idle, before any handshake) a further
// client is not served, and is as soon as one of them closes. The held
// ones stay well within the 10 s the server gives a handshake.
func TestSecurity_InboundConnectionLimit(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	addr := relListenOn(t, l)
	l.start()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range daemon.MaxInboundConns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	cfg := relClientConfig(t, l.tls.PeerFiles())
	cfg.ServerName, cfg.NextProtos = "edge-it", []string{"h2"}

	// Over the cap: the kernel completes the TCP connect (backlog), but no
	// TLS handshake is served.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	tc := tls.Client(conn, cfg)
	err = tc.Handshake()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("handshake over the cap of %d: %v, want it left unserved (a timeout)", daemon.MaxInboundConns, err)
	}

	// The refused client gives up, as does one of the held: their slots
	// free as soon as the server reads the end of their connections.
	conn.Close()
	held[0].Close()
	l.waitFor("a handshake once a slot is free", func() (bool, string) {
		_, err := relHandshake(addr, cfg)
		return err == nil, fmt.Sprint(err)
	})
	l.status()
}
