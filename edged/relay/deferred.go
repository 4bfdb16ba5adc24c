package relay

import (
	"time"

	"edgelab/edged/bandwidth"
	"edgelab/edged/ledger"
)

// maxDeferred bounds the throttled segments the executor remembers (an id,
// a size and a moment each). One not remembered is read and looked at again
// in every cycle, as before deferrals.
const maxDeferred = 1 << 14

// deferral is a throttled segment the executor will not look at again
// before due: the moment the limits could pass it and every throttled
// segment ahead of it for the same target.
type deferral struct {
	id   string
	size int64
	due  time.Time
}

// deferrals are the throttled segments not yet due, per target in the order
// they were deferred. A target with any is not read from the ledger: its
// other due segments are behind them in due order, and are read once they
// have all passed. So a throttled segment costs one look when it is
// deferred and one when it is due, instead of one per cycle (issue #17).
// They are forgotten when the settings change: the moments were computed
// from the buckets in force.
//
// Only the executor's cycle uses them; cycles never run concurrently.
type deferrals struct {
	version  uint64
	byTarget map[string][]deferral
	// lag is, per target, how much later than computed its segments are
	// due: a cycle wakes a little after the moment it asked for, and a
	// bucket full by then loses the tokens it could not hold, so each
	// cycle moves the rest of a queue back by what its head turns out to
	// need (rebase).
	lag map[string]time.Duration
	n   int
	// front is, per target, how many of the segments taken in this cycle
	// went back in front of its queue (add with again).
	front map[string]int
}

// sync forgets every deferral when the limits' settings changed since
// they were computed.
func (d *deferrals) sync(v uint64) {
	if d.byTarget == nil || d.version != v {
		d.byTarget, d.lag, d.n, d.version = map[string][]deferral{}, map[string]time.Duration{}, 0, v
	}
}

// waiting reports whether target has deferred segments (the ledger is not
// read for it).
func (d *deferrals) waiting(target string) bool { return len(d.byTarget[target]) > 0 }

// takeDue removes and returns the deferrals due at now, at most limit, the
// earliest first; each target's stay in order, and a target's are taken
// only up to its first not yet due.
func (d *deferrals) takeDue(now time.Time, limit int) []dueDeferral {
	d.front = map[string]int{}
	var out []dueDeferral
	for target, q := range d.byTarget {
		lag := d.lag[target]
		i := 0
		for i < len(q) && !q[i].due.Add(lag).After(now) {
			i++
		}
		for _, x := range q[:i] {
			x.due = x.due.Add(lag)
			out = append(out, dueDeferral{target, x})
		}
		d.drop(target, i)
	}
	sortDue(out)
	if len(out) > limit {
		// Put back the latest of them, at the fronts of their queues.
		for j := len(out) - 1; j >= limit; j-- {
			x := out[j]
			x.due = x.due.Add(-d.lag[x.target])
			d.byTarget[x.target] = append([]deferral{x.deferral}, d.byTarget[x.target]...)
			d.n++
		}
		out = out[:limit]
	}
	return out
}

func (d *deferrals) drop(target string, i int) {
	if i == 0 {
		return
	}
	q := d.byTarget[target]
	d.n -= i
	if i == len(q) {
		delete(d.byTarget, target)
		delete(d.lag, target)
		return
	}
	d.byTarget[target] = q[i:]
}

// dueDeferral is a deferral taken from target's queue.
type dueDeferral struct {
	target string
	deferral
}

