package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/ledger"
)

// BenchmarkStatus is the status of a relay blocked by its rate (every
// segment larger than the burst, so the oversize counts run) at fleet
// size: 1,000 configured peers with 10 PENDING segments each. One op is
// one status (status), or its answer's JSON encoding (encode) and decoding
// by the client (decode).
func BenchmarkStatus(b *testing.B) {
	const peers, each = 1000, 10
	d, cfg := startTestDaemon(b, func(c *config.Config) {
		c.Relay.Bandwidth.BytesPerSecond = 1
		c.Peers = c.Peers[:0]
		for i := range peers {
			id := fmt.Sprintf("peer-%04d", i+1)
			c.Peers = append(c.Peers, config.Peer{ID: id, Addr: "127.0.0.1:1", ServerName: "peer-ut"})
		}
	})
	l, err := ledger.Open(cfg.Ledger)
	if err != nil {
		b.Fatal(err)
	}
	var segs []ledger.New
	for i := range peers * each {
		segs = append(segs, ledger.New{ID: fmt.Sprintf("s-%07d", i), TargetPeer: cfg.Peers[i%peers].ID, Payload: make([]byte, 64)})
	}
	if err := l.Insert(context.Background(), time.Now(), segs...); err != nil {
		b.Fatal(err)
	}
	l.Close()
	ctx := context.Background()
	b.Run("status", func(b *testing.B) {
		for b.Loop() {
			st, err := d.Status(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if st.Segments.BlockedOversize != peers*each {
				b.Fatalf("%d oversize, want %d", st.Segments.BlockedOversize, peers*each)
			}
		}
	})
	// What the control socket adds: the answer's encoding, and the
	// client's decoding.
	st, err := d.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	data, _ := json.Marshal(st)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var got api.Status
			if err := json.Unmarshal(data, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
