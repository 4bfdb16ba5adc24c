package verify

import "time"

// The labs' tolerances: every bound a check applies to a time is exact
// but for one of these (or ClockSkew), each printed in the criterion that
// uses it and justified in DESIGN.md §7 ("What the checks read").
const (
	// ReceiptJitter is how much later than edged admitted a segment the
	// peer may stamp its receipt: the delivery itself (TLS write, the
	// peer's read and its evidence bookkeeping) on loopback, a few
	// milliseconds, with room for a loaded machine (soak --load).
	ReceiptJitter = 250 * time.Millisecond
	// BackoffEarly is how much sooner than its backoff a retry may start:
	// edged sets next_attempt_at from a clock reading taken after the
	// failed attempt ended, so none; the millisecond only absorbs clock
	// steps.
	BackoffEarly = time.Millisecond
	// BackoffLate is how much later than due a retry may start: the
	// executor's timer waking, the cycle reading its batch and the
	// limiter's decision, on a loaded machine.
	BackoffLate = 300 * time.Millisecond
	// ReloadSlack is how long after the reload's answer, beyond one
	// tick_interval, the first receipt may come ("takes effect within one
	// tick"): the wake-up, the cycle and the delivery.
	ReloadSlack = 250 * time.Millisecond
)
