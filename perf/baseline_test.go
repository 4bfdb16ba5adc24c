// Package perf holds the baselines edged's figures are compared with, run in
// the same `go test -bench` invocation so a noisy machine moves both sides:
// a bare HTTP/2 mutual-TLS PUT client and server (the segment protocol with
// no ledger behind it) and a bare TLS 1.3 stream copy on loopback.
//
//	go test -run '^$' -bench . -benchtime 3s ./perf
package perf

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

var (
	tlsOnce  sync.Once
	tlsPaths labsetup.TLSPaths
	tlsErr   error
)

func labTLS(b *testing.B) labsetup.TLSPaths {
	b.Helper()
	tlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "perf")
		if err != nil {
			tlsErr = err
			return
		}
		tlsPaths, tlsErr = labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{})
	})
	if tlsErr != nil {
		b.Fatal(tlsErr)
	}
	return tlsPaths
}

// discardStore accepts every segment and keeps nothing.
type discardStore struct{}

func (discardStore) Put(context.Context, transport.Incoming) (bool, error) { return true, nil }

// bareServer serves the segment protocol over mTLS on a free port.
func bareServer(b *testing.B, p labsetup.TLSPaths) string {
	b.Helper()
	cfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: &transport.SegmentHandler{Store: discardStore{}, MaxBytes: 64 << 20}}
	go srv.Serve(tls.NewListener(l, cfg))
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func benchPUT(b *testing.B, size int) {
	p := labTLS(b)
	addr := bareServer(b, p)
	cfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	client := &transport.Client{TLS: cfg, PeerID: p.NodeID, SessionID: "bench"}
	payload := bytes.Repeat([]byte{'x'}, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := client.Deliver(context.Background(), transport.Delivery{
				Addr: addr, ServerName: p.PeerID, ID: "bench-segment", Payload: payload,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkBarePUT64 is the request-rate baseline: HTTP/2 + mTLS PUTs of
// 64 B, several in flight, nothing stored.
func BenchmarkBarePUT64(b *testing.B) { benchPUT(b, 64) }

// BenchmarkBarePUT64KiB is the same with 64 KiB bodies.
func BenchmarkBarePUT64KiB(b *testing.B) { benchPUT(b, 64<<10) }

// BenchmarkTLSStreamCopy is the byte-rate baseline: one TLS 1.3 connection on
// loopback, 1 MiB written per op and read to the end on the other side.
func BenchmarkTLSStreamCopy(b *testing.B) {
	p := labTLS(b)
	scfg, err := p.PeerFiles().ServerConfig()
	if err != nil {
		b.Fatal(err)
	}
	ccfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	ccfg.ServerName = p.PeerID
	ccfg.NextProtos = nil
	l, err := tls.Listen("tcp", "127.0.0.1:0", scfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), ccfg)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	if n := <-received; n != int64(b.N)*int64(len(chunk)) {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*int64(len(chunk)))
	}
}
