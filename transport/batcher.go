package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
)

// Batch is one batched request being built: segments for one target peer
// at one address, framed into one body (batch.go).
type Batch struct {
	Addr       string // host:port
	ServerName string // expected identity in the peer's certificate
	TargetPeer string
	ids        []string
	body       []byte
	payload    int64
}

// Add appends a segment, reading its payload into the body.
func (b *Batch) Add(id string, payload *io.SectionReader) error {
	n := payload.Size()
	start := len(b.body)
	b.body = AppendBatchRecord(b.body, id, n)
	off := len(b.body)
	b.body = append(b.body, make([]byte, n)...)
	if m, err := payload.ReadAt(b.body[off:], 0); int64(m) < n {
		b.body = b.body[:start]
		return fmt.Errorf("read segment %s: %w", id, err)
	}
	b.ids = append(b.ids, id)
	b.payload += n
	return nil
}

// Len is the segments in the batch; Size their payload bytes.
func (b *Batch) Len() int      { return len(b.ids) }
func (b *Batch) Size() int64   { return b.payload }
func (b *Batch) IDs() []string { return b.ids }

// DeliverBatch POSTs b as one request and returns one result per segment,
// in the order they were added. An error means the request as a whole
// failed or was refused: nothing is known of any of its segments (some may
// have been stored; each is idempotent, so sending it again is safe).
func (c *Client) DeliverBatch(ctx context.Context, b *Batch) ([]BatchResult, error) {
	if len(b.ids) == 0 {
		return nil, nil
	}
	u := url.URL{Scheme: "https", Host: b.Addr, Path: BatchPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b.body))
	if err != nil {
		return nil, fmt.Errorf("build batch request: %w", err)
	}
	req.Header.Set("Content-Type", BatchContentType)
	req.Header.Set(HeaderBatchCount, strconv.Itoa(len(b.ids)))
	c.setSender(req.Header, b.TargetPeer)
	resp, err := c.pool(b.Addr, b.ServerName).do(req)
	if err != nil {
		return nil, fmt.Errorf("post batch of %d segments to %s: %w", len(b.ids), b.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &StatusError{Code: resp.StatusCode, Message: string(bytes.TrimSpace(msg))}
	}
	var out BatchResponse
	// Each result is an id, a status and a short message.
	if err := json.NewDecoder(io.LimitReader(resp.Body, int64(len(b.ids))*4096+4096)).Decode(&out); err != nil {
		return nil, fmt.Errorf("batch of %d segments to %s: read the answer: %w", len(b.ids), b.Addr, err)
	}
	if len(out.Results) != len(b.ids) {
		return nil, fmt.Errorf("batch of %d segments to %s: the answer has %d results", len(b.ids), b.Addr, len(out.Results))
	}
	for i, r := range out.Results {
		if r.ID != b.ids[i] && r.ID != "" {
			return nil, fmt.Errorf("batch to %s: result %d is for segment %q, sent %q", b.Addr, i+1, r.ID, b.ids[i])
		}
	}
	return out.Results, nil
}

// DefaultBatchBytes is the Batcher's default bound on a batch's payloads:
// the default max segment size, which every receiver takes in one PUT.
const DefaultBatchBytes = 1 << 20

// DefaultBatchSingleAbove is the Batcher's default for the segments that go
// alone as a single PUT: a segment this large fills several HTTP/2 frames
// on its own, so batching saves it little, and the single PUT streams it
// from its file where a batch copies it into the request body.
const DefaultBatchSingleAbove = 64 << 10

// Batcher delivers segments in batches (POST /v1/segments:batch): the
// deliveries to one target that arrive while a batch to it is being sent
// are queued, and sent together, up to MaxSegments and MaxBytes, when that
// request returns. No timer holds a delivery back: the first goes out at
// once, alone. Each caller gets its own segment's answer, as Client.Deliver
// would have given it (created, or a *StatusError for a segment refused);
// a request that fails as a whole fails every caller in it.
type Batcher struct {
	Client *Client
	// MaxSegments bounds the segments per request; 0 means
	// MaxBatchSegments.
	MaxSegments int
	// MaxBytes bounds a request's payloads together; 0 means
	// DefaultBatchBytes. It must not exceed the receiver's max segment
	// size.
	MaxBytes int64
	// SingleAbove: a segment larger than this (or than MaxBytes) goes
	// alone as a single PUT; 0 means DefaultBatchSingleAbove.
	SingleAbove int64
	// MaxRequests is the batched requests in flight per target at once;
	// 0 means 1.
	MaxRequests int

	mu     sync.Mutex
	queues map[string]*batchQueue
}

