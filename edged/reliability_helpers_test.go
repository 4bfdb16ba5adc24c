package main_test

// Helpers of the bad-input and security tests (issue #6), on top of the lab
// of integration_test.go. Names start with rel so they cannot collide with
// that file's helpers.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/transport"
)

// relFreePort returns a loopback address nobody listens on right now.
func relFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// relSetKey replaces the value of the first `key = …` line of a TOML text.
func relSetKey(t *testing.T, toml, key, value string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s*)` + regexp.QuoteMeta(key) + ` = .*$`)
	loc := re.FindStringSubmatchIndex(toml)
	if loc == nil {
		t.Fatalf("no %q line in the config:\n%s", key, toml)
	}
	return toml[:loc[1]-len(toml[loc[0]:loc[1]])+len(toml[loc[2]:loc[3]])] + key + " = " + value + toml[loc[1]:]
}

// relListenOn makes the lab's edged listen for segments on a free port
// (newLab asks for port 0, which nothing reports back) and returns it.
func relListenOn(t *testing.T, l *lab) string {
	t.Helper()
	addr := relFreePort(t)
	data, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.config, []byte(relSetKey(t, string(data), "listen", `"`+addr+`"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	return addr
}

// relResult is one run of the edged binary.
type relResult struct {
	code           int
	stdout, stderr string
}

func relRun(t *testing.T, args ...string) relResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, edgedBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := relResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("edged %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// relState is what bad input must leave unchanged: every ledger row and
// the audit log.
type relState struct {
	Ledger api.Ledger
	Audit  string
}

func relSnapshot(t *testing.T, l *lab) relState {
	t.Helper()
	led, err := l.client.Ledger(context.Background())
	if err != nil {
		t.Fatalf("ledger: %v\nedged log:\n%s", err, l.stderr)
	}
	audit, err := os.ReadFile(filepath.Join(l.dir, "audit.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return relState{Ledger: led, Audit: string(audit)}
}

// relCheckIntact fails unless the daemon still answers status and its
// ledger and audit log are as before.
func relCheckIntact(t *testing.T, l *lab, before relState) {
	t.Helper()
	l.status()
	if diff := cmp.Diff(before, relSnapshot(t, l)); diff != "" {
		t.Errorf("stored data changed (-before +after):\n%s", diff)
	}
}

// relUnixHTTP is a plain HTTP client for the control socket.
func relUnixHTTP(socket string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// relSegmentClient speaks to edged's segment listener with files' client
// certificate, over HTTP/2 or HTTP/1.1.
func relSegmentClient(t *testing.T, cfg *tls.Config, h2 bool) *http.Client {
	t.Helper()
	cfg = cfg.Clone()
	cfg.ServerName = "edge-it"
	cfg.NextProtos = []string{"http/1.1"}
	if h2 {
		cfg.NextProtos = []string{"h2"}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func relClientConfig(t *testing.T, files transport.TLSFiles) *tls.Config {
	t.Helper()
	cfg, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
