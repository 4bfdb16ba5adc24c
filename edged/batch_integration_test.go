package main_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/config"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// requestCounter counts the requests of each kind a receiver served and
// the segments of the batches.
type requestCounter struct {
	h       http.Handler
	mu      sync.Mutex
	singles int
	batches []int
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if r.URL.Path == transport.BatchPath {
		n, _ := strconv.Atoi(r.Header.Get(transport.HeaderBatchCount))
		c.batches = append(c.batches, n)
	} else {
		c.singles++
	}
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func (c *requestCounter) counts() (singles int, batches []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.singles, append([]int(nil), c.batches...)
}

// countingReceiver is startReceiver with its requests counted.
func countingReceiver(t *testing.T, files transport.TLSFiles) (*receiver, *requestCounter) {
	t.Helper()
	cfg, err := files.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{held: map[string]bool{}, addr: l.Addr().String()}
	c := &requestCounter{h: &transport.SegmentHandler{Store: r, MaxBytes: 1 << 20}}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tls.NewListener(l, cfg))
	t.Cleanup(func() { srv.Close() })
	return r, c
}

// [[peers]] batch = true: that peer's segments go in batched requests,
// every one of them delivered once; the other peer keeps the single PUT.
func TestEdged_BatchedTransferPerPeer(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	l := newTwoPeerLab(t, opts, nil)
	// peer-b again, counted, with batch = true.
	filesB := transport.TLSFiles{CA: l.tls.CA, Cert: l.dir + "/tls-b/peer.pem", Key: l.dir + "/tls-b/peer-key.pem"}
	recvB, countB := countingReceiver(t, filesB)
	recvA, countA := countingReceiver(t, l.tls.PeerFiles())
	l.peers["peer-a"], l.peers["peer-b"] = recvA, recvB
	o := opts
	o.NodeID, o.PeerID, o.PeerAddr, o.Listen = "edge-it", "peer-a", recvA.addr, "127.0.0.1:0"
	if _, err := labsetup.WriteConfigWith(l.config, o, func(c *config.Config) {
		c.Peers = append(c.Peers, config.Peer{ID: "peer-b", Addr: recvB.addr, Batch: true})
	}); err != nil {
		t.Fatal(err)
	}
	idsA := l.seedFor("peer-a", "it-a", 20)
	idsB := l.seedFor("peer-b", "it-b", 500)
	l.start()
	l.waitFor("all 520 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 520, fmt.Sprintf("segments=%+v", st.Segments)
	})
	if diff := cmp.Diff(sorted(idsB), sorted(recvB.IDs())); diff != "" {
		t.Errorf("peer-b received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(sorted(idsA), sorted(recvA.IDs())); diff != "" {
		t.Errorf("peer-a received (-want +got):\n%s", diff)
	}
	singlesB, batchesB := countB.counts()
	total := 0
	for _, n := range batchesB {
		total += n
	}
	if singlesB != 0 || total != 500 || len(batchesB) >= 500 {
		t.Errorf("peer-b: %d single PUTs and %d batches of %d segments together, want none and fewer batches than its 500 segments, 500 in all", singlesB, len(batchesB), total)
	}
	if singlesA, batchesA := countA.counts(); singlesA != 20 || len(batchesA) != 0 {
		t.Errorf("peer-a: %d single PUTs and %d batches, want 20 and none", singlesA, len(batchesA))
	}
	t.Logf("peer-b: %d batches for 500 segments: %v", len(batchesB), batchesB)
	if err := l.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// A batch to edged's own listener: each segment answered as its PUT would
// be (201 new, 200 the same body again, 409 another body under a held id,
// 400 an unknown target is refused for every segment alike), and the new
// ones relayed on.
func TestEdged_ListenerServesBatches(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	addr := l.status().Listen
	certs, err := labsetup.IssueClientCerts(l.tls.Dir, filepath.Join(l.dir, "senders"), labsetup.CertOptions{}, "sender-1")
	if err != nil {
		t.Fatal(err)
	}
	c := newSender(t, certs["sender-1"], "sender-1", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a61", 1).conns[0]
	body := func(s string) *io.SectionReader { return io.NewSectionReader(strings.NewReader(s), 0, int64(len(s))) }
	send := func(target string, segs ...[2]string) []int {
		t.Helper()
		b := &transport.Batch{Addr: addr, ServerName: "edge-it", TargetPeer: target}
		for _, s := range segs {
			if err := b.Add(s[0], body(s[1])); err != nil {
				t.Fatal(err)
			}
		}
		res, err := c.DeliverBatch(context.Background(), b)
		if err != nil {
			t.Fatalf("DeliverBatch: %v", err)
		}
		var codes []int
		for _, r := range res {
			codes = append(codes, r.Status)
		}
		return codes
	}
	got := send("peer-it", [2]string{"in-1", "one"}, [2]string{"in-2", "two"}, [2]string{"in-1", "one"}, [2]string{"in-2", "TWO"})
	if diff := cmp.Diff([]int{201, 201, 200, 409}, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if got := send("peer-zz", [2]string{"in-3", "three"}); !cmp.Equal([]int{400}, got) {
		t.Errorf("unknown target: %v, want [400]", got)
	}
	l.waitFor("in-1 and in-2 relayed", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2, fmt.Sprintf("segments=%+v", st.Segments)
	})
	if diff := cmp.Diff([]string{"in-1", "in-2"}, sorted(l.peer.IDs())); diff != "" {
		t.Errorf("relayed (-want +got):\n%s", diff)
	}
	l.stop()
}
