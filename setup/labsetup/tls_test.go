package labsetup_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

func mustCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cert, err := labsetup.ReadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// wantErr fails unless err is non-nil and its message contains want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("got error %q, want it to contain %q", err, want)
	}
}

func TestGenerateTLS_IdentitiesAndFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := labsetup.GenerateTLS(dir, labsetup.TLSOptions{
		NodeID: "edge-x", PeerID: "peer-y", Validity: 2 * time.Hour, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}

	wantPerms := map[string]os.FileMode{
		"ca.pem": 0o644, "ca-key.pem": 0o600,
		"edged.pem": 0o644, "edged-key.pem": 0o600,
		"peer.pem": 0o644, "peer-key.pem": 0o600,
	}
	gotPerms := map[string]os.FileMode{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		gotPerms[e.Name()] = info.Mode().Perm()
	}
	if diff := cmp.Diff(wantPerms, gotPerms); diff != "" {
		t.Errorf("files and modes in %s (-want +got):\n%s", dir, diff)
	}

	ca := mustCert(t, p.CA)
	if !ca.IsCA {
		t.Errorf("ca.pem IsCA = false, want true")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	tests := []struct {
		file, identity string
	}{
		{p.Edged, "edge-x"},
		{p.Peer, "peer-y"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			cert := mustCert(t, tt.file)
			if got := transport.Identity(cert); got != tt.identity {
				t.Errorf("Identity = %q, want %q", got, tt.identity)
			}
			if got := cert.Subject.CommonName; got != tt.identity {
				t.Errorf("CN = %q, want %q", got, tt.identity)
			}
			var uris []string
			for _, u := range cert.URIs {
				uris = append(uris, u.String())
			}
			if diff := cmp.Diff([]string{transport.IdentityURI(tt.identity)}, uris); diff != "" {
				t.Errorf("URI SANs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.identity}, cert.DNSNames); diff != "" {
				t.Errorf("DNS SANs (-want +got):\n%s", diff)
			}
			if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("IP SANs = %v, want [127.0.0.1]", cert.IPAddresses)
			}
			wantUsage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			if diff := cmp.Diff(wantUsage, cert.ExtKeyUsage); diff != "" {
				t.Errorf("ExtKeyUsage (-want +got):\n%s", diff)
			}
			if got, want := cert.NotBefore.UTC(), now.Add(-time.Minute); !got.Equal(want) {
				t.Errorf("NotBefore = %v, want %v (a minute before issue)", got, want)
			}
			if got, want := cert.NotAfter.UTC(), now.Add(2*time.Hour); !got.Equal(want) {
				t.Errorf("NotAfter = %v, want %v (issue + validity)", got, want)
			}
			for _, usage := range wantUsage {
				opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: tt.identity}
				if _, err := cert.Verify(opts); err != nil {
					t.Errorf("verify for usage %v: %v", usage, err)
				}
			}
		})
	}
	for _, pair := range [][2]string{{p.Edged, p.EdgedKey}, {p.Peer, p.PeerKey}} {
		if _, err := tls.LoadX509KeyPair(pair[0], pair[1]); err != nil {
			t.Errorf("key pair %s: %v", pair[0], err)
		}
	}
	if !p.NotBefore.Equal(now.Add(-time.Minute)) || !p.NotAfter.Equal(now.Add(2*time.Hour)) {
		t.Errorf("TLSPaths window = %v..%v, want %v..%v", p.NotBefore, p.NotAfter, now.Add(-time.Minute), now.Add(2*time.Hour))
	}
}

func TestGenerateTLS_Defaults(t *testing.T) {
	p, err := labsetup.GenerateTLS(t.TempDir(), labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{p.Edged: "edge-val23", p.Peer: "peer-val23"} {
		cert := mustCert(t, file)
		if got := transport.Identity(cert); got != want {
			t.Errorf("%s: Identity = %q, want %q", file, got, want)
		}
		if got, want := cert.NotAfter.Sub(cert.NotBefore), labsetup.DefaultValidity+time.Minute; got != want {
			t.Errorf("%s: NotAfter-NotBefore = %s, want %s", file, got, want)
		}
	}
}

func TestGenerateTLS_RefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	p, err := labsetup.GenerateTLS(dir, labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}

	_, err = labsetup.GenerateTLS(dir, labsetup.TLSOptions{})
	wantErr(t, err, p.CA+" already exists")
	after, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a refused run changed %s", p.CA)
	}

	if _, err := labsetup.GenerateTLS(dir, labsetup.TLSOptions{Force: true}); err != nil {
		t.Fatalf("Force: %v", err)
	}
	replaced, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, replaced) {
		t.Errorf("Force kept the old %s", p.CA)
	}
}

