package verify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"edgelab/edged/api"
	"edgelab/peer/received"
)

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func tp(t time.Time) *time.Time { return &t }

func fp(f float64) *float64 { return &f }

// s64 is the seed's §4 table as a correct 64 B/s bucket of 64 B decides it,
// the rate imposed at t0 and five 64 B segments seeded 100 ms later.
func s64() []api.Decision {
	d := []api.Decision{{Kind: api.DecisionSettings, At: t0, Settings: &api.Bandwidth{BytesPerSecond: 64}}}
	add := func(ms int, kind, seg string, tokens float64, retryMS int) {
		x := api.Decision{At: at(ms), Kind: kind, Segment: seg, TargetPeer: "p", Size: 64, Tokens: fp(tokens)}
		if kind == api.DecisionThrottled {
			x.RetryAt = tp(at(retryMS))
		}
		d = append(d, x)
	}
	add(100, api.DecisionAllowed, "s1", 64, 0)
	for _, s := range []string{"s2", "s3", "s4", "s5"} {
		add(100, api.DecisionThrottled, s, 0, 1100)
	}
	add(1100, api.DecisionAllowed, "s2", 64, 0)
	for _, s := range []string{"s3", "s4", "s5"} {
		add(1100, api.DecisionThrottled, s, 0, 2100)
	}
	add(2100, api.DecisionAllowed, "s3", 64, 0)
	add(2100, api.DecisionThrottled, "s4", 0, 3100)
	add(2100, api.DecisionThrottled, "s5", 0, 3100)
	add(3100, api.DecisionAllowed, "s4", 64, 0)
	add(3100, api.DecisionThrottled, "s5", 0, 4100)
	add(4100, api.DecisionAllowed, "s5", 64, 0)
	return d
}

func TestReplayBucket(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]api.Decision) []api.Decision
		want   []string // substrings of the problems; none means none
	}{
		{name: "the seed's table", mutate: func(d []api.Decision) []api.Decision { return d }},
		{
			name: "a bucket refilling 10x too fast admits after 100 ms",
			mutate: func(d []api.Decision) []api.Decision {
				d[6] = api.Decision{At: at(200), Kind: api.DecisionAllowed, Segment: "s2", TargetPeer: "p", Size: 64}
				return d
			},
			want: []string{"s2 admitted (64 B) while a correct bucket held 6.40 tokens"},
		},
		{
			name: "a throttle while the bucket is full",
			mutate: func(d []api.Decision) []api.Decision {
				d[1].Kind, d[1].RetryAt = api.DecisionThrottled, tp(at(100))
				return d
			},
			want: []string{"s1 throttled (64 B) while a correct bucket held 64.00 tokens"},
		},
		{
			name: "a retry_at that is not when the tokens are there",
			mutate: func(d []api.Decision) []api.Decision {
				d[2].RetryAt = tp(at(200))
				return d
			},
			want: []string{"s2 retry_at 09:00:00.200000, the model's bucket holds its 64 B at 09:00:01.100000"},
		},
		{
			name: "edged's tokens figure off the model's",
			mutate: func(d []api.Decision) []api.Decision {
				d[2].Tokens = fp(32)
				return d
			},
			want: []string{"edged's bucket held 32.00 tokens, the model 0.00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.mutate(s64())
			rep := ReplayBucket(LimitsOf(SettingsOf(d, "")), d, "")
			got := strings.Join(rep.Problems, "\n")
			if len(tt.want) == 0 {
				assert.Empty(t, rep.Problems)
				assert.Equal(t, 5, rep.Allowed, "allowed")
				assert.Equal(t, 10, rep.Throttled, "throttled")
			}
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
		})
	}
}

