package ledger

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func seedBench(b *testing.B, l *Ledger, n, size int) []string {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	var segs []New
	for i := range n {
		ids[i] = fmt.Sprintf("seg-%08d", i)
		segs = append(segs, New{ID: ids[i], TargetPeer: "peer-a", Payload: make([]byte, size)})
		if len(segs) == 512 || i == n-1 {
			if err := l.Insert(ctx, t0, segs...); err != nil {
				b.Fatal(err)
			}
			segs = segs[:0]
		}
	}
	return ids
}

// BenchmarkRecord is the ledger's share of a relayed segment: its DELIVERED
// mark, its attempt in the history and the quota usage, batches of 16 per transaction (what 16
// deliveries in flight give). One op is one segment.
func BenchmarkRecord(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := open(b, filepath.Join(b.TempDir(), "l.db"))
			ds := deliveries(t0, seedBench(b, l, b.N, 64)...)
			ctx := context.Background()
			b.ResetTimer()
			for start := 0; start < b.N; start += batch {
				o := Outcomes{Delivered: ds[start:min(b.N, start+batch)], Usage: map[string]Usage{"": {WindowStart: t0, UsedBytes: int64(start)}}}
				if err := l.Record(ctx, t0, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDue reads a cycle's batch of 1024 due segments of 64 B out of
// 100,000 pending. One op is one segment read.
func BenchmarkDue(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "l.db"))
	seedBench(b, l, 100000, 64)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1024 {
		segs, err := l.DueBatch(ctx, t0, 1024, 4096)
		if err != nil || len(segs) != 1024 {
			b.Fatalf("got %d segments, %v", len(segs), err)
		}
	}
}

// BenchmarkPendingOversize is the status's count of segments too large for
// a burst over 100,000 pending ones. One op is one count.
func BenchmarkPendingOversize(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "l.db"))
	seedBench(b, l, 100000, 64)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.PendingOversize(ctx, 32, map[string]int64{"peer-a": 16}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayload compares the two homes of a large payload at each size:
// segment_payloads (read through SQLite and the driver) and a file of its
// own, for reading it as a delivery does (opened, then read into a reused
// buffer as the HTTP/2 client reads a body) and for inserting it (16 per
// transaction). One op is one segment. fileBytes is where files win.
func BenchmarkPayload(b *testing.B) {
	ctx := context.Background()
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, where := range []string{"db", "file"} {
			threshold := int64(1 << 40) // never a file
			if where == "file" {
				threshold = 0
			}
			b.Run(fmt.Sprintf("read/size=%dKiB/where=%s", size>>10, where), func(b *testing.B) {
				l := open(b, filepath.Join(b.TempDir(), "l.db"))
				l.fileBytes = threshold
				ids := seedBench(b, l, 64, size)
				buf := make([]byte, 512<<10)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := range b.N {
					r, err := l.OpenPayload(ctx, ids[i%len(ids)])
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			})
			b.Run(fmt.Sprintf("insert/size=%dKiB/where=%s", size>>10, where), func(b *testing.B) {
				l := open(b, filepath.Join(b.TempDir(), "l.db"))
				l.fileBytes = threshold
				payload := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for start := 0; start < b.N; start += 16 {
					var segs []New
					for i := start; i < min(b.N, start+16); i++ {
						segs = append(segs, New{ID: fmt.Sprintf("seg-%08d", i), TargetPeer: "p", Payload: payload})
					}
					if err := l.Insert(ctx, t0, segs...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkInsertParallel inserts one segment per transaction from
// 4 × GOMAXPROCS goroutines at once, as edged's listener does with several
// senders, with the payload in the database or in a file. One op is one
// segment.
func BenchmarkInsertParallel(b *testing.B) {
	for _, size := range []int{256 << 10} {
		for _, where := range []string{"db", "file"} {
			b.Run(fmt.Sprintf("size=%dKiB/where=%s", size>>10, where), func(b *testing.B) {
				l := open(b, filepath.Join(b.TempDir(), "l.db"))
				if where == "db" {
					l.fileBytes = 1 << 40
				} else {
					l.fileBytes = 0
				}
				payload := make([]byte, size)
				var next atomic.Int64
				b.SetBytes(int64(size))
				b.SetParallelism(4)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := fmt.Sprintf("seg-%08d", next.Add(1))
						if _, err := l.InsertIfAbsent(context.Background(), t0, New{ID: id, TargetPeer: "p", Payload: payload}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkDueTargets is BenchmarkDue with the 100,000 pending segments
// spread over several targets: the batch is read target by target
// (DueBatch's fair share). One op is one segment read.
func BenchmarkDueTargets(b *testing.B) {
	for _, targets := range []int{2, 16} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			l := open(b, filepath.Join(b.TempDir(), "l.db"))
			ctx := context.Background()
			var segs []New
			for i := range 100000 {
				segs = append(segs, New{ID: fmt.Sprintf("seg-%08d", i), TargetPeer: fmt.Sprintf("peer-%02d", i%targets), Payload: make([]byte, 64)})
				if len(segs) == 512 {
					if err := l.Insert(ctx, t0, segs...); err != nil {
						b.Fatal(err)
					}
					segs = segs[:0]
				}
			}
			if err := l.Insert(ctx, t0, segs...); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += 1024 {
				segs, err := l.DueBatch(ctx, t0, 1024, 4096)
				if err != nil || len(segs) != 1024 {
					b.Fatalf("got %d segments, %v", len(segs), err)
				}
			}
		})
	}
}

// BenchmarkPendingOversizeTargets is BenchmarkPendingOversize at fleet
// size: 1,000 targets of 10 pending segments each (64–66 B). With a burst
// of 32 B every segment is in a larger size class (class rows only); with
// 65 B they are all in the burst's own class, so every target's exact
// sizes are read too (the layout's worst case per target). One op is one
// count of every target.
func BenchmarkPendingOversizeTargets(b *testing.B) {
	const targets = 1000
	l := open(b, filepath.Join(b.TempDir(), "l.db"))
	ctx := context.Background()
	var segs []New
	for i := range targets * 10 {
		segs = append(segs, New{ID: fmt.Sprintf("seg-%08d", i), TargetPeer: fmt.Sprintf("peer-%04d", i%targets), Payload: make([]byte, 64+i%3)})
	}
	if err := l.Insert(ctx, t0, segs...); err != nil {
		b.Fatal(err)
	}
	for _, burst := range []int64{32, 65} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			for b.Loop() {
				got, err := l.PendingOversize(ctx, burst, nil)
				if err != nil || len(got) != targets {
					b.Fatalf("%d targets oversize, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkInsert inserts segments of 64 B (in their rows), one per
// transaction as the listener does and 512 per transaction as setup seed
// does: the per-segment cost of the row, its indexes and the counters its
// triggers keep. One op is one segment.
func BenchmarkInsert(b *testing.B) {
	for _, batch := range []int{1, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := open(b, filepath.Join(b.TempDir(), "l.db"))
			ctx := context.Background()
			payload := make([]byte, 64)
			segs := make([]New, 0, batch)
			b.ResetTimer()
			for start := 0; start < b.N; start += batch {
				segs = segs[:0]
				for i := start; i < min(b.N, start+batch); i++ {
					segs = append(segs, New{ID: fmt.Sprintf("seg-%08d", i), TargetPeer: fmt.Sprintf("peer-%d", i%4), Payload: payload})
				}
				if err := l.Insert(ctx, t0, segs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
