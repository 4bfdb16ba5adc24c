package evidence

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clone is a deep copy of r, as report.json would give it back.
func clone(t *testing.T, r Report) Report {
	t.Helper()
	data, err := json.Marshal(r)
	require.NoError(t, err)
	var out Report
	require.NoError(t, json.Unmarshal(data, &out))
	return out
}

func checkIndex(t *testing.T, r Report, id string) int {
	t.Helper()
	for i, c := range r.Checks {
		if c.ID == id {
			return i
		}
	}
	t.Fatalf("no check %s", id)
	return -1
}

func TestDiff_SameRunHasNoChange(t *testing.T) {
	r := recordedReport(t)
	d := Diff(r, clone(t, r), DefaultNoise)
	assert.True(t, d.Empty(), "%+v", d)
	assert.Empty(t, d.Regressions())
	assert.Contains(t, d.Text("a", "b"), "timings count as changed beyond the noise band: both 20 % and 250ms\n")
	assert.Contains(t, d.Text("a", "b"), "no change beyond the noise band\n")
}

func TestDiff_NamesEveryKindOfChange(t *testing.T) {
	a := recordedReport(t)
	b := clone(t, a)
	i5 := checkIndex(t, b, "VAL23-05")
	b.Checks[i5].Status = Fail
	ids := b.Checks[i5].Observed["peer_ids"].([]any)
	b.Checks[i5].Observed["peer_ids"] = append(ids[1:], "val23-sb-006")
	b.Checks[checkIndex(t, b, "VAL23-04")].Observed["throttle_count"] = 12.0
	// Timings: S-B 2 s slower (beyond), S-C 0.2 s slower (inside the
	// band: under 250 ms), S-A 0.2 s slower (beyond 20 % but under 250 ms).
	b.Scenarios[1].EndedAt = b.Scenarios[1].EndedAt.Add(2 * time.Second)
	b.Scenarios[2].EndedAt = b.Scenarios[2].EndedAt.Add(200 * time.Millisecond)
	b.Scenarios[0].EndedAt = b.Scenarios[0].EndedAt.Add(200 * time.Millisecond)
	b.Checks[i5].Observed["seconds_set_to_last_receipt"] = 5.5

	d := Diff(a, b, DefaultNoise)
	assert.Equal(t, "PASS", d.VerdictA)
	assert.Equal(t, "FAIL", d.VerdictB)
	if diff := cmp.Diff([]StatusChange{{"VAL23-05", Pass, Fail}}, d.Checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	assert.Equal(t, d.Checks, d.Regressions())
	if diff := cmp.Diff([]ValueChange{{"VAL23-04.throttle_count", 10.0, 12.0}}, d.Values); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	require.Len(t, d.Timings, 2)
	assert.Equal(t, "S-B wall time", d.Timings[0].Name)
	assert.InDelta(t, 2.0, d.Timings[0].To-d.Timings[0].From, 1e-6)
	assert.Equal(t, "VAL23-05.seconds_set_to_last_receipt", d.Timings[1].Name)
	if diff := cmp.Diff([]IDSetChange{{"VAL23-05.peer_ids", []string{"val23-sb-006"}, []string{"val23-sb-001"}}}, d.IDSets); diff != "" {
		t.Errorf("id sets (-want +got):\n%s", diff)
	}

	text := d.Text("/ev/last-night", "/ev/tonight")
	for _, want := range []string{
		"VAL23 diff\n",
		"A: /ev/last-night — PASS, started 2026-12-02T15:47:07Z, git ",
		"verdict: PASS → FAIL\n",
		"checks:\n  VAL23-05 PASS → FAIL\n",
		"observed values:\n  VAL23-04.throttle_count: 10 → 12\n",
		"timings beyond the noise band:\n  S-B wall time: 4.117 s → 6.117 s (+2.000 s, +49 %)\n",
		"id sets:\n  VAL23-05.peer_ids: +val23-sb-006 -val23-sb-001\n",
		"REGRESSION: VAL23-05 went from PASS to FAIL\n",
	} {
		assert.Contains(t, text, want)
	}
}

func TestDiff_CheckSetsAndErrors(t *testing.T) {
	a := Report{Lab: "L", Checks: []Check{{ID: "1", Status: Pass}, {ID: "2", Status: Pass}, {ID: "3", Status: Fail}}}
	b := Report{Lab: "L", Checks: []Check{{ID: "1", Status: Error}, {ID: "3", Status: Pass}, {ID: "4", Status: Pass}}}
	d := Diff(a, b, DefaultNoise)
	want := []StatusChange{{"1", Pass, Error}, {"3", Fail, Pass}, {"4", "", Pass}, {"2", Pass, ""}}
	if diff := cmp.Diff(want, d.Checks); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	// A check that disappeared is named but is not a regression; one that
	// went to ERROR is.
	assert.Equal(t, []StatusChange{{"1", Pass, Error}}, d.Regressions())
	text := d.Text("a", "b")
	assert.Contains(t, text, "  4 (none) → PASS\n")
	assert.Contains(t, text, "REGRESSION: 1 went from PASS to ERROR\n")
}

func TestNoiseBand(t *testing.T) {
	for _, tt := range []struct {
		a, b float64
		want bool
	}{
		{4.0, 4.2, false}, // 200 ms: inside the absolute band
		{4.0, 4.7, false}, // 700 ms, but 17.5 %
		{4.0, 4.9, true},  // 900 ms, 22.5 %: beyond both
		{0.1, 0.3, false}, // 200 %, but 200 ms
		{0.1, 0.4, true},  // 300 %, 300 ms
		{10, 11.5, false}, // 1.5 s but 15 %
		{10, 12.5, true},  // 2.5 s, 25 %
		{4.0, 3.0, true},  // faster counts too
	} {
		assert.Equal(t, tt.want, DefaultNoise.Beyond(tt.a, tt.b), "%v → %v", tt.a, tt.b)
	}
	assert.False(t, strings.Contains(DefaultNoise.String(), "0.2"))
}
