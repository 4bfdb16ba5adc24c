package val25

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
		Config:    labrun.Config{Args: []string{"val25", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: labtest.FreeAddr(t), PeerAddr: busy,
	})
	if code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(report.Error, inUse) || len(report.Checks) != len(Checks) || len(Checks) != 12 {
		t.Fatalf("report: error %q and %d checks, want %q and 10", report.Error, len(report.Checks), inUse)
	}
	for _, c := range report.Checks {
		if c.Status != evidence.Error || !strings.Contains(c.Detail, inUse) {
			t.Errorf("%s: got %s %q, want ERROR naming the busy port", c.ID, c.Status, c.Detail)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, evidence.ReportText))
	if stdout.String() != string(text) || !strings.HasSuffix(string(text), "Overall: PASS=0 FAIL=0 ERROR=12\n") {
		t.Errorf("stdout and report.txt: got\n%s\nand\n%s", stdout.String(), text)
	}
}

// The whole lab on free ports: real builds and processes, about 10 s warm,
// so it runs only when asked:
//
//	EDGELAB_LAB_TESTS=1 go test -run TestMain_FullLab ./val25
func TestMain_FullLab(t *testing.T) {
	if os.Getenv("EDGELAB_LAB_TESTS") == "" {
		t.Skip("set EDGELAB_LAB_TESTS=1 to run the whole VAL25 lab on free ports")
	}
	dir := filepath.Join(t.TempDir(), "evidence")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), Config{
		Config:    labrun.Config{Args: []string{"val25", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr},
		EdgedAddr: labtest.FreeAddr(t), PeerAddr: labtest.FreeAddr(t),
	})
	if code != 0 {
		t.Fatalf("exit status %d, want 0\nreport:\n%s\nprogress:\n%s", code, stdout.String(), stderr.String())
	}
}
