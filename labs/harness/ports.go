package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// PortInUseError says that a lab port is taken. Its message is what the
// operator reads ("port 19054 is in use").
type PortInUseError struct {
	Addr  string
	Cause error
	// Holder names the process listening on the port when it can be
	// told ("pid 1234: edged run --config …"): often a lab process that
	// outlived its orchestrator.
	Holder string
}

func (e *PortInUseError) Error() string {
	_, port, err := net.SplitHostPort(e.Addr)
	if err != nil {
		port = e.Addr
	}
	if e.Holder != "" {
		return fmt.Sprintf("port %s is in use by %s", port, e.Holder)
	}
	return fmt.Sprintf("port %s is in use", port)
}

func (e *PortInUseError) Unwrap() error { return e.Cause }

// CheckPortsFree returns a *PortInUseError for the first of addrs that a
// listener could not bind, so a lab never talks to a stranger's process.
func CheckPortsFree(addrs ...string) error {
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &PortInUseError{Addr: addr, Cause: err, Holder: portHolder(addr)}
		}
		if err := ln.Close(); err != nil {
			return fmt.Errorf("check port %s: %w", addr, err)
		}
	}
	return nil
}

// WaitPortsFree polls until every one of addrs can be bound, e.g. after a
// teardown, so the next scenario does not race the last one's sockets.
func WaitPortsFree(ctx context.Context, timeout time.Duration, addrs ...string) error {
	_, err := Until(ctx, Poll{Timeout: timeout, Interval: 20 * time.Millisecond},
		func(context.Context) (struct{}, error) { return struct{}{}, CheckPortsFree(addrs...) },
		func(struct{}) bool { return true })
	var timeoutErr *TimeoutError
	if errors.As(err, &timeoutErr) && timeoutErr.LastErr != nil {
		return fmt.Errorf("after %s: %w", timeout, timeoutErr.LastErr)
	}
	return err
}
