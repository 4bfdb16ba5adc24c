package evidence

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLimit_EnvelopeAndBound(t *testing.T) {
	tl := &Timeline{Limits: []Limit{
		{From: 0, Until: 1},
		{From: 1, Until: 3, BytesPerSecond: 64, BurstBytes: 64, BaseBytes: 128},
		{From: 3, Until: 5, BytesPerSecond: 64, BurstBytes: 64, DailyQuotaBytes: 300},
		{From: 5, Until: 6, DailyQuotaBytes: 128},
	}}
	tests := []struct {
		at     float64
		want   float64
		wantOK bool
	}{
		{0.5, 0, false},       // unlimited
		{1, 192, true},        // base + burst
		{2.5, 192 + 96, true}, // + rate × 1.5 s
		{3, 64, true},         // a fresh bucket from 3 s
		{5.5, 128, true},      // quota only
	}
	for _, tt := range tests {
		got, ok := tl.Bound(tt.at)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Bound(%v) = %v, %v; want %v, %v", tt.at, got, ok, tt.want, tt.wantOK)
		}
	}
	// The quota caps the envelope once the bucket could pass more.
	if got, ok := tl.Bound(4.9); math.Abs(got-(64+64*1.9)) > 1e-9 || !ok {
		t.Errorf("Bound(4.9) = %v, %v; want the envelope %v", got, ok, 64+64*1.9)
	}
	tl.Limits[2].DailyQuotaBytes = 100
	if got, _ := tl.Bound(4.9); got != 100 {
		t.Errorf("Bound(4.9) with quota 100 = %v, want 100", got)
	}
}

func TestLimit_Describe(t *testing.T) {
	tests := []struct {
		l    Limit
		want string
	}{
		{Limit{}, "unlimited"},
		{Limit{BytesPerSecond: 8, BurstBytes: 8}, "8 B/s (burst 8 B)"},
		{Limit{DailyQuotaBytes: 128}, "quota 128 B/day"},
		{Limit{BytesPerSecond: 64, BurstBytes: 128, DailyQuotaBytes: 1024}, "64 B/s (burst 128 B), quota 1024 B/day"},
	}
	for _, tt := range tests {
		if got := tt.l.Describe(); got != tt.want {
			t.Errorf("%+v.Describe() = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestNewChart_Geometry(t *testing.T) {
	c := newChart("S-B", sampleTimeline())

	// 5 s over 6 intervals → 1 s steps; 320 B → 100 B steps up to 400 B.
	var xt, yt []string
	for _, tk := range c.XTicks {
		xt = append(xt, tk.Label)
	}
	for _, tk := range c.YTicks {
		yt = append(yt, tk.Label)
	}
	if diff := cmp.Diff([]string{"0 s", "1 s", "2 s", "3 s", "4 s", "5 s"}, xt); diff != "" {
		t.Errorf("x ticks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"0 B", "100 B", "200 B", "300 B", "400 B"}, yt); diff != "" {
		t.Errorf("y ticks (-want +got):\n%s", diff)
	}
	if c.XTicks[0].Pos != c.Left || c.XTicks[5].Pos != c.Right || c.YTicks[0].Pos != c.Bottom || c.YTicks[4].Pos != c.Top {
		t.Errorf("ticks do not span the plot area: %+v %+v", c.XTicks, c.YTicks)
	}

	// The envelope starts at the burst when the rate was set and would
	// reach 64 + 64 × 4.5 = 352 B at 5 s: inside the 400 B plot.
	x := func(s float64) float64 { return round2(c.Left + s/5*(c.Right-c.Left)) }
	y := func(b float64) float64 { return round2(c.Bottom - b/400*(c.Bottom-c.Top)) }
	wantEnv := []segment{{x(0.5), y(64), x(5), y(352), "64 B/s × t + 64 B"}}
	if diff := cmp.Diff(wantEnv, c.Envelopes); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if len(c.Dots) != 5 || c.Dots[4].X != x(4.6) || c.Dots[4].Y != y(320) {
		t.Errorf("dots %+v; want 5, the last at (%v, %v)", c.Dots, x(4.6), y(320))
	}
	for _, d := range c.Dots {
		if d.Over {
			t.Errorf("dot %q is marked over its bound", d.Title)
		}
	}
	if len(c.Marks) != 2 || c.Marks[0].X != x(0.5) || c.Marks[0].LabelY == c.Marks[1].LabelY {
		t.Errorf("marks %+v; want two on their own label rows, the first at x=%v", c.Marks, x(0.5))
	}
}

func TestNewChart_ClipsTheEnvelopeAndFlagsDeliveriesAboveIt(t *testing.T) {
	tl := sampleTimeline()
	// A sixth segment with the fifth: 384 B by 4.6 s, over the 64 + 64 ×
	// 4.1 = 326.4 B the bucket allowed.
	tl.Deliveries = append(tl.Deliveries, Delivery{At: 4.6, ID: "val23-sb-006", Bytes: 64, Cumulative: 384})
	tl.End, tl.Limits[1].Until = 20, 20 // long enough for the envelope to leave the plot
	c := newChart("S-B", tl)
	if n := len(c.Dots); !c.Dots[n-1].Over || c.Dots[n-2].Over {
		t.Errorf("over flags %v, %v; want only the sixth delivery over", c.Dots[n-2].Over, c.Dots[n-1].Over)
	}
	env := c.Envelopes[0]
	if env.Y2 != c.Top || env.X2 >= c.Right {
		t.Errorf("envelope ends at (%v, %v); want it clipped at the top (%v) before the right edge (%v)", env.X2, env.Y2, c.Top, c.Right)
	}
}

func TestNewChart_QuotaAndNoDeliveries(t *testing.T) {
	c := newChart("S-C", &Timeline{End: 3, Limits: []Limit{{From: 0.5, Until: 3, DailyQuotaBytes: 128}}})
	if len(c.Quotas) != 1 || c.Quotas[0].Y1 != c.Quotas[0].Y2 || c.Quotas[0].Label != "quota 128 B" {
		t.Errorf("quota lines %+v; want one horizontal line labelled quota 128 B", c.Quotas)
	}
	if len(c.Dots) != 0 || c.Steps == "" {
		t.Errorf("dots %v, steps %q; want no dots and a flat line", c.Dots, c.Steps)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		max  float64
		n    int
		want float64
	}{
		{5, 6, 1}, {1.2, 6, 0.2}, {0.09, 6, 0.02}, {326, 5, 100}, {134, 5, 50}, {0, 5, 1},
	}
	for _, tt := range tests {
		if got := niceStep(tt.max, tt.n); got != tt.want {
			t.Errorf("niceStep(%v, %d) = %v, want %v", tt.max, tt.n, got, tt.want)
		}
	}
}
