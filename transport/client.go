package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// StatusError is a delivery the receiver answered with a non-2xx status.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("peer answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Client delivers segments over HTTP/2 + mTLS. It keeps one connection pool
// per (address, server name) so every delivery to a peer reuses it.
type Client struct {
	TLS       *tls.Config // from TLSFiles.ClientConfig
	PeerID    string      // sent as Edge-Peer-Id; empty sends none (old clients)
	SessionID string      // sent as Edge-Session-Id
	Timeout   time.Duration

	mu    sync.Mutex
	pools map[string]*pool
}

// pool is the connections to one peer address: HTTP/2 carries every
// delivery to it as a stream of one connection, once that connection is
// up. Until then deliveries take turns (first), so concurrent first
// deliveries do not each dial and shake hands (64 handshakes for one
// peer at start, one per segment with many peers).
type pool struct {
	hc    *http.Client
	first sync.Mutex
	up    atomic.Bool // a request has had an answer on it
}

// do sends req, one at a time until the pool has a connection.
func (p *pool) do(req *http.Request) (*http.Response, error) {
	if p.up.Load() {
		return p.hc.Do(req)
	}
	p.first.Lock()
	defer p.first.Unlock()
	resp, err := p.hc.Do(req)
	if err == nil {
		p.up.Store(true)
	}
	return resp, err
}

// Delivery is one PUT of a segment.
type Delivery struct {
	Addr       string // host:port
	ServerName string // expected identity in the peer's certificate
	ID         string
	TargetPeer string
	// Payload is the segment's bytes, unless Body is set: then Body's
	// Size() bytes are sent, read from offset 0 (and again from Outer on a
	// retry), so a payload kept in a file goes out without being read into
	// memory first.
	Payload []byte
	Body    *io.SectionReader
}

// body is what d sends.
func (d Delivery) body() *io.SectionReader {
	if d.Body != nil {
		return d.Body
	}
	return io.NewSectionReader(bytes.NewReader(d.Payload), 0, int64(len(d.Payload)))
}

func (c *Client) pool(addr, serverName string) *pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := addr + "|" + serverName
	if p, ok := c.pools[key]; ok {
		return p
	}
	cfg := c.TLS.Clone()
	cfg.ServerName = serverName
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	p := &pool{hc: &http.Client{Transport: tr, Timeout: timeout}}
	if c.pools == nil {
		c.pools = map[string]*pool{}
	}
	c.pools[key] = p
	return p
}

// Deliver PUTs one segment. created is false when the receiver already held
// it (200). Any other answer is a *StatusError.
func (c *Client) Deliver(ctx context.Context, d Delivery) (created bool, err error) {
	u := url.URL{Scheme: "https", Host: d.Addr, Path: SegmentsPath + d.ID}
	payload := d.body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), payload)
	if err != nil {
		return false, fmt.Errorf("build request for %s: %w", d.ID, err)
	}
	// What NewRequest sets for a bytes.Reader, for any section: the length,
	// and a fresh reader for the transport to send the payload again when a
	// connection fails before the request went out.
	req.ContentLength = payload.Size()
	req.GetBody = func() (io.ReadCloser, error) {
		ra, off, n := payload.Outer()
		return io.NopCloser(io.NewSectionReader(ra, off, n)), nil
	}
	if payload.Size() == 0 {
		req.Body, req.GetBody = http.NoBody, nil
	}
	req.Header.Set("Content-Length", strconv.FormatInt(payload.Size(), 10))
	req.Header.Set("Content-Type", "application/octet-stream")
	c.setSender(req.Header, d.TargetPeer)
	resp, err := c.pool(d.Addr, d.ServerName).do(req)
	if err != nil {
		return false, fmt.Errorf("put segment %s to %s: %w", d.ID, d.Addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK:
		return false, nil
	}
	return false, &StatusError{Code: resp.StatusCode, Message: string(bytes.TrimSpace(body))}
}

// CloseIdle closes every idle pooled connection.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pools {
		p.hc.CloseIdleConnections()
		// The next delivery may need a new connection: take turns again.
		p.up.Store(false)
	}
}

// setSender sets the headers that name the sender (its peer id, its
// session id) and the target peer, where set: the same on a single PUT
// and a batch.
func (c *Client) setSender(h http.Header, target string) {
	if c.PeerID != "" {
		h.Set(HeaderPeerID, c.PeerID)
	}
	if c.SessionID != "" {
		h.Set(HeaderSessionID, c.SessionID)
	}
	if target != "" {
		h.Set(HeaderTargetPeer, target)
	}
}
