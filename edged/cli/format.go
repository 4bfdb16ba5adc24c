package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"edgelab/edged/api"
)

// bandwidthText is one setting as a line: "rate=64 B/s burst=64 B (= rate)
// quota=unlimited (source runtime)".
func bandwidthText(b api.Bandwidth) string {
	rate, burst, quota := "unlimited", "-", "unlimited"
	if b.BytesPerSecond > 0 {
		rate = fmt.Sprintf("%d B/s", b.BytesPerSecond)
		if b.BurstBytes > 0 {
			burst = fmt.Sprintf("%d B", b.BurstBytes)
		} else {
			burst = fmt.Sprintf("%d B (= rate)", b.BytesPerSecond)
		}
	} else if b.BurstBytes > 0 {
		burst = fmt.Sprintf("%d B (no rate in force)", b.BurstBytes)
	}
	if b.DailyQuotaBytes > 0 {
		quota = fmt.Sprintf("%d B/day", b.DailyQuotaBytes)
	}
	s := fmt.Sprintf("rate=%s burst=%s quota=%s", rate, burst, quota)
	if b.Source != "" {
		s += fmt.Sprintf(" (source %s)", b.Source)
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeStatus renders a status for people: plain text, aligned, no colour.
func writeStatus(w io.Writer, st api.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...))
	}
	row("node", "%s", st.NodeID)
	row("unlimited", "%s", yesNo(st.Unlimited))
	row("bandwidth", "%s", bandwidthText(st.Bandwidth))
	row("throttle count", "%d", st.ThrottleCount)
	row("quota drop count", "%d", st.QuotaDropCount)
	row("daily used", "%d B", st.DailyUsedBytes)
	if st.DailyRemainingBytes == nil {
		row("daily remaining", "unlimited")
	} else {
		row("daily remaining", "%d B", *st.DailyRemainingBytes)
	}
	if st.DailyWindowStart == nil {
		row("daily window start", "-")
	} else {
		row("daily window start", "%s", st.DailyWindowStart.UTC().Format(time.RFC3339))
	}
	if st.Clock == api.ClockLab {
		row("clock", "lab (edged run --lab-clock: moved by POST %s)", api.PathLabClock)
	}
	row("executor cycles", "%d (last cycle throttled %d)", st.ExecutorCycles, st.LastCycleThrottled)
	if st.LedgerError != nil {
		row("LEDGER ERROR", "%s (since %s; no new deliveries until the ledger records)",
			st.LedgerError.Message, st.LedgerError.Since.UTC().Format(time.RFC3339))
	}
	row("segments", "pending=%d delivered=%d deadletter=%d blocked_oversize=%d",
		st.Segments.Pending, st.Segments.Delivered, st.Segments.Deadletter, st.Segments.BlockedOversize)
	fmt.Fprintln(tw)

	if len(st.Peers) == 0 {
		fmt.Fprintln(tw, "delivered to peers: none")
	} else {
		fmt.Fprintln(tw, "PEER\tDELIVERED SEGMENTS\tDELIVERED BYTES\tPENDING\tDEADLETTER\tTHROTTLES\tQUOTA DROPS")
		for _, id := range slices.Sorted(maps.Keys(st.Peers)) {
			p := st.Peers[id]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", id, p.DeliveredSegments, p.DeliveredBytes,
				p.PendingSegments, p.DeadletterSegments, p.ThrottleCount, p.QuotaDropCount)
		}
		// Each configured peer's own limit, on top of the global one.
		header := false
		for _, id := range slices.Sorted(maps.Keys(st.Peers)) {
			p := st.Peers[id]
			if !p.Configured || p.Bandwidth == nil {
				continue
			}
			if !header {
				fmt.Fprintln(tw)
				fmt.Fprintln(tw, "PEER LIMIT\tBANDWIDTH\tDAILY USED\tDAILY REMAINING\tDAILY WINDOW START")
				header = true
			}
			remaining, start := "unlimited", "-"
			if p.DailyRemainingBytes != nil {
				remaining = fmt.Sprintf("%d B", *p.DailyRemainingBytes)
			}
			if p.DailyWindowStart != nil {
				start = p.DailyWindowStart.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d B\t%s\t%s\n", id, bandwidthText(*p.Bandwidth), p.DailyUsedBytes, remaining, start)
		}
	}
	fmt.Fprintln(tw)

	fmt.Fprintln(tw, "INGRESS FROM\tBYTES")
	fmt.Fprintf(tw, "(total)\t%d\n", st.Ingress.Bytes)
	for _, id := range slices.Sorted(maps.Keys(st.Ingress.ByPeer)) {
		fmt.Fprintf(tw, "%s\t%d\n", id, st.Ingress.ByPeer[id])
	}
	return tw.Flush()
}

// instant is how the tables show a time: UTC, to the microsecond, a fixed
// width so that columns of them line up.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// orDash shows an empty cell as "-": a blank last cell would leave the
// cells before it padded with trailing spaces.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeHistory renders a segment and its attempts for people.
func writeHistory(w io.Writer, seg api.Segment) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "segment\t%s\n", seg.ID)
	fmt.Fprintf(tw, "target\t%s\n", seg.TargetPeer)
	fmt.Fprintf(tw, "size\t%d B\n", seg.Size)
	fmt.Fprintf(tw, "state\t%s after %d attempt(s)\n", seg.State, seg.Attempts)
	fmt.Fprintf(tw, "last error\t%s\n", orDash(seg.LastError))
	fmt.Fprintln(tw)
	if len(seg.History) == 0 {
		fmt.Fprintln(tw, "no attempts recorded")
		return tw.Flush()
	}
	if requeued(seg) {
		return writeRounds(tw, seg) // requeue.go
	}
	fmt.Fprintln(tw, "ATTEMPT\tSTARTED\tENDED\tDURATION\tOUTCOME\tERROR")
	for _, a := range seg.History {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Attempt, instant(a.StartedAt), instant(a.EndedAt),
			a.EndedAt.Sub(a.StartedAt).Round(time.Microsecond), a.Outcome, orDash(a.Error))
	}
	return tw.Flush()
}

// writeDecisions renders the limiter's journal for people, oldest first.
func writeDecisions(w io.Writer, d api.Decisions) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%d decision(s) shown of %d since edged started; the journal keeps %d, %d dropped\n",
		len(d.Decisions), d.Total, d.Capacity, d.Dropped)
	if len(d.Decisions) == 0 {
		return tw.Flush()
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SEQ\tAT\tKIND\tSEGMENT\tPEER\tSIZE\tSCOPE\tTOKENS\tDETAIL")
	for _, e := range d.Decisions {
		scope := e.Scope
		if scope == "" {
			scope = "global"
		}
		tokens := "-"
		if e.Tokens != nil {
			tokens = fmt.Sprintf("%.1f", *e.Tokens)
		}
		size, detail := "-", "-"
		if e.Kind != api.DecisionSettings {
			size = fmt.Sprintf("%d", e.Size)
		}
		switch {
		case e.Kind == api.DecisionSettings && e.Settings != nil:
			detail = bandwidthText(*e.Settings)
		case e.Kind == api.DecisionThrottled && e.RetryAt != nil:
			detail = "retry at " + instant(*e.RetryAt)
		case e.Kind == api.DecisionThrottled:
			detail = "never passes: larger than the burst"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, instant(e.At), e.Kind,
			orDash(e.Segment), orDash(e.TargetPeer), size, scope, tokens, detail)
	}
	return tw.Flush()
}
