package val24

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgelab/evidence"
	"edgelab/labs/labrun"
	"edgelab/labs/labtest"
)

func TestMain_PortInUseWritesAnAllErrorReport(t *testing.T) {
	busy, inUse := labtest.BusyAddr(t)
	dir := filepath.Join(t.TempDir(), "evidence")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), Config{
		Config:    labrun.Config{Args: []string{"val24", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: labtest.FreeAddr(t), PeerAAddr: labtest.FreeAddr(t), PeerBAddr: busy,
	})
	if code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), inUse) {
		t.Errorf("stderr does not say %q:\n%s", inUse, stderr.String())
	}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(report.Error, inUse) || len(report.Checks) != 10 {
		t.Fatalf("report: error %q and %d checks, want %q and 10", report.Error, len(report.Checks), inUse)
	}
	for _, c := range report.Checks {
		// S-D is go test alone: a busy port is no reason to skip it.
		if c.ID == "VAL24-10" {
			if c.Status != evidence.Pass {
				t.Errorf("%s: got %s %q, want PASS (the unit tests run whatever the ports)", c.ID, c.Status, c.Detail)
			}
			continue
		}
		if c.Status != evidence.Error || !strings.Contains(c.Detail, inUse) {
			t.Errorf("%s: got %s %q, want ERROR naming the busy port", c.ID, c.Status, c.Detail)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, evidence.ReportText))
	if stdout.String() != string(text) || !strings.HasSuffix(string(text), "Overall: PASS=1 FAIL=0 ERROR=9\n") {
		t.Errorf("stdout and report.txt: got\n%s\nand\n%s", stdout.String(), text)
	}
}

// The whole lab on free ports: real builds, processes and go test. It takes
// about 15 s, so it runs only when asked:
//
//	EDGELAB_LAB_TESTS=1 go test -run TestMain_FullLab ./val24
func TestMain_FullLab(t *testing.T) {
	if os.Getenv("EDGELAB_LAB_TESTS") == "" {
		t.Skip("set EDGELAB_LAB_TESTS=1 to run the whole VAL24 lab on free ports")
	}
	dir := filepath.Join(t.TempDir(), "evidence")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), Config{
		Config:    labrun.Config{Args: []string{"val24", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: labtest.FreeAddr(t), PeerAAddr: labtest.FreeAddr(t), PeerBAddr: labtest.FreeAddr(t),
	})
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nreport:\n%s\nprogress:\n%s", code, stdout.String(), stderr.String())
	}
	// The run is sealed, names the binaries that ran, and re-checks.
	v, err := evidence.VerifySeal(dir, nil)
	if err != nil || v.Problem != "" {
		t.Errorf("seal: %v %+v", err, v)
	}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Provenance.Binaries) != 2 || report.Provenance.Binaries[0].SHA256 == "" || report.Provenance.Binaries[1].SHA256 == "" {
		t.Errorf("binaries %+v, want edged and peer with their sha256", report.Provenance.Binaries)
	}
	if code := CheckOnly(context.Background(), labrun.CheckConfig{Args: []string{"val24", "--check-only", dir}, Dir: dir, Stdout: &stdout, Stderr: &stderr}); code != 0 {
		t.Errorf("--check-only exit %d:\n%s", code, stderr.String())
	}
}
