package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Poll says how long and how often Until observes.
type Poll struct {
	Timeout  time.Duration
	Interval time.Duration
}

// TimeoutError is Until giving up: the condition did not hold within the
// deadline. LastErr is the latest observation error, if the latest
// observation failed.
type TimeoutError struct {
	Elapsed time.Duration
	LastErr error
}

func (e *TimeoutError) Error() string {
	if e.LastErr != nil {
		return fmt.Sprintf("condition not reached after %s (last observation failed: %v)", e.Elapsed.Round(time.Millisecond), e.LastErr)
	}
	return fmt.Sprintf("condition not reached after %s", e.Elapsed.Round(time.Millisecond))
}

func (e *TimeoutError) Unwrap() error { return e.LastErr }

// abortError marks an observation error that no amount of waiting fixes.
type abortError struct{ err error }

func (e abortError) Error() string { return e.err.Error() }
func (e abortError) Unwrap() error { return e.err }

// Abort wraps err so that Until stops at once and returns it, e.g. when the
// process being watched has exited.
func Abort(err error) error { return abortError{err} }

// Until observes every Interval until done holds for an observation, the
// Timeout passes (*TimeoutError), ctx ends (its error), or observe returns
// an Abort error (that error). Other observation errors are retried: a
// socket that does not answer yet is the normal start of a wait. The last
// successful observation is returned in every case, so a caller can record
// what it saw when it gave up.
//
// observe gets ctx, not the poll deadline: an observation started just
// before the deadline must be allowed to finish, or the wait would end on a
// spurious failure. observe bounds itself.
func Until[T any](ctx context.Context, p Poll, observe func(context.Context) (T, error), done func(T) bool) (T, error) {
	if p.Interval <= 0 {
		p.Interval = 50 * time.Millisecond
	}
	start := time.Now()
	deadline := start.Add(p.Timeout)
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	var last T
	for {
		v, err := observe(ctx)
		var abort abortError
		switch {
		case errors.As(err, &abort):
			return last, abort.err
		case err == nil:
			last = v
			if done(v) {
				return last, nil
			}
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if !time.Now().Before(deadline) {
			return last, &TimeoutError{Elapsed: time.Since(start), LastErr: err}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-ticker.C:
		}
	}
}

// WaitFile waits until path exists, e.g. a ready file a process writes once
// it listens. It gives up at once when one of the watched processes exits.
func WaitFile(ctx context.Context, timeout time.Duration, path string, watch ...*Process) error {
	_, err := Until(ctx, Poll{Timeout: timeout, Interval: 20 * time.Millisecond},
		func(context.Context) (struct{}, error) {
			for _, p := range watch {
				if err := p.Alive(); err != nil {
					return struct{}{}, err
				}
			}
			_, err := os.Stat(path)
			return struct{}{}, err
		},
		func(struct{}) bool { return true })
	if err != nil {
		return fmt.Errorf("wait for %s: %w", path, err)
	}
	return nil
}
