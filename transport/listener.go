package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of ListenerLimits (DESIGN.md §3, "Hostile senders").
const (
	// DefaultMaxConns caps the authenticated connections served at once.
	DefaultMaxConns = 256
	// DefaultMaxHandshakes caps the connections still in their TLS
	// handshake; further ones are closed at once.
	DefaultMaxHandshakes = 512
	// DefaultHandshakeTimeout is how long a connection has to complete its
	// TLS handshake (client certificate verified).
	DefaultHandshakeTimeout = 3 * time.Second
)

// ListenerLimits bounds what connections cost before and after
// authentication. Zero fields take the defaults.
type ListenerLimits struct {
	MaxConns         int
	MaxHandshakes    int
	HandshakeTimeout time.Duration
}

// Listener serves mutual TLS. Unlike tls.NewListener over a counting
// listener, the connection cap counts authenticated connections only:
// handshakes run apart, each under HandshakeTimeout, in a budget of their
// own, so connections that never speak cannot take the slots of
// authenticated peers. Accept returns *tls.Conn whose handshake completed.
type Listener struct {
	inner  net.Listener
	cfg    *tls.Config
	lim    ListenerLimits
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	conns      atomic.Int64 // authenticated, not yet closed
	handshakes atomic.Int64 // in progress
	refused    atomic.Int64 // closed because a budget was spent
	failed     atomic.Int64 // handshakes that failed or timed out

	ready chan *tls.Conn
	done  chan struct{} // closed when the accept loop ends
	err   error         // why it ended; read after done
}

// NewListener serves cfg's mutual TLS on inner within lim.
func NewListener(inner net.Listener, cfg *tls.Config, lim ListenerLimits, log *slog.Logger) *Listener {
	if lim.MaxConns <= 0 {
		lim.MaxConns = DefaultMaxConns
	}
	if lim.MaxHandshakes <= 0 {
		lim.MaxHandshakes = DefaultMaxHandshakes
	}
	if lim.HandshakeTimeout <= 0 {
		lim.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{inner: inner, cfg: cfg, lim: lim, log: log, ctx: ctx, cancel: cancel,
		ready: make(chan *tls.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// ListenerStats is what a Listener holds now and has refused.
type ListenerStats struct {
	Conns      int64 `json:"conns"`      // authenticated, open
	Handshakes int64 `json:"handshakes"` // in progress
	Refused    int64 `json:"refused"`    // closed because a budget was spent
	Failed     int64 `json:"failed"`     // handshakes failed or timed out
}

// Stats reports the listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Conns: l.conns.Load(), Handshakes: l.handshakes.Load(), Refused: l.refused.Load(), Failed: l.failed.Load()}
}

func (l *Listener) acceptLoop() {
	defer close(l.done)
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.ctx.Err() != nil {
				l.err = net.ErrClosed
				return
			}
			// Out of descriptors and the like: wait and retry, as
			// http.Server does for its own listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-l.ctx.Done():
				l.err = net.ErrClosed
				return
			}
		}
		backoff = 0
		if l.handshakes.Add(1) > int64(l.lim.MaxHandshakes) {
			l.handshakes.Add(-1)
			l.refused.Add(1)
			raw.Close()
			l.log.Debug("connection refused: handshakes in progress at their cap",
				"remote", raw.RemoteAddr().String(), "max_handshakes", l.lim.MaxHandshakes)
			continue
		}
		go l.handshake(raw)
	}
}

// slotConn releases the slot its connection holds when it is closed.
type slotConn struct {
	net.Conn
	mu   sync.Mutex
	slot *atomic.Int64 // the counter holding this connection; nil once released
}

func (c *slotConn) Close() error {
	c.mu.Lock()
	if c.slot != nil {
		c.slot.Add(-1)
		c.slot = nil
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

func (l *Listener) handshake(raw net.Conn) {
	sc := &slotConn{Conn: raw, slot: &l.handshakes}
	tc := tls.Server(sc, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.lim.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	remote := raw.RemoteAddr().String()
	if err != nil {
		tc.Close()
		l.failed.Add(1)
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			l.log.Info("TLS handshake timed out", "remote", remote, "timeout", l.lim.HandshakeTimeout)
		} else {
			l.log.Warn("TLS handshake error", "remote", remote, "err", err)
		}
		return
	}
	if l.conns.Add(1) > int64(l.lim.MaxConns) {
		l.conns.Add(-1)
		l.refused.Add(1)
		tc.Close()
		l.log.Warn("connection refused: authenticated connections at their cap",
			"remote", remote, "identity", Identity(tc.ConnectionState().PeerCertificates[0]), "max_conns", l.lim.MaxConns)
		return
	}
	// The connection took its place among the authenticated ones above.
	sc.mu.Lock()
	sc.slot.Add(-1)
	sc.slot = &l.conns
	sc.mu.Unlock()
	select {
	case l.ready <- tc:
	case <-l.ctx.Done():
		tc.Close()
	}
}

// Accept returns the next authenticated connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("accept on %s: %w", l.inner.Addr(), l.err)
	}
}

// Close stops accepting and ends the handshakes in progress; connections
// already returned by Accept belong to their server.
func (l *Listener) Close() error {
	l.cancel()
	return l.inner.Close()
}

// Addr is the address listened on.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }
