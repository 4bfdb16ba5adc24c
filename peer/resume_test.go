package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/internal/syncbuf"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// The peer binary killed with SIGKILL and started again on the same
// evidence file keeps what it acknowledged and answers a redelivery with
// 200; --fresh starts over; a torn file is refused by name.
func TestPeerBinary_ResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the peer binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "peer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(dir, "tls")
	paths, err := labsetup.GenerateTLS(tlsDir, labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evidence := filepath.Join(dir, "peer-evidence.json")
	cfg, err := paths.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}

	// start runs the peer and returns its address and a kill function.
	start := func(extra ...string) (string, func()) {
		t.Helper()
		ready := filepath.Join(dir, "peer.ready")
		os.Remove(ready) // a SIGKILLed peer leaves its ready file
		var stderr syncbuf.Buffer
		args := append([]string{"--listen", "127.0.0.1:0", "--id", "peer-val23", "--tls-dir", tlsDir,
			"--evidence", evidence, "--ready-file", ready}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		kill := func() {
			cmd.Process.Kill()
			<-exited
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				kill()
			}
		})
		return waitReady(t, ready, exited, &stderr), kill
	}
	deliver := func(addr, id string) bool {
		t.Helper()
		c := &transport.Client{TLS: cfg, PeerID: "edge-val23", SessionID: "11111111-1111-4111-8111-111111111111", Timeout: 10 * time.Second}
		defer c.CloseIdle()
		created, err := c.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: id, Payload: labsetup.Payload(id, 64)})
		if err != nil {
			t.Fatalf("deliver %s: %v", id, err)
		}
		return created
	}
	state := func() []any {
		t.Helper()
		ev, err := received.ReadFile(evidence)
		if err != nil {
			t.Fatal(err)
		}
		var deliveries []int
		for _, s := range ev.Segments {
			deliveries = append(deliveries, s.Deliveries)
		}
		return []any{ev.IDs(), deliveries, ev.Ingress.Bytes}
	}

	addr, kill := start()
	deliver(addr, "seg-1")
	deliver(addr, "seg-2")
	kill()

	addr, kill = start()
	created := []bool{deliver(addr, "seg-2"), deliver(addr, "seg-3")}
	if diff := cmp.Diff([]bool{false, true}, created); diff != "" {
		t.Errorf("created for [redelivered seg-2, new seg-3] after SIGKILL and restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{[]string{"seg-1", "seg-2", "seg-3"}, []int{1, 2, 1}, int64(256)}, state()); diff != "" {
		t.Errorf("[ids deliveries bytes] after restart (-want +got):\n%s", diff)
	}
	kill()

	_, kill = start("--fresh")
	if diff := cmp.Diff([]any{[]string{}, []int(nil), int64(0)}, state()); diff != "" {
		t.Errorf("[ids deliveries bytes] after --fresh (-want +got):\n%s", diff)
	}
	kill()

	if err := os.WriteFile(evidence, []byte(`{"peer_id":"peer-val23","segments":[{"id":"se`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--id", "peer-val23", "--tls-dir", tlsDir, "--evidence", evidence).CombinedOutput()
	if err == nil || !strings.Contains(string(out), evidence) || !strings.Contains(string(out), "truncated") {
		t.Errorf("peer on a torn evidence file: err=%v output:\n%s\nwant a non-zero exit naming the file and saying it is truncated", err, out)
	}
}
