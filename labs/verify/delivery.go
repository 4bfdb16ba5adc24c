package verify

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/peer/received"
)

// ClockSkew is how far two readings of the same host's wall clock by two
// processes may disagree in their order: the peer stamps a receipt while
// edged's attempt is under way, and both read CLOCK_REALTIME; the slack
// covers only the reading itself, never a real delay.
const ClockSkew = 10 * time.Millisecond

// Payload is a segment as it was seeded: what the peer must have received.
type Payload struct {
	ID     string
	Size   int64
	SHA256 string
}

// IDs are the ids of want, sorted.
func IDs(want []Payload) []string {
	ids := make([]string, 0, len(want))
	for _, p := range want {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids
}

// SetDiff is a go-cmp diff of two id lists, labelled; empty when equal.
// nil and empty lists are equal.
func SetDiff(label string, want, got []string) string {
	if len(want) == 0 && len(got) == 0 {
		return ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Sprintf("%s (-want +got):\n%s", label, diff)
	}
	return ""
}

// Receipts checks the peer's evidence against exactly want: the same ids,
// each with the seeded size and sha256, delivered once, sent by sender.
func Receipts(ev received.Evidence, want []Payload, sender string) []string {
	var why []string
	got := ev.IDs()
	slices.Sort(got)
	if d := SetDiff("peer evidence ids", IDs(want), got); d != "" {
		why = append(why, d)
	}
	held := map[string]received.Segment{}
	for _, s := range ev.Segments {
		held[s.ID] = s
	}
	for _, p := range want {
		s, ok := held[p.ID]
		if !ok {
			continue // in the diff above
		}
		if s.Bytes != p.Size {
			why = append(why, fmt.Sprintf("peer: %s has %d bytes, seeded %d", p.ID, s.Bytes, p.Size))
		}
		if s.SHA256 != p.SHA256 {
			why = append(why, fmt.Sprintf("peer: %s has sha256 %s, seeded %s", p.ID, s.SHA256, p.SHA256))
		}
		if s.Deliveries != 1 {
			why = append(why, fmt.Sprintf("peer: %s delivered %d times, want 1", p.ID, s.Deliveries))
		}
		if s.FromPeer != sender {
			why = append(why, fmt.Sprintf("peer: %s came from %q, want %q", p.ID, s.FromPeer, sender))
		}
	}
	return why
}

// Segments indexes a ledger dump by id.
func Segments(l api.Ledger) map[string]api.Segment {
	out := make(map[string]api.Segment, len(l.Segments))
	for _, s := range l.Segments {
		out[s.ID] = s
	}
	return out
}

// StateIDs are the ids of the ledger's segments in state, sorted.
func StateIDs(l api.Ledger, state string) []string {
	var ids []string
	for _, s := range l.Segments {
		if s.State == state {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// DeliveredOnce checks that edged's ledger holds each of ids DELIVERED to
// target at the first attempt: attempts = 1, and a history of exactly one
// attempt, delivered, that ended no later than the DELIVERED mark.
func DeliveredOnce(l api.Ledger, ids []string, target string) []string {
	var why []string
	segs := Segments(l)
	for _, id := range ids {
		s, ok := segs[id]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("ledger: %s is missing", id))
			continue
		case s.State != "DELIVERED":
			why = append(why, fmt.Sprintf("ledger: %s is %s, want DELIVERED", id, s.State))
		case s.Attempts != 1:
			why = append(why, fmt.Sprintf("ledger: %s DELIVERED after %d attempts, want 1", id, s.Attempts))
		}
		if s.TargetPeer != target {
			why = append(why, fmt.Sprintf("ledger: %s targets %q, want %q", id, s.TargetPeer, target))
		}
		if len(s.History) != 1 || s.History[0].Attempt != 1 || s.History[0].Outcome != api.AttemptDelivered {
			why = append(why, fmt.Sprintf("ledger: %s history %s, want one attempt, delivered", id, historyText(s.History)))
			continue
		}
		if s.DeliveredAt == nil || s.DeliveredAt.Before(s.History[0].EndedAt) {
			why = append(why, fmt.Sprintf("ledger: %s delivered_at %v is before its attempt ended (%s)", id, s.DeliveredAt, s.History[0].EndedAt.Format(time.RFC3339Nano)))
		}
	}
	return why
}

// ReceiptsInsideAttempts reconciles the witness with edged's record: each
// segment the peer received was stamped while edged's delivered attempt of
// it was under way (within ClockSkew).
func ReceiptsInsideAttempts(ev received.Evidence, l api.Ledger) []string {
	var why []string
	segs := Segments(l)
	for _, r := range ev.Segments {
		s, ok := segs[r.ID]
		if !ok {
			why = append(why, fmt.Sprintf("the peer received %s, which edged's ledger does not hold", r.ID))
			continue
		}
		var a *api.Attempt
		for i := range s.History {
			if s.History[i].Outcome == api.AttemptDelivered {
				a = &s.History[i]
			}
		}
		if a == nil {
			why = append(why, fmt.Sprintf("the peer received %s at %s, but edged's history has no delivered attempt of it", r.ID, stamp(r.ReceivedAt)))
			continue
		}
		if r.ReceivedAt.Before(a.StartedAt.Add(-ClockSkew)) || r.ReceivedAt.After(a.EndedAt.Add(ClockSkew)) {
			why = append(why, fmt.Sprintf("the peer received %s at %s, outside edged's delivered attempt %s–%s",
				r.ID, stamp(r.ReceivedAt), stamp(a.StartedAt), stamp(a.EndedAt)))
		}
	}
	return why
}

// ByReceipt are the peer's segments in the order they were received.
func ByReceipt(ev received.Evidence) []received.Segment {
	segs := slices.Clone(ev.Segments)
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].ReceivedAt.Before(segs[j].ReceivedAt) })
	return segs
}

