package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// maxRecordBatch bounds the outcomes stored in one ledger transaction.
const maxRecordBatch = 256

// recordLinger is how long the recorder waits for more outcomes while
// deliveries are under way before it stores what it has: a transaction's
// fixed cost is several segments' worth, and the wait holds up no
// delivery, only the DELIVERED marks.
const recordLinger = 2 * time.Millisecond

// outcome is the end of one attempt: delivered (cause nil) or failed.
type outcome struct {
	seg   ledger.Segment
	cause error
	// placed: the segment holds a place in the gate until this is stored
	// (it was delivered, or its delivery failed; not a quota drop).
	placed bool
	// started (the admission) and ended (Deliver returned) bound the
	// attempt in the ledger's history; a quota drop starts and ends at
	// the decision.
	started, ended time.Time
}

// admitted is a segment the limits let through, on its way to a delivery
// goroutine.
type admitted struct {
	seg     ledger.Segment
	started time.Time
}

// run is one cycle's deliveries: the cycle admits segments one by one in
// order (admit), InFlight goroutines deliver the admitted ones, and a
// recorder stores the outcomes in the ledger, several per transaction. The
// gate holds a segment's place from its admission until its outcome is
// stored, so at most InFlight segments are ever delivered and not yet
// recorded.
type run struct {
	e   *Executor
	ctx context.Context
	res *CycleResult // Throttled and RetryAt by admit; the rest by the recorder

	gate     *gate         // segments admitted and not yet recorded
	stopWake func() bool   // ends gate.wakeOn
	work     chan admitted // to the InFlight delivery goroutines
	workers  sync.WaitGroup
	outcomes chan outcome
	recorded chan struct{} // closed once every outcome is stored

	mu sync.Mutex
	// outstanding is, per scope (GlobalScope and each target), the bytes
	// admitted and neither committed nor released: what the limiter holds
	// reserved for this run.
	outstanding map[string]int64
	err         error // the first failure to store; stops admission
	// fault is the first failure of the ledger itself (not of one row
	// that changed under the executor, ledger.ErrNotFound): the executor
	// backs off until the ledger records again.
	fault error
}

func (e *Executor) startRun(ctx context.Context, res *CycleResult, n int) *run {
	r := &run{
		e: e, ctx: ctx, res: res,
		gate:        newGate(n, e.inFlightBytes()),
		work:        make(chan admitted),
		outcomes:    make(chan outcome, 2*n+maxRecordBatch),
		recorded:    make(chan struct{}),
		outstanding: map[string]int64{},
	}
	// Long-lived delivery goroutines rather than one per segment: the
	// stack an HTTP/2 request grows is grown once.
	r.stopWake = r.gate.wakeOn(ctx)
	r.workers.Add(n)
	for range n {
		go func() {
			defer r.workers.Done()
			for a := range r.work {
				r.deliver(a.seg, a.started)
			}
		}()
	}
	go r.record()
	return r
}

func (r *run) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
	if r.fault == nil && !errors.Is(err, ledger.ErrNotFound) {
		r.fault = err
	}
}

func (r *run) faulted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault != nil
}

func (r *run) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// finish waits for every delivery and every outcome to be stored, and
// returns the first failure to store and the first of the ledger itself.
func (r *run) finish() (err, fault error) {
	r.stopWake()
	close(r.work)
	r.workers.Wait() // every delivery has ended and sent its outcome
	close(r.outcomes)
	<-r.recorded
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err, r.fault
}

