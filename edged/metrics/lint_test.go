package metrics

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"edgelab/edged/api"
)

// The exposition must pass `promtool check metrics`. promlint is the linter
// promtool runs, so this test checks the rules wherever Go runs;
// TestPromtoolCheckMetrics runs promtool itself when it is installed.
func TestExpositionPassesPromlint(t *testing.T) {
	for name, st := range map[string]api.Status{"every figure": labStatus(), "empty status": {}} {
		t.Run(name, func(t *testing.T) {
			body := exposition(t, st)
			problems, err := promlint.New(strings.NewReader(body)).Lint()
			if err != nil {
				t.Fatalf("promlint could not parse the exposition: %v\n%s", err, body)
			}
			for _, p := range problems {
				t.Errorf("promlint: %s: %s", p.Metric, p.Text)
			}
		})
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (the Debian package prometheus provides it); TestExpositionPassesPromlint checks the same rules")
	}
	body := exposition(t, labStatus())
	cmd := exec.CommandContext(context.Background(), promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out.String(), body)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool check metrics reported:\n%s", s)
	}
}

// exposition is the text a handler serving st answers a scrape with.
func exposition(t *testing.T, st api.Status) string {
	t.Helper()
	h, err := New((&fakeSource{st: st}).status, 1024)
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := scrape(t, h)
	if code != http.StatusOK {
		t.Fatalf("scrape: got %d, want 200:\n%s", code, body)
	}
	return body
}
