// Package clock is the one clock of a running edged: the system's, or a lab
// clock that the control API moves by hand (edged run --lab-clock), so that
// a lab can cross a quota window, a backoff or a DST day in seconds.
//
// Every reader of the time in the daemon (the bandwidth limits and their
// quota windows, the executor's due times and backoffs, the ledger's
// timestamps) takes it from the same Clock. Code that waits on timers
// computed from it must also watch Changed: a lab clock moved forward
// makes deadlines due before the timer computed from the old reading
// fires.
package clock

import (
	"errors"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	// Now is the current time.
	Now() time.Time
	// Changed is closed when the clock is moved by hand (a new channel
	// then takes its place: call Changed again). The system clock's is
	// nil: it is never moved.
	Changed() <-chan struct{}
}

// System is the system clock.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// Changed is nil: the system clock is never moved by hand.
func (System) Changed() <-chan struct{} { return nil }

// Lab is a clock that runs at the rate of the system clock from where it
// was last moved: Advance and Set move it, nothing else does. Moving it
// keeps durations measured across the move honest in real time (a timer
// set for 2 s fires 2 s later), which is why it runs rather than standing
// still: an edged on a frozen clock would never refill a token bucket nor
// reach a backoff. It is safe for concurrent use.
type Lab struct {
	real func() time.Time

	mu      sync.Mutex
	offset  time.Duration // lab time − real time
	changed chan struct{}
}

// NewLab is a lab clock reading the system time (real, nil meaning
// time.Now) until it is moved.
func NewLab(real func() time.Time) *Lab {
	if real == nil {
		real = time.Now
	}
	return &Lab{real: real, changed: make(chan struct{})}
}

// Now is the system time moved by every Advance and Set so far.
func (l *Lab) Now() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.real().Add(l.offset)
}

// Changed is closed at the next Advance or Set.
func (l *Lab) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// ErrBackwards refuses a negative Advance: a lab that wants the past says
// so with Set.
var ErrBackwards = errors.New("advance must not be negative (use set to go back)")

// Advance moves the clock forward by d and returns the new reading.
func (l *Lab) Advance(d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, ErrBackwards
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.offset += d
	l.moved()
	return l.real().Add(l.offset), nil
}

// Set makes the clock read t now (earlier or later than it did) and
// returns the new reading.
func (l *Lab) Set(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.real()
	l.offset = t.Sub(r)
	l.moved()
	return r.Add(l.offset)
}

// moved wakes every watcher of Changed; the caller holds l.mu.
func (l *Lab) moved() {
	close(l.changed)
	l.changed = make(chan struct{})
}