// admit passes seg through the limits and, when allowed, starts its
// delivery. It returns once the delivery has started (there was room for
// it), so admission stays in order and happens as the delivery begins.
// looked is false when the limits were not asked (the cycle is ending).
func (r *run) admit(seg ledger.Segment) (d bandwidth.Decision, looked bool) {
	e := r.e
	if !r.gate.enter(r.ctx, seg.Size) {
		return d, false
	}
	if r.failed() {
		// Storing failed while this one waited for room: a delivery now
		// could not be recorded either.
		r.gate.back(seg.Size)
		return d, false
	}
	if r.quotaHangsOnInFlight(seg) {
		// Decide as one delivery at a time would: after the deliveries
		// under way have ended and returned the quota of those that failed.
		r.gate.back(seg.Size)
		r.gate.idle()
		if !r.gate.enter(r.ctx, seg.Size) {
			return d, false
		}
	}
	d = e.Limits.AdmitSegment(seg.ID, seg.TargetPeer, seg.Size)
	at := e.now()
	switch d.Verdict {
	case bandwidth.QuotaExceeded:
		r.gate.back(seg.Size)
		cause := ErrQuotaExceeded
		if d.Scope != bandwidth.GlobalScope {
			cause = fmt.Errorf("%w (daily quota of peer %s)", ErrQuotaExceeded, d.Scope)
		}
		// An attempt that failed at admission: it starts and ends there.
		r.outcomes <- outcome{seg: seg, cause: cause, started: at, ended: at}
		return d, true
	case bandwidth.QuotaHeld:
		r.gate.back(seg.Size)
		// The hold action: the quota is spent, so the segment waits in
		// the ledger, PENDING, no attempt counted, until its window ends.
		if r.res.RetryAt.IsZero() || d.RetryAt.Before(r.res.RetryAt) {
			r.res.RetryAt = d.RetryAt
		}
		return d, true
	case bandwidth.Throttled:
		r.gate.back(seg.Size)
		// Deferred, not failed: no attempt counted, nothing written. The
		// segment stays due and is looked at again when tokens suffice
		// (the cycle defers it until then); the segments after it, for
		// this peer or another, are still looked at in this cycle.
		r.res.Throttled++
		if !d.RetryAt.IsZero() && (r.res.RetryAt.IsZero() || d.RetryAt.Before(r.res.RetryAt)) {
			r.res.RetryAt = d.RetryAt
		}
		return d, true
	}
	r.hold(seg, 1)
	r.work <- admitted{seg, at} // a goroutine is free: the gate let in at most InFlight
	return d, true
}

// quotaHangsOnInFlight reports whether a daily quota would refuse seg now
// only because of bytes reserved by deliveries still under way: one of
// them may fail and return its reservation, which one delivery at a time
// would have seen before deciding.
func (r *run) quotaHangsOnInFlight(seg ledger.Segment) bool {
	if r.gate.wire() == 0 {
		return false
	}
	lim := r.e.Limits
	globalQuota := lim.GlobalSettings().DailyQuotaBytes
	ps, _ := lim.PeerSettings(seg.TargetPeer)
	if globalQuota == 0 && ps.DailyQuotaBytes == 0 {
		return false
	}
	st := lim.Stats()
	r.mu.Lock()
	defer r.mu.Unlock()
	short := func(quota, used int64, scope string) bool {
		return quota > 0 && used+r.outstanding[scope]+seg.Size > quota
	}
	return short(globalQuota, st.Global.Usage.UsedBytes, bandwidth.GlobalScope) ||
		short(ps.DailyQuotaBytes, st.Peers[seg.TargetPeer].Usage.UsedBytes, seg.TargetPeer)
}

// hold adds (sign 1) or removes (-1) seg's bytes from the outstanding ones.
func (r *run) hold(seg ledger.Segment, sign int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outstanding[bandwidth.GlobalScope] += sign * seg.Size
	if seg.TargetPeer != bandwidth.GlobalScope {
		r.outstanding[seg.TargetPeer] += sign * seg.Size
	}
}

// release returns an admitted segment's quota reservation.
func (r *run) release(seg ledger.Segment) {
	r.e.Limits.Release(seg.TargetPeer, seg.Size)
	r.hold(seg, -1)
}

func (r *run) deliver(seg ledger.Segment, started time.Time) {
	payload, err := r.open(seg)
	var lost *ledger.PayloadError
	switch {
	case errors.As(err, &lost):
		// The payload file is gone or damaged: no attempt can ever send
		// it. It counts as a failed attempt, so the segment backs off and
		// dead-letters with the file named in last_error, rather than
		// stopping every cycle at the same place.
	case err != nil:
		r.release(seg)
		r.gate.back(seg.Size)
		if r.ctx.Err() == nil {
			// Not an attempt: nothing was sent. The segment stays
			// PENDING and the cycle ends with the error.
			r.setErr(fmt.Errorf("segment %s not delivered: %w", seg.ID, err))
		}
		return
	default:
		seg.Payload = nil // recorded without it: memory holds only payloads under way
		err = r.e.Deliverer.Deliver(r.ctx, seg, payload.SectionReader)
		payload.Close()
	}
	ended := r.e.now()
	if err != nil {
		// Returned before the gate opens, so that an admission waiting for
		// the deliveries under way (quotaHangsOnInFlight) sees it.
		r.release(seg)
	}
	r.gate.delivered(seg.Size)
	if err != nil && r.ctx.Err() != nil {
		// Shutting down: the delivery was abandoned, not refused. The
		// segment stays PENDING with its attempts unchanged.
		r.gate.done(1)
		return
	}
	r.outcomes <- outcome{seg: seg, cause: err, placed: true, started: started, ended: ended}
}

