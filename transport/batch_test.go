package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/transport"
)

// idemStore holds one body per id, as edged's listener does: the same body
// again is a redelivery (200), another body a conflict (409); ids starting
// "refuse-" are refused as bad segments (400).
type idemStore struct {
	mu   sync.Mutex
	segs map[string]string
	puts []string      // ids, in Put order
	gate chan struct{} // when set, the Put of "wait" blocks on it
	in   chan string   // when set, each Put's id is sent here first
}

func (s *idemStore) Put(_ context.Context, in transport.Incoming) (bool, error) {
	if s.in != nil {
		s.in <- in.ID
	}
	if in.ID == "wait" && s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts = append(s.puts, in.ID)
	if strings.HasPrefix(in.ID, "refuse-") {
		return false, &transport.BadSegmentError{Reason: "refused by the store"}
	}
	if s.segs == nil {
		s.segs = map[string]string{}
	}
	held, ok := s.segs[in.ID]
	switch {
	case !ok:
		s.segs[in.ID] = string(in.Payload)
		return true, nil
	case held != string(in.Payload):
		return false, &transport.ConflictError{ID: in.ID}
	}
	return false, nil
}

func (s *idemStore) body(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.segs[id]
	return b, ok
}

func section(s string) *io.SectionReader {
	return io.NewSectionReader(strings.NewReader(s), 0, int64(len(s)))
}

type seg struct{ id, body string }

// The answers of one batch, segment by segment, as the single PUT would
// have given them, and what the store holds after it.
func TestBatch_PerSegmentAnswers(t *testing.T) {
	p := certs(t)
	store := &idemStore{segs: map[string]string{"held": "same"}}
	ingress := &transport.Attribution{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, Ingress: ingress, Log: quietLog()})
	c := newClient(t, p.EdgedFiles(), "edge-val23", "11111111-1111-4111-8111-111111111111")

	tests := []struct {
		name string
		seg  seg
		want int
		msg  string // part of the result's error
	}{
		{"new segment", seg{"new-1", "hello"}, http.StatusCreated, ""},
		{"redelivery, same body", seg{"held", "same"}, http.StatusOK, ""},
		{"conflict, another body", seg{"held", "other"}, http.StatusConflict, "already held with a different body"},
		{"bad id", seg{"a b", "x"}, http.StatusBadRequest, "bad segment id"},
		{"dot id", seg{"..", "x"}, http.StatusBadRequest, "bad segment id"},
		{"id too long", seg{strings.Repeat("i", 129), "x"}, http.StatusBadRequest, "129 characters, at most 128"},
		{"too large", seg{"big", strings.Repeat("x", 101)}, http.StatusRequestEntityTooLarge, "101 bytes exceeds the limit of 100"},
		{"refused by the store", seg{"refuse-1", "x"}, http.StatusBadRequest, "refused by the store"},
		{"empty segment", seg{"empty", ""}, http.StatusCreated, ""},
		{"the new one again, same batch", seg{"new-1", "hello"}, http.StatusOK, ""},
		{"after the refusals, still read", seg{"new-2", "world"}, http.StatusCreated, ""},
	}
	b := &transport.Batch{Addr: addr, ServerName: "peer-val23", TargetPeer: "peer-val23"}
	for _, tt := range tests {
		if err := b.Add(tt.seg.id, section(tt.seg.body)); err != nil {
			t.Fatal(err)
		}
	}
	results, err := c.DeliverBatch(context.Background(), b)
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	if len(results) != len(tests) {
		t.Fatalf("got %d results, want %d", len(results), len(tests))
	}
	for i, tt := range tests {
		got := results[i]
		if got.Status != tt.want {
			t.Errorf("%s: status = %d (%s), want %d", tt.name, got.Status, got.Error, tt.want)
		}
		if !strings.Contains(got.Error, tt.msg) || (tt.msg == "") != (got.Error == "") {
			t.Errorf("%s: error = %q, want one containing %q", tt.name, got.Error, tt.msg)
		}
		if wantErr := tt.want >= 300; (got.Err() != nil) != wantErr {
			t.Errorf("%s: Err() = %v, want an error: %v", tt.name, got.Err(), wantErr)
		}
		if got.Created() != (tt.want == http.StatusCreated) {
			t.Errorf("%s: Created() = %v, want %v", tt.name, got.Created(), tt.want == http.StatusCreated)
		}
	}
	for id, want := range map[string]string{"new-1": "hello", "held": "same", "new-2": "world", "empty": ""} {
		if got, ok := store.body(id); !ok || got != want {
			t.Errorf("store holds %q = %q (held %v), want %q", id, got, ok, want)
		}
	}
	for _, id := range []string{"big", "a b", ".."} {
		if _, ok := store.body(id); ok {
			t.Errorf("store holds %q, want it refused", id)
		}
	}
	// Credited: only accepted bodies (201 and 200), as the single PUT.
	if got, want := ingress.Total(), int64(len("hello")+len("same")+len("hello")+len("world")); got != want {
		t.Errorf("ingress total = %d, want %d", got, want)
	}
}