func TestReplayBucket_Oversize(t *testing.T) {
	boot := api.Decision{Kind: api.DecisionSettings, At: t0, Settings: &api.Bandwidth{BytesPerSecond: 8, BurstBytes: 8}}
	off := api.Decision{Kind: api.DecisionSettings, At: at(2000), Settings: &api.Bandwidth{}}
	never := api.Decision{At: at(500), Kind: api.DecisionThrottled, Segment: "d1", Size: 64, TargetPeer: "p", Tokens: fp(8)}
	after := api.Decision{At: at(2001), Kind: api.DecisionAllowed, Segment: "d1", Size: 64, TargetPeer: "p"}
	tests := []struct {
		name string
		d    []api.Decision
		want string
	}{
		{"throttled for good, then unlimited", []api.Decision{boot, never, off, after}, ""},
		{"a retry_at for a segment that never fits", []api.Decision{boot, func() api.Decision { x := never; x.RetryAt = tp(at(7500)); return x }(), off, after},
			"larger than the burst (8 B) and can never pass"},
		{"admitted under 8 B/s", []api.Decision{boot, func() api.Decision { x := after; x.At = at(1000); return x }(), off},
			"d1 admitted (64 B) while a correct bucket held 8.00 tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := ReplayBucket(LimitsOf(SettingsOf(tt.d, "")), tt.d, "")
			if tt.want == "" {
				assert.Empty(t, rep.Problems)
				return
			}
			assert.Contains(t, strings.Join(rep.Problems, "\n"), tt.want)
		})
	}
}

func receipts(ms ...int) []received.Segment {
	var out []received.Segment
	for i, m := range ms {
		out = append(out, received.Segment{ID: fmt.Sprintf("s%d", i+1), Bytes: 64, ReceivedAt: at(m)})
	}
	return out
}

func TestEnvelopeAndPace(t *testing.T) {
	const jitter = 250 * time.Millisecond
	tests := []struct {
		name      string
		receipts  []received.Segment
		envelope  string // a substring of the envelope's problems; "" none
		paceMaxMS int
		pace      string
	}{
		{name: "one a second", receipts: receipts(102, 1101, 2102, 3101, 4103), paceMaxMS: 2250},
		{name: "ten a second", receipts: receipts(102, 202, 302, 402, 502), envelope: "by 09:00:00.402 (s4) the peer held 256 B", paceMaxMS: 2250},
		{name: "the last 0.5 s early", receipts: receipts(102, 1101, 2102, 3101, 3600), envelope: "64 B received in the 0.499 s after s4 up to s5", paceMaxMS: 2250},
		{name: "slower than one per refill and tick", receipts: receipts(102, 1101, 5000), paceMaxMS: 2250, pace: "s3 came 3.899 s after s2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := strings.Join(Envelope(tt.receipts, 64, 64, t0, jitter), "\n")
			pace := strings.Join(Pace(tt.receipts, time.Duration(tt.paceMaxMS)*time.Millisecond), "\n")
			if tt.envelope == "" {
				assert.Empty(t, env)
			} else {
				assert.Contains(t, env, tt.envelope)
			}
			if tt.pace == "" {
				assert.Empty(t, pace)
			} else {
				assert.Contains(t, pace, tt.pace)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	attempt := func(n, startMS, endMS int) api.Attempt {
		return api.Attempt{Attempt: n, StartedAt: at(startMS), EndedAt: at(endMS), Outcome: api.AttemptFailed, Error: "quota exceeded"}
	}
	tests := []struct {
		name    string
		history []api.Attempt
		want    string
	}{
		{"1 s then 2 s", []api.Attempt{attempt(1, 0, 0), attempt(2, 1002, 1002), attempt(3, 3010, 3010)}, ""},
		{"no backoff", []api.Attempt{attempt(1, 0, 0), attempt(2, 5, 5), attempt(3, 10, 10)}, "attempt 2 started 0.005 s after attempt 1 ended, want 1.000 s"},
		{"dead-lettered at the first attempt", []api.Attempt{attempt(1, 0, 0)}, "want 3 failed attempts"},
		{"another cause", []api.Attempt{attempt(1, 0, 0), attempt(2, 1002, 1002), {Attempt: 3, StartedAt: at(3010), EndedAt: at(3010), Outcome: api.AttemptFailed, Error: "connection refused"}},
			`attempt 3 is #3 failed "connection refused"`},
		{"constant backoff", []api.Attempt{attempt(1, 0, 0), attempt(2, 1002, 1002), attempt(3, 2004, 2004)}, "attempt 3 started 1.002 s after attempt 2 ended, want 2.000 s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Backoff("s3", tt.history, 3, "quota exceeded", time.Second, time.Millisecond, 300*time.Millisecond), "\n")
			if tt.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tt.want)
		})
	}
}
