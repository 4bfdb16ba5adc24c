package daemon

import (
	"log/slog"
	"net/http"
	"testing"
	"time"
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