// batchBody frames segs as a batch body.
func batchBody(segs ...seg) []byte {
	var b []byte
	for _, s := range segs {
		b = transport.AppendBatchRecord(b, s.id, int64(len(s.body)))
		b = append(b, s.body...)
	}
	return b
}

func rawBatch(t *testing.T, hc *http.Client, addr, method string, body []byte, length int64, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+addr+transport.BatchPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if length < 0 {
		req.Body = io.NopCloser(bytes.NewReader(body)) // no length known
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, transport.BatchPath, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// What refuses a batch as a whole: what makes it unreadable, or larger
// than the bounds, before any segment is stored where the headers say so.
func TestBatch_RefusedAsAWhole(t *testing.T) {
	p := certs(t)
	store := &idemStore{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, MaxBatchSegments: 3, Log: quietLog()})
	hc := h2Client(t, p.EdgedFiles())
	two := batchBody(seg{"s-1", "a"}, seg{"s-2", "b"})
	hdr := func(count string, edits ...string) map[string]string {
		h := map[string]string{
			transport.HeaderPeerID: "edge-val23", transport.HeaderTargetPeer: "peer-val23",
			"Content-Type": transport.BatchContentType, transport.HeaderBatchCount: count,
		}
		for i := 0; i+1 < len(edits); i += 2 {
			h[edits[i]] = edits[i+1]
		}
		return h
	}
	tests := []struct {
		name   string
		method string
		body   []byte
		length int64 // -1: none declared
		hdr    map[string]string
		want   int
		msg    string
	}{
		{"too many segments", http.MethodPost, batchBody(seg{"a", "1"}, seg{"b", "2"}, seg{"c", "3"}, seg{"d", "4"}), -2, hdr("4"),
			http.StatusRequestEntityTooLarge, "batch of 4 segments exceeds the limit of 3"},
		{"body larger than the bound", http.MethodPost, bytes.Repeat([]byte{0}, 100+148+1), -2, hdr("1"),
			http.StatusRequestEntityTooLarge, "batch of 249 bytes exceeds the limit of 248 for 1 segments"},
		{"no count", http.MethodPost, two, -2, hdr(""), http.StatusBadRequest, "want the number of segments in the body"},
		{"zero count", http.MethodPost, two, -2, hdr("0"), http.StatusBadRequest, "at least 1"},
		{"count not a number", http.MethodPost, two, -2, hdr("two"), http.StatusBadRequest, "two"},
		{"wrong content type", http.MethodPost, two, -2, hdr("2", "Content-Type", "multipart/mixed"), http.StatusUnsupportedMediaType, "a batch is application/x-edgelab-segment-batch"},
		{"no content length", http.MethodPost, two, -1, hdr("2"), http.StatusLengthRequired, "Content-Length is required"},
		{"PUT on the batch path", http.MethodPut, two, -2, hdr("2"), http.StatusMethodNotAllowed, "use POST"},
		{"no identity", http.MethodPost, two, -2, hdr("2", transport.HeaderPeerID, ""), http.StatusBadRequest, "Edge-Peer-Id or Edge-Session-Id is required"},
		{"spoofed peer id", http.MethodPost, two, -2, hdr("2", transport.HeaderPeerID, "edge-b"), http.StatusForbidden, "contradicts the client certificate"},
		{"fewer segments than declared", http.MethodPost, two, -2, hdr("3"), http.StatusBadRequest, "body ends in segment 3 of the 3"},
		{"more bytes than declared segments", http.MethodPost, two, -2, hdr("1"), http.StatusBadRequest, "body continues after the 1 segments"},
		{"truncated inside a payload", http.MethodPost, two[:len(two)-1], -2, hdr("2"), http.StatusBadRequest, "body ends in segment 2"},
		{"a size beyond the body", http.MethodPost, append(transport.AppendBatchRecord(nil, "s-9", 1<<40), 'x'), -2, hdr("1"),
			http.StatusBadRequest, "declares 1099511627776 bytes, more than the body's Content-Length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			length := tt.length
			if length == -2 {
				length = int64(len(tt.body))
			}
			code, msg := rawBatch(t, hc, addr, tt.method, tt.body, length, tt.hdr)
			if code != tt.want {
				t.Errorf("status = %d, want %d (body %s)", code, tt.want, msg)
			}
			if !strings.Contains(msg, tt.msg) {
				t.Errorf("body = %q, want it to contain %q", msg, tt.msg)
			}
		})
	}
	// Refused by the headers: nothing of those bodies was stored.
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, ok := store.body(id); ok {
			t.Errorf("store holds %q from a batch refused by its headers", id)
		}
	}
}

