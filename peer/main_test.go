package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"edgelab/internal/syncbuf"
	"edgelab/peer/received"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// The built peer binary as a real process: it announces its address in the
// ready file, accepts a segment from edged's certificate, refuses a client
// without one (and logs why), serves its evidence, and exits 0 on SIGTERM.
func TestPeerBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the peer binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "peer")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(dir, "tls")
	paths, err := labsetup.GenerateTLS(tlsDir, labsetup.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evidence := filepath.Join(dir, "peer-evidence.json")
	ready := filepath.Join(dir, "peer.ready")

	var stderr syncbuf.Buffer
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--id", "peer-val23", "--tls-dir", tlsDir,
		"--evidence", evidence, "--ready-file", ready, "--max-segment-bytes", "128")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})

	addr := waitReady(t, ready, exited, &stderr)

	cfg, err := paths.EdgedFiles().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &transport.Client{TLS: cfg, PeerID: "edge-val23", SessionID: "11111111-1111-4111-8111-111111111111", Timeout: 10 * time.Second}
	defer c.CloseIdle()
	ctx := context.Background()
	for _, id := range []string{"val23-sa-001", "val23-sa-002"} {
		created, err := c.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: id, TargetPeer: "peer-val23", Payload: labsetup.Payload(id, 64)})
		if err != nil || !created {
			t.Fatalf("deliver %s = (%v, %v), want (true, nil)", id, created, err)
		}
	}
	_, err = c.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "too-big", Payload: make([]byte, 129)})
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("129 bytes with --max-segment-bytes 128 = %v, want 413", err)
	}

	noCert := cfg.Clone()
	noCert.Certificates = nil
	anon := &transport.Client{TLS: noCert, PeerID: "edge-val23"}
	defer anon.CloseIdle()
	if _, err := anon.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "anon-1", Payload: []byte("x")}); err == nil {
		t.Error("a client without a certificate was accepted")
	}

	ev, err := received.ReadFile(evidence)
	if err != nil {
		t.Fatal(err)
	}
	want := received.Evidence{
		PeerID: "peer-val23",
		Segments: []received.Segment{
			{ID: "val23-sa-001", Bytes: 64, SHA256: labsetup.PayloadSHA256("val23-sa-001", 64), FromPeer: "edge-val23", Session: "11111111-1111-4111-8111-111111111111", TargetPeer: "peer-val23", Deliveries: 1},
			{ID: "val23-sa-002", Bytes: 64, SHA256: labsetup.PayloadSHA256("val23-sa-002", 64), FromPeer: "edge-val23", Session: "11111111-1111-4111-8111-111111111111", TargetPeer: "peer-val23", Deliveries: 1},
		},
		Ingress: received.Ingress{Bytes: 128, ByPeer: map[string]int64{"edge-val23": 128}},
	}
	if diff := cmp.Diff(want, ev, cmpopts.IgnoreFields(received.Segment{}, "ReceivedAt")); diff != "" {
		t.Errorf("evidence file (-want +got):\n%s", diff)
	}

	// Open HTTP/2 connections would hold the graceful stop for the GOAWAY
	// grace period; a sender closes them when it is done.
	c.CloseIdle()
	anon.CloseIdle()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("peer exit after SIGTERM: %v, want status 0\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("peer did not exit within 15s of SIGTERM\n%s", stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"peer listening", "tls: client didn't provide a certificate", "status=413", "peer shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("peer log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file left after exit (stat: %v)", err)
	}
}

// waitReady polls for the ready file under a deadline and returns the
// address in it.
func waitReady(t *testing.T, path string, exited <-chan error, stderr *syncbuf.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			return strings.TrimSpace(string(data))
		}
		select {
		case err := <-exited:
			t.Fatalf("peer exited before it was ready: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file %s within 15s (last: %v)", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFlags_Required(t *testing.T) {
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--id", "peer-val23"})
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `required flag(s) "evidence", "tls-dir" not set`) {
		t.Errorf("Execute = %v, want the missing flags named", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"--version"}} {
		var out bytes.Buffer
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.Execute(); err != nil || out.Len() == 0 {
			t.Errorf("peer %s: %v, output %q; want it to print and succeed", args[0], err, out.String())
		}
	}
}
