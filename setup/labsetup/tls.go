package labsetup

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"edgelab/transport"
)

// Lab identities and validity used when the caller names none.
const (
	DefaultNodeID   = "edge-val23"
	DefaultPeerID   = "peer-val23"
	DefaultValidity = 24 * time.Hour
)

// File names inside a TLS directory (DESIGN.md §3).
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	EdgedCertFile = "edged.pem"
	EdgedKeyFile  = "edged-key.pem"
	PeerCertFile  = "peer.pem"
	PeerKeyFile   = "peer-key.pem"
)

// Certificates are public; keys are for their owner only.
const (
	certPerm os.FileMode = 0o644
	keyPerm  os.FileMode = 0o600
)

// clockSkew backdates NotBefore so a certificate is usable at once even
// when the processes' clocks disagree slightly.
const clockSkew = time.Minute

// TLSOptions configures GenerateTLS. Zero fields take the defaults above.
type TLSOptions struct {
	NodeID   string        // edged's identity
	PeerID   string        // the lab peer's identity
	Validity time.Duration // how long every certificate (and the CA) is valid
	Force    bool          // replace files already in the directory
	Now      func() time.Time
}

// TLSPaths are the files GenerateTLS wrote.
type TLSPaths struct {
	Dir       string
	CA        string
	CAKey     string
	Edged     string
	EdgedKey  string
	Peer      string
	PeerKey   string
	NodeID    string
	PeerID    string
	NotBefore time.Time
	NotAfter  time.Time
}

// EdgedFiles is edged's end of mutual TLS.
func (p TLSPaths) EdgedFiles() transport.TLSFiles {
	return transport.TLSFiles{CA: p.CA, Cert: p.Edged, Key: p.EdgedKey}
}

// PeerFiles is the lab peer's end of mutual TLS.
func (p TLSPaths) PeerFiles() transport.TLSFiles {
	return transport.TLSFiles{CA: p.CA, Cert: p.Peer, Key: p.PeerKey}
}

// CertOptions configures GenerateCA and IssueCert.
type CertOptions struct {
	// Validity defaults to DefaultValidity.
	Validity time.Duration
	// NotBefore zero: valid from a minute ago until now+Validity. Set: valid
	// from NotBefore to NotBefore+Validity, which makes expired or
	// not-yet-valid certificates for tests.
	NotBefore time.Time
	// DNSNames nil: the identity, when it is usable as a DNS name.
	DNSNames []string
	// IPAddresses nil: 127.0.0.1, where every lab process listens.
	IPAddresses []net.IP
	// Force replaces existing files.
	Force bool
	Now   func() time.Time
}

// CertPaths are a certificate and its key.
type CertPaths struct {
	Cert string
	Key  string
}

// Files pairs the certificate with the CA that verifies the other end.
func (c CertPaths) Files(caFile string) transport.TLSFiles {
	return transport.TLSFiles{CA: caFile, Cert: c.Cert, Key: c.Key}
}