// open returns seg's payload: from the batch when it came with it, else
// from the ledger.
func (r *run) open(seg ledger.Segment) (*ledger.PayloadReader, error) {
	if int64(len(seg.Payload)) == seg.Size {
		return ledger.MemoryPayload(seg.Payload), nil
	}
	return r.e.Ledger.OpenPayload(r.ctx, seg.ID)
}

// record stores outcomes until the channel is closed. Each transaction
// takes every outcome that arrived while the previous one was committing,
// and, while deliveries are under way, those that arrive within
// recordLinger — up to half the places of the gate, so that the other
// half keeps deliveries going while it commits.
func (r *run) record() {
	defer close(r.recorded)
	limit := min(maxRecordBatch, max(1, r.gate.maxN/2))
	batch := make([]outcome, 0, maxRecordBatch)
	linger := time.NewTimer(0)
	<-linger.C
	for first := range r.outcomes {
		batch = append(batch[:0], first)
		linger.Reset(recordLinger)
	collect:
		for len(batch) < limit {
			select {
			case o, ok := <-r.outcomes:
				if !ok {
					break collect
				}
				batch = append(batch, o)
				continue
			default:
			}
			if r.gate.wire() == 0 {
				break collect // nothing under way: nothing more is coming soon
			}
			select {
			case o, ok := <-r.outcomes:
				if !ok {
					break collect
				}
				batch = append(batch, o)
			case <-linger.C:
				break collect
			}
		}
		if !linger.Stop() {
			select {
			case <-linger.C:
			default:
			}
		}
		r.store(batch)
	}
}

// store records a batch in one ledger transaction. The quota usage stored
// with it is that of every scope once all of the batch's deliveries are
// counted; the limiter then takes the same figures, one target peer at a
// time, so memory and ledger agree to the byte and the instant.
func (r *run) store(batch []outcome) {
	e := r.e
	now := e.now()
	var out ledger.Outcomes
	// The deliveries of each target, in the order targets first appear.
	type group struct {
		peer  string
		bytes int64
		segs  []ledger.Segment
		usage map[string]bandwidth.Usage // after this group and those before
	}
	var groups []*group
	byPeer := map[string]*group{}
	for _, o := range batch {
		if o.cause != nil {
			out.Failed = append(out.Failed, e.failure(o, now))
			continue
		}
		out.Delivered = append(out.Delivered, ledger.Delivery{ID: o.seg.ID, StartedAt: o.started, EndedAt: o.ended})
		g := byPeer[o.seg.TargetPeer]
		if g == nil {
			g = &group{peer: o.seg.TargetPeer}
			byPeer[g.peer] = g
			groups = append(groups, g)
		}
		g.bytes += o.seg.Size
		g.segs = append(g.segs, o.seg)
	}
	after := map[string]bandwidth.Usage{} // every scope, after the batch
	for _, g := range groups {
		g.usage = e.Limits.UsageAfter(g.peer, g.bytes)
		for scope, u := range g.usage {
			if prev, ok := after[scope]; ok {
				// The limiter has not yet counted the groups before this
				// one (the global scope has them all): add to what they
				// leave.
				u = bandwidth.Usage{WindowStart: prev.WindowStart, UsedBytes: prev.UsedBytes + g.bytes}
				g.usage[scope] = u
			}
			after[scope] = u
		}
	}
	if len(after) > 0 {
		out.Usage = make(map[string]ledger.Usage, len(after))
		for scope, u := range after {
			out.Usage[scope] = ledgerUsage(u)
		}
	}
	// The marks must land even if shutdown began meanwhile: the peers
	// already hold the segments.
	ctx := context.WithoutCancel(r.ctx)
	placed := 0
	for _, o := range batch {
		if o.placed {
			placed++
		}
	}
	defer r.gate.done(placed)
	if err := e.Ledger.Record(ctx, now, out); err != nil {
		if ledger.Unavailable(err) {
			// The ledger takes no write at all: one by one would fail
			// each the same way (after its own busy timeout).
			r.setErr(fmt.Errorf("%d outcomes not recorded: %w", len(batch), err))
		} else {
			e.log().Warn("recording a batch of outcomes failed; recording them one by one", "outcomes", len(batch), "err", err)
		}
		for _, o := range batch {
			if r.faulted() {
				// The ledger itself fails: the others would too, each
				// after its own wait. They stay PENDING, as unrecorded.
				if o.cause == nil {
					r.release(o.seg)
				}
				continue
			}
			r.storeOne(ctx, o)
		}
		return
	}
	for _, g := range groups {
		e.Limits.Commit(g.peer, g.bytes, g.usage)
		r.mu.Lock()
		r.outstanding[bandwidth.GlobalScope] -= g.bytes
		if g.peer != bandwidth.GlobalScope {
			r.outstanding[g.peer] -= g.bytes
		}
		r.mu.Unlock()
		r.res.Delivered += len(g.segs)
		if e.log().Enabled(ctx, slog.LevelDebug) {
			for _, seg := range g.segs {
				e.log().Debug("segment delivered", "id", seg.ID, "peer", seg.TargetPeer, "bytes", seg.Size)
			}
		}
	}
	failed := out.Failed
	for _, o := range batch {
		if o.cause != nil {
			r.counted(o.seg, o.cause, failed[0].Dead)
			failed = failed[1:]
		}
	}
}

