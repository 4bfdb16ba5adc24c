package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordedReport is the report.json of a real VAL23 run (all PASS), kept
// by the val23 package's tests.
func recordedReport(t *testing.T) Report {
	t.Helper()
	r, err := ReadReport(filepath.Join("..", "val23", "testdata", "recorded-pass", ReportJSON))
	require.NoError(t, err)
	return r
}

var val23Floors = map[string]float64{"S-A": 0, "S-B": 4, "S-C": 3, "S-D": 1, "S-E": 0}

func TestNewHistoryEntry_FromARecordedRun(t *testing.T) {
	r := recordedReport(t)
	e := NewHistoryEntry(r, val23Floors)

	assert.Equal(t, HistorySchema, e.Schema)
	assert.Equal(t, "VAL23", e.Lab)
	assert.Equal(t, "PASS", e.Verdict)
	assert.Equal(t, r.Provenance.GitRevision, e.Revision)
	assert.True(t, e.Time.Equal(r.Provenance.StartedAt))
	require.Len(t, e.Checks, 10)
	for id, st := range e.Checks {
		assert.Equal(t, Pass, st, id)
	}
	// S-B ran 4.117 s against its 4 s floor of token refill.
	assert.Equal(t, HistoryScenario{Seconds: 4.117, FloorSeconds: 4, AboveFloorSeconds: 0.117}, e.Scenarios["S-B"])
	assert.Equal(t, HistoryScenario{Seconds: 3.112, FloorSeconds: 3, AboveFloorSeconds: 0.112}, e.Scenarios["S-C"])
	for name, c := range map[string]float64{
		"VAL23-04.throttle_count":    10,
		"VAL23-04.journal_throttled": 10,
		"VAL23-07.quota_drop_count":  12,
		"VAL23-07.daily_used_bytes":  128,
		"VAL23-09.journal_throttled": 12,
	} {
		assert.Equal(t, c, e.Counters[name], name)
	}
	// Timings are the scenarios', not counters.
	assert.NotContains(t, e.Counters, "VAL23-05.seconds_first_to_last_receipt")
}

func TestHistory_AppendsOneLinePerRunAndReadsThemBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", HistoryFile)
	r := recordedReport(t)
	first := NewHistoryEntry(r, val23Floors)
	r.Checks[4].Status = Fail
	second := NewHistoryEntry(r, val23Floors)
	require.NoError(t, AppendHistory(path, first))
	require.NoError(t, AppendHistory(path, second))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(data), "\n"), "one line per run")

	got, skipped, err := ReadHistoryFile(path)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	require.Len(t, got, 2)
	if diff := cmp.Diff([]HistoryEntry{first, second}, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	assert.Equal(t, "FAIL", got[1].Verdict)
	assert.Equal(t, Fail, got[1].Checks["VAL23-05"])
}

func TestHistory_ConcurrentAppendsNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), HistoryFile)
	e := NewHistoryEntry(recordedReport(t), val23Floors)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, AppendHistory(path, e))
		}()
	}
	wg.Wait()
	got, skipped, err := ReadHistoryFile(path)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	assert.Len(t, got, 20)
}

func TestReadHistory_SkipsWhatItCannotRead(t *testing.T) {
	in := `{"schema":"edgelab.evidence.history/v1","lab":"VAL23","verdict":"PASS"}

{"schema":"other/v9","lab":"X"}
{"schema":"edgelab.evidence.history/v1","lab":"VAL23","verd`
	got, skipped, err := ReadHistory(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "VAL23", got[0].Lab)
	require.Len(t, skipped, 2)
	assert.Contains(t, skipped[0], `line 3: schema "other/v9"`)
	assert.Contains(t, skipped[1], "line 4: ")
}

func TestObservedValues_FlattensLeavesAndClassifiesThem(t *testing.T) {
	obs := map[string]any{
		"throttle_count":      10,
		"seconds_set_to_last": 4.05,
		"window_seconds":      1.0,
		"peer_ids":            []string{"a", "b"},
		"final_status":        map[string]any{"unlimited": true, "segments": map[string]any{"delivered": 5}, "daily_window_start": "2026-12-02T15:47:07.892220688Z"},
		"peer_segments":       []map[string]any{{"id": "a"}},
		"source":              "runtime",
	}
	want := []ObservedValue{
		{"X.final_status.segments.delivered", KindNumber, 5.0},
		{"X.final_status.unlimited", KindText, true},
		{"X.peer_ids", KindIDSet, []string{"a", "b"}},
		{"X.seconds_set_to_last", KindTiming, 4.05},
		{"X.source", KindText, "runtime"},
		{"X.throttle_count", KindNumber, 10.0},
		{"X.window_seconds", KindTiming, 1.0},
	}
	if diff := cmp.Diff(want, ObservedValues("X", obs)); diff != "" {
		t.Errorf("ObservedValues (-want +got):\n%s", diff)
	}
}
