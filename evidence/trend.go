package evidence

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// TrendHTML is the name of the page `go run ./labs/trend` writes.
const TrendHTML = "trend.html"

// DefaultFlakyWindow is how many of a lab's latest runs a check may flip
// status in to be listed as flaky.
const DefaultFlakyWindow = 10

// Trend is a history file read for trend.html and the text summary: one
// section per lab, runs oldest first.
type Trend struct {
	Labs []LabTrend
	// Window is the flaky window: the last Window runs of each lab.
	Window int
	// Skipped are the history lines that could not be read.
	Skipped []string
}

// LabTrend is one lab's runs.
type LabTrend struct {
	Lab  string
	Runs []HistoryEntry
	// Scenarios are the scenario names seen, sorted.
	Scenarios []ScenarioTrend
	// Checks are every check seen: the flaky ones first (most flips
	// first), then by id.
	Checks []CheckTrend
	Flaky  []CheckTrend
}

// ScenarioTrend is one scenario's wall time over the runs.
type ScenarioTrend struct {
	Name string
	// Seconds per run, NaN where the scenario did not run.
	Seconds []float64
	// Floor is the latest run's floor; Last and LastAbove the latest
	// run's wall time and time above the floor (NaN if it did not run);
	// MedianAbove the median time above the floor over the window.
	Floor, Last, LastAbove, MedianAbove float64
}

// CheckTrend is one check's status over the runs.
type CheckTrend struct {
	ID string
	// Statuses per run, oldest first; "" where the run lacks the check.
	Statuses []Status
	// Flips counts the status changes between consecutive runs within
	// the window that judged the check (not those whose lab could not
	// run); a check with any is flaky.
	Flips int
	Last  Status
}

// Flaky reports whether the check flipped status within the window.
func (c CheckTrend) Flaky() bool { return c.Flips > 0 }

// NewTrend groups entries by lab, in the order labs first appear.
func NewTrend(entries []HistoryEntry, window int, skipped []string) Trend {
	if window <= 1 {
		window = DefaultFlakyWindow
	}
	t := Trend{Window: window, Skipped: skipped}
	byLab := map[string][]HistoryEntry{}
	var labs []string
	for _, e := range entries {
		if _, ok := byLab[e.Lab]; !ok {
			labs = append(labs, e.Lab)
		}
		byLab[e.Lab] = append(byLab[e.Lab], e)
	}
	for _, lab := range labs {
		t.Labs = append(t.Labs, newLabTrend(lab, byLab[lab], window))
	}
	return t
}

func newLabTrend(lab string, runs []HistoryEntry, window int) LabTrend {
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Time.Before(runs[j].Time) })
	lt := LabTrend{Lab: lab, Runs: runs}
	from := max(0, len(runs)-window)

	names := map[string]bool{}
	ids := map[string]bool{}
	for _, r := range runs {
		for n := range r.Scenarios {
			names[n] = true
		}
		for id := range r.Checks {
			ids[id] = true
		}
	}
	for _, name := range sortedKeys(names) {
		st := ScenarioTrend{Name: name, Last: math.NaN(), LastAbove: math.NaN(), MedianAbove: math.NaN()}
		var above []float64
		for i, r := range runs {
			s, ok := r.Scenarios[name]
			if !ok || s.NotRun {
				st.Seconds = append(st.Seconds, math.NaN())
				continue
			}
			st.Seconds = append(st.Seconds, s.Seconds)
			st.Floor = s.FloorSeconds
			if i == len(runs)-1 {
				st.Last, st.LastAbove = s.Seconds, s.AboveFloorSeconds
			}
			if i >= from {
				above = append(above, s.AboveFloorSeconds)
			}
		}
		if len(above) > 0 {
			slices.Sort(above)
			st.MedianAbove = above[len(above)/2]
			if len(above)%2 == 0 {
				st.MedianAbove = (above[len(above)/2-1] + above[len(above)/2]) / 2
			}
		}
		lt.Scenarios = append(lt.Scenarios, st)
	}
	for _, id := range sortedKeys(ids) {
		ct := CheckTrend{ID: id}
		prev := -1 // the last run within the window that judged the check
		for i, r := range runs {
			s := r.Checks[id]
			ct.Statuses = append(ct.Statuses, s)
			// A run whose lab could not run (a busy port) judged nothing:
			// its ERRORs are no flip.
			if i < from || s == "" || r.LabError != "" {
				continue
			}
			if prev >= 0 && ct.Statuses[prev] != s {
				ct.Flips++
			}
			prev = i
		}
		ct.Last = ct.Statuses[len(ct.Statuses)-1]
		lt.Checks = append(lt.Checks, ct)
	}
	sort.SliceStable(lt.Checks, func(i, j int) bool {
		a, b := lt.Checks[i], lt.Checks[j]
		if a.Flaky() != b.Flaky() {
			return a.Flaky()
		}
		if a.Flips != b.Flips {
			return a.Flips > b.Flips
		}
		return a.ID < b.ID
	})
	for _, c := range lt.Checks {
		if c.Flaky() {
			lt.Flaky = append(lt.Flaky, c)
		}
	}
	return lt
}

