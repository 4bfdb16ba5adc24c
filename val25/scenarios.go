package val25

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/labs/labrun"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// Ledger states as the dump shows them.
const (
	Pending    = "PENDING"
	Delivered  = "DELIVERED"
	Deadletter = "DEADLETTER"
)

// putTimeout bounds one PUT to edged's listener.
const putTimeout = 10 * time.Second

// attempts is how many attempts the ledger recorded for id.
func (p poll) attempts(id string) int {
	for _, s := range p.ledger.Segments {
		if s.ID == id {
			return len(s.History)
		}
	}
	return 0
}

// dailyWindow is S-A, the seed's S-E done live: a 128 B quota and three
// 64 B segments (max_retry_count 1: the refused one is dead-lettered at
// once); the clock set to the window's start + 23h59m, where a fourth
// segment is still refused; then to + 24h, where that fourth, requeued,
// is delivered in a fresh window.
func (r *run) dailyWindow(ctx context.Context) error {
	opts := configOptions(1)
	opts.DailyQuotaBytes = Quota
	if err := r.setup(ctx, opts, nil, true, true); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sa", 1, len(SAFirst)); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-quota-spent", "two delivered, the third dead-lettered on the quota", false, func(p poll) bool {
		return p.held(SAFirst[:2]...) == 2 && p.state(SAFirst[2]) == Deadletter && p.status.DailyUsedBytes == Quota
	}); err != nil {
		return err
	}
	st, err := r.snapshot(ctx, StatusSpent)
	if err != nil {
		return err
	}
	if st.DailyWindowStart == nil {
		return errors.New("status after the quota was spent has no daily_window_start")
	}
	w := *st.DailyWindowStart
	if err := r.setClock(ctx, "window+23h59m", w.Add(23*time.Hour+59*time.Minute)); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sa", 4, 1); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-late-refused", "the fourth segment dead-lettered on the quota at +23h59m", false, func(p poll) bool {
		return p.state(SALate[0]) == Deadletter
	}); err != nil {
		return err
	}
	if _, err := r.snapshot(ctx, StatusLateRefused); err != nil {
		return err
	}
	if err := r.setClock(ctx, "window+24h", w.Add(24*time.Hour)); err != nil {
		return err
	}
	if _, err := r.edgedCLI(ctx, FileRequeueLate, true, "ledger", "requeue", "--id", SALate[0]); err != nil {
		return err
	}
	_, err = r.waitFor(ctx, "wait-new-window", "after +24h the fourth segment DELIVERED, held by the peer, 64 B used in a new window", true, func(p poll) bool {
		return p.held(SALate[0]) == 1 && p.state(SALate[0]) == Delivered && p.status.DailyUsedBytes == SegmentSize
	})
	return err
}

// dstPeriods is S-B: a day period from 04:00 Europe/Berlin; on each of the
// next two DST change days, in time order, the clock is set to local
// 03:59:00, three segments spend the 128 B quota (the third refused,
// retrying), then the clock is set to local 04:00:00 and the third goes.
func (r *run) dstPeriods(ctx context.Context) error {
	opts := configOptions(100)
	opts.DailyQuotaBytes = Quota
	if err := r.setup(ctx, opts, dayPeriod, true, true); err != nil {
		return err
	}
	sides := NextDSTSides(time.Now())
	r.Save(FilePlan, Plan{Sides: sides})
	for i, side := range sides {
		ids := SBIDs(side.Side)
		if err := r.setClock(ctx, side.Side+"-03:59", side.Local(3, 59, 0)); err != nil {
			return err
		}
		if err := r.seedN(ctx, "val25-sb-"+side.Side, 1, len(ids)); err != nil {
			return err
		}
		if _, err := r.waitFor(ctx, "wait-"+SBSpent(side.Side), side.Side+": two delivered, the third refused on the quota before 04:00", false, func(p poll) bool {
			return p.held(ids[:2]...) == 2 && p.state(ids[2]) == Pending && p.attempts(ids[2]) >= 1
		}); err != nil {
			return err
		}
		if _, err := r.snapshot(ctx, SBSpent(side.Side)); err != nil {
			return err
		}
		if err := r.setClock(ctx, side.Side+"-04:00", side.Local(4, 0, 0)); err != nil {
			return err
		}
		if _, err := r.waitFor(ctx, "wait-"+SBReset(side.Side), "on both DST days the third segment DELIVERED after local 04:00 and held by the peer", i == len(sides)-1, func(p poll) bool {
			return p.held(ids...) == 3 && p.state(ids[2]) == Delivered
		}); err != nil {
			return err
		}
		if _, err := r.snapshot(ctx, SBReset(side.Side)); err != nil {
			return err
		}
	}
	return nil
}

