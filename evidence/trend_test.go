package evidence

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syntheticHistory is n nightly VAL23 runs made from the recorded run:
// VAL23-07 flips PASS/FAIL in the last runs (flaky), VAL23-03 failed once
// long ago (outside the window: not flaky), S-B's wall time wanders, and
// one VAL24 run is mixed in.
func syntheticHistory(t *testing.T, n int) []HistoryEntry {
	t.Helper()
	base := NewHistoryEntry(recordedReport(t), val23Floors)
	var out []HistoryEntry
	for i := range n {
		e := copyEntry(base)
		e.Time = base.Time.Add(time.Duration(i-n) * 24 * time.Hour)
		e.Revision = strings.Repeat(string(rune('a'+i%26)), 40)
		if i == 1 {
			e.Checks["VAL23-03"] = Fail
		}
		if i >= n-6 && i%2 == 0 {
			e.Checks["VAL23-07"] = Fail
			e.Verdict = "FAIL"
		}
		sb := e.Scenarios["S-B"]
		sb.Seconds = 4.1 + 0.05*float64(i%4)
		sb.AboveFloorSeconds = round3(sb.Seconds - sb.FloorSeconds)
		e.Scenarios["S-B"] = sb
		out = append(out, e)
	}
	v24 := HistoryEntry{Schema: HistorySchema, Lab: "VAL24", Time: base.Time, Verdict: "PASS",
		Checks:    map[string]Status{"VAL24-01": Pass},
		Scenarios: map[string]HistoryScenario{"S-A": {Seconds: 2.5, AboveFloorSeconds: 2.5}}}
	return append(out[:3], append([]HistoryEntry{v24}, out[3:]...)...)
}

// copyEntry deep-copies e (its maps), so runs do not share them.
func copyEntry(e HistoryEntry) HistoryEntry {
	c := e
	c.Checks = map[string]Status{}
	for k, v := range e.Checks {
		c.Checks[k] = v
	}
	c.Scenarios = map[string]HistoryScenario{}
	for k, v := range e.Scenarios {
		c.Scenarios[k] = v
	}
	return c
}

func TestNewTrend_FlakyChecksFirst(t *testing.T) {
	tr := NewTrend(syntheticHistory(t, 14), 10, nil)
	require.Len(t, tr.Labs, 2)
	v23 := tr.Labs[0]
	assert.Equal(t, "VAL23", v23.Lab)
	assert.Len(t, v23.Runs, 14)
	require.Len(t, v23.Flaky, 1, "only VAL23-07 flipped in the last 10 runs")
	assert.Equal(t, "VAL23-07", v23.Flaky[0].ID)
	assert.Equal(t, 6, v23.Flaky[0].Flips)
	assert.Equal(t, "VAL23-07", v23.Checks[0].ID, "flaky checks come first")
	assert.Equal(t, "VAL23-01", v23.Checks[1].ID)
	for _, c := range v23.Checks {
		if c.ID == "VAL23-03" {
			assert.False(t, c.Flaky(), "VAL23-03's flip is older than the window")
		}
	}
	var sb ScenarioTrend
	for _, s := range v23.Scenarios {
		if s.Name == "S-B" {
			sb = s
		}
	}
	assert.Equal(t, 4.0, sb.Floor)
	assert.InDelta(t, 4.15, sb.Last, 1e-9) // run 14: i=13, 13%4 = 1
	assert.InDelta(t, 0.15, sb.LastAbove, 1e-9)
	assert.InDelta(t, 0.15, sb.MedianAbove, 1e-9)

	v24 := tr.Labs[1]
	assert.Equal(t, "VAL24", v24.Lab)
	assert.Empty(t, v24.Flaky)

	text := tr.Text()
	for _, want := range []string{
		"VAL23: 14 runs, ",
		"  FLAKY VAL23-07: 6 flips in the last 10 runs: PASS PASS PASS PASS FAIL PASS FAIL PASS FAIL PASS\n",
		"VAL24: 1 runs, ",
		"  no check flipped status in the last 10 runs\n",
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `\n  S-B\s+4\.15 s\s+4\.00 s\s+0\.15 s 0\.15 s\n`, text)
}

