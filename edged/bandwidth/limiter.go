// Package bandwidth holds edged's bandwidth controls: a token bucket on
// golang.org/x/time/rate and a daily byte quota, with the throttle and
// quota-drop counters, all changeable live (Limiter), and the global limit
// applied together with one limit per target peer (Limits). Time comes from
// an injected clock so tests can advance a day without waiting one.
package bandwidth

import (
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// QuotaWindow is the length of a daily quota window.
const QuotaWindow = 24 * time.Hour

// Settings are the limits in force; a zero field is unlimited, a zero
// BurstBytes means "equal to BytesPerSecond".
type Settings struct {
	BytesPerSecond  int64 `json:"bytes_per_second"`
	BurstBytes      int64 `json:"burst_bytes"`
	DailyQuotaBytes int64 `json:"daily_quota_bytes"`
}

// LogValue logs the settings by field name (bandwidth.bytes_per_second=64
// …) rather than as a Go struct.
func (s Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("bytes_per_second", s.BytesPerSecond),
		slog.Int64("burst_bytes", s.BurstBytes),
		slog.Int64("daily_quota_bytes", s.DailyQuotaBytes))
}

// Burst is the bucket capacity in force: BurstBytes, or the rate when unset.
func (s Settings) Burst() int64 {
	if s.BurstBytes > 0 {
		return s.BurstBytes
	}
	return s.BytesPerSecond
}

// Unlimited reports whether neither a rate nor a quota is in force.
func (s Settings) Unlimited() bool { return s.BytesPerSecond == 0 && s.DailyQuotaBytes == 0 }

// Usage is the state of the daily quota window. A zero WindowStart means no
// window is open: the next delivery opens one.
type Usage struct {
	WindowStart time.Time
	UsedBytes   int64
}

// Verdict is what Admit decided for a segment.
type Verdict int

const (
	// Allowed: tokens and quota are reserved; call Commit or Release.
	Allowed Verdict = iota
	// Throttled: the bucket holds too few tokens; defer without counting an
	// attempt. RetryAt says when it will hold enough (zero: never, the
	// segment is larger than the burst).
	Throttled
	// QuotaExceeded: delivering would pass the daily quota; a failed attempt.
	QuotaExceeded
	// QuotaHeld: as QuotaExceeded under the hold action: deferred, not
	// failed, until RetryAt (the end of the quota's window).
	QuotaHeld
)

func (v Verdict) String() string {
	switch v {
	case Allowed:
		return "allowed"
	case Throttled:
		return "throttled"
	case QuotaExceeded:
		return "quota exceeded"
	case QuotaHeld:
		return "quota held"
	}
	return "unknown"
}

// Decision is Admit's answer.
type Decision struct {
	Verdict Verdict
	RetryAt time.Time // for Throttled: when enough tokens will be there; zero if never
	// Scope names the limit that refused the segment (Limits.Admit only):
	// GlobalScope or a peer id.
	Scope string
}

// Stats is a consistent snapshot of a Limiter.
type Stats struct {
	Settings       Settings
	ThrottleCount  int64
	QuotaDropCount int64
	QuotaHeldCount int64 // Limits only: deferrals under the hold action
	Usage          Usage // after rolling an expired window
	// WindowStart and WindowEnd bound the current window: Usage's, or with
	// a period the period's now even before anything is counted; zero when
	// no 24 h window is open.
	WindowStart, WindowEnd time.Time
	Period                 *Period // the calendar period, nil for 24 h windows
}

// Remaining is the quota left in the window, clamped at zero; ok is false
// when no quota is in force.
func (s Stats) Remaining() (remaining int64, ok bool) {
	if s.Settings.DailyQuotaBytes == 0 {
		return 0, false
	}
	return max(0, s.Settings.DailyQuotaBytes-s.Usage.UsedBytes), true
}

