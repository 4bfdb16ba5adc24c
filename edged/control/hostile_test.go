package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgelab/edged/api"
	"edgelab/internal/syncbuf"
)

// A request whose header is far over MaxHeaderBytes is answered 431 over the
// real unix socket, not with a connection closed on an empty reply, even
// though the caller is still busy sending its header.
func TestServer_OversizeHeaderIs431(t *testing.T) {
	sock := serve(t, newFake(), nil)
	for _, size := range []int{MaxHeaderBytes + 4096 + 1, 1 << 20, 2 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			conn, err := net.Dial("unix", sock)
			mustNoErr(t, err)
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			// The caller writes while the daemon answers: a caller that only
			// reads after its last byte is written may see its write fail
			// first, which is its own business.
			go func() {
				io.WriteString(conn, "GET /v1/relay/status HTTP/1.1\r\nHost: edged\r\nX-Big: "+strings.Repeat("a", size)+"\r\n\r\n")
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read the answer to a %d-byte header: %v (want 431)", size, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("a %d-byte header: got %s, want 431", size, resp.Status)
			}
		})
	}
}

// net/http's own client, which writes its whole request before it looks
// for an answer, sees the 431 too.
func TestServer_OversizeHeaderIs431_HTTPClient(t *testing.T) {
	sock := serve(t, newFake(), nil)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://edged/v1/relay/status", nil)
	mustNoErr(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 1<<20))
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("a 1 MiB header: %v, want a 431 answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 1 MiB header: got %s, want 431", resp.Status)
	}
}

// A daemon that stops removes its own socket file, never one a successor
// made at the same path after this one's was removed.
func TestListen_CloseRemovesOnlyItsOwnSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ctl.sock")
	first, err := Listen(sock)
	mustNoErr(t, err)
	// Someone removes the first daemon's socket and a second daemon takes
	// the path.
	mustNoErr(t, os.Remove(sock))
	second, err := Listen(sock)
	mustNoErr(t, err)
	defer second.Close()

	if err := first.Close(); err != nil {
		t.Fatalf("close the first listener: %v", err)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("the second daemon's socket is gone after the first one closed: %v", err)
	}
	conn.Close()
	if removed, err := first.RemoveSocket(); removed || err != nil {
		t.Errorf("the first listener's RemoveSocket: removed=%v err=%v, want false, nil (not its socket)", removed, err)
	}
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the second daemon's socket file: %v", err)
	}

	// Its own socket, the second removes.
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the owner closed: Lstat = %v, want not exist", err)
	}
}

// hangupBackend blocks Status until the caller hangs up, and records
// whether SetBandwidth got a context a hang-up can cancel.
type hangupBackend struct {
	*fakeBackend
	cancellable chan bool
}

func (b *hangupBackend) Status(ctx context.Context) (api.Status, error) {
	<-ctx.Done()
	return api.Status{}, fmt.Errorf("read status: %w", ctx.Err())
}

func (b *hangupBackend) SetBandwidth(ctx context.Context, req api.SetBandwidthRequest, actor string) (api.SetBandwidthResponse, error) {
	b.cancellable <- ctx.Done() != nil
	return b.fakeBackend.SetBandwidth(ctx, req, actor)
}

// A caller that hangs up is not the daemon's fault: the request is logged at
// INFO, never as a server error; and a bandwidth change gets a context
// that the hang-up cannot cancel.
func TestHandler_CallerHangUps(t *testing.T) {
	b := &hangupBackend{fakeBackend: newFake(), cancellable: make(chan bool, 1)}
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	sock := filepath.Join(shortDir(t), "ctl.sock")
	l, err := Listen(sock)
	mustNoErr(t, err)
	srv := NewServer(NewHandler(b, nil, log), log)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("unix", sock)
	mustNoErr(t, err)
	io.WriteString(conn, "GET /v1/relay/status HTTP/1.1\r\nHost: edged\r\n\r\n")
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "abandoned by its caller") {
		if time.Now().After(deadline) {
			t.Fatalf("the hang-up was not logged as abandoned:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a hang-up was logged as a server error:\n%s", logs.String())
	}

	if a := rawDo(t, sock, http.MethodPost, "/v1/relay/config/bandwidth", strings.NewReader(`{"bytes_per_second":64}`)); a.Code != http.StatusOK {
		t.Fatalf("set bandwidth: %d %s", a.Code, a.Body)
	}
	if <-b.cancellable {
		t.Error("SetBandwidth got a context the caller's hang-up cancels; want it detached")
	}
}