// storeOne records one outcome in its own transaction: the way back when
// a batch could not be stored, so that one bad row fails only itself.
func (r *run) storeOne(ctx context.Context, o outcome) {
	e := r.e
	now := e.now()
	if o.cause != nil {
		f := e.failure(o, now)
		if err := e.Ledger.Record(ctx, now, ledger.Outcomes{Failed: []ledger.Failure{f}}); err != nil {
			r.setErr(err)
			return
		}
		r.counted(o.seg, o.cause, f.Dead)
		return
	}
	usage := e.Limits.UsageAfter(o.seg.TargetPeer, o.seg.Size)
	stored := make(map[string]ledger.Usage, len(usage))
	for scope, u := range usage {
		stored[scope] = ledgerUsage(u)
	}
	d := ledger.Delivery{ID: o.seg.ID, StartedAt: o.started, EndedAt: o.ended}
	if err := e.Ledger.Record(ctx, now, ledger.Outcomes{Delivered: []ledger.Delivery{d}, Usage: stored}); err != nil {
		r.release(o.seg)
		// Left PENDING: it is delivered again later, which the peer answers
		// as a redelivery.
		r.setErr(fmt.Errorf("segment %s delivered but not recorded: %w", o.seg.ID, err))
		return
	}
	e.Limits.Commit(o.seg.TargetPeer, o.seg.Size, usage)
	r.hold(o.seg, -1)
	r.res.Delivered++
}

// failure is o as failed attempt k = attempts+1: DEADLETTER at MaxRetry,
// else due again after BackoffBase × 2^(k-1), at most MaxBackoff.
func (e *Executor) failure(o outcome, now time.Time) ledger.Failure {
	k := o.seg.Attempts + 1
	f := ledger.Failure{ID: o.seg.ID, Attempts: k, Next: after(now, Backoff(e.BackoffBase, k, e.maxBackoff())), LastError: o.cause.Error(),
		StartedAt: o.started, EndedAt: o.ended}
	if k >= e.MaxRetry {
		f.Dead, f.Next = true, now
	}
	return f
}

// counted counts a stored failed attempt in the cycle's result.
func (r *run) counted(seg ledger.Segment, cause error, dead bool) {
	r.res.Failed++
	if dead {
		r.res.Deadletter++
	}
	r.e.log().Info("delivery attempt failed", "id", seg.ID, "attempt", seg.Attempts+1, "deadletter", dead, "err", cause)
}
