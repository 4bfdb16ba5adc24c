package evidence

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// chart is a Timeline laid out for the SVG in index.html: every coordinate
// computed here, so the template only places elements and the geometry can
// be tested without parsing SVG.
type chart struct {
	ID                       string // unique per page, for aria labels
	W, H                     float64
	Left, Right, Top, Bottom float64 // the plot area
	XTicks, YTicks           []tick
	Steps                    string // polyline points of the cumulative staircase
	Dots                     []dot
	Envelopes, Quotas        []segment
	Marks                    []vmark
	Limits                   []string // one line per limit interval, for the caption
	XTitle, YTitle           string
}

type tick struct {
	Pos   float64
	Label string
}

type dot struct {
	X, Y  float64
	Title string
	Over  bool // above the bound in force: drawn in the failure colour
}

type segment struct {
	X1, Y1, X2, Y2 float64
	Label          string // drawn at the segment's right end
}

type vmark struct {
	X, LabelY  float64
	Kind       string
	Label      string
	AnchorEnd  bool // label to the left of the line (near the right edge)
	Title      string
	EvidenceAt string
}

// Chart geometry in SVG user units.
const (
	chartW      = 620
	chartH      = 260
	chartLeft   = 58
	chartRight  = 22
	chartTop    = 50 // room for three rows of mark labels
	chartBottom = 40
	markRows    = 3
)

// newChart lays out t. id must be unique within the page.
func newChart(id string, t *Timeline) chart {
	c := chart{
		ID: id, W: chartW, H: chartH,
		Left: chartLeft, Right: chartW - chartRight, Top: chartTop, Bottom: chartH - chartBottom,
		XTitle: "seconds since the scenario started",
		YTitle: "bytes received (cumulative)",
	}
	end := t.End
	for _, d := range t.Deliveries {
		end = math.Max(end, d.At)
	}
	for _, m := range t.Marks {
		end = math.Max(end, m.At)
	}
	if end <= 0 {
		end = 1
	}
	xStep := niceStep(end, 6)
	xMax := math.Ceil(end/xStep) * xStep

	top := float64(t.TotalBytes())
	for _, l := range t.Limits {
		if l.DailyQuotaBytes > 0 {
			top = math.Max(top, float64(l.DailyQuotaBytes))
		}
		if l.BytesPerSecond > 0 {
			top = math.Max(top, float64(l.BaseBytes+l.BurstBytes))
		}
	}
	if top <= 0 {
		top = 64
	}
	yStep := niceStep(top*1.02, 5)
	yMax := math.Ceil(top*1.02/yStep) * yStep

	x := func(s float64) float64 { return round2(c.Left + s/xMax*(c.Right-c.Left)) }
	y := func(b float64) float64 { return round2(c.Bottom - b/yMax*(c.Bottom-c.Top)) }

	for v := 0.0; v <= xMax+xStep/2; v += xStep {
		c.XTicks = append(c.XTicks, tick{x(v), trimFloat(v) + " s"})
	}
	for v := 0.0; v <= yMax+yStep/2; v += yStep {
		c.YTicks = append(c.YTicks, tick{y(v), trimFloat(v) + " B"})
	}

	pts := []string{point(x(0), y(0))}
	var cum float64
	for _, d := range t.Deliveries {
		pts = append(pts, point(x(d.At), y(cum)), point(x(d.At), y(float64(d.Cumulative))))
		cum = float64(d.Cumulative)
		title := fmt.Sprintf("%s at %.3f s: +%d B, %d B in all", d.ID, d.At, d.Bytes, d.Cumulative)
		bound, limited := t.Bound(d.At)
		over := limited && float64(d.Cumulative) > bound+0.5
		if limited {
			title += fmt.Sprintf(" (bound %.0f B)", bound)
		}
		c.Dots = append(c.Dots, dot{X: x(d.At), Y: y(cum), Title: title, Over: over})
	}
	pts = append(pts, point(x(end), y(cum)))
	c.Steps = strings.Join(pts, " ")

	for _, l := range t.Limits {
		c.Limits = append(c.Limits, fmt.Sprintf("%.2f–%.2f s: %s (%s)", l.From, l.Until, l.Describe(), l.Source))
		if l.BytesPerSecond > 0 {
			t1, b1 := l.From, float64(l.BaseBytes+l.BurstBytes)
			t2 := l.Until
			b2, _ := l.Envelope(t2)
			if b2 > yMax { // stop the line where it leaves the plot
				t2 = l.From + (yMax-b1)/float64(l.BytesPerSecond)
				b2 = yMax
			}
			if b1 <= yMax && t2 > t1 {
				c.Envelopes = append(c.Envelopes, segment{x(t1), y(b1), x(t2), y(b2),
					fmt.Sprintf("%d B/s × t + %d B", l.BytesPerSecond, l.BurstBytes)})
			}
		}
		if q := float64(l.DailyQuotaBytes); q > 0 && l.Until > l.From {
			c.Quotas = append(c.Quotas, segment{x(l.From), y(q), x(l.Until), y(q), fmt.Sprintf("quota %d B", l.DailyQuotaBytes)})
		}
	}

	for i, m := range t.Marks {
		mx := x(m.At)
		c.Marks = append(c.Marks, vmark{
			X: mx, LabelY: c.Top - 8 - float64(i%markRows)*14, Kind: m.Kind, Label: m.Label,
			AnchorEnd: mx > c.Left+0.7*(c.Right-c.Left),
			Title:     fmt.Sprintf("%s at %.3f s", m.Label, m.At), EvidenceAt: m.Evidence,
		})
	}
	return c
}

// niceStep is a 1, 2 or 5 × 10^k step that divides max into at most about
// n intervals.
func niceStep(max float64, n int) float64 {
	raw := max / float64(n)
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func point(x, y float64) string { return trimFloat(x) + "," + trimFloat(y) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// trimFloat prints v without trailing zeros ("0.5", "2", "12.25").
func trimFloat(v float64) string { return strconv.FormatFloat(round2(v), 'f', -1, 64) }
