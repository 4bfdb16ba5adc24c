package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
)

// fakeBackend records every SetBandwidth call and answers from its fields.
type fakeBackend struct {
	mu        sync.Mutex
	status    api.Status
	ledger    api.Ledger
	decisions api.Decisions
	resp      api.SetBandwidthResponse
	setErr    error
	statusErr error
	calls     []setCall
}

type setCall struct {
	Req   api.SetBandwidthRequest
	Actor string
}

func (f *fakeBackend) Status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.statusErr
}

func (f *fakeBackend) SetBandwidth(_ context.Context, req api.SetBandwidthRequest, actor string) (api.SetBandwidthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, setCall{req, actor})
	return f.resp, f.setErr
}

func (f *fakeBackend) Ledger(context.Context) (api.Ledger, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ledger, nil
}

// History answers a segment of ledger.
func (f *fakeBackend) History(_ context.Context, id string) (api.Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.ledger.Segments {
		if s.ID == id {
			return s, nil
		}
	}
	return api.Segment{}, SegmentNotFound(id)
}

func (f *fakeBackend) Decisions(context.Context) (api.Decisions, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.decisions, nil
}

func (f *fakeBackend) setErrors(set, status error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setErr, f.statusErr = set, status
}

func (f *fakeBackend) Calls() []setCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]setCall(nil), f.calls...)
}

// shortDir is a temp dir with a path short enough for a unix socket;
// t.TempDir embeds the test name and can pass the 107-byte limit.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serve runs the control API for b on a fresh socket and returns its path.
func serve(t *testing.T, b Backend, metrics http.Handler) string {
	t.Helper()
	sock := filepath.Join(shortDir(t), "ctl.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen(%s): %v", sock, err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(NewHandler(b, metrics, log), log)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

type rawAnswer struct {
	Code   int
	Header http.Header
	Body   string
}

// rawDo sends a request with an arbitrary body, which Client cannot.
// A nil body sends none; chunked forces Transfer-Encoding: chunked.
func rawDo(t *testing.T, sock, method, path string, body io.Reader) rawAnswer {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://edged"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer of %s %s: %v", method, path, err)
	}
	return rawAnswer{resp.StatusCode, resp.Header, string(b)}
}

// onlyReader hides a reader's concrete type so net/http cannot learn the
// length and must send the body chunked.
type onlyReader struct{ io.Reader }

func spaces(n int) string { return strings.Repeat(" ", n) }

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// equal fails when got differs from want, with a go-cmp diff.
func equal(t *testing.T, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// jsonEq compares two JSON texts as values.
func jsonEq(t *testing.T, want, got string) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v: %q", err, got)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s", diff)
	}
}