// Envelope checks the peer's receipts against a token bucket of rate and
// burst imposed at since (the earliest moment it can have been in force):
//
//   - by every receipt, the bytes received are at most burst + rate ×
//     (t − since + jitter);
//   - between any two receipts i < j, the bytes of the segments after i up
//     to j are at most (burst − bytes_i) + rate × (r_j − r_i + jitter):
//     once segment i was admitted the bucket held at most burst − bytes_i.
//
// jitter is how much later than its admission the peer may stamp a
// segment (the delivery itself).
func Envelope(receipts []received.Segment, rate, burst int64, since time.Time, jitter time.Duration) []string {
	var why []string
	r := float64(rate)
	var cum int64
	for _, s := range receipts {
		cum += s.Bytes
		allowed := float64(burst) + r*(s.ReceivedAt.Sub(since)+jitter).Seconds()
		if float64(cum) > allowed {
			why = append(why, fmt.Sprintf("by %s (%s) the peer held %d B; a %d B/s bucket of %d B imposed at %s allows %.0f",
				stamp(s.ReceivedAt), s.ID, cum, rate, burst, stamp(since), allowed))
		}
	}
	for i := range receipts {
		var sum int64
		for j := i + 1; j < len(receipts); j++ {
			sum += receipts[j].Bytes
			gap := receipts[j].ReceivedAt.Sub(receipts[i].ReceivedAt)
			allowed := float64(burst-receipts[i].Bytes) + r*(gap+jitter).Seconds()
			if float64(sum) > allowed {
				why = append(why, fmt.Sprintf("%d B received in the %.3f s after %s up to %s; a %d B/s bucket of %d B allows %.0f",
					sum, gap.Seconds(), receipts[i].ID, receipts[j].ID, rate, burst, allowed))
			}
		}
	}
	return why
}

// Pace checks the slow side of a rate: consecutive receipts at most
// maxGap apart.
func Pace(receipts []received.Segment, maxGap time.Duration) []string {
	var why []string
	for i := 1; i < len(receipts); i++ {
		if gap := receipts[i].ReceivedAt.Sub(receipts[i-1].ReceivedAt); gap > maxGap {
			why = append(why, fmt.Sprintf("%s came %.3f s after %s, want at most %.3f s", receipts[i].ID, gap.Seconds(), receipts[i-1].ID, maxGap.Seconds()))
		}
	}
	return why
}

// Backoff checks one segment's failed attempts against the retry schedule:
// attempts numbered 1..n, each failed with cause, and attempt k+1 starting
// base × 2^(k-1) after attempt k ended, no more than early before and late
// after.
func Backoff(id string, history []api.Attempt, n int, cause string, base, early, late time.Duration) []string {
	var why []string
	if len(history) != n {
		return []string{fmt.Sprintf("ledger: %s history %s, want %d failed attempts", id, historyText(history), n)}
	}
	for i, a := range history {
		if a.Attempt != i+1 || a.Outcome != api.AttemptFailed || a.Error != cause {
			why = append(why, fmt.Sprintf("ledger: %s attempt %d is #%d %s %q, want #%d failed %q", id, i+1, a.Attempt, a.Outcome, a.Error, i+1, cause))
		}
		if i == 0 {
			continue
		}
		want := base << (i - 1)
		got := a.StartedAt.Sub(history[i-1].EndedAt)
		if got < want-early || got > want+late {
			why = append(why, fmt.Sprintf("ledger: %s attempt %d started %.3f s after attempt %d ended, want %.3f s (−%s/+%s)",
				id, i+1, got.Seconds(), i, want.Seconds(), early, late))
		}
	}
	return why
}

func historyText(h []api.Attempt) string {
	if len(h) == 0 {
		return "[]"
	}
	out := "["
	for i, a := range h {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("#%d %s", a.Attempt, a.Outcome)
		if a.Error != "" {
			out += fmt.Sprintf(" %q", a.Error)
		}
	}
	return out + "]"
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }
