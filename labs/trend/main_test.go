package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
)

func writeHistory(t *testing.T, path string, n int) {
	t.Helper()
	start := time.Date(2026, 11, 1, 3, 23, 0, 0, time.UTC)
	for i := range n {
		st := evidence.Pass
		if i%2 == 1 && i > n-5 {
			st = evidence.Fail
		}
		require.NoError(t, evidence.AppendHistory(path, evidence.HistoryEntry{
			Time: start.Add(time.Duration(i) * 24 * time.Hour), Lab: "VAL23", Revision: fmt.Sprintf("%040d", i), Verdict: string(st),
			Checks:    map[string]evidence.Status{"VAL23-01": evidence.Pass, "VAL23-05": st},
			Scenarios: map[string]evidence.HistoryScenario{"S-B": {Seconds: 4.1, FloorSeconds: 4, AboveFloorSeconds: 0.1}},
		}))
	}
}

func runTrend(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"trend"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestTrend_WritesThePageAndPrintsTheSummary(t *testing.T) {
	dir := t.TempDir()
	history := filepath.Join(dir, "history.jsonl")
	writeHistory(t, history, 8)

	// --out defaults to the history file's directory.
	code, stdout, stderr := runTrend(t, "--history", history)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "VAL23: 8 runs, 2026-11-01 … 2026-11-08; last FAIL at 000000000000\n")
	assert.Contains(t, stdout, "  FLAKY VAL23-05: ")
	assert.Contains(t, stderr, "wrote "+filepath.Join(dir, evidence.TrendHTML))
	page, err := os.ReadFile(filepath.Join(dir, evidence.TrendHTML))
	require.NoError(t, err)
	assert.Less(t, strings.Index(string(page), "VAL23-05"), strings.Index(string(page), "VAL23-01"), "the flaky check comes first")

	out := filepath.Join(dir, "site")
	require.NoError(t, os.Mkdir(out, 0o755))
	code, _, stderr = runTrend(t, "--out", out, "--window", "2", "--history", history)
	require.Equal(t, 0, code, stderr)
	assert.FileExists(t, filepath.Join(out, evidence.TrendHTML))
}

func TestTrend_Errors(t *testing.T) {
	code, _, stderr := runTrend(t, "--history", filepath.Join(t.TempDir(), "none.jsonl"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "trend: history: open ")

	code, _, stderr = runTrend(t, "stray")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Run 'trend --help' for usage.")

	code, stdout, _ := runTrend(t, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "--window")
}
