package main_test

// Integration tests of edged under hostile and faulty conditions: the real
// binary, on the lab of integration_test.go.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"edgelab/setup/labsetup"
)

// A second edged on the same ledger (its own socket, port and audit log)
// refuses to start, naming the ledger and the pid of the one running it;
// setup seed still writes to the ledger, and the first one delivers.
func TestEdged_SecondDaemonOnTheLedgerRefused(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	data, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	second := string(data)
	second = relSetKey(t, second, "control_socket", `"ctl2.sock"`)
	second = relSetKey(t, second, "audit_log", `"audit2.jsonl"`)
	secondPath := filepath.Join(l.dir, "second.toml")
	if err := os.WriteFile(secondPath, []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	r := relRun(t, "run", "--config", secondPath)
	ledgerPath := filepath.Join(l.dir, "ledger.db")
	pid := strconv.Itoa(l.cmd.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, ledgerPath) || !strings.Contains(r.stderr, "pid "+pid) {
		t.Fatalf("second edged on the ledger: exit %d, stderr:\n%s\nwant a non-zero exit naming %s and pid %s", r.code, r.stderr, ledgerPath, pid)
	}
	if _, err := os.Stat(filepath.Join(l.dir, "ctl2.sock")); !os.IsNotExist(err) {
		t.Errorf("the refused edged left its control socket: %v", err)
	}
	ids := l.seed("lock", 5)
	l.waitFor("the seeded segments delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == int64(len(ids)), strings.Join(l.peer.IDs(), ",")
	})
	if err := l.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.stderr)
	}
	// Once it stopped, the ledger is free again.
	l.start()
	l.stop()
}
