// Package relay is edged's relay executor: it takes due PENDING segments
// from the ledger, passes them through the bandwidth limiter, delivers them
// and records the outcome (DESIGN.md §2, "Relay executor semantics").
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// ErrQuotaExceeded is the last_error of an attempt the daily quota refused.
var ErrQuotaExceeded = errors.New("quota exceeded")

// Deliverer sends one segment to its target peer.
type Deliverer interface {
	Deliver(ctx context.Context, seg ledger.Segment) error
}

// DeliverFunc adapts a function to Deliverer.
type DeliverFunc func(ctx context.Context, seg ledger.Segment) error

func (f DeliverFunc) Deliver(ctx context.Context, seg ledger.Segment) error { return f(ctx, seg) }

// Executor runs delivery cycles. Fields are set before Run and not changed.
type Executor struct {
	Ledger *ledger.Ledger
	// Limits holds the global limit and the per-peer ones; a segment must
	// pass both its target's and the global one.
	Limits      *bandwidth.Limits
	Deliverer   Deliverer
	MaxRetry    int           // attempts before DEADLETTER
	BackoffBase time.Duration // attempt k waits BackoffBase × 2^(k-1)
	Tick        time.Duration
	BatchSize   int // due segments read per cycle; 0 means 256
	// InsertPoll is how often Run looks for segments inserted by other
	// processes, to start a cycle for them before the tick; 0 disables it.
	InsertPoll time.Duration
	Now        func() time.Time // nil means time.Now
	Log        *slog.Logger

	wake       chan struct{}
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
	// tokens; zero when none will (or none was throttled).
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
		if err != nil {
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
	// A full batch means more may be due right now.
	if res.Due >= e.batchSize() {
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
func (e *Executor) Cycle(ctx context.Context) (CycleResult, error) {
	var res CycleResult
	defer func() {
		e.cycles.Add(1)
		e.lastThrott.Store(int64(res.Throttled))
	}()
	res.At = e.now()
	due, err := e.Ledger.Due(ctx, res.At, e.batchSize())
	if err != nil {
		return res, fmt.Errorf("relay cycle: %w", err)
	}
	res.Due = len(due)
	for _, seg := range due {
		if ctx.Err() != nil {
			return res, nil
		}
		if err := e.process(ctx, seg, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (e *Executor) process(ctx context.Context, seg ledger.Segment, res *CycleResult) error {
	d := e.Limits.Admit(seg.TargetPeer, seg.Size)
	switch d.Verdict {
	case bandwidth.QuotaExceeded:
		cause := ErrQuotaExceeded
		if d.Scope != bandwidth.GlobalScope {
			cause = fmt.Errorf("%w (daily quota of peer %s)", ErrQuotaExceeded, d.Scope)
		}
		return e.fail(ctx, seg, cause, res)
	case bandwidth.Throttled:
		// Deferred, not failed: no attempt counted, nothing written. The
		// segment stays due and is looked at again when tokens suffice;
		// the segments after it, for this peer or another, are still
		// looked at in this cycle.
		res.Throttled++
		if !d.RetryAt.IsZero() && (res.RetryAt.IsZero() || d.RetryAt.Before(res.RetryAt)) {
			res.RetryAt = d.RetryAt
		}
		return nil
	}
	err := e.Deliverer.Deliver(ctx, seg)
	if err != nil {
		e.Limits.Release(seg.TargetPeer, seg.Size)
		if ctx.Err() != nil {
			// Shutting down: the delivery was abandoned, not refused. The
			// segment stays PENDING with its attempts unchanged.
			return nil
		}
		return e.fail(ctx, seg, err, res)
	}
	now := e.now()
	// The quota usage of every scope the segment counts in (global, and
	// its target peer) is stored in the transaction that marks it
	// DELIVERED, so after a crash the usage is exactly the delivered bytes.
	usage := e.Limits.UsageAfter(seg.TargetPeer, seg.Size)
	stored := make(map[string]ledger.Usage, len(usage))
	for scope, u := range usage {
		stored[scope] = ledgerUsage(u)
	}
	// The DELIVERED mark must land even if shutdown began meanwhile: the
	// peer already holds the segment.
	markCtx := context.WithoutCancel(ctx)
	if err := e.Ledger.MarkDelivered(markCtx, seg.ID, now, stored); err != nil {
		e.Limits.Release(seg.TargetPeer, seg.Size)
		// Left PENDING: it is delivered again later, which the peer answers
		// as a redelivery.
		return fmt.Errorf("segment %s delivered but not recorded: %w", seg.ID, err)
	}
	e.Limits.Commit(seg.TargetPeer, seg.Size, usage)
	res.Delivered++
	e.log().Debug("segment delivered", "id", seg.ID, "peer", seg.TargetPeer, "bytes", seg.Size)
	return nil
}

// fail records failed attempt k = attempts+1: DEADLETTER at MaxRetry, else
// due again after BackoffBase × 2^(k-1).
func (e *Executor) fail(ctx context.Context, seg ledger.Segment, cause error, res *CycleResult) error {
	k := seg.Attempts + 1
	now := e.now()
	dead := k >= e.MaxRetry
	next := now.Add(Backoff(e.BackoffBase, k))
	res.Failed++
	if dead {
		res.Deadletter++
		next = now
	}
	if err := e.Ledger.MarkFailed(context.WithoutCancel(ctx), seg.ID, k, next, cause.Error(), dead, now); err != nil {
		return err
	}
	e.log().Info("delivery attempt failed", "id", seg.ID, "attempt", k, "deadletter", dead, "err", cause)
	return nil
}

// Backoff is the wait after failed attempt k (1-based): base × 2^(k-1).
func Backoff(base time.Duration, k int) time.Duration {
	if k < 1 {
		k = 1
	}
	if k > 32 { // keeps the shift from overflowing; days of backoff anyway
		k = 32
	}
	return base << (k - 1)
}

func ledgerUsage(u bandwidth.Usage) ledger.Usage {
	return ledger.Usage{WindowStart: u.WindowStart, UsedBytes: u.UsedBytes}
}
