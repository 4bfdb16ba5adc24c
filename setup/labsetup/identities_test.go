package labsetup

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/config"
	"edgelab/transport"
)

func TestPeerTLSDirAndClientCerts(t *testing.T) {
	dir := t.TempDir()
	paths, err := GenerateTLS(filepath.Join(dir, "tls"), TLSOptions{NodeID: "edge-x", PeerID: "peer-a"})
	if err != nil {
		t.Fatal(err)
	}
	files, err := PeerTLSDir(paths.Dir, filepath.Join(dir, "tls-b"), "peer-b", CertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := transport.TLSFiles{
		CA:   filepath.Join(dir, "tls-b", CAFile),
		Cert: filepath.Join(dir, "tls-b", PeerCertFile),
		Key:  filepath.Join(dir, "tls-b", PeerKeyFile),
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Fatalf("PeerTLSDir files (-want +got):\n%s", diff)
	}
	if _, err := files.ServerConfig(); err != nil {
		t.Fatalf("peer-b TLS files do not load: %v", err)
	}
	cert, err := ReadCertificate(files.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if got := transport.Identity(cert); got != "peer-b" {
		t.Errorf("peer-b certificate identity: got %q, want peer-b", got)
	}
	if _, err := PeerTLSDir(paths.Dir, filepath.Join(dir, "tls-b"), "peer-b", CertOptions{}); err == nil {
		t.Errorf("second PeerTLSDir into the same dir: got nil, want a refusal without Force")
	}

	senders, err := IssueClientCerts(paths.Dir, filepath.Join(dir, "senders"), CertOptions{}, "sender-1", "sender-2")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sender-1", "sender-2"} {
		f := senders[id]
		if _, err := f.ClientConfig(); err != nil {
			t.Fatalf("%s: client TLS files do not load: %v", id, err)
		}
		c, err := ReadCertificate(f.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if got := transport.Identity(c); got != id {
			t.Errorf("%s certificate identity: got %q", id, got)
		}
	}
}

func TestWriteConfigWith(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.toml")
	opts := DefaultConfigOptions()
	opts.PeerID, opts.PeerAddr = "peer-a", "127.0.0.1:1"
	cfg, err := WriteConfigWith(path, opts, func(c *config.Config) {
		c.Peers = append(c.Peers, config.Peer{ID: "peer-b", Addr: "127.0.0.1:2"})
		c.Ingress.MaxTrackedPeers = 3
	})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Peers[0].ID, cfg.Peers[1].ID, cfg.Peers[1].ServerName}
	if diff := cmp.Diff([]string{"peer-a", "peer-b", "peer-b"}, got); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	if cfg.Ingress.MaxTrackedPeers != 3 {
		t.Errorf("max_tracked_peers: got %d, want 3", cfg.Ingress.MaxTrackedPeers)
	}
	_, err = WriteConfigWith(path, opts, func(c *config.Config) { c.Peers = append(c.Peers, c.Peers[0]) })
	if err == nil {
		t.Errorf("a peer listed twice: got nil, want the config refused")
	}
}