// periodRestart is S-C: the day period on a plain day; at local 03:59 the
// quota is spent (the third segment retrying on it), edged is killed with
// SIGKILL and restarted, the clock set again where it was, then to 04:00.
func (r *run) periodRestart(ctx context.Context) error {
	opts := configOptions(100)
	opts.DailyQuotaBytes = Quota
	if err := r.setup(ctx, opts, dayPeriod, true, true); err != nil {
		return err
	}
	day := RestartDay(time.Now())
	r.Save(FilePlan, Plan{RestartDay: day})
	at := func(h, m int) time.Time { return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, Zone()) }
	if err := r.setClock(ctx, "03:59", at(3, 59)); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sc", 1, len(SCIDs)); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-quota-spent", "two delivered, the third refused on the quota", false, func(p poll) bool {
		return p.held(SCIDs[:2]...) == 2 && p.state(SCIDs[2]) == Pending && p.attempts(SCIDs[2]) >= 1
	}); err != nil {
		return err
	}
	if _, err := r.snapshot(ctx, StatusPreKill); err != nil {
		return err
	}
	if err := r.killAndRestart(ctx); err != nil {
		return err
	}
	// The restarted daemon's lab clock starts from the system clock: set
	// it again to where the first one's would be now.
	again := r.labNow()
	if !again.Before(at(4, 0)) {
		return fmt.Errorf("the lab clock would be at %s after the restart, past 04:00: the run was too slow", again.In(Zone()).Format(time.TimeOnly))
	}
	if err := r.setClock(ctx, "03:59-after-restart", again); err != nil {
		return err
	}
	if _, err := r.snapshot(ctx, StatusPostRestart); err != nil {
		return err
	}
	if err := r.setClock(ctx, "04:00", at(4, 0)); err != nil {
		return err
	}
	_, err := r.waitFor(ctx, "wait-reset", "after 04:00 the third segment DELIVERED, held by the peer, 64 B used in the new period", true, func(p poll) bool {
		return p.held(SCIDs...) == 3 && p.state(SCIDs[2]) == Delivered && p.status.DailyUsedBytes == SegmentSize
	})
	return err
}

// requeue is S-D: the peer is not started, so three segments are
// dead-lettered (max_retry_count 1); then the peer starts, `edged ledger
// requeue --all` redrives them, and a requeue of a DELIVERED id must be
// refused.
func (r *run) requeue(ctx context.Context) error {
	if err := r.setup(ctx, configOptions(1), nil, false, false); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sd", 1, len(SDIDs)); err != nil {
		return err
	}
	p, err := r.waitFor(ctx, "wait-deadletter", "all three DEADLETTER with the peer down", false, func(p poll) bool {
		return p.status.Segments.Deadletter == int64(len(SDIDs))
	})
	if err != nil {
		return err
	}
	r.Save(FileDeadletter, p.ledger)
	if err := r.Step("start-peer", func() error { return r.startPeer(ctx) }); err != nil {
		return err
	}
	if _, err := r.edgedCLI(ctx, FileRequeueAll, true, "ledger", "requeue", "--all"); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-redelivered", "all three DELIVERED after the requeue and held by the peer", true, func(p poll) bool {
		return p.held(SDIDs...) == len(SDIDs) && p.status.Segments.Delivered == int64(len(SDIDs))
	}); err != nil {
		return err
	}
	_, err = r.edgedCLI(ctx, FileRequeueDone, false, "ledger", "requeue", "--id", SDIDs[0])
	return err
}