type batchQueue struct {
	addr, serverName, target string

	mu      sync.Mutex
	calls   []*batchCall
	senders int
}

type batchCall struct {
	ctx  context.Context
	id   string
	body *io.SectionReader
	done chan batchOutcome // buffered: the sender never waits for the caller
}

type batchOutcome struct {
	created bool
	err     error
}

func (b *Batcher) limits() (segs int, bytes int64, reqs int) {
	segs, bytes, reqs = b.MaxSegments, b.MaxBytes, b.MaxRequests
	if segs <= 0 {
		segs = MaxBatchSegments
	}
	if bytes <= 0 {
		bytes = DefaultBatchBytes
	}
	if reqs <= 0 {
		reqs = 1
	}
	return segs, bytes, reqs
}

func (b *Batcher) queue(d Delivery) *batchQueue {
	key := d.Addr + "|" + d.ServerName + "|" + d.TargetPeer
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.queues[key]
	if !ok {
		q = &batchQueue{addr: d.Addr, serverName: d.ServerName, target: d.TargetPeer}
		if b.queues == nil {
			b.queues = map[string]*batchQueue{}
		}
		b.queues[key] = q
	}
	return q
}

// Deliver sends d in the next batch to its target and returns its own
// answer. A caller whose ctx ends returns at once; its segment may still
// go out (it is idempotent).
func (b *Batcher) Deliver(ctx context.Context, d Delivery) (created bool, err error) {
	_, maxBytes, maxReqs := b.limits()
	single := b.SingleAbove
	if single <= 0 {
		single = DefaultBatchSingleAbove
	}
	body := d.body()
	if body.Size() > min(maxBytes, single) {
		return b.Client.Deliver(ctx, d)
	}
	q := b.queue(d)
	call := &batchCall{ctx: ctx, id: d.ID, body: body, done: make(chan batchOutcome, 1)}
	q.mu.Lock()
	q.calls = append(q.calls, call)
	start := q.senders < maxReqs
	if start {
		q.senders++
	}
	q.mu.Unlock()
	if start {
		go b.send(q)
	}
	select {
	case o := <-call.done:
		return o.created, o.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// send sends q's queued calls, a batch at a time, until none is left.
func (b *Batcher) send(q *batchQueue) {
	maxSegs, maxBytes, _ := b.limits()
	for {
		q.mu.Lock()
		var (
			take []*batchCall
			size int64
			n    int
		)
		for n < len(q.calls) && len(take) < maxSegs {
			c := q.calls[n]
			if c.ctx.Err() != nil { // its caller is gone
				n++
				continue
			}
			if s := c.body.Size(); len(take) > 0 && size+s > maxBytes {
				break
			} else {
				size += s
			}
			take = append(take, c)
			n++
		}
		q.calls = q.calls[n:]
		if len(take) == 0 {
			q.senders--
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		b.sendBatch(q, take)
	}
}

// sendBatch sends one request for calls and answers each of them. The
// request ends early only when every caller in it has gone.
func (b *Batcher) sendBatch(q *batchQueue, calls []*batchCall) {
	batch := &Batch{Addr: q.addr, ServerName: q.serverName, TargetPeer: q.target}
	sent := calls[:0:0]
	for _, c := range calls {
		if err := batch.Add(c.id, c.body); err != nil {
			c.done <- batchOutcome{err: err}
			continue
		}
		sent = append(sent, c)
	}
	if len(sent) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(sent)))
	for _, c := range sent {
		stop := context.AfterFunc(c.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	results, err := b.Client.DeliverBatch(ctx, batch)
	for i, c := range sent {
		if err != nil {
			c.done <- batchOutcome{err: fmt.Errorf("segment %s in a batch of %d: %w", c.id, len(sent), err)}
			continue
		}
		c.done <- batchOutcome{created: results[i].Created(), err: results[i].Err()}
	}
}
