package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
	"edgelab/evidence/schema"
	"edgelab/labs/labrun"
	"edgelab/labs/labtest"
	"edgelab/val23"
	"edgelab/val24"
)

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.Report))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat() // date-time is checked, not just noted
	require.NoError(t, c.AddResource(schema.ReportFile, doc))
	sch, err := c.Compile(schema.ReportFile)
	require.NoError(t, err)
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return sch.Validate(inst)
}

// rerendered copies a recorded run, seals it as a run now ends and
// re-checks it with the current code, which rewrites its report.json.
func rerendered(t *testing.T, recorded string, report evidence.Report, check func(context.Context, labrun.CheckConfig) int) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.CopyFS(dir, os.DirFS(recorded)))
	if r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON)); err == nil {
		report = r
	}
	require.NoError(t, evidence.Seal(dir, report, evidence.SealOptions{}))
	var out bytes.Buffer
	code := check(context.Background(), labrun.CheckConfig{Args: []string{"lab", "--check-only", dir}, Dir: dir, Stdout: io.Discard, Stderr: &out})
	require.Contains(t, []int{0, 1, 2}, code)
	require.Contains(t, out.String(), "re-checked", "the re-check did not run:\n%s", out.String())
	data, err := os.ReadFile(filepath.Join(dir, evidence.ReportJSON))
	require.NoError(t, err)
	return data
}

// Real lab output, re-rendered by the current code, is valid against the
// shipped schema, and its counts add up.
func TestReportSchema_RealLabOutputIsValid(t *testing.T) {
	sch := compile(t)
	busy, _ := labtest.BusyAddr(t)
	busyDir := filepath.Join(t.TempDir(), "busy")
	val23.Main(context.Background(), val23.Config{
		Config:    labrun.Config{Args: []string{"val23", busyDir}, EvidenceDir: busyDir, Stdout: io.Discard, Stderr: io.Discard},
		EdgedAddr: labtest.FreeAddr(t), PeerAddr: busy,
	})
	busyReport, err := os.ReadFile(filepath.Join(busyDir, evidence.ReportJSON))
	require.NoError(t, err)

	for name, data := range map[string][]byte{
		"val23 recorded-pass": rerendered(t, "../../val23/testdata/recorded-pass", evidence.Report{}, val23.CheckOnly),
		"val24 recorded":      rerendered(t, "../../val24/testdata/recorded", evidence.Report{Lab: val24.LabName}, val24.CheckOnly),
		"val23 could not run": busyReport,
	} {
		t.Run(name, func(t *testing.T) {
			assert.NoError(t, validate(t, sch, data))
			var r evidence.Report
			require.NoError(t, json.Unmarshal(data, &r))
			assert.Equal(t, len(r.Checks), r.Tally.Pass+r.Tally.Fail+r.Tally.Error, "counts add up to the checks")
			assert.Equal(t, r.ExitCode(), r.ExitStatus)
		})
	}
}

// The schema is not vacuous: what a v2 report must say is required.
func TestReportSchema_RefusesWhatAReportMustNotBe(t *testing.T) {
	sch := compile(t)
	data := rerendered(t, "../../val23/testdata/recorded-pass", evidence.Report{}, val23.CheckOnly)
	for name, edit := range map[string]func(m map[string]any){
		"v1 schema":            func(m map[string]any) { m["schema"] = evidence.SchemaV1 },
		"no verdict":           func(m map[string]any) { delete(m, "verdict") },
		"verdict vs exit code": func(m map[string]any) { m["verdict"] = "FAIL" },
		"unknown status":       func(m map[string]any) { m["checks"].([]any)[0].(map[string]any)["status"] = "SKIP" },
		"unknown field":        func(m map[string]any) { m["extra"] = 1 },
		"bad time":             func(m map[string]any) { m["provenance"].(map[string]any)["started_at"] = "yesterday" },
		"absolute evidence":    func(m map[string]any) { m["checks"].([]any)[0].(map[string]any)["evidence"] = []any{"/etc/passwd"} },
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(data, &m))
			edit(m)
			out, err := json.Marshal(m)
			require.NoError(t, err)
			assert.Error(t, validate(t, sch, out))
		})
	}
}

// The file beside the package is the one embedded.
func TestReportSchema_FileIsTheEmbeddedOne(t *testing.T) {
	data, err := os.ReadFile(schema.ReportFile)
	require.NoError(t, err)
	assert.Equal(t, string(schema.Report), string(data))
	assert.True(t, strings.Contains(string(data), `"https://json-schema.org/draft/2020-12/schema"`))
}

// Any report.json a reviewer holds, against the schema:
//
//	EDGELAB_REPORT=DIR/report.json go test -run TestReportSchema_GivenFile ./evidence/schema
func TestReportSchema_GivenFile(t *testing.T) {
	path := os.Getenv("EDGELAB_REPORT")
	if path == "" {
		t.Skip("set EDGELAB_REPORT to a report.json to validate it")
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NoError(t, validate(t, compile(t), data))
}
