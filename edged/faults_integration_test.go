package main_test

// Integration tests of edged under hostile and faulty conditions: the real
// binary, on the lab of integration_test.go.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"edgelab/edged/api"
	"edgelab/setup/labsetup"
)

// faultsPoll polls cond until it holds or the deadline passes (longer than
// lab.waitFor's: a held SQLite lock fails a write only after edged's 10 s
// busy timeout).
func faultsPoll(l *lab, what string, within time.Duration, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("timed out waiting for %s; last observed: %s\nedged log:\n%s", what, last, l.stderr)
}

// faultsMetric returns the sample line of name on the control socket's
// /metrics.
func faultsMetric(t *testing.T, l *lab, name string) string {
	t.Helper()
	resp, err := relUnixHTTP(l.client.Socket).Get("http://edged" + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

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

// A ledger that cannot take writes (here another process holds SQLite's
// write lock past edged's busy timeout; a full disk needs root to stage)
// shows in status as ledger_error and in /metrics as edged_ledger_error 1, and
// clears once the ledger takes writes again, every segment delivered.
func TestEdged_LedgerErrorInStatus(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	opts.BytesPerSecond = 64 // one 64 B segment a second: deliveries go on while the ledger is locked
	l := newLab(t, opts)
	l.start()
	ids := l.seed("full", 6)
	l.waitFor("a first segment delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered >= 1, fmt.Sprintf("%+v", st.Segments)
	})
	if st := l.status(); st.LedgerError != nil {
		t.Fatalf("ledger_error on a healthy ledger: %+v", st.LedgerError)
	}
	if got := faultsMetric(t, l, "edged_ledger_error"); got != "edged_ledger_error 0" {
		t.Errorf("metrics on a healthy ledger: %q, want ledger_error 0", got)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(l.dir, "ledger.db")+"?_txlock=immediate&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE settings SET value = value`); err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	var fault *api.LedgerError
	faultsPoll(l, "status ledger_error", 40*time.Second, func() (bool, string) {
		st := l.status()
		fault = st.LedgerError
		return fault != nil, fmt.Sprintf("ledger_error=%v segments=%+v", fault, st.Segments)
	})
	if fault.Message == "" || fault.Since.Before(locked.Add(-time.Second)) || fault.Since.After(time.Now()) {
		t.Errorf("ledger_error %+v: want a message and a since after the lock (%v)", fault, locked)
	}
	if got := faultsMetric(t, l, "edged_ledger_error"); got != "edged_ledger_error 1" {
		t.Errorf("metrics while the ledger fails: %q, want ledger_error 1", got)
	}
	t.Logf("ledger_error after %v: %+v", time.Since(locked).Round(time.Millisecond), fault)

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	faultsPoll(l, "recovery: ledger_error null and every segment delivered", 60*time.Second, func() (bool, string) {
		st := l.status()
		return st.LedgerError == nil && st.Segments.Delivered == int64(len(ids)),
			fmt.Sprintf("ledger_error=%v segments=%+v", st.LedgerError, st.Segments)
	})
	if got := faultsMetric(t, l, "edged_ledger_error"); got != "edged_ledger_error 0" {
		t.Errorf("metrics after recovery: %q, want ledger_error 0", got)
	}
	if got := sorted(l.peer.IDs()); !slices.Equal(got, sorted(ids)) {
		t.Errorf("peer holds %v, want %v", got, ids)
	}
	if err := l.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.stderr)
	}
}

// 2,000 segments for peer-a that its 8 B burst can never pass, seeded
// before one for unlimited peer-b: peer-b's is delivered (they used to fill
// every batch of 1,024 and starve peer-b forever), and peer-a's stay
// PENDING, blocked and throttled each cycle.
func TestEdged_OversizeBacklogDoesNotStarveAnotherPeer(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	l := newTwoPeerLab(t, opts, nil)
	l.start()
	l.setBandwidth("--peer", "peer-a", "--bytes-per-second", "8", "--burst-bytes", "8")
	l.seedFor("peer-a", "hol-a", 2000)
	idsB := l.seedFor("peer-b", "hol-b", 1)
	seeded := l.status().ExecutorCycles
	l.waitFor("peer-b's segment delivered", func() (bool, string) {
		return slices.Equal(l.peers["peer-b"].IDs(), idsB), fmt.Sprintf("peer-b holds %v; status %+v", l.peers["peer-b"].IDs(), l.status().Segments)
	})
	st := l.status()
	t.Logf("peer-b's segment delivered %d executor cycles after seeding", st.ExecutorCycles-seeded)
	a := st.Peers["peer-a"]
	if len(l.peers["peer-a"].IDs()) != 0 || a.PendingSegments != 2000 || a.BlockedOversize != 2000 || a.ThrottleCount == 0 {
		t.Errorf("peer-a: holds %d, status %+v; want none delivered, 2000 pending and blocked, throttled", len(l.peers["peer-a"].IDs()), a)
	}
	if err := l.stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.stderr)
	}
}
