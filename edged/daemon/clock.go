package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/internal/clock"
)

// newClock is the daemon's one clock: the system's, or under --lab-clock a
// lab clock that the control API moves (and a warning that it is one).
func newClock(cfg config.Config, log *slog.Logger) clock.Clock {
	if !cfg.LabClock {
		return clock.System{}
	}
	log.Warn("lab clock: this edged's time moves only when POST "+api.PathLabClock+" moves it; quotas, backoffs and ledger times follow it. Never run a production edged with --lab-clock",
		"clock", api.ClockLab, "now", time.Now().UTC())
	return clock.NewLab(nil)
}

func (d *Daemon) lab() (*clock.Lab, bool) {
	l, ok := d.clock.(*clock.Lab)
	return l, ok
}

func (d *Daemon) clockName() string {
	if _, ok := d.lab(); ok {
		return api.ClockLab
	}
	return api.ClockSystem
}

// wakeOnClockMoves wakes the executor at every move of a lab clock until ctx
// is done: its timer was computed from the reading before the move, and
// segments may be due (or a quota window over) now.
func (d *Daemon) wakeOnClockMoves(ctx context.Context) {
	if d.clock.Changed() == nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		moved := d.clock.Changed()
		for {
			select {
			case <-ctx.Done():
				return
			case <-moved:
				// The next channel is taken before the wake: a move
				// made after the wake closes it, so none is missed.
				moved = d.clock.Changed()
				d.executor.Wake()
			}
		}
	}()
}

// LabClockEnabled implements control.LabClock: only under --lab-clock.
func (d *Daemon) LabClockEnabled() bool {
	_, ok := d.lab()
	return ok
}

// MoveLabClock implements control.LabClock: it advances or sets the lab
// clock (the request is validated by the control API) and wakes the
// executor through wakeOnClockMoves.
func (d *Daemon) MoveLabClock(_ context.Context, req api.LabClockRequest, actor string) (api.LabClockResponse, error) {
	l, ok := d.lab()
	if !ok {
		return api.LabClockResponse{}, fmt.Errorf("move the clock: edged runs without --lab-clock") // the path is not served then
	}
	before := l.Now()
	var now time.Time
	if req.Advance != "" {
		dur, err := time.ParseDuration(req.Advance)
		if err != nil {
			return api.LabClockResponse{}, fmt.Errorf("advance the lab clock by %q: %w", req.Advance, err)
		}
		if now, err = l.Advance(dur); err != nil {
			return api.LabClockResponse{}, fmt.Errorf("advance the lab clock by %q: %w", req.Advance, err)
		}
	} else {
		t, err := time.Parse(time.RFC3339Nano, req.Set)
		if err != nil {
			return api.LabClockResponse{}, fmt.Errorf("set the lab clock to %q: %w", req.Set, err)
		}
		now = l.Set(t)
	}
	d.log.Warn("lab clock moved", "from", before.UTC(), "to", now.UTC(), "advance", req.Advance, "set", req.Set, "actor", actor)
	return api.LabClockResponse{Now: now.UTC()}, nil
}
