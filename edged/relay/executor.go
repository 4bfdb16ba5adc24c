// Package relay is edged's relay executor: it takes due PENDING segments
// from the ledger, passes them through the bandwidth limiter, delivers them
// and records the outcome (DESIGN.md §2, "Relay executor semantics").
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// ErrQuotaExceeded is the last_error of an attempt the daily quota refused.
var ErrQuotaExceeded = errors.New("quota exceeded")

// DefaultInFlightBytes bounds the payloads of the deliveries under way.
const DefaultInFlightBytes = 16 << 20

// DefaultInlineBytes is the largest segment whose payload a cycle reads
// with its batch: 256 segments of it are 1 MiB.
const DefaultInlineBytes = 4 << 10

// Deliverer sends one segment to its target peer: payload reads its
// seg.Size bytes (from the ledger's file or from memory; seg.Payload is
// not set).
type Deliverer interface {
	Deliver(ctx context.Context, seg ledger.Segment, payload *io.SectionReader) error
}

// DeliverFunc adapts a function to Deliverer.
type DeliverFunc func(ctx context.Context, seg ledger.Segment, payload *io.SectionReader) error

func (f DeliverFunc) Deliver(ctx context.Context, seg ledger.Segment, payload *io.SectionReader) error {
	return f(ctx, seg, payload)
}

// Store is what the executor needs of the ledger (*ledger.Ledger); tests
// put a failing one in its place.
type Store interface {
	DueBatchExcept(ctx context.Context, now time.Time, limit int, inline int64, skip func(target string) bool) ([]ledger.Segment, error)
	PendingByID(ctx context.Context, ids []string, inline int64) (map[string]ledger.Segment, error)
	NextDue(ctx context.Context, now time.Time) (time.Time, bool, error)
	Generation(ctx context.Context) (int64, error)
	OpenPayload(ctx context.Context, id string) (*ledger.PayloadReader, error)
	Record(ctx context.Context, at time.Time, o ledger.Outcomes) error
	// Probe is a cheap write: while the ledger cannot record outcomes,
	// the executor probes it before starting deliveries again.
	Probe(ctx context.Context, at time.Time) error
}

var _ Store = (*ledger.Ledger)(nil)

// Executor runs delivery cycles. Fields are set before Run and not changed.
type Executor struct {
	Ledger Store
	// Limits holds the global limit and the per-peer ones; a segment must
	// pass both its target's and the global one.
	Limits      *bandwidth.Limits
	Deliverer   Deliverer
	MaxRetry    int           // attempts before DEADLETTER
	BackoffBase time.Duration // attempt k waits BackoffBase × 2^(k-1)
	// MaxBackoff caps one backoff; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
	Tick       time.Duration
	BatchSize  int // due segments read per cycle; 0 means 256
	// InFlight is how many segments may be admitted and not yet recorded
	// at once (delivering, or delivered and waiting for their DELIVERED
	// mark): the deliveries in flight, and the most a crash can leave
	// delivered but not marked, to be delivered again. 0 means 1.
	InFlight int
	// OrderedUpTo: a cycle with at most this many due segments delivers
	// them one at a time, so that a peer receives them in ledger order
	// (several in flight arrive in any order). For a handful of segments
	// the round trips cost little; a backlog goes InFlight at a time.
	OrderedUpTo int
	// InFlightBytes bounds the payload bytes of the deliveries under way
	// (one larger segment still goes alone); 0 means DefaultInFlightBytes.
	InFlightBytes int64
	// InlineBytes: segments up to this size are read with the cycle's
	// batch, larger ones when their delivery starts, so that only the
	// payloads under way (InFlightBytes) of those are in memory. 0 means
	// DefaultInlineBytes.
	InlineBytes int64
	// InsertPoll is how often Run looks for segments inserted by other
	// processes, to start a cycle for them before the tick; 0 disables it.
	InsertPoll time.Duration
	Now        func() time.Time // nil means time.Now
	Log        *slog.Logger

	wake     chan struct{}
	health   ledgerHealth
	deferred deferrals
	// reread: the latest cycle took a target's last deferred segments, so
	// its other due segments were not read: the next cycle starts at once.
	reread     bool
	cycles     atomic.Int64
	lastThrott atomic.Int64
}

