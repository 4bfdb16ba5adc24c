package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of one end of a mutual-TLS connection.
type TLSFiles struct {
	CA   string // CA certificate(s) that sign every lab identity
	Cert string // this end's certificate
	Key  string // this end's private key
}

func (f TLSFiles) load() (*x509.CertPool, tls.Certificate, error) {
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, tls.Certificate{}, fmt.Errorf("CA %s: no PEM certificate found", f.CA)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("certificate %s with key %s: %w", f.Cert, f.Key, err)
	}
	return pool, pair, nil
}

// ServerConfig is the listener side: TLS 1.3 only, a client certificate
// signed by the CA is required, HTTP/2 offered first.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// ClientConfig is the dialing side: TLS 1.3 only, presents the certificate,
// verifies the server against the CA. ServerName is set per peer by Client.
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		NextProtos:   []string{"h2"},
	}, nil
}