// The test: a synthetic history with a flaky check shows it first
// in trend.html, in the flaky list and at the top of the status grid.
func TestRenderTrend_ShowsTheFlakyCheckFirst(t *testing.T) {
	page, err := RenderTrend(NewTrend(syntheticHistory(t, 14), 10, []string{"line 9: unexpected end of JSON input"}))
	require.NoError(t, err)
	html := string(page)

	val23 := html[strings.Index(html, `<h2 id="VAL23">`):strings.Index(html, `<h2 id="VAL24">`)]
	flaky := regexp.MustCompile(`(?s)<h3>Flaky checks</h3>\s*<table class="checks flaky-list">.*?</table>`).FindString(val23)
	require.NotEmpty(t, flaky, "the VAL23 section lists its flaky checks:\n%s", val23)
	assert.Contains(t, flaky, `<td class="nw">VAL23-07</td><td>6</td>`)
	assert.NotContains(t, flaky, "VAL23-03")

	rows := regexp.MustCompile(`<tr(?: class="flaky")?><th class="nw">(VAL23-\d\d)`).FindAllStringSubmatch(val23, -1)
	var ids []string
	for _, m := range rows {
		ids = append(ids, m[1])
	}
	want := []string{"VAL23-07", "VAL23-01", "VAL23-02", "VAL23-03", "VAL23-04", "VAL23-05", "VAL23-06", "VAL23-08", "VAL23-09", "VAL23-10"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("status grid rows (-want +got):\n%s", diff)
	}
	assert.Contains(t, val23, `<tr class="flaky"><th class="nw">VAL23-07 (flaky)</th>`)
	assert.Equal(t, 14, strings.Count(val23[strings.Index(val23, "VAL23-07 (flaky)"):strings.Index(val23, "VAL23-01</th>")], "<td class="))

	// One polyline per scenario, a dot per run; the style is index.html's.
	assert.Equal(t, 5, strings.Count(val23, `<polyline class="series s`))
	assert.Equal(t, 5*14, strings.Count(val23, `<circle class="dot s`))
	assert.Equal(t, 3, strings.Count(val23, `<line class="floor s`), "S-B, S-C and S-D have floors")
	assert.Contains(t, html, `.verdict{font-size:1.25em`)
	assert.Contains(t, html, `<div class="verdict pass">last run: PASS</div>`)
	assert.Contains(t, html, "1 unreadable history lines skipped")
	// Offline: nothing is fetched.
	assert.NotRegexp(t, `(src|href)="https?:`, html)
}

func TestRenderTrend_EmptyHistory(t *testing.T) {
	page, err := RenderTrend(NewTrend(nil, 0, nil))
	require.NoError(t, err)
	assert.Contains(t, string(page), "No runs in the history yet.")
	assert.Equal(t, "no runs in the history\n", NewTrend(nil, 0, nil).Text())
}

func TestNewWallChart_ScenarioThatDidNotRunHasNoDot(t *testing.T) {
	runs := []HistoryEntry{
		{Lab: "L", Scenarios: map[string]HistoryScenario{"S-A": {Seconds: 1}}},
		{Lab: "L", Time: time.Unix(1, 0), Scenarios: map[string]HistoryScenario{"S-A": {NotRun: true}}},
	}
	lt := NewTrend(runs, 10, nil).Labs[0]
	assert.True(t, math.IsNaN(lt.Scenarios[0].Seconds[1]))
	c := newWallChart(lt)
	require.Len(t, c.Series, 1)
	assert.Len(t, c.Series[0].Dots, 1)
}

// A night the lab could not run (a busy port: every check ERROR) is shown
// but is no flip: the checks judged nothing.
func TestNewTrend_ALabThatCouldNotRunIsNoFlip(t *testing.T) {
	run := func(day int, st Status, labErr string) HistoryEntry {
		return HistoryEntry{Lab: "L", Time: time.Unix(int64(day)*86400, 0), LabError: labErr, Checks: map[string]Status{"L-01": st}}
	}
	lt := NewTrend([]HistoryEntry{run(1, Pass, ""), run(2, Error, "port 19054 is in use"), run(3, Pass, ""), run(4, Pass, "")}, 10, nil).Labs[0]
	assert.Empty(t, lt.Flaky)
	assert.Equal(t, []Status{Pass, Error, Pass, Pass}, lt.Checks[0].Statuses)

	lt = NewTrend([]HistoryEntry{run(1, Pass, ""), run(2, Error, ""), run(3, Pass, "")}, 10, nil).Labs[0]
	require.Len(t, lt.Flaky, 1, "an ERROR of a lab that ran is a flip")
	assert.Equal(t, 2, lt.Flaky[0].Flips)

	// Only flips inside the window count: 5 runs, window 3.
	lt = NewTrend([]HistoryEntry{run(1, Pass, ""), run(2, Fail, ""), run(3, Pass, ""), run(4, Pass, ""), run(5, Pass, "")}, 3, nil).Labs[0]
	assert.Empty(t, lt.Flaky, "the flips of runs 1–3 are older than the last 3 runs' changes")
}
