package labsetup

import (
	"fmt"
	"os"
	"path/filepath"

	"edgelab/edged/config"
	"edgelab/transport"
)

// PeerTLSDir writes a TLS directory for one more lab peer, signed by the CA
// in caDir: dir/ca.pem (a copy of the CA certificate, no key) and
// dir/peer.pem, dir/peer-key.pem for identity id, the layout
// `peer --tls-dir` reads. Labs with several peers give each its own.
func PeerTLSDir(caDir, dir, id string, opts CertOptions) (transport.TLSFiles, error) {
	ca, err := os.ReadFile(filepath.Join(caDir, CAFile))
	if err != nil {
		return transport.TLSFiles{}, fmt.Errorf("peer TLS dir for %s: %w", id, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return transport.TLSFiles{}, fmt.Errorf("peer TLS dir for %s: %w", id, err)
	}
	caPath := filepath.Join(dir, CAFile)
	if !opts.Force {
		if err := refuseExisting(caPath); err != nil {
			return transport.TLSFiles{}, err
		}
	}
	if err := writeFileAtomic(caPath, ca, certPerm); err != nil {
		return transport.TLSFiles{}, err
	}
	cert, err := IssueCert(caDir, dir, "peer", id, opts) // peer.pem, peer-key.pem
	if err != nil {
		return transport.TLSFiles{}, err
	}
	return cert.Files(caPath), nil
}

// IssueClientCerts issues one certificate per identity (e.g. the senders
// sender-1, sender-2 of a lab) into dir as <identity>.pem and
// <identity>-key.pem, and returns each one's TLS files keyed by identity.
func IssueClientCerts(caDir, dir string, opts CertOptions, ids ...string) (map[string]transport.TLSFiles, error) {
	out := make(map[string]transport.TLSFiles, len(ids))
	for _, id := range ids {
		cert, err := IssueCert(caDir, dir, id, id, opts)
		if err != nil {
			return nil, err
		}
		out[id] = cert.Files(filepath.Join(caDir, CAFile))
	}
	return out, nil
}

// WriteConfigWith is WriteConfig with a change made to the config before it
// is validated and written: more [[peers]], [ingress] limits, anything
// ConfigOptions does not carry.
func WriteConfigWith(path string, opts ConfigOptions, edit func(*config.Config)) (config.Config, error) {
	cfg := BuildConfig(opts)
	if edit != nil {
		edit(&cfg)
	}
	data, err := cfg.Encode()
	if err != nil {
		return config.Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	loaded, err := config.Parse(path, data)
	if err := withoutMissingTLS(err); err != nil {
		return config.Config{}, fmt.Errorf("config %s does not validate: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return config.Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		return config.Config{}, err
	}
	return loaded, nil
}
