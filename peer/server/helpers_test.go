package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/internal/syncbuf"
	"edgelab/peer/received"
	"edgelab/peer/server"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

const peerID = "peer-val23"

// lab is a running peer server with the lab CA and certificates.
type lab struct {
	dir      string
	tls      labsetup.TLSPaths
	srv      *server.Server
	evidence string
	log      *syncbuf.Buffer // the peer's log
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitLog polls the peer's log for want under a deadline; the server logs
// a refused handshake on its own goroutine, after the client saw the
// failure.
func (l *lab) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(l.log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("peer log has no %q within 5s; log:\n%s", want, l.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startPeer(t *testing.T, edit func(*server.Options)) *lab {
	t.Helper()
	dir := t.TempDir()
	paths, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{dir: dir, tls: paths, evidence: filepath.Join(dir, "peer-evidence.json"), log: &syncbuf.Buffer{}}
	opts := server.Options{
		Listen:          "127.0.0.1:0",
		PeerID:          peerID,
		TLS:             paths.PeerFiles(),
		EvidencePath:    l.evidence,
		MaxSegmentBytes: 1024,
		Log:             slog.New(slog.NewTextHandler(l.log, nil)),
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := server.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return l
}

// issue makes a client certificate for identity signed by the lab CA.
func (l *lab) issue(t *testing.T, name, identity string, opts labsetup.CertOptions) transport.TLSFiles {
	t.Helper()
	c, err := labsetup.IssueCert(l.tls.Dir, filepath.Join(l.dir, "clients"), name, identity, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.Files(l.tls.CA)
}

// client delivers with the given certificate, declaring peerID and session.
func (l *lab) client(t *testing.T, files transport.TLSFiles, peerID, session string) *transport.Client {
	t.Helper()
	cfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &transport.Client{TLS: cfg, PeerID: peerID, SessionID: session, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdle)
	return c
}

func (l *lab) deliver(ctx context.Context, c *transport.Client, id string, payload []byte) (bool, error) {
	return c.Deliver(ctx, transport.Delivery{Addr: l.srv.Addr(), ServerName: peerID, ID: id, TargetPeer: peerID, Payload: payload})
}

// httpClient speaks HTTP/2 (h2) or HTTP/1.1 over cfg to the peer.
func httpClient(t *testing.T, cfg *tls.Config, h2 bool) *http.Client {
	t.Helper()
	cfg = cfg.Clone()
	cfg.ServerName = peerID
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}
	if h2 {
		cfg.NextProtos = []string{"h2"}
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func clientConfig(t *testing.T, files transport.TLSFiles) *tls.Config {
	t.Helper()
	cfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (l *lab) url(path string) string { return fmt.Sprintf("https://%s%s", l.srv.Addr(), path) }

func (l *lab) fileEvidence(t *testing.T) received.Evidence {
	t.Helper()
	ev, err := received.ReadFile(l.evidence)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// emptyEvidence is what the peer shows before it accepted anything.
func emptyEvidence() received.Evidence {
	return received.Evidence{PeerID: peerID, Segments: []received.Segment{}, Ingress: received.Ingress{ByPeer: map[string]int64{}}}
}

// checkNothingReceived fails unless both the file and the store are empty:
// nothing stored and no byte credited.
func (l *lab) checkNothingReceived(t *testing.T) {
	t.Helper()
	if diff := cmp.Diff(emptyEvidence(), l.fileEvidence(t)); diff != "" {
		t.Errorf("evidence file is not empty (-want +got):\n%s", diff)
	}
	if total := l.srv.Store().Ingress().Total(); total != 0 {
		t.Errorf("ingress total = %d, want 0", total)
	}
}

func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
	return resp.StatusCode
}
