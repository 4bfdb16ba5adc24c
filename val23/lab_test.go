package val23

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/evidence"
	"edgelab/labs/labrun"
	"edgelab/labs/labtest"
)

func TestMain_PortInUseStillWritesAnAllErrorReport(t *testing.T) {
	busy, inUse := labtest.BusyAddr(t)

	// A non-empty directory is never written into: the run moves to -2.
	asked := filepath.Join(t.TempDir(), "evidence")
	if err := os.MkdirAll(asked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(asked, "report.txt"), []byte("an earlier run"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), Config{
		Config:    labrun.Config{Args: []string{"val23", asked}, EvidenceDir: asked, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: busy, PeerAddr: labtest.FreeAddr(t),
	})
	if code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	dir := asked + "-2"
	if !strings.Contains(stderr.String(), asked+" is not empty; writing this run's evidence to "+dir) {
		t.Errorf("stderr does not announce the move to %s:\n%s", dir, stderr.String())
	}
	if !strings.Contains(stderr.String(), inUse) {
		t.Errorf("stderr does not say %q:\n%s", inUse, stderr.String())
	}
	if old, _ := os.ReadFile(filepath.Join(asked, "report.txt")); string(old) != "an earlier run" {
		t.Errorf("the earlier run's report.txt was overwritten: %q", old)
	}

	text, err := os.ReadFile(filepath.Join(dir, evidence.ReportText))
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(text) {
		t.Errorf("stdout is not report.txt:\nstdout:\n%s\nreport.txt:\n%s", stdout.String(), text)
	}
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("report.txt too short:\n%s", text)
	}
	// report.txt keeps each reason to one line of at most 160 bytes
	// (labrun.OneLine); how long the holder's command line is depends on
	// the test binary's path and pid.
	_ = labrun.OneLine
	wantTail := []string{
		"Evidence dir: " + dir,
		"Scenario summary:",
		"S-A unlimited baseline: not run (" + labrun.OneLine(inUse) + ")",
		"S-B rate only (64B/s): not run (" + labrun.OneLine(inUse) + ")",
		"S-C quota only (128B): not run (" + labrun.OneLine(inUse) + ")",
		"S-D hot-reload (8→∞ B/s): not run (" + labrun.OneLine(inUse) + ")",
		"S-E daily reset unit test: PASS", // go test alone: the busy port does not stop it
		"10-check matrix:",
		"VAL23-01 ERROR unlimited baseline: n/a (" + labrun.OneLine("S-A could not run: "+inUse) + ")",
		"VAL23-02 ERROR unlimited status: n/a (" + labrun.OneLine("S-A could not run: "+inUse) + ")",
		"VAL23-03 ERROR set-bandwidth audit: n/a (" + labrun.OneLine("S-B could not run: "+inUse) + ")",
		"VAL23-04 ERROR rate throttle counters: n/a (" + labrun.OneLine("S-B could not run: "+inUse) + ")",
		"VAL23-05 ERROR rate-limited delivery: n/a (" + labrun.OneLine("S-B could not run: "+inUse) + ")",
		"VAL23-06 ERROR quota enforcement: n/a (" + labrun.OneLine("S-C could not run: "+inUse) + ")",
		"VAL23-07 ERROR quota drop counters: n/a (" + labrun.OneLine("S-C could not run: "+inUse) + ")",
		"VAL23-08 ERROR hot-reload applied: n/a (" + labrun.OneLine("S-D could not run: "+inUse) + ")",
		"VAL23-09 ERROR post-hotreload delivery: n/a (" + labrun.OneLine("S-D could not run: "+inUse) + ")",
		"VAL23-10 PASS daily quota reset: PASS",
		"Overall: PASS=1 FAIL=0 ERROR=9",
	}
	if diff := cmp.Diff(wantTail, lines[3:]); diff != "" {
		t.Errorf("report.txt mismatch (-want +got):\n%s", diff)
	}
	for i, prefix := range []string{Title, "Date: ", "Environment: "} {
		if !strings.HasPrefix(lines[i], prefix) {
			t.Errorf("report.txt line %d = %q, want prefix %q", i+1, lines[i], prefix)
		}
	}

	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(report.Error, inUse) || report.ExitCode() != 2 {
		t.Errorf("report.json error %q, exit %d; want %q, 2", report.Error, report.ExitCode(), inUse)
	}
	if report.Provenance.StartedAt.IsZero() || report.Provenance.FinishedAt.Before(report.Provenance.StartedAt) {
		t.Errorf("provenance times %v..%v", report.Provenance.StartedAt, report.Provenance.FinishedAt)
	}
	junit, err := os.ReadFile(filepath.Join(dir, evidence.JUnitXML))
	if err != nil {
		t.Fatal(err)
	}
	var doc evidence.JUnitSuites
	if err := xml.Unmarshal(junit, &doc); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	if doc.Tests != 10 || doc.Errors != 9 || doc.Failures != 0 {
		t.Errorf("junit tests=%d errors=%d failures=%d, want 10, 9, 0", doc.Tests, doc.Errors, doc.Failures)
	}
}

// controlCodes finds bytes a plain CI log would show as garbage: escape
// sequences, carriage-return redraws, anything below space but newline and
// tab.
func controlCodes(s string) []string {
	var found []string
	for i, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			found = append(found, fmt.Sprintf("%q at byte %d", r, i))
		}
	}
	return found
}

func TestMain_OutputIsPlainTextWhenNotATerminal(t *testing.T) {
	busy, _ := labtest.BusyAddr(t)
	var stdout, stderr bytes.Buffer // not a TTY, as in CI
	dir := filepath.Join(t.TempDir(), "run")
	Main(context.Background(), Config{
		Config:    labrun.Config{Args: []string{"val23", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: busy, PeerAddr: labtest.FreeAddr(t),
	})
	if stdout.Len() == 0 || stderr.Len() == 0 {
		t.Fatalf("nothing written: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	for name, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if found := controlCodes(out); len(found) > 0 {
			t.Errorf("%s has control codes %v:\n%s", name, found, out)
		}
	}
}