// Text is the trend's summary as `go run ./labs/trend` prints it.
func (t Trend) Text() string {
	var b strings.Builder
	if len(t.Labs) == 0 {
		b.WriteString("no runs in the history\n")
	}
	for _, lt := range t.Labs {
		first, last := lt.Runs[0], lt.Runs[len(lt.Runs)-1]
		fmt.Fprintf(&b, "%s: %d runs, %s … %s; last %s at %s\n", lt.Lab, len(lt.Runs),
			first.Time.UTC().Format(time.DateOnly), last.Time.UTC().Format(time.DateOnly), last.Verdict, shortRev(last.Revision))
		if len(lt.Flaky) == 0 {
			fmt.Fprintf(&b, "  no check flipped status in the last %d runs\n", t.Window)
		}
		for _, c := range lt.Flaky {
			fmt.Fprintf(&b, "  FLAKY %s: %d flips in the last %d runs: %s\n", c.ID, c.Flips, t.Window, statusRun(c.Statuses, t.Window))
		}
		fmt.Fprintf(&b, "  %-6s %9s %7s %11s %s\n", "", "last", "floor", "above floor", fmt.Sprintf("median above (last %d)", t.Window))
		for _, s := range lt.Scenarios {
			fmt.Fprintf(&b, "  %-6s %9s %7s %11s %s\n", s.Name, secs(s.Last), secs(s.Floor), secs(s.LastAbove), secs(s.MedianAbove))
		}
	}
	for _, s := range t.Skipped {
		fmt.Fprintf(&b, "skipped history %s\n", s)
	}
	return b.String()
}

func secs(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f s", v)
}

