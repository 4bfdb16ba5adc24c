package server_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"testing"
	"time"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// Every refused handshake must leave the peer untouched: no segment, no
// credited byte. The first row is the control: the same request with the
// lab certificate is accepted, so the refusals are the certificates' doing.
func TestHandshakeRefusals(t *testing.T) {
	type clientFn func(t *testing.T, l *lab) *tls.Config
	tests := []struct {
		name    string
		config  clientFn
		wantLog string // the reason in the peer's log; "" accepts
	}{
		{
			name:   "lab certificate (control)",
			config: func(t *testing.T, l *lab) *tls.Config { return clientConfig(t, l.tls.EdgedFiles()) },
		},
		{
			name: "no client certificate",
			config: func(t *testing.T, l *lab) *tls.Config {
				cfg := clientConfig(t, l.tls.EdgedFiles())
				cfg.Certificates = nil
				return cfg
			},
			wantLog: "tls: client didn't provide a certificate",
		},
		{
			name: "certificate from another CA",
			config: func(t *testing.T, l *lab) *tls.Config {
				other := filepath.Join(l.dir, "other-ca")
				if _, err := labsetup.GenerateCA(other, labsetup.CertOptions{}); err != nil {
					t.Fatal(err)
				}
				c, err := labsetup.IssueCert(other, other, "edged", "edge-val23", labsetup.CertOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cfg := clientConfig(t, transport.TLSFiles{CA: l.tls.CA, Cert: c.Cert, Key: c.Key})
				// Go's client offers only a certificate whose issuer the
				// server lists, and would send none; a hostile client sends
				// it anyway, and that is what the peer must verify.
				pair := cfg.Certificates[0]
				cfg.Certificates = nil
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
				return cfg
			},
			wantLog: "x509: certificate signed by unknown authority",
		},
		{
			name: "expired certificate",
			config: func(t *testing.T, l *lab) *tls.Config {
				files := l.issue(t, "expired", "edge-val23", labsetup.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
				return clientConfig(t, files)
			},
			wantLog: "x509: certificate has expired",
		},
		{
			name: "TLS 1.2 only",
			config: func(t *testing.T, l *lab) *tls.Config {
				cfg := clientConfig(t, l.tls.EdgedFiles())
				cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
				return cfg
			},
			wantLog: "tls: client offered only unsupported versions",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startPeer(t, nil)
			c := &transport.Client{TLS: tt.config(t, l), PeerID: "edge-val23", Timeout: 10 * time.Second}
			defer c.CloseIdle()
			created, err := l.deliver(context.Background(), c, "val23-sa-001", labsetup.Payload("val23-sa-001", 64))
			if tt.wantLog == "" {
				if err != nil || !created {
					t.Fatalf("Deliver = (%v, %v), want (true, nil)", created, err)
				}
				if got := l.fileEvidence(t).IDs(); len(got) != 1 {
					t.Errorf("evidence ids = %v, want one", got)
				}
				return
			}
			// The client's error depends on when it noticed the alert (TLS
			// 1.3 clients finish their side first); the peer's log says why.
			if err == nil {
				t.Fatalf("Deliver succeeded (created=%v), want a refused handshake", created)
			}
			l.waitLog(t, "TLS handshake error")
			l.waitLog(t, tt.wantLog)
			l.checkNothingReceived(t)
		})
	}
}
