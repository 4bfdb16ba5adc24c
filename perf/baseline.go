// Package perf holds the baselines edged's figures are compared with — a
// bare HTTP/2 mutual-TLS PUT client and server (the segment protocol with
// no ledger behind it), the same pair through the batched transfer, and a
// bare TLS 1.3 stream copy on loopback — and
// Sink, a receiver that only records when each segment arrived. The Go
// benchmarks in this package and the whole-process figures of
// perf/relaybench (scripts/bench/run.sh) both use them, so a baseline is
// measured by the same code in the same run as the figure it is compared
// with.
//
//	go test -run '^$' -bench . -benchtime 3s ./perf
package perf

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// Rate is what a measurement moved in its time.
type Rate struct {
	Ops     int64
	Bytes   int64
	Elapsed time.Duration
}

// OpsPerSec is operations (PUTs, segments) per second.
func (r Rate) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// MiBPerSec is payload MiB per second.
func (r Rate) MiBPerSec() float64 { return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds() }

// NewTLS writes the lab CA and the edged and peer certificates under dir.
func NewTLS(dir string) (labsetup.TLSPaths, error) {
	return labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{})
}

// discardStore accepts every segment and keeps nothing.
type discardStore struct{}

func (discardStore) Put(context.Context, transport.Incoming) (bool, error) { return true, nil }

// Server serves the segment protocol over mTLS on a free loopback port.
type Server struct {
	Addr string
	srv  *http.Server
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// StartServer serves h (a transport.SegmentHandler, usually) with the peer's
// certificate, as the lab peer does: TLS 1.3, client certificates required,
// HTTP/2.
func StartServer(p labsetup.TLSPaths, h http.Handler) (*Server, error) {
	cfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg}
	go srv.ServeTLS(l, "", "")
	return &Server{Addr: l.Addr().String(), srv: srv}, nil
}

// StartBareServer serves the segment protocol with a store that keeps
// nothing: the receiving half of the bare PUT baseline.
func StartBareServer(p labsetup.TLSPaths) (*Server, error) {
	return StartServer(p, &transport.SegmentHandler{Store: discardStore{}, MaxBytes: 64 << 20})
}

// Client is edged's end of the bare baseline: transport.Client with edged's
// certificate, one HTTP/2 connection pool.
func Client(p labsetup.TLSPaths) (*transport.Client, error) {
	cfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		return nil, err
	}
	return &transport.Client{TLS: cfg, PeerID: p.NodeID, SessionID: "44444444-4444-4444-8444-444444444444"}, nil
}

// BarePUT PUTs segments of size bytes to a bare server for d, with streams
// PUTs in flight on one HTTP/2 connection, as edged's executor does.
func BarePUT(ctx context.Context, p labsetup.TLSPaths, size, streams int, d time.Duration) (Rate, error) {
	return bare(ctx, p, size, streams, d, "bare PUT", func(c *transport.Client) deliverFunc { return c.Deliver })
}

// BareBatch is BarePUT through the batched transfer (POST
// /v1/segments:batch): streams goroutines deliver segments of size bytes
// through one transport.Batcher, as edged's executor does with batch = true,
// to a bare server — the batched pair with no ledger on either side. Ops
// are segments.
func BareBatch(ctx context.Context, p labsetup.TLSPaths, size, streams int, d time.Duration) (Rate, error) {
	return bare(ctx, p, size, streams, d, "bare batch", func(c *transport.Client) deliverFunc {
		return (&transport.Batcher{Client: c}).Deliver
	})
}

type deliverFunc func(context.Context, transport.Delivery) (bool, error)

// bare delivers segments of size bytes to a bare server for d, streams at
// once, through what sender makes of the baseline's client.
func bare(ctx context.Context, p labsetup.TLSPaths, size, streams int, d time.Duration, name string, sender func(*transport.Client) deliverFunc) (Rate, error) {
	srv, err := StartBareServer(p)
	if err != nil {
		return Rate{}, err
	}
	defer srv.Close()
	c, err := Client(p)
	if err != nil {
		return Rate{}, err
	}
	defer c.CloseIdle()
	deliver := sender(c)
	payload := bytes.Repeat([]byte{'x'}, size)
	var seq atomic.Int64
	put := func(ctx context.Context) error {
		// A distinct id per PUT, as segments have: a repeated :path would
		// be cheaper to encode than edged's requests are.
		id := "bare-" + strconv.FormatInt(seq.Add(1), 10)
		_, err := deliver(ctx, transport.Delivery{Addr: srv.Addr, ServerName: p.PeerID, ID: id, TargetPeer: p.PeerID, Payload: payload})
		return err
	}
	// One first, so the handshake is not in the figure: edged's
	// connection is open long before a busy relay.
	if err := put(ctx); err != nil {
		return Rate{}, fmt.Errorf("%s: %w", name, err)
	}
	n, el, err := parallel(ctx, streams, d, put)
	return Rate{Ops: n, Bytes: n * int64(size), Elapsed: el}, err
}

// parallel runs op in streams goroutines until d has passed; it returns how
// many ops completed and the time they took.
func parallel(ctx context.Context, streams int, d time.Duration, op func(context.Context) error) (int64, time.Duration, error) {
	var (
		n       atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	deadline := start.Add(d)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := op(ctx); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load(), time.Since(start), first
}

// Pipe is one TLS 1.3 connection on loopback, edged's certificate to the
// peer's, whose far end reads everything to the end.
type Pipe struct {
	Conn     *tls.Conn
	l        net.Listener
	received chan int64
}

// DialPipe opens a Pipe.
func DialPipe(ctx context.Context, p labsetup.TLSPaths) (*Pipe, error) {
	scfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		return nil, err
	}
	ccfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		return nil, err
	}
	ccfg.ServerName = p.PeerID
	ccfg.NextProtos = nil
	scfg.NextProtos = nil
	l, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		return nil, err
	}
	pipe := &Pipe{l: l, received: make(chan int64, 1)}
	go func() {
		c, err := l.Accept()
		if err != nil {
			pipe.received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		pipe.received <- n
	}()
	dialer := tls.Dialer{Config: ccfg}
	c, err := dialer.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		l.Close()
		return nil, err
	}
	pipe.Conn = c.(*tls.Conn)
	return pipe, nil
}

// Finish closes the pipe and returns the bytes the far end read: it waits
// for them, since bytes in socket buffers have not been read yet.
func (p *Pipe) Finish() int64 {
	p.Conn.CloseWrite()
	got := <-p.received
	p.Conn.Close()
	p.l.Close()
	return got
}

// StreamCopy writes chunk-sized buffers over one TLS 1.3 connection on
// loopback for d while the other end reads them to the end: the byte-rate
// ceiling of a single mTLS connection on this machine.
func StreamCopy(ctx context.Context, p labsetup.TLSPaths, chunk int, d time.Duration) (Rate, error) {
	pipe, err := DialPipe(ctx, p)
	if err != nil {
		return Rate{}, err
	}
	c := pipe.Conn
	buf := make([]byte, chunk)
	// The handshake completes on the first write; keep it out of the time.
	if _, err := c.Write(buf); err != nil {
		pipe.Finish()
		return Rate{}, err
	}
	var n int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			pipe.Finish()
			return Rate{}, err
		}
		n++
	}
	got := pipe.Finish() // counts until the reader has everything
	el := time.Since(start)
	if want := (n + 1) * int64(chunk); got != want {
		return Rate{}, fmt.Errorf("stream copy: the reader got %d bytes, want %d", got, want)
	}
	return Rate{Ops: n, Bytes: n * int64(chunk), Elapsed: el}, nil
}