// Limiter applies Settings to segments. It is safe for concurrent use; a
// segment admitted holds its tokens and quota bytes until Commit or Release,
// so deliveries in flight at once can never overshoot the quota.
type Limiter struct {
	now func() time.Time

	mu       sync.Mutex
	settings Settings
	// period, when set, makes the quota window a calendar period (Tor's
	// AccountingStart) instead of the 24 h that start at the first
	// delivery counted.
	period     *Period
	bucket     *rate.Limiter // nil: no rate limit
	usage      Usage
	reserved   int64 // quota bytes admitted but not yet committed or released
	throttles  int64
	quotaDrops int64
	// startEmpty: a bucket created here (at start, or when a rate is
	// first imposed) holds no tokens, as rclone's --bwlimit does, instead
	// of the seed's full bucket ([relay.bandwidth] start_empty).
	startEmpty bool
}

// New returns a limiter with settings s, resuming the quota usage u (as
// persisted in the ledger). now is the clock; nil means time.Now.
func New(s Settings, u Usage, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if !u.WindowStart.IsZero() {
		u.WindowStart = u.WindowStart.UTC()
	}
	l := &Limiter{now: now, usage: u}
	l.set(s)
	return l
}

// Set applies new settings live. Counters and quota usage are kept; the
// bucket keeps its tokens when only its rate or burst changes (as
// x/time/rate's SetLimit/SetBurst do) and starts full when a rate is first
// imposed.
func (l *Limiter) Set(s Settings) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setAt(l.now(), s)
}

func (l *Limiter) set(s Settings) { l.setAt(l.now(), s) }

// setAt applies s at now; the caller holds l.mu.
func (l *Limiter) setAt(now time.Time, s Settings) {
	l.settings = s
	if s.BytesPerSecond == 0 {
		l.bucket = nil
		return
	}
	if l.bucket == nil {
		l.bucket = rate.NewLimiter(rate.Limit(s.BytesPerSecond), int(s.Burst()))
		if l.startEmpty {
			l.bucket.AllowN(now, int(s.Burst())) // a new bucket is full: spend it
		}
		return
	}
	l.bucket.SetLimitAt(now, rate.Limit(s.BytesPerSecond))
	l.bucket.SetBurstAt(now, int(s.Burst()))
}

// SetStartEmpty makes every bucket this limiter creates from now on start
// with no tokens, and empties a bucket that has not been drawn from yet
// (the one New made): called right after New, the bucket starts empty.
func (l *Limiter) SetStartEmpty(empty bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.startEmpty = empty
	if empty && l.bucket != nil && l.bucket.TokensAt(l.now()) >= float64(l.bucket.Burst()) {
		l.bucket.AllowN(l.now(), l.bucket.Burst())
	}
}

// Settings returns the settings in force.
func (l *Limiter) Settings() Settings {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settings
}

// SetPeriod makes the quota window the calendar period p (nil: the 24 h
// from the first delivery counted). Usage from an earlier period is
// rolled at the next decision.
func (l *Limiter) SetPeriod(p *Period) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.period = p
}

// rollWindow closes a window that has ended: QuotaWindow after its start,
// or with a period, when now is in a later period than the window's.
func (l *Limiter) rollWindow(now time.Time) {
	if l.usage.WindowStart.IsZero() {
		return
	}
	if !now.Before(l.windowEnd(l.usage.WindowStart)) {
		l.usage = Usage{}
	}
}

// currentWindowEnd is when the window in force at now ends: the open
// window's, a period's even before anything is counted; zero when no 24 h
// window is open. The caller holds l.mu and has rolled the window.
func (l *Limiter) currentWindowEnd(now time.Time) time.Time {
	switch {
	case !l.usage.WindowStart.IsZero():
		return l.windowEnd(l.usage.WindowStart)
	case l.period != nil:
		_, end := l.period.Window(now)
		return end
	}
	return time.Time{}
}

// windowEnd is when the window that started at start ends.
func (l *Limiter) windowEnd(start time.Time) time.Time {
	if l.period != nil {
		_, end := l.period.Window(start)
		return end
	}
	return start.Add(QuotaWindow)
}

// Admit decides whether a segment of size bytes may be delivered now. The
// quota is checked first (a drop is a failed attempt), then the rate (a
// throttle only defers). Allowed reserves the tokens and quota bytes.
func (l *Limiter) Admit(size int64) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.rollWindow(now)
	if l.quotaExceeded(size) {
		l.quotaDrops++
		return Decision{Verdict: QuotaExceeded}
	}
	r, ok, delay := l.reserveTokens(now, size)
	switch {
	case !ok: // larger than the burst: it can never pass
		l.throttles++
		return Decision{Verdict: Throttled}
	case delay > 0:
		r.CancelAt(now)
		l.throttles++
		return Decision{Verdict: Throttled, RetryAt: now.Add(delay)}
	}
	l.reserved += size
	return Decision{Verdict: Allowed}
}

