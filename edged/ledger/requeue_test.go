package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadletter fails id's attempts 1..n, the last one dead.
func deadletter(t *testing.T, l *Ledger, id string, n int, at time.Time) {
	t.Helper()
	for k := 1; k <= n; k++ {
		require.NoError(t, l.MarkFailed(context.Background(), id, k, at, "peer down", k == n, at))
	}
}

func TestRequeue_MovesDeadLettersBackKeepingTheirHistory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	ids := seedN(t, l, "s", "p", 3, 16)
	deadletter(t, l, ids[0], 2, t0.Add(time.Second))
	deadletter(t, l, ids[1], 1, t0.Add(time.Second))
	require.NoError(t, l.MarkDelivered(ctx, ids[2], t0.Add(time.Second), nil))

	at := t0.Add(time.Hour)
	got, err := l.Requeue(ctx, at, RequeueSelector{IDs: []string{ids[1], ids[0], ids[0]}}, false)
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0], ids[1]}, got, "sorted, each once")

	s, err := l.SegmentHistory(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, Pending, s.State)
	assert.Equal(t, 0, s.Attempts)
	assert.Equal(t, at, s.NextAttemptAt)
	assert.Equal(t, "", s.LastError)
	require.Len(t, s.History, 3)
	assert.Equal(t, Attempt{Attempt: 2, StartedAt: at, EndedAt: at, Outcome: OutcomeRequeued}, s.History[2])
	assert.Equal(t, []int{1, 1, 1}, Rounds(s.History))
	assert.Empty(t, CurrentRound(s.History))

	// Due at once; the next round numbers its attempts from 1 again and
	// the history keeps the order they were written in.
	due, err := l.Due(ctx, at, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{ids[0], ids[1]}, idsOf(due))
	require.NoError(t, l.MarkFailed(ctx, ids[0], 1, at.Add(time.Minute), "still down", false, at.Add(time.Second)))
	require.NoError(t, l.Record(ctx, at.Add(2*time.Second), Outcomes{Delivered: []Delivery{{ID: ids[0], StartedAt: at.Add(2 * time.Second), EndedAt: at.Add(2 * time.Second)}}}))
	require.NoError(t, l.Close())
	l = open(t, path)
	s, err = l.SegmentHistory(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, Delivered, s.State)
	assert.Equal(t, 2, s.Attempts)
	var outcomes []Outcome
	var numbers []int
	for _, a := range s.History {
		outcomes = append(outcomes, a.Outcome)
		numbers = append(numbers, a.Attempt)
	}
	assert.Equal(t, []Outcome{OutcomeFailed, OutcomeFailed, OutcomeRequeued, OutcomeFailed, OutcomeDelivered}, outcomes)
	assert.Equal(t, []int{1, 2, 2, 1, 2}, numbers)
	assert.Equal(t, []int{1, 1, 1, 2, 2}, Rounds(s.History))
	assert.Len(t, CurrentRound(s.History), s.Attempts)
}

func idsOf(segs []Segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.ID
	}
	return out
}

func TestRequeue_RefusesTheWholeRequestNamingEachBadID(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	ids := seedN(t, l, "s", "p", 3, 16)
	deadletter(t, l, ids[0], 1, t0)
	require.NoError(t, l.MarkDelivered(ctx, ids[1], t0, nil))

	_, err := l.Requeue(ctx, t0.Add(time.Hour), RequeueSelector{IDs: []string{ids[0], ids[1], ids[2], "nope"}}, false)
	var nr *NotRequeuableError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, []NotRequeuable{{ID: ids[1], State: Delivered}, {ID: ids[2], State: Pending}, {ID: "nope"}}, nr.Refused)
	assert.Equal(t, "nothing requeued: s-0001 is DELIVERED, not DEADLETTER; s-0002 is PENDING, not DEADLETTER; nope is not in the ledger", err.Error())

	s, err := l.SegmentHistory(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, Deadletter, s.State, "the good id is not moved either")
	assert.Len(t, s.History, 1)
}

func TestRequeue_ByPeerAllAndDryRun(t *testing.T) {
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	a := seedN(t, l, "a", "peer-a", 2, 16)
	b := seedN(t, l, "b", "peer-b", 2, 16)
	for _, id := range append(append([]string{}, a...), b...) {
		deadletter(t, l, id, 1, t0)
	}

	got, err := l.Requeue(ctx, t0, RequeueSelector{Peer: "peer-b"}, true)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	counts, err := l.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(4), counts[Deadletter], "a dry run moves nothing")
	h, err := l.History(ctx, b[0])
	require.NoError(t, err)
	assert.Len(t, h, 1, "a dry run writes no history")

	got, err = l.Requeue(ctx, t0, RequeueSelector{Peer: "peer-b"}, false)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	got, err = l.Requeue(ctx, t0, RequeueSelector{Peer: "peer-b"}, false)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing left dead for peer-b")

	got, err = l.Requeue(ctx, t0, RequeueSelector{All: true}, false)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	counts, err = l.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[State]int64{Pending: 4, Delivered: 0, Deadletter: 0}, counts, "segment counts follow")
}

func TestRequeue_NeedsExactlyOneSelector(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "l.db"))
	for _, sel := range []RequeueSelector{{}, {All: true, Peer: "p"}, {IDs: []string{"x"}, All: true}} {
		_, err := l.Requeue(context.Background(), t0, sel, false)
		assert.ErrorIs(t, err, ErrNoSelector, "%+v", sel)
	}
}
