package received_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/peer/received"
	"edgelab/transport"
)

func put(t *testing.T, s *received.Store, id, from string, payload string) bool {
	t.Helper()
	created, err := s.Put(context.Background(), transport.Incoming{ID: id, Payload: []byte(payload), FromPeer: from, Session: "s-" + from, Identity: from})
	if err != nil {
		t.Fatalf("Put %s: %v", id, err)
	}
	return created
}

// A store opened on the file of an earlier one (a peer restarted after a
// crash) holds what that one held: the same evidence, a redelivery counted
// on the held entry, ingress continuing from the stored counts.
func TestStore_ResumesEvidence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.json")
	clock := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	first, err := received.NewStore(received.Options{Path: path, PeerID: "peer-val23", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	put(t, first, "seg-1", "edge-a", "aaaa")
	put(t, first, "seg-2", "edge-b", "bb")
	put(t, first, "seg-1", "edge-a", "aaaa")
	before := first.Evidence()

	second, err := received.NewStore(received.Options{Path: path, PeerID: "peer-val23", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, second.Evidence()); diff != "" {
		t.Fatalf("resumed store (-before +resumed):\n%s", diff)
	}
	if diff := cmp.Diff(before, readEvidence(t, path)); diff != "" {
		t.Fatalf("evidence file after resume (-before +file):\n%s", diff)
	}
	got := []bool{put(t, second, "seg-2", "edge-b", "bb"), put(t, second, "seg-3", "edge-a", "c")}
	if diff := cmp.Diff([]bool{false, true}, got); diff != "" {
		t.Errorf("created for [redelivered seg-2, new seg-3] (-want +got):\n%s", diff)
	}
	ev := readEvidence(t, path)
	var deliveries []int
	for _, s := range ev.Segments {
		deliveries = append(deliveries, s.Deliveries)
	}
	gotState := []any{ev.IDs(), deliveries, ev.Ingress.Bytes, ev.Ingress.ByPeer}
	wantState := []any{[]string{"seg-1", "seg-2", "seg-3"}, []int{2, 2, 1}, int64(13), map[string]int64{"edge-a": 9, "edge-b": 4}}
	if diff := cmp.Diff(wantState, gotState); diff != "" {
		t.Errorf("[ids deliveries bytes by_peer] after resume and two puts (-want +got):\n%s", diff)
	}
}

func TestStore_FreshReplacesEvidence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "evidence.json")
	first, err := received.NewStore(received.Options{Path: path, PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, first, "seg-1", "e", "x")
	if _, err := received.NewStore(received.Options{Path: path, PeerID: "p", Fresh: true}); err != nil {
		t.Fatal(err)
	}
	ev := readEvidence(t, path)
	if len(ev.Segments) != 0 || ev.Ingress.Bytes != 0 {
		t.Errorf("after a fresh start: %d segments, %d bytes; want none", len(ev.Segments), ev.Ingress.Bytes)
	}
}

// A file that is not evidence this store could have written is refused,
// naming the file and the cause, and is left untouched for a human to look
// at.
func TestStore_ResumeRefusesBadEvidence(t *testing.T) {
	const sum = "0000000000000000000000000000000000000000000000000000000000000000"
	seg := func(id string, bytes int64, digest string, deliveries int) string {
		return `{"id":"` + id + `","bytes":` + itoa(bytes) + `,"sha256":"` + digest + `","from_peer":"e","session":"s","received_at":"2030-01-01T00:00:00Z","deliveries":` + itoa(int64(deliveries)) + `}`
	}
	file := func(peer string, ingress string, segs ...string) string {
		return `{"peer_id":"` + peer + `","segments":[` + strings.Join(segs, ",") + `],"ingress":` + ingress + `}`
	}
	ok := `{"bytes":1,"by_peer":{"e":1}}`
	tests := []struct {
		name string
		data string
		want string
	}{
		{"torn write", `{"peer_id":"p","segments":[{"id":"seg-1","by`, "truncated"},
		{"empty file", ``, "empty file"},
		{"null", `null`, `want a JSON object, got "null"`},
		{"array", `[]`, `want a JSON object, got "[]"`},
		{"two values", file("p", ok, seg("a", 1, sum, 1)) + `{}`, "more than one JSON value"},
		{"wrong type", `{"peer_id":"p","segments":[{"id":"a","bytes":"1"}]}`, "field segments.bytes: want int64, got JSON string"},
		{"another peer's file", file("other", ok, seg("a", 1, sum, 1)), `it belongs to peer "other", not "p"`},
		{"bad id", file("p", ok, seg("../x", 1, sum, 1)), `segments[0].id: bad segment id: "../x"`},
		{"duplicate id", file("p", `{"bytes":2,"by_peer":{"e":2}}`, seg("a", 1, sum, 1), seg("a", 1, sum, 1)), `segments[1].id: "a" is listed twice (also segments[0])`},
		{"negative size", file("p", ok, seg("a", -1, sum, 1)), "segments[0] (a).bytes: must not be negative, got -1"},
		{"bad digest", file("p", ok, seg("a", 1, "xyz", 1)), `segments[0] (a).sha256: want 64 lowercase hex digits, got "xyz"`},
		{"no delivery", file("p", ok, seg("a", 1, sum, 0)), "segments[0] (a).deliveries: must be at least 1, got 0"},
		{"bytes do not add up", file("p", `{"bytes":5,"by_peer":{"e":1}}`, seg("a", 1, sum, 1)), "ingress.by_peer adds up to 1 bytes, but ingress.bytes is 5"},
		{"negative sender bytes", file("p", `{"bytes":0,"by_peer":{"e":-1,"f":1}}`, seg("a", 1, sum, 1)), `ingress.by_peer["e"]: must not be negative, got -1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "evidence.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := received.NewStore(received.Options{Path: path, PeerID: "p"})
			if err == nil {
				t.Fatal("NewStore accepted the file")
			}
			for _, w := range []string{path, tt.want, "--fresh"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after, _ := os.ReadFile(path); string(after) != tt.data {
				t.Errorf("the refused file was changed to:\n%s", after)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A process killed while writing leaves a temporary file beside the
// evidence; the next start removes it and keeps the evidence.
func TestStore_RemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "evidence.json")
	first, err := received.NewStore(received.Options{Path: path, PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, first, "seg-1", "e", "x")
	torn := filepath.Join(dir, ".evidence.json.tmp-123456")
	if err := os.WriteFile(torn, []byte(`{"peer_id":"p","segm`), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".other.json.tmp-1") // not ours
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	second, err := received.NewStore(received.Options{Path: path, PeerID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"seg-1"}, second.Evidence().IDs()); diff != "" {
		t.Errorf("resumed ids (-want +got):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{".other.json.tmp-1", "evidence.json"}, names); diff != "" {
		t.Errorf("directory after restart (-want +got):\n%s", diff)
	}
}
