package main_test

// Security (issue #6), with real handshakes against a running edged: its
// segment listener takes only TLS 1.3 clients holding a certificate of the
// lab CA, and only as who that certificate says they are; its deliveries
// go only to a peer proving the configured identity; its control socket is
// 0600; idle or slow clients do not stop it from serving others.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// relHandshake completes a TLS handshake with addr from both sides and
// returns the connection state: in TLS 1.3 the client's Handshake returns
// before the server verified the client's certificate, so the first read
// is what surfaces a refusal (an accepted HTTP/2 connection reads the
// server's SETTINGS frame).
func relHandshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != nil {
		return conn.ConnectionState(), err
	}
	return conn.ConnectionState(), nil
}

func TestSecurity_ListenerHandshakes(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	addr := relListenOn(t, l)
	l.start()
	before := relSnapshot(t, l)

	otherCA := filepath.Join(l.dir, "other-ca")
	if _, err := labsetup.GenerateCA(otherCA, labsetup.CertOptions{}); err != nil {
		t.Fatal(err)
	}
	issue := func(caDir, name, identity string, opts labsetup.CertOptions) transport.TLSFiles {
		c, err := labsetup.IssueCert(caDir, filepath.Join(l.dir, "clients"), name, identity, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c.Files(l.tls.CA)
	}
	// Go's client sends only a certificate whose issuer the server lists,
	// so a stranger's certificate is pushed as a hostile client would.
	force := func(cfg *tls.Config) *tls.Config {
		pair := cfg.Certificates[0]
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
		return cfg
	}
	lab := func() *tls.Config { return relClientConfig(t, l.tls.PeerFiles()) }
	tests := []struct {
		name string
		cfg  func() *tls.Config
		want string // "" accepted, else part of the client's error
	}{
		{"lab certificate (control)", lab, ""},
		{"no client certificate", func() *tls.Config { c := lab(); c.Certificates = nil; return c }, "certificate required"},
		{"certificate from another CA", func() *tls.Config {
			return force(relClientConfig(t, issue(otherCA, "stranger", "peer-it", labsetup.CertOptions{})))
		}, "unknown certificate authority"},
		{"expired certificate", func() *tls.Config {
			return relClientConfig(t, issue(l.tls.Dir, "expired", "peer-it", labsetup.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour}))
		}, "expired certificate"},
		{"not yet valid certificate", func() *tls.Config {
			return relClientConfig(t, issue(l.tls.Dir, "future", "peer-it", labsetup.CertOptions{NotBefore: time.Now().Add(24 * time.Hour), Validity: 24 * time.Hour}))
		}, "expired certificate"}, // Go's alert for any certificate outside its validity window
		{"TLS 1.2 only", func() *tls.Config {
			c := lab()
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}, "protocol version not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			cfg.ServerName, cfg.NextProtos = "edge-it", []string{"h2"}
			st, err := relHandshake(addr, cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("handshake: %v, want accepted", err)
				}
				if st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" {
					t.Errorf("negotiated version %x, protocol %q; want TLS 1.3 (%x) and h2", st.Version, st.NegotiatedProtocol, tls.VersionTLS13)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("handshake: %v, want a refusal containing %q", err, tt.want)
			}
		})
	}

	// A certificate is who you are: declaring another peer id is refused
	// with 403, from a lab certificate of another identity too.
	mallory := relClientConfig(t, issue(l.tls.Dir, "mallory", "mallory", labsetup.CertOptions{}))
	spoofs := []struct {
		name     string
		cfg      *tls.Config
		declared string
	}{
		{"peer-it declares edge-evil", lab(), "edge-evil"},
		{"mallory declares peer-it", mallory, "peer-it"},
	}
	for _, sp := range spoofs {
		t.Run("spoofed peer id: "+sp.name, func(t *testing.T) {
			hc := relSegmentClient(t, sp.cfg, true)
			req, err := http.NewRequest(http.MethodPut, "https://"+addr+transport.SegmentsPath+"spoof-1", strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(transport.HeaderPeerID, sp.declared)
			req.Header.Set(transport.HeaderTargetPeer, "peer-it")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "contradicts the client certificate identity") {
				t.Errorf("got %d %s, want 403 saying the declared id contradicts the certificate", resp.StatusCode, body)
			}
		})
	}

	relCheckIntact(t, l, before)
	if ing := l.status().Ingress; ing.Bytes != 0 {
		t.Errorf("refused senders were credited: ingress %+v, want 0 bytes", ing)
	}
}

