package val24

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
	"edgelab/labs/labrun"
)

// --check-only on VAL24: the recorded S-B evidence (a real run's) is
// re-evaluated on its own; the scenarios it lacks are ERROR, so the exit
// is 2, and the report says report.json was absent.
func TestCheckOnly_RecordedSB(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/recorded")))
	var out, errb bytes.Buffer
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	code := CheckOnly(context.Background(), labrun.CheckConfig{
		Args: []string{"val24", "--check-only", dir}, Dir: dir, Stdout: &out, Stderr: &errb,
		Now: func() time.Time { return at },
	})
	assert.Equal(t, 2, code, errb.String())
	r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	require.NoError(t, err)
	assert.Equal(t, LabName, r.Lab)
	status := map[string]evidence.Status{}
	for _, c := range r.Checks {
		status[c.ID] = c.Status
	}
	assert.Equal(t, evidence.Pass, status["VAL24-06"], out.String())
	assert.Equal(t, evidence.Pass, status["VAL24-07"], out.String())
	assert.Equal(t, evidence.Error, status["VAL24-01"])
	require.Len(t, r.Rechecks, 1)
	assert.Contains(t, r.Rechecks[0].Note, "report.json was absent")
	assert.Equal(t, "2026-12-02", r.Date(), "the date comes from S-B's scenario.json")
	assert.Contains(t, errb.String(), "val24: re-checked "+dir)
	assert.Equal(t, evidence.Text(r), out.String())

	// A VAL23 directory is not VAL24's to re-check.
	other := filepath.Join(t.TempDir(), "v23")
	require.NoError(t, os.MkdirAll(filepath.Join(other, "S-A"), 0o755))
	require.NoError(t, evidence.WriteReport(other, evidence.Report{Lab: "VAL23"}))
	errb.Reset()
	assert.Equal(t, 2, CheckOnly(context.Background(), labrun.CheckConfig{Dir: other, Stdout: &out, Stderr: &errb}))
	assert.Contains(t, errb.String(), "a VAL23 report, not VAL24")
}