// quotaExceeded reports whether size more bytes would pass the quota,
// counting what is reserved; the caller holds l.mu and has rolled the window.
func (l *Limiter) quotaExceeded(size int64) bool {
	q := l.settings.DailyQuotaBytes
	return q > 0 && l.usage.UsedBytes+l.reserved+size > q
}

// reserveTokens takes size tokens from the bucket at now. ok is false when
// size is larger than the burst (nothing is taken); a positive delay means
// the tokens are not there yet and the caller must cancel r or wait. With no
// rate in force r is nil and ok is true. The caller holds l.mu.
func (l *Limiter) reserveTokens(now time.Time, size int64) (r *rate.Reservation, ok bool, delay time.Duration) {
	if l.bucket == nil {
		return nil, true, 0
	}
	r = l.bucket.ReserveN(now, int(size))
	if !r.OK() {
		return nil, false, 0
	}
	return r, true, r.DelayFrom(now)
}

// tokensAt is what the bucket holds at now; ok is false without a rate.
// The caller holds l.mu.
func (l *Limiter) tokensAt(now time.Time) (tokens float64, ok bool) {
	if l.bucket == nil {
		return 0, false
	}
	return l.bucket.TokensAt(now), true
}

// readyAt is when the bucket, drawn on by nothing else, will have given n
// tokens from now on, those it holds included (rounded up, so that a
// segment looked at then passes); now without a rate. The caller holds
// l.mu.
func (l *Limiter) readyAt(now time.Time, n int64) time.Time {
	if l.bucket == nil || n <= 0 {
		return now
	}
	lack := float64(n) - l.bucket.TokensAt(now)
	if lack <= 0 {
		return now
	}
	return now.Add(time.Duration(math.Ceil(lack / float64(l.bucket.Limit()) * float64(time.Second))))
}

// UsageAfter is the quota usage that committing size bytes now would leave;
// the executor persists it with the DELIVERED mark before calling Commit.
func (l *Limiter) UsageAfter(size int64) Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.usageAfter(size)
}

func (l *Limiter) usageAfter(size int64) Usage {
	now := l.now()
	l.rollWindow(now)
	u := l.usage
	if u.WindowStart.IsZero() {
		// A UTC instant without a monotonic reading: exactly what the
		// ledger stores and gives back after a restart. A period's window
		// starts at the period's start, whenever the first delivery is.
		u.WindowStart = now.UTC()
		if l.period != nil {
			start, _ := l.period.Window(now)
			u.WindowStart = start.UTC()
		}
	}
	u.UsedBytes += size
	return u
}

// Commit counts an admitted segment as delivered against the quota and
// returns the new usage.
func (l *Limiter) Commit(size int64) Usage {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved = max(0, l.reserved-size)
	l.usage = l.usageAfter(size)
	return l.usage
}

// Release returns an admitted segment's quota reservation after its delivery
// failed. The tokens stay spent: the bytes may well have gone on the wire.
func (l *Limiter) Release(size int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved = max(0, l.reserved-size)
}

// Stats returns a snapshot of settings, counters and usage.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statsAt(l.now())
}

// statsAt is the snapshot at now, after rolling an expired window; the
// caller holds l.mu.
func (l *Limiter) statsAt(now time.Time) Stats {
	l.rollWindow(now)
	st := Stats{
		Settings:       l.settings,
		ThrottleCount:  l.throttles,
		QuotaDropCount: l.quotaDrops,
		Usage:          l.usage,
		Period:         l.period,
	}
	switch {
	case !l.usage.WindowStart.IsZero():
		st.WindowStart, st.WindowEnd = l.usage.WindowStart.UTC(), l.windowEnd(l.usage.WindowStart).UTC()
	case l.period != nil:
		start, end := l.period.Window(now)
		st.WindowStart, st.WindowEnd = start.UTC(), end.UTC()
	}
	return st
}