// The single PUT is unchanged beside the batch path.
func TestBatch_SinglePUTUnchanged(t *testing.T) {
	p := certs(t)
	store := &idemStore{}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, Log: quietLog()})
	c := newClient(t, p.EdgedFiles(), "edge-val23", "")
	for i, want := range []bool{true, false} {
		created, err := c.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "single", TargetPeer: "peer-val23", Payload: []byte("x")})
		if err != nil || created != want {
			t.Errorf("PUT %d: created = %v, err = %v; want %v, nil", i+1, created, err, want)
		}
	}
	_, err := c.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "single", TargetPeer: "peer-val23", Payload: []byte("y")})
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict {
		t.Errorf("PUT of another body: err = %v, want a 409 StatusError", err)
	}
}

// batchCounter counts the batched requests and their sizes.
type batchCounter struct {
	h       http.Handler
	mu      sync.Mutex
	batches []int // Edge-Batch-Count of each batch, in arrival order
	singles atomic.Int64
}

func (c *batchCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == transport.BatchPath {
		n, _ := strconv.Atoi(r.Header.Get(transport.HeaderBatchCount))
		c.mu.Lock()
		c.batches = append(c.batches, n)
		c.mu.Unlock()
	} else {
		c.singles.Add(1)
	}
	c.h.ServeHTTP(w, r)
}

func (c *batchCounter) counts() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batches...)
}

