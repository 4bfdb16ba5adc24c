package transport

import (
	"crypto/x509"
	"strings"
)

// IdentityScheme and IdentityHost form a peer's URI SAN:
// spiffe://edgelab/<peer-id>.
const (
	IdentityScheme = "spiffe"
	IdentityHost   = "edgelab"
)

// IdentityURI is the URI SAN that names peer id in a certificate.
func IdentityURI(id string) string { return IdentityScheme + "://" + IdentityHost + "/" + id }

// Identity returns the peer id a certificate names: its spiffe://edgelab/ URI
// SAN, else its common name.
func Identity(cert *x509.Certificate) string {
	for _, u := range cert.URIs {
		if u.Scheme == IdentityScheme && u.Host == IdentityHost {
			if id := strings.TrimPrefix(u.Path, "/"); id != "" {
				return id
			}
		}
	}
	return cert.Subject.CommonName
}
