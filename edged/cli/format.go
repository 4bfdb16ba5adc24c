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
	row("executor cycles", "%d (last cycle throttled %d)", st.ExecutorCycles, st.LastCycleThrottled)
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
