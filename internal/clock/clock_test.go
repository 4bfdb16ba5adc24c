package clock

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// realAt is a hand-moved system clock for the lab clock to run on.
type realAt struct {
	mu sync.Mutex
	t  time.Time
}

func (r *realAt) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t
}

func (r *realAt) add(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t = r.t.Add(d)
}

func TestLab_ReadsTheSystemClockUntilMoved(t *testing.T) {
	real := &realAt{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := NewLab(real.now)
	assert.Equal(t, real.now(), c.Now())
	real.add(3 * time.Second)
	assert.Equal(t, real.now(), c.Now(), "it runs with the system clock")
}

func TestLab_AdvanceKeepsRunning(t *testing.T) {
	real := &realAt{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := NewLab(real.now)
	now, err := c.Advance(23*time.Hour + 59*time.Minute)
	require.NoError(t, err)
	want := time.Date(2026, 3, 2, 11, 59, 0, 0, time.UTC)
	assert.Equal(t, want, now)
	assert.Equal(t, want, c.Now())
	real.add(time.Second)
	assert.Equal(t, want.Add(time.Second), c.Now(), "a moved clock still runs at the system's rate")
	now, err = c.Advance(time.Minute)
	require.NoError(t, err)
	assert.Equal(t, want.Add(time.Minute+time.Second), now)
}

func TestLab_RefusesANegativeAdvance(t *testing.T) {
	c := NewLab(nil)
	before := c.Changed()
	_, err := c.Advance(-time.Second)
	require.ErrorIs(t, err, ErrBackwards)
	select {
	case <-before:
		t.Fatal("a refused advance must not signal a change")
	default:
	}
}

func TestLab_SetGoesEitherWay(t *testing.T) {
	real := &realAt{t: time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)}
	c := NewLab(real.now)
	past := time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC)
	assert.Equal(t, past, c.Set(past))
	real.add(2 * time.Minute)
	assert.Equal(t, past.Add(2*time.Minute), c.Now())
	future := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, future, c.Set(future))
}

func TestLab_ChangedFiresOnEveryMove(t *testing.T) {
	c := NewLab(nil)
	first := c.Changed()
	_, err := c.Advance(time.Hour)
	require.NoError(t, err)
	select {
	case <-first:
	default:
		t.Fatal("Changed not closed by Advance")
	}
	second := c.Changed()
	require.NotEqual(t, first, second, "a new channel after a move")
	select {
	case <-second:
		t.Fatal("the new channel is closed before the next move")
	default:
	}
	c.Set(time.Now())
	select {
	case <-second:
	default:
		t.Fatal("Changed not closed by Set")
	}
}

func TestSystem(t *testing.T) {
	var c Clock = System{}
	assert.Nil(t, c.Changed())
	assert.WithinDuration(t, time.Now(), c.Now(), time.Second)
}