func (o CertOptions) window() (notBefore, notAfter time.Time) {
	validity := o.Validity
	if validity <= 0 {
		validity = DefaultValidity
	}
	if !o.NotBefore.IsZero() {
		return o.NotBefore, o.NotBefore.Add(validity)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now()
	return t.Add(-clockSkew), t.Add(validity)
}

// GenerateTLS writes a fresh lab CA and the certificates of edged and of the
// lab peer into dir. Both leaf certificates serve as client and server
// certificates: edged dials peers and listens too.
func GenerateTLS(dir string, opts TLSOptions) (TLSPaths, error) {
	if opts.NodeID == "" {
		opts.NodeID = DefaultNodeID
	}
	if opts.PeerID == "" {
		opts.PeerID = DefaultPeerID
	}
	if opts.Validity < 0 {
		return TLSPaths{}, fmt.Errorf("tls validity must be positive, got %s", opts.Validity)
	}
	if opts.NodeID == opts.PeerID {
		return TLSPaths{}, fmt.Errorf("node id and peer id are both %q: they must differ so the peer can tell senders apart", opts.NodeID)
	}
	for _, id := range []string{opts.NodeID, opts.PeerID} {
		if err := checkIdentity(id); err != nil {
			return TLSPaths{}, err
		}
	}
	p := TLSPaths{
		Dir: dir, NodeID: opts.NodeID, PeerID: opts.PeerID,
		CA: filepath.Join(dir, CAFile), CAKey: filepath.Join(dir, CAKeyFile),
		Edged: filepath.Join(dir, EdgedCertFile), EdgedKey: filepath.Join(dir, EdgedKeyFile),
		Peer: filepath.Join(dir, PeerCertFile), PeerKey: filepath.Join(dir, PeerKeyFile),
	}
	if !opts.Force {
		// Check everything before writing anything, so a refusal leaves the
		// directory as it was.
		if err := refuseExisting(p.CA, p.CAKey, p.Edged, p.EdgedKey, p.Peer, p.PeerKey); err != nil {
			return TLSPaths{}, err
		}
	}
	// One instant for every certificate, so they share one validity window.
	now := time.Now()
	if opts.Now != nil {
		now = opts.Now()
	}
	co := CertOptions{Validity: opts.Validity, Force: true, Now: func() time.Time { return now }}
	if _, err := GenerateCA(dir, co); err != nil {
		return TLSPaths{}, err
	}
	if _, err := IssueCert(dir, dir, "edged", opts.NodeID, co); err != nil {
		return TLSPaths{}, err
	}
	if _, err := IssueCert(dir, dir, "peer", opts.PeerID, co); err != nil {
		return TLSPaths{}, err
	}
	p.NotBefore, p.NotAfter = co.window()
	return p, nil
}

// GenerateCA writes a new ECDSA P-256 lab CA to dir/ca.pem and dir/ca-key.pem.
func GenerateCA(dir string, opts CertOptions) (CertPaths, error) {
	paths := CertPaths{Cert: filepath.Join(dir, CAFile), Key: filepath.Join(dir, CAKeyFile)}
	if !opts.Force {
		if err := refuseExisting(paths.Cert, paths.Key); err != nil {
			return CertPaths{}, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertPaths{}, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return CertPaths{}, err
	}
	notBefore, notAfter := opts.window()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "edgelab lab CA " + serial.Text(16)[:8], Organization: []string{"edgelab"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return CertPaths{}, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePair(paths, der, key); err != nil {
		return CertPaths{}, err
	}
	return paths, nil
}

// IssueCert signs a certificate for identity with the CA in caDir and writes
// it to outDir/<name>.pem and outDir/<name>-key.pem. The identity is the
// common name and the URI SAN transport.IdentityURI(identity); the
// certificate is valid for client and server authentication.
func IssueCert(caDir, outDir, name, identity string, opts CertOptions) (CertPaths, error) {
	if err := checkIdentity(identity); err != nil {
		return CertPaths{}, err
	}
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return CertPaths{}, fmt.Errorf("certificate name %q must be a plain file name", name)
	}
	paths := CertPaths{Cert: filepath.Join(outDir, name+".pem"), Key: filepath.Join(outDir, name+"-key.pem")}
	if !opts.Force {
		if err := refuseExisting(paths.Cert, paths.Key); err != nil {
			return CertPaths{}, err
		}
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return CertPaths{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CertPaths{}, fmt.Errorf("generate key for %s: %w", identity, err)
	}
	serial, err := newSerial()
	if err != nil {
		return CertPaths{}, err
	}
	uri, err := url.Parse(transport.IdentityURI(identity))
	if err != nil {
		return CertPaths{}, fmt.Errorf("identity URI for %s: %w", identity, err)
	}
	dns := opts.DNSNames
	if dns == nil && dnsName.MatchString(identity) {
		dns = []string{identity}
	}
	ips := opts.IPAddresses
	if ips == nil {
		ips = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	notBefore, notAfter := opts.window()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: identity, Organization: []string{"edgelab"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return CertPaths{}, fmt.Errorf("sign certificate for %s: %w", identity, err)
	}
	if err := writePair(paths, der, key); err != nil {
		return CertPaths{}, err
	}
	return paths, nil
}

// dnsName is what a DNS SAN may hold; identities with "_" (or other
// characters a host name cannot have) only get the URI SAN and CN.
var dnsName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// checkIdentity holds identities to the segment id alphabet: they end up
// in a URI path, a DNS SAN and in evidence keys.
func checkIdentity(id string) error {
	if err := transport.ValidateID(id); err != nil {
		return fmt.Errorf("identity %q must match [A-Za-z0-9._-]{1,128}", id)
	}
	return nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: refusing to replace it without --force", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial, nil
}

// writePair writes the key first, so a certificate on disk always has its
// key beside it.
func writePair(paths CertPaths, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(paths.Cert), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(paths.Cert), err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %s: %w", paths.Key, err)
	}
	if err := writeFileAtomic(paths.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), keyPerm); err != nil {
		return err
	}
	return writeFileAtomic(paths.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), certPerm)
}

func loadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	certFile, keyFile := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, err := ReadCertificate(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load CA key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("load CA key: %s holds no PEM block", keyFile)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, nil, fmt.Errorf("load CA key: %s holds a %q block, want PRIVATE KEY", keyFile, block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load CA key %s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("load CA key: %s is not a signing key", keyFile)
	}
	return cert, signer, nil
}

// ReadCertificate parses the first certificate in a PEM file.
func ReadCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %s: %w", path, err)
		}
		return cert, nil
	}
}