// sortDue orders by due moment, then by target (the order is
// deterministic whatever the map's).
func sortDue(xs []dueDeferral) {
	// Insertion sort: a cycle takes a handful; it keeps each target's in
	// their order.
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && lessDue(xs[j], xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

func lessDue(a, b dueDeferral) bool {
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	return a.target < b.target
}

// maxCoalesce bounds how long after its tokens are due a deferred segment
// may wait so that one cycle admits several: at most this much latency
// added, for a cycle (a ledger read and a transaction) per several
// segments instead of one (issue #17).
const maxCoalesce = 25 * time.Millisecond

// next is the moment to look at the deferrals again; ok is false with
// none. It is the earliest a target's first one is due, or somewhat later
// when its buckets can go on filling meanwhile without losing tokens (half
// their Slack, at most maxCoalesce): the rate is the same, and the cycle
// then admits the segments that came due meanwhile together.
func (d *deferrals) next(lim *bandwidth.Limits) (at time.Time, ok bool) {
	for target, q := range d.byTarget {
		due := q[0].due.Add(d.lag[target])
		due = due.Add(min(maxCoalesce, lim.Slack(target, q[0].size)/2))
		if !ok || due.Before(at) {
			at, ok = due, true
		}
	}
	return at, ok
}

// add defers seg until due, behind the target's others. A segment taken
// due in this cycle and throttled again (again) goes back in front of
// them, behind those taken with it and throttled again before it.
func (d *deferrals) add(seg ledger.Segment, due time.Time, again bool) {
	q := d.byTarget[seg.TargetPeer]
	x := deferral{id: seg.ID, size: seg.Size, due: due.Add(-d.lag[seg.TargetPeer])}
	switch {
	case again:
		i := d.front[seg.TargetPeer]
		q = append(q[:i], append([]deferral{x}, q[i:]...)...)
		d.front[seg.TargetPeer] = i + 1
	case d.n >= maxDeferred:
		return
	default:
		if len(q) > 0 && x.due.Before(q[len(q)-1].due) {
			x.due = q[len(q)-1].due // behind the others, never before them
		}
		q = append(q, x)
	}
	d.byTarget[seg.TargetPeer] = q
	d.n++
}

// rebase moves target's queue so that its first segment is due when its
// buckets, as they are now, could give it: later when they are short (a
// cycle woke after the moment asked for and a full bucket lost tokens, or
// another target took some), sooner when they already hold it (the cycle
// took fewer than the buckets gave meanwhile, and what they hold would
// otherwise wait behind the chain until a full bucket lost it). Called once
// the cycle has admitted what it could. A first segment already due and
// held by the buckets is left where it is: moving it to now would push the
// whole queue back by the cycle's own duration every cycle.
func (d *deferrals) rebase(lim *bandwidth.Limits, target string, now time.Time) {
	q := d.byTarget[target]
	if len(q) == 0 {
		return
	}
	head := q[0]
	due := head.due.Add(d.lag[target])
	short := lim.ShortBy(target, head.size)
	switch ready := now.Add(short); {
	case short > 0 && ready.After(due): // short: later
		d.lag[target] = ready.Sub(head.due)
	case short == 0 && due.After(now): // held already: now
		d.lag[target] = now.Sub(head.due)
	}
}

// chain sums, within one cycle, the bytes throttled so far that will pass
// before the next one throttled: in the global bucket, those the global
// limit throttled (every target's, in the order looked at); in a target's
// own, all of that target's.
type chain struct {
	global int64
	own    map[string]int64
}

// due is the moment from which seg, throttled now by scope, is worth
// looking at again: when the buckets could have given it and the segments
// ahead of it in the chain, and not before the limiter's own retry moment
// for it. A segment its own limit throttled is not put in the global
// chain: it passes when its own bucket allows, perhaps after segments of
// other targets that the global chain would then hold back for nothing.
func (c *chain) due(lim *bandwidth.Limits, seg ledger.Segment, scope string, retryAt time.Time) time.Time {
	if c.own == nil {
		c.own = map[string]int64{}
	}
	global := seg.Size
	if scope == bandwidth.GlobalScope {
		c.global += seg.Size
		global = c.global
	}
	c.own[seg.TargetPeer] += seg.Size
	at := lim.ReadyAt(seg.TargetPeer, global, c.own[seg.TargetPeer])
	if retryAt.After(at) {
		at = retryAt
	}
	return at
}
