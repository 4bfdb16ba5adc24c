package daemon

import (
	"context"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/bandwidth"
)

// scheduleActor is the audit actor of a change the timetable made.
const scheduleActor = "schedule"

// scheduled is the global setting the timetable puts in force at now: the
// entry's rate and burst, edge.toml's quota.
func (d *Daemon) scheduled(now time.Time) bandwidth.Settings {
	e, _, _ := d.schedule.At(now)
	return bandwidth.Settings{BytesPerSecond: e.BytesPerSecond, BurstBytes: e.BurstBytes, DailyQuotaBytes: d.cfg.Relay.Bandwidth.DailyQuotaBytes}
}

// runSchedule applies the timetable at each boundary, live, for as long as
// it is the source in force (a runtime set-bandwidth overrides it until
// --reset); every change it makes is audited with actor "schedule" before
// it is applied, as any other. It waits on the daemon's clock, a lab
// clock's moves included.
func (d *Daemon) runSchedule(ctx context.Context) {
	for {
		// The channel first, then the reading: a move between the two
		// closes the channel taken, where the other way round it would
		// be missed until the next boundary.
		moved := d.clock.Changed()
		now := d.clock.Now()
		_, _, next := d.schedule.At(now)
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-moved:
			timer.Stop()
		}
		d.applySchedule(ctx)
	}
}

// applySchedule puts the timetable's entry for now in force if the
// timetable is the source and the entry differs from what is in force.
func (d *Daemon) applySchedule(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.source != api.SourceSchedule {
		return
	}
	current := d.limits.GlobalSettings()
	next := d.scheduled(d.clock.Now())
	if next == current {
		return
	}
	if _, err := d.audit.AppendRevertible(audit.Event{
		Time: d.clock.Now().UTC(), Event: audit.EventBandwidthConfigured,
		Bandwidth: apiBandwidth(next, api.SourceSchedule), Previous: apiBandwidth(current, api.SourceSchedule), Actor: scheduleActor,
	}); err != nil {
		// Not in force without its event: the next boundary (or clock
		// move) tries again.
		d.log.Error("scheduled bandwidth change not applied: audit event not written", "audit_log", d.audit.Path(), "err", err)
		return
	}
	d.limits.SetGlobal(next)
	d.executor.Wake()
	d.log.Info("bandwidth configured", "scope", "global", "bandwidth", next, "source", api.SourceSchedule, "previous", current, "actor", scheduleActor)
}