// CycleResult summarises one cycle.
type CycleResult struct {
	At         time.Time // the moment the cycle read the due segments
	Due        int
	Delivered  int
	Failed     int // failed attempts, including quota drops
	Throttled  int
	Deadletter int
	// RetryAt is the earliest moment a throttled segment will have enough
	// tokens (one throttled now, or one deferred earlier); zero when none
	// will (or none was throttled).
	RetryAt time.Time
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func (e *Executor) wakeCh() chan struct{} {
	if e.wake == nil {
		e.wake = make(chan struct{}, 1)
	}
	return e.wake
}

// Wake makes a running executor start a cycle at once (after a settings
// change or a new segment). It never blocks.
func (e *Executor) Wake() {
	select {
	case e.wakeCh() <- struct{}{}:
	default:
	}
}

// Cycles is the number of cycles run; LastCycleThrottled how many segments
// the latest one deferred on the rate limit.
func (e *Executor) Cycles() int64             { return e.cycles.Load() }
func (e *Executor) LastCycleThrottled() int64 { return e.lastThrott.Load() }

// Run cycles until ctx is done: at every tick, at once after Wake, and when
// a backoff or a throttled segment comes due before the next tick.
func (e *Executor) Run(ctx context.Context) error {
	wake := e.wakeCh()
	if e.InsertPoll > 0 {
		go e.watchInserts(ctx)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		res, err := e.Cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && e.LedgerError() == nil { // a ledger failure is logged as one
			e.log().Error("relay cycle", "err", err)
		}
		timer.Reset(e.untilNext(ctx, res))
	}
}

// watchInserts wakes the executor when the ledger's generation moves.
func (e *Executor) watchInserts(ctx context.Context) {
	t := time.NewTicker(e.InsertPoll)
	defer t.Stop()
	last, _ := e.Ledger.Generation(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		gen, err := e.Ledger.Generation(ctx)
		if err != nil {
			continue // the next tick still finds them
		}
		if gen != last {
			last = gen
			e.Wake()
		}
	}
}

// untilNext is the wait before the next cycle: a tick, or less when a
// backoff or a throttled segment comes due sooner.
func (e *Executor) untilNext(ctx context.Context, res CycleResult) time.Duration {
	now := e.now()
	if retryAt, failing := e.ledgerRetryAt(); failing {
		// Nothing starts before the ledger's backoff ends: neither due
		// segments nor the tick.
		return max(0, retryAt.Sub(now))
	}
	next := now.Add(e.Tick)
	if !res.RetryAt.IsZero() && res.RetryAt.Before(next) {
		next = res.RetryAt
	}
	// Segments that came due while the cycle ran (after res.At) were not
	// in it: they make the next cycle start at once.
	since := res.At
	if since.IsZero() {
		since = now
	}
	if due, ok, err := e.Ledger.NextDue(ctx, since); err == nil && ok && due.Before(next) {
		next = due
	}
	// A full batch that moved segments on (delivered or failed) means
	// more may be due right now. One whose segments were all deferred
	// would read the same segments again: it waits like any other.
	if res.Due >= e.batchSize() && res.Delivered+res.Failed > 0 || e.reread {
		next = now
	}
	return max(0, next.Sub(now))
}

func (e *Executor) batchSize() int {
	if e.BatchSize > 0 {
		return e.BatchSize
	}
	return 256
}

// Cycle takes the due segments once, in (next_attempt_at, id) order.
//
// Admission is strictly in that order and decides before each delivery
// starts: Admit reserves the tokens and quota bytes, so up to InFlight
// deliveries may then be under way at once without passing any limit. The
// outcomes are recorded in the ledger as they come, several per
// transaction (each DELIVERED mark with the quota usage that counts it),
// and the cycle returns once every outcome is recorded, so the next cycle
// never sees a segment that is still under way.
func (e *Executor) Cycle(ctx context.Context) (CycleResult, error) {
	var res CycleResult
	defer func() {
		e.cycles.Add(1)
		e.lastThrott.Store(int64(res.Throttled))
	}()
	res.At = e.now()
	if retryAt, failing := e.ledgerRetryAt(); failing {
		// The ledger could not record outcomes: a delivery now would be
		// sent again once it can. Wait out the backoff, then probe it
		// with a cheap write before starting any.
		if res.At.Before(retryAt) {
			return res, nil
		}
		if err := e.Ledger.Probe(ctx, res.At); err != nil {
			if ctx.Err() != nil {
				return res, nil
			}
			e.ledgerFailed(res.At, err)
			return res, fmt.Errorf("relay cycle: %w", err)
		}
	}
	err, fault := e.cycle(ctx, &res)
	switch {
	case ctx.Err() != nil:
	case fault != nil:
		e.ledgerFailed(e.now(), fault)
	default:
		e.ledgerRecovered(e.now())
	}
	return res, err
}

// cycle is Cycle's work: err is its first error, fault the first of the
// ledger itself (reading the batch or a payload, recording outcomes; not a
// segment that changed under the executor).
func (e *Executor) cycle(ctx context.Context, res *CycleResult) (err, fault error) {
	e.reread = false
	inline := e.inlineBytes()
	d := &e.deferred
	d.sync(e.Limits.Version())
	// First the deferred segments now due, then the due segments of the
	// targets with none still deferred (a target whose last deferred ones
	// are taken now is read at the next cycle, so that none comes twice).
	taken := d.takeDue(res.At, e.batchSize())
	var batch []ledger.Segment
	var again, takenFrom map[string]bool // nil (read as empty) without deferrals due
	if len(taken) > 0 {
		again, takenFrom = map[string]bool{}, map[string]bool{}
		ids := make([]string, len(taken))
		for i, x := range taken {
			ids[i] = x.id
			takenFrom[x.target] = true
		}
		got, err := e.Ledger.PendingByID(ctx, ids, inline)
		if err != nil {
			// The targets are read again in full once the ledger answers.
			err = fmt.Errorf("relay cycle: %w", err)
			return err, err
		}
		for _, x := range taken {
			if seg, ok := got[x.id]; ok { // else delivered, dead-lettered or gone meanwhile
				batch = append(batch, seg)
				again[x.id] = true
			}
		}
	}
	skip := func(target string) bool { return d.waiting(target) || takenFrom[target] }
	due, err := e.Ledger.DueBatchExcept(ctx, res.At, e.batchSize()-len(batch), inline, skip)
	if err != nil {
		err = fmt.Errorf("relay cycle: %w", err)
		return err, err
	}
	batch = append(batch, due...)
	res.Due = len(batch)
	defer func() {
		for target := range takenFrom {
			if !d.waiting(target) {
				e.reread = true // its other due segments, if any, come next
			}
			d.rebase(e.Limits, target, e.now())
		}
		if at, ok := d.next(e.Limits); ok && (res.RetryAt.IsZero() || at.Before(res.RetryAt)) {
			res.RetryAt = at
		}
	}()
	if len(batch) == 0 {
		return nil, nil
	}
	inFlight := e.inFlight()
	if len(batch) <= e.OrderedUpTo && !behindDeferred(batch, d) {
		inFlight = 1
	}
	r := e.startRun(ctx, res, inFlight)
	var ch chain
	for _, seg := range batch {
		if ctx.Err() != nil || r.failed() {
			break
		}
		dec, looked := r.admit(seg)
		if looked && dec.Verdict == bandwidth.Throttled && !dec.RetryAt.IsZero() {
			d.add(seg, ch.due(e.Limits, seg, dec.Scope, dec.RetryAt), again[seg.ID])
		}
	}
	return r.finish() // the recorder fills res until then
}

// behindDeferred reports whether a segment of batch has deferred segments
// of its target left behind it: then the batch is a slice of a throttled
// backlog, and one at a time would cap the rate at one delivery's round
// trip per segment (issue #17), where a backlog read whole went InFlight at
// a time before deferrals. A handful for targets with nothing deferred
// still goes one at a time, in ledger order.
func behindDeferred(batch []ledger.Segment, d *deferrals) bool {
	for _, seg := range batch {
		if d.waiting(seg.TargetPeer) {
			return true
		}
	}
	return false
}

func (e *Executor) inFlight() int { return max(1, e.InFlight) }

func (e *Executor) inFlightBytes() int64 {
	if e.InFlightBytes > 0 {
		return e.InFlightBytes
	}
	return DefaultInFlightBytes
}

func (e *Executor) inlineBytes() int64 {
	if e.InlineBytes > 0 {
		return e.InlineBytes
	}
	return DefaultInlineBytes
}

// DefaultMaxBackoff is MaxBackoff when unset ([relay] max_backoff_seconds).
const DefaultMaxBackoff = time.Hour

// Backoff is the wait after failed attempt k (1-based): base × 2^(k-1),
// at most maxWait (maxWait <= 0: no cap but the largest Duration). The
// doubling saturates instead of overflowing, whatever k.
func Backoff(base time.Duration, k int, maxWait time.Duration) time.Duration {
	if maxWait <= 0 {
		maxWait = math.MaxInt64
	}
	if base <= 0 {
		return 0
	}
	if base >= maxWait {
		return maxWait
	}
	d := base
	for i := 1; i < k; i++ {
		if d > maxWait/2 {
			return maxWait
		}
		d *= 2
	}
	return d
}

// maxLedgerTime is the latest moment the ledger stores (int64 nanoseconds
// since the epoch, in 2262).
var maxLedgerTime = time.Unix(0, math.MaxInt64).UTC()

// after is now + d, saturated at the latest moment the ledger can store: a
// later one would wrap around to the past and come due at once.
func after(now time.Time, d time.Duration) time.Time {
	t := now.Add(d)
	if t.After(maxLedgerTime) || (d > 0 && t.Before(now)) {
		return maxLedgerTime
	}
	return t
}

func (e *Executor) maxBackoff() time.Duration {
	if e.MaxBackoff > 0 {
		return e.MaxBackoff
	}
	return DefaultMaxBackoff
}

func ledgerUsage(u bandwidth.Usage) ledger.Usage {
	return ledger.Usage{WindowStart: u.WindowStart, UsedBytes: u.UsedBytes}
}

// LedgerFault is the ledger's failure to record outcomes (status
// ledger_error).
type LedgerFault struct {
	Message string
	Since   time.Time
}

// maxLedgerBackoff caps the wait between probes of a failing ledger (or
// the tick, when that is longer).
const maxLedgerBackoff = time.Minute

// ledgerHealth is the executor's view of the ledger: healthy, or failing
// since a moment and backing off until retryAt.
type ledgerHealth struct {
	mu      sync.Mutex
	fault   *LedgerFault
	wait    time.Duration // the current backoff
	retryAt time.Time
}

// LedgerError is the ledger's current failure, nil when it records.
func (e *Executor) LedgerError() *LedgerFault {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if e.health.fault == nil {
		return nil
	}
	f := *e.health.fault
	return &f
}

// ledgerRetryAt reports whether the ledger is failing and, if so, when
// the executor tries it again.
func (e *Executor) ledgerRetryAt() (time.Time, bool) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	return e.health.retryAt, e.health.fault != nil
}