func TestGenerateTLS_BadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts labsetup.TLSOptions
		want string
	}{
		{"same ids", labsetup.TLSOptions{NodeID: "a", PeerID: "a"}, `node id and peer id are both "a"`},
		{"slash in node id", labsetup.TLSOptions{NodeID: "a/b"}, `identity "a/b" must match`},
		{"space in peer id", labsetup.TLSOptions{PeerID: "p q"}, `identity "p q" must match`},
		{"negative validity", labsetup.TLSOptions{Validity: -time.Hour}, "validity must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := labsetup.GenerateTLS(dir, tt.opts)
			wantErr(t, err, tt.want)
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused run wrote %d files", len(entries))
			}
		})
	}
}

func TestIssueCert_ExtraIdentitiesExpiredAndOtherCA(t *testing.T) {
	dir := t.TempDir()
	p, err := labsetup.GenerateTLS(dir, labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(mustCert(t, p.CA))
	verify := func(file string) error {
		_, err := mustCert(t, file).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		return err
	}
	out := filepath.Join(t.TempDir(), "senders")

	t.Run("extra sender", func(t *testing.T) {
		sender, err := labsetup.IssueCert(dir, out, "sender-a", "edge-a", labsetup.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := transport.Identity(mustCert(t, sender.Cert)); got != "edge-a" {
			t.Errorf("Identity = %q, want edge-a", got)
		}
		if err := verify(sender.Cert); err != nil {
			t.Errorf("verify against the lab CA: %v", err)
		}
		if _, err := tls.LoadX509KeyPair(sender.Cert, sender.Key); err != nil {
			t.Error(err)
		}
		_, err = labsetup.IssueCert(dir, out, "sender-a", "edge-a", labsetup.CertOptions{})
		wantErr(t, err, "already exists")
	})

	t.Run("identity that is no host name", func(t *testing.T) {
		c, err := labsetup.IssueCert(dir, out, "u", "sess_1", labsetup.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cert := mustCert(t, c.Cert)
		if len(cert.DNSNames) != 0 {
			t.Errorf("DNS SANs = %v, want none", cert.DNSNames)
		}
		if got := transport.Identity(cert); got != "sess_1" {
			t.Errorf("Identity = %q, want sess_1", got)
		}
	})

	t.Run("expired", func(t *testing.T) {
		c, err := labsetup.IssueCert(dir, out, "expired", "edge-a", labsetup.CertOptions{
			NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		var invalid x509.CertificateInvalidError
		if err := verify(c.Cert); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
			t.Errorf("verify = %v, want an expired-certificate error", err)
		}
	})

	t.Run("other CA", func(t *testing.T) {
		otherDir := t.TempDir()
		if _, err := labsetup.GenerateCA(otherDir, labsetup.CertOptions{}); err != nil {
			t.Fatal(err)
		}
		c, err := labsetup.IssueCert(otherDir, otherDir, "edged", "edge-val23", labsetup.CertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var unknown x509.UnknownAuthorityError
		if err := verify(c.Cert); !errors.As(err, &unknown) {
			t.Errorf("verify = %v, want an unknown-authority error", err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, err := labsetup.IssueCert(t.TempDir(), out, "x", "edge-x", labsetup.CertOptions{})
		wantErr(t, err, "ca.pem")
		_, err = labsetup.IssueCert(dir, out, "../x", "edge-x", labsetup.CertOptions{})
		wantErr(t, err, "plain file name")
		_, err = labsetup.IssueCert(dir, out, "y", "", labsetup.CertOptions{})
		wantErr(t, err, `identity "" must match`)
	})
}
