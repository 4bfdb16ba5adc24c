package transport_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgelab/transport"
)

func TestTLSFiles_Configs(t *testing.T) {
	p := certs(t)
	srv, err := p.PeerFiles().ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if srv.MinVersion != tls.VersionTLS13 || srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.ClientCAs == nil {
		t.Errorf("server config: min %x, client auth %v, CAs set %v; want TLS 1.3, RequireAndVerifyClientCert, CAs",
			srv.MinVersion, srv.ClientAuth, srv.ClientCAs != nil)
	}
	cli, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cli.MinVersion != tls.VersionTLS13 || len(cli.Certificates) != 1 || cli.RootCAs == nil {
		t.Errorf("client config: min %x, %d certificates, roots set %v; want TLS 1.3, 1, roots",
			cli.MinVersion, len(cli.Certificates), cli.RootCAs != nil)
	}
}

func TestTLSFiles_ErrorsNameTheFiles(t *testing.T) {
	p := certs(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files transport.TLSFiles
		want  []string
	}{
		{"missing CA", transport.TLSFiles{CA: filepath.Join(dir, "none.pem"), Cert: p.Peer, Key: p.PeerKey}, []string{"read CA", "none.pem"}},
		{"CA without PEM", transport.TLSFiles{CA: notPEM, Cert: p.Peer, Key: p.PeerKey}, []string{notPEM, "no PEM certificate found"}},
		{"key of another certificate", transport.TLSFiles{CA: p.CA, Cert: p.Peer, Key: p.EdgedKey}, []string{p.Peer, p.EdgedKey}},
		{"missing key", transport.TLSFiles{CA: p.CA, Cert: p.Peer, Key: filepath.Join(dir, "k.pem")}, []string{"k.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, load := range map[string]func() (*tls.Config, error){"server": tt.files.ServerConfig, "client": tt.files.ClientConfig} {
				_, err := load()
				if err == nil {
					t.Fatalf("%s config: no error", name)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s config error %q does not name %q", name, err, w)
					}
				}
			}
		})
	}
}

// handshake dials addr with cfg and completes the handshake from both
// sides: in TLS 1.3 the client's Handshake returns before the server has
// verified the client certificate, so a read is what surfaces a refusal.
func handshake(addr string, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	return err
}

// The listener side refuses old protocol versions and clients without a
// certificate. The server writes one byte after a handshake it accepted,
// so the control row reads it and the refusals read the alert.
func TestServerConfig_RefusesHandshakes(t *testing.T) {
	p := certs(t)
	srvCfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).HandshakeContext(ctx) == nil {
					c.Write([]byte{1})
				}
			}()
		}
	}()
	defer ln.Close()

	base, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	base.ServerName = "peer-val23"
	tests := []struct {
		name string
		edit func(*tls.Config)
		want string // "" accepted
	}{
		{"lab certificate (control)", func(*tls.Config) {}, ""},
		{"TLS 1.2 only", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12 }, "protocol version not supported"},
		{"no certificate", func(c *tls.Config) { c.Certificates = nil }, "certificate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base.Clone()
			tt.edit(cfg)
			err := handshake(ln.Addr().String(), cfg)
			if tt.want == "" {
				if err != nil {
					t.Errorf("handshake = %v, want accepted", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("handshake = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
