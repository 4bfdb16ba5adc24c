package val24

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
	"edgelab/labs/labrun"
)

// recordedSealed is the recorded S-B (testdata/recorded, a real run's
// scenario directory) sealed as a run now ends.
func recordedSealed(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/recorded")))
	require.NoError(t, evidence.Seal(dir, evidence.Report{Lab: LabName}, evidence.SealOptions{}))
	return dir
}

func checkOnly(t *testing.T, dir string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := CheckOnly(context.Background(), labrun.CheckConfig{Args: []string{"val24", "--check-only", dir}, Dir: dir, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func TestCheckOnly_VerifiesTheSealThenRechecks(t *testing.T) {
	dir := recordedSealed(t)
	code, stdout, stderr := checkOnly(t, dir)
	// Only S-B was recorded: the other scenarios' checks are ERROR.
	require.Equal(t, 2, code, stderr)
	assert.Contains(t, stdout, "VAL24-07 PASS ")
	r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	require.NoError(t, err)
	require.Len(t, r.Rechecks, 1)
	assert.Equal(t, evidence.VerifyMatched, r.Rechecks[0].Verified.Manifest)
	v, err := evidence.VerifySeal(dir, nil)
	require.NoError(t, err)
	assert.Empty(t, v.Problem)
}

func TestCheckOnly_AlteredEvidenceIsAnError(t *testing.T) {
	dir := recordedSealed(t)
	p := filepath.Join(dir, SB, "peer-a-evidence.json")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	data[len(data)/2] ^= 1
	require.NoError(t, os.WriteFile(p, data, 0o644))
	code, stdout, stderr := checkOnly(t, dir)
	assert.Equal(t, 2, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "val24: --check-only "+dir+": verdict ERROR: evidence altered: S-B/peer-a-evidence.json changed")
	assert.NoFileExists(t, filepath.Join(dir, evidence.ReportJSON))
}
