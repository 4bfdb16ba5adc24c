package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// Defaults of the SegmentHandler's body limits (DESIGN.md §3, "Hostile
// senders").
const (
	// DefaultMaxInFlightBytes bounds the bytes of request bodies held in
	// memory by one handler, across all connections and streams.
	DefaultMaxInFlightBytes = 64 << 20
	// DefaultBodyIdleTimeout is how long a body may send nothing before
	// the stream is abandoned.
	DefaultBodyIdleTimeout = 5 * time.Second
	// DefaultBudgetWait is how long a body waits for the in-flight budget
	// before it is refused with 503.
	DefaultBudgetWait = time.Second
	// MaxConcurrentStreams is the HTTP/2 streams a client may open at once
	// on one connection to edged or the peer.
	MaxConcurrentStreams = 100
	// firstChunk is what a body may hold before it takes any budget: an
	// idle stream costs no more than this, whatever it declared.
	firstChunk = 512
)

// errBudget is returned when the in-flight budget stayed spent for the
// whole wait.
var errBudget = errors.New("in-flight body budget spent")

// errBodyIdle is returned when a body sent nothing for the idle timeout.
var errBodyIdle = errors.New("body idle")

// byteBudget is a counting semaphore of bytes with a bounded wait.
type byteBudget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	freed chan struct{} // closed and replaced by every release
}

func newByteBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, freed: make(chan struct{})}
}

// acquire takes n bytes, waiting until ctx ends for others to release.
// A request larger than the whole budget is granted when nothing else holds
// any, so it cannot wait forever.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.limit || b.used == 0 {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return errBudget
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// inUse is the bytes held now.
func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// readBody reads exactly n declared bytes of r's body into a buffer that
// grows with what was received, never with what was declared. Growth past
// firstChunk takes bytes from budget (waiting at most wait), and the caller
// releases *held when done with the payload. Every read must make progress
// within idle (give or take a quarter), else the read deadline of the
// stream (HTTP/2 or HTTP/1) ends it.
func readBody(w http.ResponseWriter, r *http.Request, n int64, budget *byteBudget, wait, idle time.Duration, held *int64) ([]byte, error) {
	src := &deadlineReader{rc: http.NewResponseController(w), r: r.Body, idle: idle}
	return readN(r.Context(), src, n, budget, wait, idle, held)
}

// errReadIdle is what a deadlineReader returns when its read deadline
// passed; readN names the bytes received.
var errReadIdle = errors.New("read deadline passed")

// deadlineReader reads a request body with the stream's read deadline
// moved along with progress: every read must make progress within idle
// (give or take a quarter).
type deadlineReader struct {
	rc   *http.ResponseController
	r    io.Reader
	idle time.Duration
	// The deadline moves with progress, but at most every idle/4: setting
	// it costs a round trip to the HTTP/2 connection's loop.
	set time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(d.set) > d.idle/4 {
		if err := d.rc.SetReadDeadline(now.Add(d.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return 0, fmt.Errorf("set read deadline: %w", err)
		}
		d.set = now
	}
	n, err := d.r.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = errReadIdle
	}
	return n, err
}

// readN reads exactly n bytes of src into a buffer that grows with what
// was received, as readBody does.
func readN(ctx context.Context, src io.Reader, n int64, budget *byteBudget, wait, idle time.Duration, held *int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, firstChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			// ×4 from at least 16 KiB: a 1 MiB body is copied 336 KiB
			// on the way, and holds at most 4× what it received.
			newCap := min(n, max(int64(4*cap(buf)), 16<<10))
			grow := newCap - int64(cap(buf))
			actx, cancel := context.WithTimeout(ctx, wait)
			err := budget.acquire(actx, grow)
			cancel()
			if err != nil {
				return nil, err
			}
			*held += grow
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			buf = nb
		}
		m, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			if int64(len(buf)) < n {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			if errors.Is(err, errReadIdle) {
				return nil, fmt.Errorf("%w: nothing received for %s after %d of %d bytes", errBodyIdle, idle, len(buf), n)
			}
			return nil, err
		}
	}
	return buf, nil
}