// ledgerFailed records that the ledger failed at now: the first failure
// starts the outage and a backoff of one tick; each later one doubles it,
// up to maxLedgerBackoff.
func (e *Executor) ledgerFailed(now time.Time, err error) {
	h := &e.health
	h.mu.Lock()
	defer h.mu.Unlock()
	limit := max(e.Tick, maxLedgerBackoff)
	if h.fault == nil {
		h.fault = &LedgerFault{Since: now}
		h.wait = max(e.Tick, time.Millisecond)
		e.log().Error("the ledger cannot record outcomes: no new deliveries until it can",
			"err", err, "retry_in", h.wait)
	} else {
		h.wait = min(2*h.wait, limit)
		e.log().Warn("the ledger still cannot record outcomes", "err", err, "since", h.fault.Since, "retry_in", h.wait)
	}
	h.fault.Message = err.Error()
	h.retryAt = now.Add(h.wait)
}

// ledgerRecovered ends an outage: a cycle recorded its outcomes.
func (e *Executor) ledgerRecovered(now time.Time) {
	h := &e.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fault == nil {
		return
	}
	e.log().Info("the ledger records outcomes again: deliveries resumed", "since", h.fault.Since, "down_for", now.Sub(h.fault.Since))
	h.fault, h.wait, h.retryAt = nil, 0, time.Time{}
}
