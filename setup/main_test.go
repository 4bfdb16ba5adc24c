package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/config"
	"edgelab/edged/ledger"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd(&out)
	cmd.SetArgs(args)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// The three subcommands in the order a scenario uses them, with the flags
// the lab passes.
func TestCLI_TLSConfigSeed(t *testing.T) {
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if out, err := run(t, "tls", "--dir", tlsDir, "--node-id", "edge-q", "--peer-id", "peer-q", "--validity", "2h"); err != nil {
		t.Fatalf("setup tls: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"edged.pem": "edge-q", "peer.pem": "peer-q"} {
		cert, err := labsetup.ReadCertificate(filepath.Join(tlsDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if got := transport.Identity(cert); got != want {
			t.Errorf("%s identity = %q, want %q", file, got, want)
		}
	}

	toml := filepath.Join(dir, "edge.toml")
	out, err := run(t, "config", "--out", toml, "--node-id", "edge-q", "--peer-id", "peer-q",
		"--listen", "127.0.0.1:40101", "--peer-addr", "127.0.0.1:40102",
		"--tick-interval", "500ms", "--max-retry-count", "5", "--backoff-base-seconds", "2",
		"--bytes-per-second", "64", "--burst-bytes", "128", "--daily-quota-bytes", "256")
	if err != nil {
		t.Fatalf("setup config: %v\n%s", err, out)
	}
	cfg, err := config.Load(toml)
	if err != nil {
		t.Fatalf("load the written config: %v", err)
	}
	got := []any{cfg.NodeID, cfg.Listen, cfg.Peers, cfg.Relay.TickInterval.String(), cfg.Relay.MaxRetryCount,
		cfg.Relay.BackoffBaseSeconds, cfg.Relay.Bandwidth, cfg.TLS.Cert}
	want := []any{"edge-q", "127.0.0.1:40101", []config.Peer{{ID: "peer-q", Addr: "127.0.0.1:40102", ServerName: "peer-q"}},
		"500ms", 5, int64(2), config.Bandwidth{BytesPerSecond: 64, BurstBytes: 128, DailyQuotaBytes: 256}, filepath.Join(tlsDir, "edged.pem")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded config (-want +got):\n%s", diff)
	}

	db := filepath.Join(dir, "ledger.db")
	out, err = run(t, "seed", "--ledger", db, "--prefix", "val23-sd", "--count", "3", "--size", "64", "--target", "peer-q")
	if err != nil {
		t.Fatalf("setup seed: %v\n%s", err, out)
	}
	for _, id := range []string{"val23-sd-001", "val23-sd-002", "val23-sd-003"} {
		if line := id + " 64 sha256=" + labsetup.PayloadSHA256(id, 64); !strings.Contains(out, line) {
			t.Errorf("seed output lacks %q:\n%s", line, out)
		}
	}
	if !strings.Contains(out, "inserted 3 PENDING segments") {
		t.Errorf("seed output lacks the summary:\n%s", out)
	}

	_, err = run(t, "seed", "--ledger", db, "--prefix", "val23-sd", "--count", "1", "--start", "3", "--target", "peer-q")
	if err == nil || !strings.Contains(err.Error(), `"val23-sd-003" is already in the ledger`) {
		t.Errorf("duplicate seed error = %v, want one naming val23-sd-003", err)
	}
	l, err := ledger.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	segs, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 {
		t.Errorf("ledger holds %d segments after the refused seed, want 3", len(segs))
	}

	out, err = run(t, "seed", "--ledger", db, "--batch", "x-a:2:8:peer-a", "--batch", "x-b:1:4:peer-b:1")
	if err != nil {
		t.Fatalf("setup seed --batch: %v\n%s", err, out)
	}
	out2, err := run(t, "seed", "--ledger", db, "--batch", "x-b:2:4:peer-b:5")
	if err != nil || !strings.Contains(out2, "x-b-005 4 sha256=") || !strings.Contains(out2, "x-b-006 4 sha256=") {
		t.Errorf("seed --batch with a start: %v, output:\n%s", err, out2)
	}
	for _, line := range []string{"x-a-001 8 sha256=", "x-a-002 8 sha256=", "x-b-001 4 sha256=", "inserted 3 PENDING segments (2 batches)"} {
		if !strings.Contains(out, line) {
			t.Errorf("seed --batch output lacks %q:\n%s", line, out)
		}
	}
	out, err = run(t, "seed", "--ledger", db, "--prefix", "one", "--target", "peer-q")
	if err != nil || !strings.Contains(out, "inserted 1 PENDING segment of 64 bytes for peer-q") {
		t.Errorf("seed of one segment: %v, output:\n%s\nwant the singular", err, out)
	}
}

func TestCLI_BadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tls"}, `required flag(s) "dir" not set`},
		{[]string{"tls", "--dir", dir, "--validity", "0s"}, "--validity must be positive"},
		{[]string{"config"}, `required flag(s) "out" not set`},
		{[]string{"config", "--out", filepath.Join(dir, "e.toml"), "--bytes-per-second", "-1"}, "bytes per second must not be negative"},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db")}, "missing --prefix (or --batch)"},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db"), "--batch", "p:x:64:peer-a"}, `--batch "p:x:64:peer-a": count "x" is not a number`},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db"), "--batch", "p:1:64"}, "want PREFIX:COUNT:SIZE:TARGET[:START]"},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db"), "--batch", "p:1:64:peer-a", "--prefix", "q"}, "not both"},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db"), "--prefix", "p", "--start", "0"}, "--start must be at least 1"},
		{[]string{"seed", "--ledger", filepath.Join(dir, "l.db"), "--prefix", "p", "--count", "0"}, "count must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := run(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{})
	paths := [][]string{nil}
	for _, c := range root.Commands() {
		paths = append(paths, []string{c.Name()})
	}
	for _, p := range paths {
		out, err := run(t, append(p, "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("setup %s --help: %v, output %q; want a usage", strings.Join(p, " "), err, out)
		}
	}
	if out, err := run(t, "--version"); err != nil || !strings.HasPrefix(out, "setup ") {
		t.Errorf("setup --version: %v, %q", err, out)
	}
}
