package transport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgelab/transport"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingHandler counts the requests that reached the handler.
type countingHandler struct {
	n atomic.Int64
	h http.Handler
}

func (c *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h.ServeHTTP(w, r)
}

// stalledPut starts a PUT declaring length bytes, sends first and then
// nothing until the returned stop is called. The answer arrives on the
// channel (0 when there was none).
func stalledPut(t *testing.T, hc *http.Client, addr, id string, length int64, first []byte, hdr map[string]string) (answer <-chan int, stop func()) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "https://"+addr+"/v1/segments/"+id, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ch := make(chan int, 1)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			ch <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	if len(first) > 0 {
		go pw.Write(first)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); pw.CloseWithError(io.ErrClosedPipe) }) }
	t.Cleanup(stop)
	return ch, stop
}

var edgeHdr = map[string]string{transport.HeaderPeerID: "edge-val23"}

// Streams that declare 1 MiB and send nothing cost the handler no buffer of
// the declared size: the heap grows by far less than what they declared.
// Before the fix every stream held make([]byte, 1 MiB) (50 MiB here).
func TestSegmentHandler_DeclaredSizeIsNotAllocated(t *testing.T) {
	const streams, declared = 50, 1 << 20
	p := certs(t)
	h := &countingHandler{h: &transport.SegmentHandler{Store: &memStore{}, MaxBytes: declared, Log: quietLog()}}
	addr := serve(t, p.PeerFiles(), h)
	hc := h2Client(t, p.EdgedFiles())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range streams {
		stalledPut(t, hc, addr, fmt.Sprintf("idle-%d", i), declared, nil, edgeHdr)
	}
	waitFor(t, "every stream in the handler", func() (bool, string) {
		return h.n.Load() == streams, fmt.Sprintf("%d of %d", h.n.Load(), streams)
	})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if limit := int64(streams * declared / 5); grew > limit {
		t.Errorf("heap grew by %d bytes under %d idle streams declaring %d bytes each; want under %d", grew, streams, declared, limit)
	}
}

// The bytes of bodies in flight are bounded across streams: a body that
// cannot get budget is refused with 503 and Retry-After, and is accepted once
// the budget is free again. A stalled stream holds only what it received.
func TestSegmentHandler_InFlightBudget(t *testing.T) {
	p := certs(t)
	sh := &transport.SegmentHandler{Store: &memStore{}, MaxInFlightBytes: 64 << 10, BudgetWait: 50 * time.Millisecond, Log: quietLog()}
	addr := serve(t, p.PeerFiles(), sh)
	hc := h2Client(t, p.EdgedFiles())

	// An idle stream takes no budget at all.
	_, stopIdle := stalledPut(t, hc, addr, "idle", 1<<20, nil, edgeHdr)
	defer stopIdle()
	// A stream that sent 20,000 of 256 KiB holds the buffer it grew:
	// 512 bytes free, then to 16 KiB and 64 KiB from the budget.
	answerA, stopA := stalledPut(t, hc, addr, "half", 256<<10, make([]byte, 20000), edgeHdr)
	waitFor(t, "the half-sent body to hold its budget", func() (bool, string) {
		return sh.InFlightBytes() == 64<<10-512, fmt.Sprintf("in flight %d", sh.InFlightBytes())
	})

	req, err := http.NewRequest(http.MethodPut, "https://"+addr+"/v1/segments/next", strings.NewReader(strings.Repeat("x", 20000)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(transport.HeaderPeerID, "edge-val23")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("PUT with the budget spent = %d Retry-After %q %s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}

	stopA()
	<-answerA
	waitFor(t, "the abandoned body to release its budget", func() (bool, string) {
		return sh.InFlightBytes() == 0, fmt.Sprintf("in flight %d", sh.InFlightBytes())
	})
	code, msg2 := rawPut(t, hc, addr, "/v1/segments/next", strings.NewReader(strings.Repeat("x", 20000)), 20000, edgeHdr)
	if code != http.StatusCreated {
		t.Errorf("PUT with the budget free = %d %s, want 201", code, msg2)
	}
}

// A body that stops sending is ended by the idle timeout and answered 408,
// instead of holding its stream (and before the fix its whole declared
// buffer) until the client gives up.
func TestSegmentHandler_BodyIdleTimeout(t *testing.T) {
	p := certs(t)
	store := &memStore{}
	sh := &transport.SegmentHandler{Store: store, BodyIdleTimeout: 100 * time.Millisecond, Log: quietLog()}
	addr := serve(t, p.PeerFiles(), sh)
	hc := h2Client(t, p.EdgedFiles())
	answer, _ := stalledPut(t, hc, addr, "stalled", 10, []byte("abc"), edgeHdr)
	if code := <-answer; code != http.StatusRequestTimeout {
		t.Errorf("stalled body answered %d, want 408", code)
	}
	if store.len() != 0 || sh.InFlightBytes() != 0 {
		t.Errorf("after the timeout: %d stored, %d bytes in flight; want none", store.len(), sh.InFlightBytes())
	}
}

// Session ids are UUIDs, credited in their own namespace: a legacy sender
// cannot be credited as a peer, as the overflow series, or under a huge key.
func TestSegmentHandler_SessionNamespace(t *testing.T) {
	p := certs(t)
	store := &memStore{}
	ingress := &transport.Attribution{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, Ingress: ingress, Log: quietLog()})
	hc := h2Client(t, p.EdgedFiles())
	const sess = "0F6A8B2C-1D3E-4F50-8A9B-0C1D2E3F4A5B"
	tests := []struct {
		name    string
		session string
		want    int
	}{
		{"another peer's id", "edge-b", http.StatusBadRequest},
		{"the overflow series", transport.OverflowPeer, http.StatusBadRequest},
		{"a 200 KiB string", strings.Repeat("a", 200<<10), http.StatusBadRequest},
		{"already namespaced", "session:" + sess, http.StatusBadRequest},
		{"a UUID", sess, http.StatusCreated},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := rawPut(t, hc, addr, fmt.Sprintf("/v1/segments/s-%d", i), strings.NewReader("abcd"), 4,
				map[string]string{transport.HeaderSessionID: tt.session})
			if code != tt.want {
				t.Errorf("PUT = %d %.200s, want %d", code, msg, tt.want)
			}
			if code == http.StatusBadRequest && !strings.Contains(msg, transport.HeaderSessionID) {
				t.Errorf("refusal %q does not name %s", msg, transport.HeaderSessionID)
			}
		})
	}
	_, byPeer := ingress.Snapshot()
	key := "session:" + strings.ToLower(sess)
	if len(byPeer) != 1 || byPeer[key] != 4 {
		t.Errorf("credited %v, want only %s: 4", byPeer, key)
	}
	if k := transport.KeyKind(key); k != transport.KindSession {
		t.Errorf("KeyKind(%q) = %q, want session", key, k)
	}
	if k := transport.KeyKind(transport.OverflowPeer); k != transport.KindOverflow {
		t.Errorf("KeyKind(overflow) = %q", k)
	}
	if k := transport.KeyKind("edge-b"); k != transport.KindPeer {
		t.Errorf("KeyKind(edge-b) = %q", k)
	}
}