// Each caller of the Batcher gets its own segment's answer.
func TestBatcher_EachCallerItsOwnResult(t *testing.T) {
	p := certs(t)
	store := &idemStore{segs: map[string]string{"held": "same"}}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, Log: quietLog()})
	b := &transport.Batcher{Client: newClient(t, p.EdgedFiles(), "edge-val23", "")}
	tests := []struct {
		name    string
		seg     seg
		created bool
		code    int // 0: no error
	}{
		{"new", seg{"new-1", "hello"}, true, 0},
		{"redelivery", seg{"held", "same"}, false, 0},
		{"conflict", seg{"held", "other"}, false, http.StatusConflict},
		{"bad id", seg{"a/b", "x"}, false, http.StatusBadRequest},
		{"refused by the store", seg{"refuse-2", "x"}, false, http.StatusBadRequest},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := b.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: tt.seg.id, TargetPeer: "peer-val23", Body: section(tt.seg.body)})
			if created != tt.created {
				t.Errorf("%s: created = %v, want %v", tt.name, created, tt.created)
			}
			var se *transport.StatusError
			switch {
			case tt.code == 0 && err != nil:
				t.Errorf("%s: err = %v, want none", tt.name, err)
			case tt.code != 0 && (!errors.As(err, &se) || se.Code != tt.code):
				t.Errorf("%s: err = %v, want a %d StatusError", tt.name, err, tt.code)
			}
		}()
	}
	wg.Wait()
}

// Calls that arrive while a batch is under way are sent together when it
// returns, up to MaxSegments per request; a segment larger than MaxBytes
// goes alone as a single PUT.
func TestBatcher_GroupsConcurrentCalls(t *testing.T) {
	p := certs(t)
	store := &idemStore{gate: make(chan struct{}), in: make(chan string, 100)}
	counting := &batchCounter{h: &transport.SegmentHandler{Store: store, MaxBytes: 1 << 20, Log: quietLog()}}
	addr := serve(t, p.PeerFiles(), counting)
	b := &transport.Batcher{Client: newClient(t, p.EdgedFiles(), "edge-val23", ""), MaxSegments: 4, MaxBytes: 64}
	deliver := func(id, body string) error {
		_, err := b.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: id, TargetPeer: "peer-val23", Body: section(body)})
		return err
	}
	errs := make(chan error, 20)
	go func() { errs <- deliver("wait", "first") }()
	if id := <-store.in; id != "wait" {
		t.Fatalf("first Put is %q, want \"wait\"", id)
	}
	// The first batch is held in the store: these ten queue behind it.
	for i := range 10 {
		go func() { errs <- deliver(fmt.Sprintf("q-%02d", i), "0123456789") }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for transport.BatcherQueued(b) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 5s, want 10", transport.BatcherQueued(b))
		}
		time.Sleep(time.Millisecond)
	}
	// Larger than MaxBytes: a single PUT, not queued (it waits for the
	// connection the first batch opens, as every first request does).
	go func() { errs <- deliver("large", strings.Repeat("L", 65)) }()
	close(store.gate)
	go func() {
		for range store.in {
		}
	}()
	for range 12 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// 1 alone, then 10 × 10 B in batches of at most 4 segments and 64 B.
	if diff := cmp.Diff([]int{1, 4, 4, 2}, counting.counts()); diff != "" {
		t.Errorf("segments per batch (-want +got):\n%s", diff)
	}
	if got := counting.singles.Load(); got != 1 {
		t.Errorf("single PUTs = %d, want 1 (the large segment)", got)
	}
	if got := store.len(); got != 12 {
		t.Errorf("store holds %d segments, want 12", got)
	}
}

func (s *idemStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.segs)
}

// A batch that fails as a whole fails every caller in it, each with the
// status; the next batch is sent as usual.
func TestBatcher_FailedRequestFailsEveryCaller(t *testing.T) {
	p := certs(t)
	var refuse atomic.Bool
	refuse.Store(true)
	store := &idemStore{}
	seg := &transport.SegmentHandler{Store: store, MaxBytes: 100, Log: quietLog()}
	addr := serve(t, p.PeerFiles(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		seg.ServeHTTP(w, r)
	}))
	b := &transport.Batcher{Client: newClient(t, p.EdgedFiles(), "edge-val23", "")}
	run := func(n int) []error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: fmt.Sprintf("f-%d", i), TargetPeer: "peer-val23", Payload: []byte("x")})
			}()
		}
		wg.Wait()
		return errs
	}
	for i, err := range run(8) {
		var se *transport.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
			t.Errorf("caller %d: err = %v, want a 503 StatusError", i, err)
		}
	}
	if store.len() != 0 {
		t.Errorf("store holds %d segments, want none", store.len())
	}
	refuse.Store(false)
	for i, err := range run(8) {
		if err != nil {
			t.Errorf("caller %d after the refusal: %v", i, err)
		}
	}
	if store.len() != 8 {
		t.Errorf("store holds %d segments, want 8", store.len())
	}
}

