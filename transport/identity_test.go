package transport_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name string
		cn   string
		uris []string
		want string
	}{
		{"URI SAN wins over CN", "cn-name", []string{"spiffe://edgelab/edge-a"}, "edge-a"},
		{"CN when no URI SAN", "edge-b", nil, "edge-b"},
		{"other trust domain ignored", "edge-c", []string{"spiffe://elsewhere/edge-x"}, "edge-c"},
		{"other scheme ignored", "edge-d", []string{"https://edgelab/edge-x"}, "edge-d"},
		{"empty path ignored", "edge-e", []string{"spiffe://edgelab/"}, "edge-e"},
		{"first matching URI", "cn", []string{"https://x/y", "spiffe://edgelab/edge-f", "spiffe://edgelab/edge-g"}, "edge-f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := &x509.Certificate{Subject: pkix.Name{CommonName: tt.cn}}
			for _, u := range tt.uris {
				cert.URIs = append(cert.URIs, mustURL(t, u))
			}
			if got := transport.Identity(cert); got != tt.want {
				t.Errorf("Identity = %q, want %q", got, tt.want)
			}
		})
	}
	if got, want := transport.IdentityURI("peer-val23"), "spiffe://edgelab/peer-val23"; got != want {
		t.Errorf("IdentityURI = %q, want %q", got, want)
	}
}

// The certificates setup writes carry the identity the protocol reads.
func TestIdentity_LabCertificates(t *testing.T) {
	p := certs(t)
	for file, want := range map[string]string{p.Edged: "edge-val23", p.Peer: "peer-val23"} {
		cert, err := labsetup.ReadCertificate(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := transport.Identity(cert); got != want {
			t.Errorf("Identity(%s) = %q, want %q", file, got, want)
		}
	}
}
