package labrun

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
)

func TestAppendHistory_OneLineWithTheFloors(t *testing.T) {
	start := time.Date(2026, 12, 2, 3, 23, 0, 0, time.UTC)
	r := evidence.Report{
		Lab: "VAL23", Provenance: evidence.Provenance{GitRevision: "abc", StartedAt: start},
		Scenarios: []evidence.Scenario{{Name: "S-B", StartedAt: start, EndedAt: start.Add(4250 * time.Millisecond)}},
		Checks:    []evidence.Check{{ID: "VAL23-04", Scenario: "S-B", Status: evidence.Pass, Observed: map[string]any{"throttle_count": 10}}},
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	var stderr bytes.Buffer
	appendHistory(path, r, []Scenario{{Name: "S-B", Floor: 4 * time.Second}}, &stderr)
	appendHistory("", r, nil, &stderr) // no history asked for: nothing written, nothing said
	assert.Empty(t, stderr.String())

	got, skipped, err := evidence.ReadHistoryFile(path)
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Len(t, got, 1)
	assert.Equal(t, evidence.HistoryScenario{Seconds: 4.25, FloorSeconds: 4, AboveFloorSeconds: 0.25}, got[0].Scenarios["S-B"])
	assert.Equal(t, map[string]float64{"VAL23-04.throttle_count": 10}, got[0].Counters)
	assert.Equal(t, "PASS", got[0].Verdict)
}

func TestAppendHistory_AnUnwritableHistoryIsANotice(t *testing.T) {
	var stderr bytes.Buffer
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, evidence.WriteFile(file, nil))
	appendHistory(filepath.Join(file, "history.jsonl"), evidence.Report{Lab: "VAL24"}, nil, &stderr)
	assert.Contains(t, stderr.String(), "val24: history: ")
}
