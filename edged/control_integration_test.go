package main_test

// Integration tests of the control API and the audit log under hostile and
// faulty conditions, on the real edged binary: an audit log that cannot be
// written, callers that hang up mid-change, a successor's socket at the
// daemon's path. Built on the lab of integration_test.go and the rel*
// helpers of reliability_helpers_test.go.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/setup/labsetup"
)

// ctlSetAuditLog points the lab's edge.toml at another audit file.
func ctlSetAuditLog(t *testing.T, l *lab, path string) {
	t.Helper()
	data, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.config, []byte(relSetKey(t, string(data), "audit_log", fmt.Sprintf("%q", path))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// On a full disk (the audit log is /dev/full) set-bandwidth is refused with
// an error naming the audit file and the cause; status, and after a restart
// the persisted setting, are the old ones.
func TestControl_UnwritableAuditLogRefusesSetBandwidth(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	opts := labsetup.DefaultConfigOptions()
	opts.BytesPerSecond = 1000
	l := newLab(t, opts)
	l.start()
	l.setBandwidth("--bytes-per-second", "500")
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	want := api.Bandwidth{BytesPerSecond: 500, Source: api.SourceRuntime}

	ctlSetAuditLog(t, l, "/dev/full")
	l.start()
	if diff := cmp.Diff(want, l.status().Bandwidth); diff != "" {
		t.Fatalf("before the refused change (-want +got):\n%s", diff)
	}
	for _, flags := range [][]string{
		{"--bytes-per-second", "250"},
		{"--reset"},
		{"--peer", "peer-it", "--daily-quota-bytes", "64"},
	} {
		code, out := l.cliFails(append([]string{"relay", "config", "set-bandwidth", "--socket", l.client.Socket}, flags...)...)
		for _, s := range []string{"refused", "nothing changed", "/dev/full", "no space left on device", "HTTP 500"} {
			if !strings.Contains(out, s) {
				t.Errorf("set-bandwidth %v: exit %d, output %q does not say %q", flags, code, out, s)
			}
		}
		st := l.status()
		if diff := cmp.Diff(want, st.Bandwidth); diff != "" {
			t.Errorf("status after the refused %v (-want +got):\n%s", flags, diff)
		}
		if p := st.Peers["peer-it"].Bandwidth; p == nil || p.DailyQuotaBytes != 0 || p.Source != api.SourceDefault {
			t.Errorf("peer-it's limit after the refused %v: %+v, want unlimited (default)", flags, p)
		}
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}

	ctlSetAuditLog(t, l, filepath.Join(l.dir, "audit.jsonl"))
	l.start()
	if diff := cmp.Diff(want, l.status().Bandwidth); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
	events, err := audit.Read(filepath.Join(l.dir, "audit.jsonl"))
	if err != nil || len(events) != 1 || events[0].Bandwidth != want {
		t.Errorf("audit log: %+v, %v; want the one applied change", events, err)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
}

// Callers that send a set-bandwidth request and hang up at once leave every
// change either made with its audit event or not made: the audit log's
// "previous" chain is unbroken and ends at the status, and no hang-up is
// logged as a server error.
func TestControl_CallerHangsUpDuringSetBandwidth(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	for i := range 20 {
		conn, err := net.Dial("unix", l.client.Socket)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"bytes_per_second":%d}`, 100+i)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: edged\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", api.PathBandwidth, len(body), body)
		conn.Close()
	}
	l.setBandwidth("--bytes-per-second", "64")
	// Abandoned requests may still be under way: poll until the log and
	// the status agree. Each change's event is written before it is
	// applied, so between the two they briefly differ.
	var events []audit.Event
	l.waitFor("the audit log's previous chain to be whole and end at the status", func() (bool, string) {
		var err error
		if events, err = audit.Read(filepath.Join(l.dir, "audit.jsonl")); err != nil {
			return false, err.Error()
		}
		prev := api.Bandwidth{Source: api.SourceDefault}
		for i, ev := range events {
			if ev.Previous != prev {
				return false, fmt.Sprintf("audit event %d: previous %+v, want %+v (the bandwidth of the event before)", i+1, ev.Previous, prev)
			}
			prev = ev.Bandwidth
		}
		if st := l.status().Bandwidth; st != prev {
			return false, fmt.Sprintf("status %+v, last audit event %+v", st, prev)
		}
		return true, ""
	})
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.stderr.String(), "level=ERROR") {
		t.Errorf("callers that hung up were logged as server errors:\n%s", l.stderr)
	}
	t.Logf("%d of 21 changes were made (the others' callers hung up before the request was read)", len(events))
}

// A stopping edged removes its own control socket, never one a successor
// made at the same path after edged's was removed.
func TestControl_StopLeavesASuccessorsSocket(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	if err := os.Remove(l.client.Socket); err != nil {
		t.Fatal(err)
	}
	successor, err := net.Listen("unix", l.client.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer successor.Close()
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", l.client.Socket)
	if err != nil {
		t.Fatalf("the successor's socket after edged stopped: %v\nedged log:\n%s", err, l.stderr)
	}
	conn.Close()

	// Its own socket, edged removes.
	successor.Close() // unlinks the successor's file
	l.start()
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(l.client.Socket); !os.IsNotExist(err) {
		t.Errorf("edged's own socket after it stopped: Lstat = %v, want not exist", err)
	}
}

// An audit log whose last line a crash tore is repaired when edged starts:
// the torn bytes go to audit.jsonl.torn, and the next event starts a line of
// its own, so the whole log reads back.
func TestControl_TornAuditTailIsRepairedOnStart(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	l.setBandwidth("--bytes-per-second", "500")
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(l.dir, "audit.jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	const torn = `{"time":"2026-01-01T00:00:00Z","event":"relay.band`
	if _, err := f.WriteString(torn); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l.start()
	l.setBandwidth("--bytes-per-second", "64")
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	events, err := audit.Read(path)
	if err != nil || len(events) != 2 {
		t.Fatalf("audit log after the repair: %d events, %v; want 2, no error\nedged log:\n%s", len(events), err, l.stderr)
	}
	if events[1].Previous != events[0].Bandwidth {
		t.Errorf("second event's previous %+v, want the first's bandwidth %+v", events[1].Previous, events[0].Bandwidth)
	}
	if side, err := os.ReadFile(path + audit.TornSuffix); err != nil || !strings.Contains(string(side), "relay.band") {
		t.Errorf("side file: %q, %v; want the torn bytes kept", side, err)
	}
	if !strings.Contains(l.stderr.String(), "audit log ended in a torn line") {
		t.Errorf("the repair was not logged:\n%s", l.stderr)
	}
}

// An audit log replaced by a directory while edged runs refuses
// set-bandwidth naming it; status keeps the old setting, edged refuses to
// start on such a path, and once it is a file again the old setting is the
// one in force.
func TestControl_AuditLogReplacedByADirectory(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.BytesPerSecond = 1000
	l := newLab(t, opts)
	l.start()
	l.setBandwidth("--bytes-per-second", "500")
	want := api.Bandwidth{BytesPerSecond: 500, Source: api.SourceRuntime}
	path := filepath.Join(l.dir, "audit.jsonl")
	kept, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	code, out := l.cliFails("relay", "config", "set-bandwidth", "--socket", l.client.Socket, "--bytes-per-second", "250")
	for _, s := range []string{"refused", "nothing changed", path, "is a directory", "HTTP 500"} {
		if !strings.Contains(out, s) {
			t.Errorf("set-bandwidth: exit %d, output %q does not say %q", code, out, s)
		}
	}
	if diff := cmp.Diff(want, l.status().Bandwidth); diff != "" {
		t.Errorf("status after the refusal (-want +got):\n%s", diff)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	if r := relRun(t, "run", "--config", l.config); r.code == 0 || !strings.Contains(r.stderr, "audit") {
		t.Errorf("edged run with a directory as audit log: exit %d, stderr %q; want a refusal naming the audit log", r.code, r.stderr)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, kept, 0o600); err != nil {
		t.Fatal(err)
	}
	l.start()
	if diff := cmp.Diff(want, l.status().Bandwidth); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
}
