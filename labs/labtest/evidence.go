package labtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
)

// Evidence is a copy of a recorded evidence directory (a real lab run kept
// in testdata) that a check test breaks one behaviour at a time.
type Evidence struct {
	T   testing.TB
	Dir string
}

// CopyEvidence copies the recorded run at src into a fresh directory.
func CopyEvidence(t testing.TB, src string) Evidence {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	require.NoError(t, os.CopyFS(dir, os.DirFS(src)))
	return Evidence{T: t, Dir: dir}
}

// Path is a scenario's evidence file.
func (e Evidence) Path(scenario, file string) string { return filepath.Join(e.Dir, scenario, file) }

// Write replaces a scenario's file with content.
func (e Evidence) Write(scenario, file, content string) {
	e.T.Helper()
	require.NoError(e.T, os.WriteFile(e.Path(scenario, file), []byte(content), 0o644))
}

// Remove deletes a scenario's file.
func (e Evidence) Remove(scenario, file string) {
	e.T.Helper()
	require.NoError(e.T, os.Remove(e.Path(scenario, file)))
}

// EditJSON decodes one JSON file of a scenario into a T, lets f change it
// and writes it back.
func EditJSON[T any](e Evidence, scenario, file string, f func(*T)) {
	e.T.Helper()
	raw, err := os.ReadFile(e.Path(scenario, file))
	require.NoError(e.T, err)
	var v T
	require.NoError(e.T, json.Unmarshal(raw, &v), "decode %s/%s", scenario, file)
	f(&v)
	require.NoError(e.T, evidence.WriteJSON(e.Path(scenario, file), v))
}

// Statuses are the checks' statuses by id.
func Statuses(checks []evidence.Check) map[string]evidence.Status {
	m := map[string]evidence.Status{}
	for _, c := range checks {
		m[c.ID] = c.Status
	}
	return m
}

// CheckByID is the check id of checks; the test fails without one.
func CheckByID(t testing.TB, checks []evidence.Check, id string) evidence.Check {
	t.Helper()
	i := slices.IndexFunc(checks, func(c evidence.Check) bool { return c.ID == id })
	if i < 0 {
		t.Fatalf("no check %s", id)
	}
	return checks[i]
}

// AssertStatuses checks every one of the lab's checks (ids): the named ones
// as given, all others PASS, logging the detail of each that differs.
func AssertStatuses(t testing.TB, checks []evidence.Check, ids []string, notPass map[string]evidence.Status) {
	t.Helper()
	want := map[string]evidence.Status{}
	for _, id := range ids {
		want[id] = evidence.Pass
	}
	for id, s := range notPass {
		want[id] = s
	}
	if diff := cmp.Diff(want, Statuses(checks)); diff != "" {
		t.Errorf("check statuses mismatch (-want +got):\n%s", diff)
		for _, c := range checks {
			if c.Status != want[c.ID] || c.Status != evidence.Pass {
				t.Logf("%s %s: %s", c.ID, c.Status, c.Detail)
			}
		}
	}
}