// edged delivers only to a peer whose certificate chains to the lab CA and
// names the configured identity: an impostor at the peer's address gets
// nothing, and the ledger says why.
func TestSecurity_DeliveryVerifiesThePeer(t *testing.T) {
	tests := []struct {
		name    string
		ca      func(l *lab) string // CA directory issuing the impostor's certificate
		id      string
		wantErr string
	}{
		{"certificate from another CA", func(l *lab) string {
			dir := filepath.Join(l.dir, "other-ca")
			if _, err := labsetup.GenerateCA(dir, labsetup.CertOptions{}); err != nil {
				t.Fatal(err)
			}
			return dir
		}, "peer-it", "certificate signed by unknown authority"},
		{"lab certificate of another identity", func(l *lab) string { return l.tls.Dir }, "mallory", "certificate is valid for mallory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := labsetup.DefaultConfigOptions()
			opts.TickInterval = 100 * time.Millisecond
			l := newLab(t, opts)
			caDir := tt.ca(l)
			c, err := labsetup.IssueCert(caDir, filepath.Join(l.dir, "impostor"), "impostor", tt.id, labsetup.CertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			impostor := startReceiver(t, c.Files(l.tls.CA))
			data, err := os.ReadFile(l.config)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(l.config, []byte(relSetKey(t, string(data), "addr", `"`+impostor.addr+`"`)), 0o644); err != nil {
				t.Fatal(err)
			}
			l.start()
			l.seed("it-x", 1)
			var last api.Segment
			l.waitFor("a failed attempt", func() (bool, string) {
				led, err := l.client.Ledger(context.Background())
				if err != nil || len(led.Segments) != 1 {
					return false, fmt.Sprintf("ledger %+v err %v", led, err)
				}
				last = led.Segments[0]
				return last.Attempts >= 1, fmt.Sprintf("%+v", last)
			})
			if last.State == "DELIVERED" || !strings.Contains(last.LastError, tt.wantErr) {
				t.Errorf("segment after the attempt: state %s, last error %q; want not delivered, failing with %q", last.State, last.LastError, tt.wantErr)
			}
			if ids := impostor.IDs(); len(ids) != 0 {
				t.Errorf("the impostor received %v", ids)
			}
		})
	}
}

func TestSecurity_ControlSocketMode(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	fi, err := os.Lstat(l.client.Socket)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.Stat(filepath.Dir(l.client.Socket))
	if err != nil {
		t.Fatal(err)
	}
	got := []any{fi.Mode().Type() == os.ModeSocket, fi.Mode().Perm(), int(dir.Sys().(*syscall.Stat_t).Uid)}
	if diff := cmp.Diff([]any{true, os.FileMode(0o600), os.Geteuid()}, got); diff != "" {
		t.Errorf("[is socket, mode, directory owner] (-want +got):\n%s", diff)
	}
}

// Clients that connect and then say nothing, or half a request, hold a
// connection each but never the daemon: others are served meanwhile. (The
// servers' timeouts close such connections in time; edged/daemon's tests
// check they are set.)
func TestSecurity_SlowClientsDoNotPinTheDaemon(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 100 * time.Millisecond
	l := newLab(t, opts)
	addr := relListenOn(t, l)
	l.start()
	const n = 32
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		for _, target := range []struct{ network, addr string }{{"unix", l.client.Socket}, {"tcp", addr}} {
			c, err := net.DialTimeout(target.network, target.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", i, target.addr, err)
			}
			conns = append(conns, c)
			if i%2 == 0 && target.network == "unix" {
				// Half a request, never finished.
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: edged\r\nContent-Length: 100\r\n\r\n{\"bytes", api.PathBandwidth)
			}
		}
	}
	l.status()
	l.seed("it-slow", 2)
	l.waitFor("2 delivered while slow clients hold connections", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2, fmt.Sprintf("segments=%+v", st.Segments)
	})
	hc := relSegmentClient(t, relClientConfig(t, l.tls.PeerFiles()), true)
	req, err := http.NewRequest(http.MethodPut, "https://"+addr+transport.SegmentsPath+"in-1", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(transport.HeaderPeerID, "peer-it")
	req.Header.Set(transport.HeaderTargetPeer, "peer-it")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("PUT while slow clients hold connections: %d, want 201", resp.StatusCode)
	}
}