// partialUpdate is S-E: 64 B/s through the CLI, then the daily quota alone;
// four 64 B segments after it.
func (r *run) partialUpdate(ctx context.Context) error {
	if err := r.setup(ctx, configOptions(3), nil, true, false); err != nil {
		return err
	}
	if err := r.SetBandwidth(ctx, r.cfg.ControlSocket, LabelRate, 0, "--bytes-per-second", fmt.Sprint(Rate)); err != nil {
		return err
	}
	if err := r.SetBandwidth(ctx, r.cfg.ControlSocket, LabelQuota, 0, "--daily-quota-bytes", fmt.Sprint(PartialQuota)); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-se", 1, len(SEIDs)); err != nil {
		return err
	}
	_, err := r.waitFor(ctx, "wait-delivery", "all four DELIVERED and held by the peer", true, func(p poll) bool {
		return p.held(SEIDs...) == len(SEIDs) && p.status.Segments.Delivered == int64(len(SEIDs))
	})
	return err
}

// ingressReport is S-F: two senders PUT segments to edged's listener,
// edged relays them, is killed with SIGKILL and restarted, and `edged
// ingress report --json` is read from the new process.
func (r *run) ingressReport(ctx context.Context) error {
	if err := r.setup(ctx, configOptions(3), nil, true, false); err != nil {
		return err
	}
	names := make([]string, 0, len(SenderPlans))
	for _, p := range SenderPlans {
		names = append(names, p.Name)
	}
	certs, err := labsetup.IssueClientCerts(r.tls.Dir, filepath.Join(r.Work, "senders"), labsetup.CertOptions{}, names...)
	if err != nil {
		return labrun.SetupErr("sender certificates: %w", err)
	}
	var sends []Send
	defer func() { r.Save(FileSends, sends) }()
	err = r.Step("send", func() error {
		for _, p := range SenderPlans {
			tlsCfg, err := certs[p.Name].ClientConfig()
			if err != nil {
				return labrun.SetupErr("sender %s: %w", p.Name, err)
			}
			client := &transport.Client{TLS: tlsCfg, PeerID: p.Name, SessionID: p.Session, Timeout: putTimeout}
			for j := 1; j <= p.Count; j++ {
				sends = append(sends, put(ctx, r.lab.EdgedAddr, client, p, p.SegmentID(j), p.Size(j)))
			}
			client.CloseIdle()
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range sends {
		if s.Accepted() {
			ids = append(ids, s.ID)
		}
	}
	if _, err := r.waitFor(ctx, "wait-relay", fmt.Sprintf("all %d accepted segments DELIVERED and held by the peer", len(ids)), true, func(p poll) bool {
		return p.held(ids...) == len(ids) && p.status.Segments.Delivered == int64(len(ids))
	}); err != nil {
		return err
	}
	if _, err := r.snapshot(ctx, StatusPreKillF); err != nil {
		return err
	}
	if err := r.killAndRestart(ctx); err != nil {
		return err
	}
	_, err = r.edgedCLI(ctx, FileIngress, true, "ingress", "report")
	return err
}

// put sends one segment over client and records the answer.
func put(ctx context.Context, addr string, client *transport.Client, p SenderPlan, id string, size int) Send {
	payload := labsetup.Payload(id, size)
	s := Send{Sender: p.Name, Session: p.Session, ID: id, Target: Peer, Bytes: int64(size),
		SHA256: fmt.Sprintf("%x", sha256.Sum256(payload)), At: time.Now()}
	created, err := client.Deliver(ctx, transport.Delivery{Addr: addr, ServerName: NodeID, ID: id, TargetPeer: Peer, Payload: payload})
	var se *transport.StatusError
	switch {
	case err == nil && created:
		s.Code = 201
	case err == nil:
		s.Code = 200
	case errors.As(err, &se):
		s.Code, s.Error = se.Code, se.Message
	default:
		s.Error = err.Error()
	}
	return s
}

// quotaHold is S-G: a 128 B quota under quota_action = "hold" and
// max_retry_count 1 (under the default action the first refusal would
// dead-letter); four 64 B segments: two delivered, two held PENDING with no
// attempt; the clock set past the window's end: the two held ones go.
func (r *run) quotaHold(ctx context.Context) error {
	opts := configOptions(1)
	opts.DailyQuotaBytes = Quota
	hold := func(c *config.Config) { c.Relay.Bandwidth.QuotaAction = config.QuotaHold }
	if err := r.setup(ctx, opts, hold, true, true); err != nil {
		return err
	}
	// The lab clock starts at the system's: pin it so the window is the
	// lab's, recorded in clock-moves.json.
	if err := r.setClock(ctx, "start", time.Now().Add(time.Minute)); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sg", 1, len(SGIDs)); err != nil {
		return err
	}
	p, err := r.waitFor(ctx, "wait-held", "two delivered, two held", false, func(p poll) bool {
		return p.held(SGIDs[:2]...) == 2 && p.status.QuotaHeldCount > 0 && p.status.Segments.Pending == 2
	})
	if err != nil {
		return err
	}
	r.Save(FileHeld, p.ledger)
	st, err := r.snapshot(ctx, StatusHeld)
	if err != nil {
		return err
	}
	if st.Quota == nil || st.Quota.End == nil {
		return errors.New("status with a spent quota has no quota window end")
	}
	if err := r.setClock(ctx, "window-end", st.Quota.End.Add(time.Second)); err != nil {
		return err
	}
	_, err = r.waitFor(ctx, "wait-released", "all four DELIVERED and held by the peer", true, func(p poll) bool {
		return p.held(SGIDs...) == len(SGIDs) && p.status.Segments.Delivered == int64(len(SGIDs))
	})
	return err
}

// timetable is S-H: a timetable of 64 B/s (burst 64) from 08:00 and off
// from 19:00 Europe/Berlin; the lab clock set to 18:59 local of a day
// ahead; five 64 B segments go at 64 B/s; after the second receipt the
// clock is set to 19:00:00 local and the rest go at once.
func (r *run) timetable(ctx context.Context) error {
	day := RestartDay(time.Now()).AddDate(0, 0, 1)
	y, m, d := day.In(Zone()).Date()
	before := time.Date(y, m, d, 18, 59, 0, 0, Zone())
	boundary := time.Date(y, m, d, 19, 0, 0, 0, Zone())
	table := func(c *config.Config) {
		c.Relay.Bandwidth.TimeZone = ZoneName
		c.Relay.Bandwidth.Schedule = []config.ScheduleEntry{
			{At: ScheduleDay, BytesPerSecond: ScheduleRate, BurstBytes: ScheduleRate},
			{At: ScheduleOff},
		}
	}
	if err := r.setup(ctx, configOptions(3), table, true, true); err != nil {
		return err
	}
	if err := r.setClock(ctx, "before-19", before); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-day-rate", "the timetable's 64 B/s in force", false, func(p poll) bool {
		bw := p.status.Bandwidth
		return bw.BytesPerSecond == ScheduleRate && bw.Source == api.SourceSchedule
	}); err != nil {
		return err
	}
	if _, err := r.snapshot(ctx, StatusDay); err != nil {
		return err
	}
	if err := r.seedN(ctx, "val25-sh", 1, len(SHIDs)); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-two", "two received at 64 B/s", false, func(p poll) bool {
		return p.held(SHIDs[:2]...) == 2
	}); err != nil {
		return err
	}
	if err := r.setClock(ctx, "at-19", boundary); err != nil {
		return err
	}
	if _, err := r.waitFor(ctx, "wait-all", "all five DELIVERED and held by the peer", true, func(p poll) bool {
		return p.held(SHIDs...) == len(SHIDs) && p.status.Segments.Delivered == int64(len(SHIDs))
	}); err != nil {
		return err
	}
	_, err := r.snapshot(ctx, StatusOff)
	return err
}