func shortRev(rev string) string {
	if rev == "" {
		return "unknown revision"
	}
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// statusRun is the last n statuses in a line, oldest first, "·" for
// absent.
func statusRun(statuses []Status, n int) string {
	var parts []string
	for _, s := range statuses[max(0, len(statuses)-n):] {
		parts = append(parts, cmp.Or(string(s), "·"))
	}
	return strings.Join(parts, " ")
}

// Chart of the wall times: one polyline per scenario.
type lineChart struct {
	ID                       string
	W, H                     float64
	Left, Right, Top, Bottom float64
	XTicks, YTicks           []tick
	Series                   []series
	XTitle, YTitle           string
}

type series struct {
	Name, Class string
	Points      string
	Dots        []dot
	// FloorY is where the scenario's physical floor is drawn (dashed);
	// HasFloor is false for a floor of 0.
	FloorY   float64
	HasFloor bool
}

// maxChartRuns bounds the runs drawn: a year of nightlies would make the
// x axis unreadable.
const maxChartRuns = 60

func newWallChart(lt LabTrend) lineChart {
	c := lineChart{
		ID: lt.Lab, W: chartW, H: chartH,
		Left: chartLeft, Right: chartW - chartRight, Top: 20, Bottom: chartH - chartBottom,
		XTitle: "run (oldest left)", YTitle: "scenario wall time (s)",
	}
	from := max(0, len(lt.Runs)-maxChartRuns)
	n := len(lt.Runs) - from
	top := 0.0
	for _, s := range lt.Scenarios {
		for _, v := range s.Seconds[from:] {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	yStep := niceStep(top*1.05, 5)
	yMax := math.Ceil(top*1.05/yStep) * yStep
	x := func(i int) float64 {
		if n <= 1 {
			return round2((c.Left + c.Right) / 2)
		}
		return round2(c.Left + float64(i)/float64(n-1)*(c.Right-c.Left))
	}
	y := func(v float64) float64 { return round2(c.Bottom - v/yMax*(c.Bottom-c.Top)) }
	for v := 0.0; v <= yMax+yStep/2; v += yStep {
		c.YTicks = append(c.YTicks, tick{y(v), trimFloat(v) + " s"})
	}
	xStep := max(1, int(niceStep(float64(n), 8)))
	for i := 0; i < n; i += xStep {
		c.XTicks = append(c.XTicks, tick{x(i), fmt.Sprint(from + i + 1)})
	}
	for k, s := range lt.Scenarios {
		se := series{Name: s.Name, Class: fmt.Sprintf("s%d", k%6), FloorY: y(s.Floor), HasFloor: s.Floor > 0}
		var pts []string
		for i, v := range s.Seconds[from:] {
			if math.IsNaN(v) {
				continue
			}
			run := lt.Runs[from+i]
			pts = append(pts, point(x(i), y(v)))
			se.Dots = append(se.Dots, dot{X: x(i), Y: y(v), Title: fmt.Sprintf("%s run %d (%s, %s): %.3f s, %.3f s above its floor",
				s.Name, from+i+1, run.Time.UTC().Format("2006-01-02 15:04"), shortRev(run.Revision), v, run.Scenarios[s.Name].AboveFloorSeconds)})
		}
		se.Points = strings.Join(pts, " ")
		c.Series = append(c.Series, se)
	}
	return c
}

type trendLab struct {
	LabTrend
	First, Last HistoryEntry
	LastClass   string
	Chart       lineChart
	// GridRuns are the status grid's columns (the last maxChartRuns runs,
	// newest last); Rows its rows, flaky first.
	GridRuns []gridRun
	Rows     []gridRow
}

type gridRun struct {
	N     int
	Title string
}

type gridRow struct {
	CheckTrend
	Cells []gridCell
}

type gridCell struct {
	Status Status
	Title  string
}

type trendPage struct {
	Trend
	Labs []trendLab
	Runs int
}

// RenderTrend renders trend.html: per lab the last verdict, the flaky
// checks first, the wall time of each scenario over the runs (SVG) with
// the time above its floor, and every check's status over the runs. Like
// index.html it is self-contained and uses the same stylesheet.
func RenderTrend(t Trend) ([]byte, error) {
	p := trendPage{Trend: t}
	for _, lt := range t.Labs {
		tl := trendLab{LabTrend: lt, First: lt.Runs[0], Last: lt.Runs[len(lt.Runs)-1], Chart: newWallChart(lt)}
		tl.LastClass = statusClass(Status(tl.Last.Verdict))
		from := max(0, len(lt.Runs)-maxChartRuns)
		for i, r := range lt.Runs[from:] {
			tl.GridRuns = append(tl.GridRuns, gridRun{N: from + i + 1, Title: fmt.Sprintf("run %d: %s, git %s, %s",
				from+i+1, r.Time.UTC().Format("2006-01-02 15:04"), shortRev(r.Revision), r.Verdict)})
		}
		for _, c := range lt.Checks {
			row := gridRow{CheckTrend: c}
			for i, s := range c.Statuses[from:] {
				row.Cells = append(row.Cells, gridCell{Status: s, Title: fmt.Sprintf("%s, %s: %s", c.ID, tl.GridRuns[i].Title, cmp.Or(string(s), "absent"))})
			}
			tl.Rows = append(tl.Rows, row)
		}
		p.Labs = append(p.Labs, tl)
		p.Runs += len(lt.Runs)
	}
	var b bytes.Buffer
	if err := trendTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", TrendHTML, err)
	}
	return b.Bytes(), nil
}

var trendTemplate = template.Must(template.New("trend").Funcs(template.FuncMap{
	"class": statusClass,
	"secs":  secs,
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"short": shortRev,
	"run":   statusRun,
	"cell": func(s Status) string {
		if s == "" {
			return "absent"
		}
		return statusClass(s)
	},
	"letter": func(s Status) string {
		if s == "" {
			return "·"
		}
		return string(s)[:1]
	},
}).Parse(pageStyle + `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgelab lab trend</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{{template "style"}}
<style>
.s0{stroke:#1f5fbf}.s1{stroke:#d35400}.s2{stroke:#2a7d2a}.s3{stroke:#7b2fbf}.s4{stroke:#c0392b}.s5{stroke:#117a8b}
circle.s0{fill:#1f5fbf}circle.s1{fill:#d35400}circle.s2{fill:#2a7d2a}circle.s3{fill:#7b2fbf}circle.s4{fill:#c0392b}circle.s5{fill:#117a8b}
.series{fill:none;stroke-width:2}circle.dot{stroke:none}.floor{stroke-width:1;stroke-dasharray:5 4;opacity:.8}
table.grid td{padding:0;min-width:1.4em;height:1.4em;text-align:center;font-size:.75em}table.grid th{font-size:.8em;padding:.1em .4em}
td.absent{background:#f4f4f4;color:#aaa}tr.flaky th{background:#fdebd0}
</style></head><body>
<h1>edgelab lab trend</h1>
<p class="small">{{.Runs}} runs from the history file · <b>flaky</b>: a check whose status flipped within its lab's last {{.Window}} runs · wall times beside each scenario's physical floor (docs/PERFORMANCE.md figure 1){{if .Skipped}} · {{len .Skipped}} unreadable history lines skipped{{end}}</p>
{{if not .Labs}}<p>No runs in the history yet.</p>{{end}}
{{range .Labs}}<h2 id="{{.Lab}}">{{.Lab}}</h2>
<div class="verdict {{.LastClass}}">last run: {{.Last.Verdict}}</div>
<p class="small">{{len .Runs}} runs, {{stamp .First.Time}} … {{stamp .Last.Time}} UTC · last at git {{short .Last.Revision}}{{if .Last.Dirty}} (dirty){{end}} · its evidence: {{.Last.EvidenceDir}}</p>
<h3>Flaky checks</h3>
{{if .Flaky}}<table class="checks flaky-list"><tr><th>check</th><th>flips in the last {{$.Window}} runs</th><th>statuses, oldest first</th><th>last</th></tr>
{{range .Flaky}}<tr class="{{class .Last}}"><td class="nw">{{.ID}}</td><td>{{.Flips}}</td><td><code>{{run .Statuses $.Window}}</code></td><td>{{.Last}}</td></tr>
{{end}}</table>
{{else}}<p>No check flipped status in the last {{$.Window}} runs.</p>{{end}}
<h3>Wall time per scenario</h3>
{{template "wall" .Chart}}
<p class="small legend">{{range .Chart.Series}}<span><svg width="24" height="10"><line x1="0" y1="5" x2="24" y2="5" class="series {{.Class}}"/></svg> {{.Name}}</span>{{end}}<span><svg width="24" height="10"><line x1="0" y1="5" x2="24" y2="5" class="floor s0"/></svg> dashed: that scenario's physical floor</span></p>
<table><tr><th>scenario</th><th>last</th><th>floor</th><th>above floor</th><th>median above floor, last {{$.Window}} runs</th></tr>
{{range .Scenarios}}<tr><td>{{.Name}}</td><td>{{secs .Last}}</td><td>{{secs .Floor}}</td><td>{{secs .LastAbove}}</td><td>{{secs .MedianAbove}}</td></tr>
{{end}}</table>
<h3>Check status over runs</h3>
<table class="grid"><tr><th>check</th>{{range .GridRuns}}<th title="{{.Title}}">{{.N}}</th>{{end}}</tr>
{{range .Rows}}<tr{{if .Flaky}} class="flaky"{{end}}><th class="nw">{{.ID}}{{if .Flaky}} (flaky){{end}}</th>{{range .Cells}}<td class="{{cell .Status}}" title="{{.Title}}">{{letter .Status}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
</body></html>
{{define "wall"}}<svg viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-label="wall time per scenario, {{.ID}}" xmlns="http://www.w3.org/2000/svg">
{{range .YTicks}}<line class="grid" x1="{{$.Left}}" y1="{{.Pos}}" x2="{{$.Right}}" y2="{{.Pos}}"/><text x="{{$.Left}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<line class="grid" x1="{{.Pos}}" y1="{{$.Top}}" x2="{{.Pos}}" y2="{{$.Bottom}}"/><text x="{{.Pos}}" y="{{$.Bottom}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/><line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}"/>
<text x="{{.Right}}" y="{{.H}}" dy="-6" text-anchor="end">{{.XTitle}}</text>
<text x="14" y="{{.Bottom}}" transform="rotate(-90 14 {{.Bottom}})">{{.YTitle}}</text>
{{range .Series}}{{if .HasFloor}}<line class="floor {{.Class}}" x1="{{$.Left}}" y1="{{.FloorY}}" x2="{{$.Right}}" y2="{{.FloorY}}"><title>{{.Name}} floor</title></line>{{end}}<polyline class="series {{.Class}}" points="{{.Points}}"/>{{$c := .Class}}{{range .Dots}}<circle class="dot {{$c}}" cx="{{.X}}" cy="{{.Y}}" r="3"><title>{{.Title}}</title></circle>{{end}}
{{end}}</svg>{{end}}
`))
