package transport_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/transport"
)

// recorder answers like a peer and records what arrived and how.
type recorder struct {
	mu     sync.Mutex
	protos []string
	hdrs   []http.Header
	next   int // status to answer
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.protos = append(r.protos, req.Proto)
	r.hdrs = append(r.hdrs, req.Header.Clone())
	if r.next == http.StatusForbidden {
		http.Error(w, `{"error":"no"}`, r.next)
		return
	}
	w.WriteHeader(r.next)
}

func (r *recorder) answer(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = code
}

func TestClient_Deliver(t *testing.T) {
	p := certs(t)
	rec := &recorder{}
	addr := serve(t, p.PeerFiles(), rec)
	c := newClient(t, p.EdgedFiles(), "edge-val23", "sess-7")
	d := transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "seg-1", TargetPeer: "peer-val23", Payload: []byte("payload")}

	var reused []bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
	})
	tests := []struct {
		status      int
		wantCreated bool
		wantErr     string
	}{
		{http.StatusCreated, true, ""},
		{http.StatusOK, false, ""},
		{http.StatusForbidden, false, `peer answered 403 Forbidden: {"error":"no"}`},
	}
	for _, tt := range tests {
		rec.answer(tt.status)
		created, err := c.Deliver(ctx, d)
		if created != tt.wantCreated {
			t.Errorf("status %d: created = %v, want %v", tt.status, created, tt.wantCreated)
		}
		if tt.wantErr == "" && err != nil {
			t.Errorf("status %d: err = %v", tt.status, err)
		}
		if tt.wantErr != "" {
			var se *transport.StatusError
			if !errors.As(err, &se) || se.Code != tt.status || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("status %d: err = %v, want a *StatusError %q", tt.status, err, tt.wantErr)
			}
		}
	}
	if diff := cmp.Diff([]bool{false, true, true}, reused); diff != "" {
		t.Errorf("connection reuse per delivery (-want +got):\n%s", diff)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if diff := cmp.Diff([]string{"HTTP/2.0", "HTTP/2.0", "HTTP/2.0"}, rec.protos); diff != "" {
		t.Errorf("protocols (-want +got):\n%s", diff)
	}
	h := rec.hdrs[0]
	got := []string{h.Get(transport.HeaderPeerID), h.Get(transport.HeaderSessionID), h.Get(transport.HeaderTargetPeer), h.Get("Content-Length")}
	if diff := cmp.Diff([]string{"edge-val23", "sess-7", "peer-val23", "7"}, got); diff != "" {
		t.Errorf("[peer session target length] headers (-want +got):\n%s", diff)
	}
}

// The client verifies the peer's certificate against the name it expects.
func TestClient_WrongServerNameFails(t *testing.T) {
	p := certs(t)
	addr := serve(t, p.PeerFiles(), &recorder{next: http.StatusCreated})
	c := newClient(t, p.EdgedFiles(), "edge-val23", "")
	_, err := c.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "someone-else", ID: "seg-1", Payload: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "certificate is valid for peer-val23") {
		t.Errorf("Deliver to the wrong name = %v, want a certificate name mismatch", err)
	}
}

// bodies records the bodies that arrive.
type bodies struct {
	mu  sync.Mutex
	got map[string]string // path → body
	cl  map[string]int64  // path → declared length
}

func (b *bodies) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got[req.URL.Path], b.cl[req.URL.Path] = string(body), req.ContentLength
	w.WriteHeader(http.StatusCreated)
}

// A Body is sent instead of Payload, exactly its section of the file
// under it, with its length declared; an empty one sends no body.
func TestClient_DeliverBody(t *testing.T) {
	p := certs(t)
	rec := &bodies{got: map[string]string{}, cl: map[string]int64{}}
	addr := serve(t, p.PeerFiles(), rec)
	c := newClient(t, p.EdgedFiles(), "edge-val23", "")
	f, err := os.Create(filepath.Join(t.TempDir(), "payload"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	large := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if _, err := f.WriteString("<<" + large + ">>"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   string
		body *io.SectionReader
		want string
	}{
		{"from-file", io.NewSectionReader(f, 2, int64(len(large))), large},
		{"empty", io.NewSectionReader(f, 0, 0), ""},
		{"payload-ignored", io.NewSectionReader(strings.NewReader("body wins"), 0, 9), "body wins"},
	} {
		d := transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: tt.id, Payload: []byte("not this"), Body: tt.body}
		if _, err := c.Deliver(context.Background(), d); err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		rec.mu.Lock()
		got, cl := rec.got[transport.SegmentsPath+tt.id], rec.cl[transport.SegmentsPath+tt.id]
		rec.mu.Unlock()
		if got != tt.want || cl != int64(len(tt.want)) {
			t.Errorf("%s: got %d bytes declared as %d, want the %d of the section", tt.id, len(got), cl, len(tt.want))
		}
	}
}
