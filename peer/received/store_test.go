package received_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/peer/received"
	"edgelab/transport"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readEvidence(t *testing.T, path string) received.Evidence {
	t.Helper()
	ev, err := received.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestStore_NewRedeliveryAndSessionFallback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.json")
	if err := os.WriteFile(path, []byte(`{"peer_id":"stale"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := t0
	s, err := received.NewStore(received.Options{Path: path, PeerID: "peer-val23", Now: func() time.Time { return clock }, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	empty := received.Evidence{PeerID: "peer-val23", Segments: []received.Segment{}, Ingress: received.Ingress{ByPeer: map[string]int64{}}}
	if diff := cmp.Diff(empty, readEvidence(t, path)); diff != "" {
		t.Fatalf("evidence at a fresh start replaces the stale file (-want +got):\n%s", diff)
	}

	a, b := []byte("0123456789abcdef"), []byte("xyz")
	steps := []struct {
		in          transport.Incoming
		wantCreated bool
	}{
		{transport.Incoming{ID: "seg-1", Payload: a, FromPeer: "edge-val23", Session: "s1", TargetPeer: "peer-val23", Identity: "edge-val23"}, true},
		// A sender without a peer id is credited to its session.
		{transport.Incoming{ID: "seg-2", Payload: b, FromPeer: "edge-old", Session: "sess-9", Identity: "sess-9"}, true},
		{transport.Incoming{ID: "seg-1", Payload: a, FromPeer: "edge-val23", Session: "s1", TargetPeer: "peer-val23", Identity: "edge-val23"}, false},
	}
	for i, st := range steps {
		clock = t0.Add(time.Duration(i) * time.Second)
		created, err := s.Put(context.Background(), st.in)
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if created != st.wantCreated {
			t.Errorf("Put %d (%s) created = %v, want %v", i, st.in.ID, created, st.wantCreated)
		}
	}
	want := received.Evidence{
		PeerID: "peer-val23",
		Segments: []received.Segment{
			{ID: "seg-1", Bytes: 16, SHA256: digest(a), FromPeer: "edge-val23", Session: "s1", TargetPeer: "peer-val23", ReceivedAt: t0, Deliveries: 2},
			{ID: "seg-2", Bytes: 3, SHA256: digest(b), FromPeer: "edge-old", Session: "sess-9", ReceivedAt: t0.Add(time.Second), Deliveries: 1},
		},
		Ingress: received.Ingress{Bytes: 35, ByPeer: map[string]int64{"edge-val23": 32, "sess-9": 3}},
	}
	if diff := cmp.Diff(want, readEvidence(t, path)); diff != "" {
		t.Errorf("evidence file (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, s.Evidence()); diff != "" {
		t.Errorf("Evidence() (-want +got):\n%s", diff)
	}
	if got := s.Ingress().Total(); got != 35 {
		t.Errorf("Ingress().Total() = %d, want 35", got)
	}
	if diff := cmp.Diff([]string{"seg-1", "seg-2"}, want.IDs()); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
}

func TestStore_InMemory(t *testing.T) {
	s, err := received.NewStore(received.Options{PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), transport.Incoming{ID: "x", Payload: []byte("12"), FromPeer: "e", Identity: "e"}); err != nil {
		t.Fatal(err)
	}
	ev := s.Evidence()
	if got := []any{ev.IDs(), ev.Ingress.Bytes, ev.Ingress.ByPeer["e"]}; !cmp.Equal(got, []any{[]string{"x"}, int64(2), int64(2)}) {
		t.Errorf("[ids bytes by_peer[e]] = %v", got)
	}
	if s.Path() != "" {
		t.Errorf("Path = %q, want empty", s.Path())
	}
}

func TestStore_RefusesBadID(t *testing.T) {
	s, err := received.NewStore(received.Options{PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(context.Background(), transport.Incoming{ID: "../x", Payload: []byte("1"), Identity: "e"})
	var bad *transport.BadSegmentError
	if !errors.As(err, &bad) {
		t.Fatalf("Put(../x) = %v, want *transport.BadSegmentError", err)
	}
	if n := len(s.Evidence().Segments); n != 0 || s.Ingress().Total() != 0 {
		t.Errorf("after a refused id: %d segments, %d bytes; want none", n, s.Ingress().Total())
	}
}

// When the evidence cannot be written, Put fails and leaves no trace: the
// sender will retry and must be recorded as a first delivery.
func TestStore_WriteFailureUndoes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ev")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "evidence.json")
	s, err := received.NewStore(received.Options{Path: path, PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	in := transport.Incoming{ID: "seg-1", Payload: []byte("abc"), FromPeer: "e", Identity: "e"}
	if _, err := s.Put(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"seg-1", "seg-2"} { // a redelivery, then a new id
		in.ID = id
		if _, err := s.Put(context.Background(), in); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("Put %s with the directory gone = %v, want an error naming %s", id, err, path)
		}
	}
	ev := s.Evidence()
	got := []any{ev.IDs(), ev.Segments[0].Deliveries, ev.Ingress.Bytes, ev.Ingress.ByPeer}
	want := []any{[]string{"seg-1"}, 1, int64(3), map[string]int64{"e": 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("[ids deliveries bytes by_peer] after failed writes (-want +got):\n%s", diff)
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	created, err := s.Put(context.Background(), in)
	if err != nil || !created {
		t.Fatalf("retry of seg-2 = (%v, %v), want (true, nil)", created, err)
	}
	if diff := cmp.Diff([]string{"seg-1", "seg-2"}, readEvidence(t, path).IDs()); diff != "" {
		t.Errorf("evidence ids after recovery (-want +got):\n%s", diff)
	}
}

func TestReadFile_ErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"peer_id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.json"), bad} {
		if _, err := received.ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadFile(%s) = %v, want an error naming the file", path, err)
		}
	}
}

func TestWriteFile_LeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "e.json")
	for range 3 {
		if err := received.WriteFile(path, received.Evidence{PeerID: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"e.json"}, names); diff != "" {
		t.Errorf("directory after writes (-want +got):\n%s", diff)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %o, want 644", info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Empty lists are written as [] and {}, never null, so readers in any
	// language can iterate them.
	for _, want := range []string{`"segments": []`, `"by_peer": {}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("evidence lacks %s:\n%s", want, raw)
		}
	}
}
