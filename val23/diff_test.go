package val23

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/labs/labrun"
)

// --diff between the recorded run and a copy of it where the peer received
// one segment too many (re-checked: VAL23-05 FAILs) names the regression,
// the extra id and the counters that moved, and exits 1; the other way
// round nothing regressed.
func TestDiff_RecordedRunAgainstACopyWhereOneCheckFailed(t *testing.T) {
	failed := copyRecorded(t)
	addSegment(t, failed, SB, "val23-sb-006")
	// The edit breaks the run's seal: re-check it anyway.
	code, _, stderr := checkOnlyWith(t, failed, true)
	require.Equal(t, 1, code, stderr)
	passed, err := filepath.Abs(recordedRun)
	require.NoError(t, err)

	var out, errb bytes.Buffer
	code = labrun.DiffDirs(LabName, passed, failed, &out, &errb)
	assert.Equal(t, 1, code, errb.String())
	text := out.String()
	for _, want := range []string{
		"verdict: PASS → FAIL\n",
		"checks:\n  VAL23-05 PASS → FAIL\n",
		"VAL23-05.peer_ids: +val23-sb-006\n",
		"REGRESSION: VAL23-05 went from PASS to FAIL\n",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "VAL23-01", "only S-B's evidence changed")

	out.Reset()
	assert.Equal(t, 0, labrun.DiffDirs(LabName, failed, passed, &out, &errb), "FAIL → PASS is no regression")
	assert.Contains(t, out.String(), "VAL23-05 FAIL → PASS\n")
}
