package transport_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// memStore is a transport.Store in memory; err, when set, is returned by
// every Put.
type memStore struct {
	mu   sync.Mutex
	segs map[string]transport.Incoming
	puts int
	err  error
}

func (s *memStore) Put(_ context.Context, in transport.Incoming) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.err != nil {
		return false, s.err
	}
	if s.segs == nil {
		s.segs = map[string]transport.Incoming{}
	}
	if _, ok := s.segs[in.ID]; ok {
		return false, nil
	}
	s.segs[in.ID] = in
	return true, nil
}

func (s *memStore) get(id string) (transport.Incoming, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.segs[id]
	return in, ok
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.segs)
}

// certs writes a lab CA with edged and peer certificates.
func certs(t *testing.T) labsetup.TLSPaths {
	t.Helper()
	p, err := labsetup.GenerateTLS(filepath.Join(t.TempDir(), "tls"), labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serve runs h over mutual TLS (transport's ServerConfig, HTTP/2) on a free
// loopback port and returns the address.
func serve(t *testing.T, files transport.TLSFiles, h http.Handler) string {
	t.Helper()
	cfg, err := files.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelWarn),
		// 16 KiB frames: Go's HTTP/2 client sizes each request's write
		// buffer by the server's frame size (512 KiB with the default
		// 1 MiB), which would hide the server's own memory in the tests
		// that measure it.
		HTTP2: &http.HTTP2Config{MaxReadFrameSize: 16 << 10}}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func newClient(t *testing.T, files transport.TLSFiles, peerID, session string) *transport.Client {
	t.Helper()
	cfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &transport.Client{TLS: cfg, PeerID: peerID, SessionID: session, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdle)
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
