package perf

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

var (
	tlsOnce  sync.Once
	tlsPaths labsetup.TLSPaths
	tlsErr   error
)

func labTLS(tb testing.TB) labsetup.TLSPaths {
	tb.Helper()
	tlsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "perf")
		if err != nil {
			tlsErr = err
			return
		}
		tlsPaths, tlsErr = NewTLS(dir)
	})
	if tlsErr != nil {
		tb.Fatal(tlsErr)
	}
	return tlsPaths
}

func benchPUT(b *testing.B, size int) {
	// 8 × GOMAXPROCS PUTs in flight: 16 on a 2-core machine, as many as
	// edged's executor keeps (daemon.relayInFlight).
	benchBare(b, size, 8, "puts/s", func(c *transport.Client) deliverFunc { return c.Deliver })
}

// benchBare delivers segments of size bytes to a bare server, parallelism
// × GOMAXPROCS at once, through what sender makes of the baseline's client,
// and reports the rate in unit.
func benchBare(b *testing.B, size, parallelism int, unit string, sender func(*transport.Client) deliverFunc) {
	p := labTLS(b)
	srv, err := StartBareServer(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	client, err := Client(p)
	if err != nil {
		b.Fatal(err)
	}
	deliver := sender(client)
	payload := bytes.Repeat([]byte{'x'}, size)
	var seq atomic.Int64
	b.SetBytes(int64(size))
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := deliver(context.Background(), transport.Delivery{
				Addr: srv.Addr, ServerName: p.PeerID, ID: "bench-" + strconv.FormatInt(seq.Add(1), 10),
				TargetPeer: p.PeerID, Payload: payload,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkBarePUT64 is the request-rate baseline: HTTP/2 + mTLS PUTs of
// 64 B, several in flight, nothing stored.
func BenchmarkBarePUT64(b *testing.B) { benchPUT(b, 64) }

// BenchmarkBarePUT64KiB is the same with 64 KiB bodies.
func BenchmarkBarePUT64KiB(b *testing.B) { benchPUT(b, 64<<10) }

// BenchmarkBarePUT1MiB is the same with 1 MiB bodies: the protocol's own
// ceiling for edged's largest segments.
func BenchmarkBarePUT1MiB(b *testing.B) { benchPUT(b, 1<<20) }

// BenchmarkBareBatch64 is BenchmarkBarePUT64 through the batched transfer:
// one transport.Batcher, 64 B segments, as many callers in flight.
func BenchmarkBareBatch64(b *testing.B) {
	benchBare(b, 64, 32, "segments/s", func(c *transport.Client) deliverFunc {
		return (&transport.Batcher{Client: c}).Deliver
	})
}

// BenchmarkTLSStreamCopy is the byte-rate baseline: one TLS 1.3 connection on
// loopback, 1 MiB written per op and read to the end on the other side.
func BenchmarkTLSStreamCopy(b *testing.B) {
	pipe, err := DialPipe(context.Background(), labTLS(b))
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pipe.Conn.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if n := pipe.Finish(); n != int64(b.N)*int64(len(chunk)) {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*int64(len(chunk)))
	}
}
