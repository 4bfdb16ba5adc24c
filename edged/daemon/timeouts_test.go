package daemon

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"edgelab/transport"
)

// A client that connects and then sends nothing, sends a request slowly, or
// keeps an idle connection open must not hold one of the daemon's
// connections forever: every server edged runs has its timeouts set.
func TestNewServer_Timeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.Default())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s = %v, want a positive bound", name, d)
		}
	}
}

// Each HTTP/2 stream may hold a handler goroutine and a body buffer: every
// server edged runs caps them per connection, as the lab peer does
// (DESIGN.md §3, "Hostile senders"). Before the cap, Go's default of 250
// applied.
func TestNewServer_StreamCap(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.Default())
	if srv.HTTP2 == nil || srv.HTTP2.MaxConcurrentStreams != transport.MaxConcurrentStreams {
		t.Errorf("HTTP2 = %+v, want MaxConcurrentStreams %d", srv.HTTP2, transport.MaxConcurrentStreams)
	}
	if HandshakeTimeout > 3*time.Second {
		t.Errorf("HandshakeTimeout = %s, want at most 3 s", HandshakeTimeout)
	}
}