// A caller whose context ends returns at once, while its batch is held.
func TestBatcher_CallerContext(t *testing.T) {
	p := certs(t)
	store := &idemStore{gate: make(chan struct{})}
	addr := serve(t, p.PeerFiles(), &transport.SegmentHandler{Store: store, MaxBytes: 100, Log: quietLog()})
	b := &transport.Batcher{Client: newClient(t, p.EdgedFiles(), "edge-val23", "")}
	defer close(store.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: "peer-val23", ID: "wait", TargetPeer: "peer-val23", Payload: []byte("x")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("returned after %s, want about 100ms", el)
	}
}

// stalledBatch starts a batch declaring length bytes and count segments,
// sends first and then nothing. The answer arrives on the channel (0 when
// there was none).
func stalledBatch(t *testing.T, hc *http.Client, addr string, count int, length int64, first []byte) <-chan int {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+transport.BatchPath, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set(transport.HeaderPeerID, "edge-val23")
	req.Header.Set("Content-Type", transport.BatchContentType)
	req.Header.Set(transport.HeaderBatchCount, strconv.Itoa(count))
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
	go pw.Write(first)
	t.Cleanup(func() { cancel(); pw.CloseWithError(io.ErrClosedPipe) })
	return ch
}

// A hostile batch: a body that stops inside a segment is ended by the idle
// timeout (408) — the segment before it stored, acknowledged by nothing —
// with no budget left held; and idle batches declaring the largest size cost no
// buffer of that size.
func TestBatch_HostileBodies(t *testing.T) {
	p := certs(t)
	store := &idemStore{}
	sh := &transport.SegmentHandler{Store: store, MaxBytes: 1 << 20, BodyIdleTimeout: 150 * time.Millisecond, Log: quietLog()}
	addr := serve(t, p.PeerFiles(), sh)
	hc := h2Client(t, p.EdgedFiles())

	first := batchBody(seg{"ok-1", "abc"})
	first = append(transport.AppendBatchRecord(first, "stalled", 1000), "only this"...)
	if code := <-stalledBatch(t, hc, addr, 2, int64(len(first))+991, first); code != http.StatusRequestTimeout {
		t.Errorf("stalled batch answered %d, want 408", code)
	}
	if _, ok := store.body("ok-1"); !ok {
		t.Error("the segment before the stall was not stored (a refusal as a whole may follow stored segments)")
	}
	if _, ok := store.body("stalled"); ok || sh.InFlightBytes() != 0 || sh.Bodies() != 0 {
		t.Errorf("after the timeout: stalled held %v, %d bytes in flight, %d bodies; want none", ok, sh.InFlightBytes(), sh.Bodies())
	}

	const streams = 30
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var answers []<-chan int
	for range streams {
		// One record declaring the whole 1 MiB, then nothing.
		answers = append(answers, stalledBatch(t, hc, addr, 1, 1<<20+16, transport.AppendBatchRecord(nil, "idle", 1<<20)))
	}
	waitFor(t, "every batch in the handler", func() (bool, string) {
		return sh.Bodies() == streams, fmt.Sprintf("%d of %d", sh.Bodies(), streams)
	})
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew, limit := int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(streams<<20/5); grew > limit {
		t.Errorf("heap grew by %d bytes under %d idle batches declaring 1 MiB each; want under %d", grew, streams, limit)
	}
	for _, a := range answers {
		if code := <-a; code != http.StatusRequestTimeout {
			t.Errorf("idle batch answered %d, want 408", code)
		}
	}
}
