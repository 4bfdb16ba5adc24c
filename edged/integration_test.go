package main_test

// Integration tests: the real edged binary, built by the test, with real
// certificates, a real mTLS HTTP/2 receiver on a free port, the CLI over the
// unix socket, and segments seeded by another process's code path (setup).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/control"
	"edgelab/internal/syncbuf"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
	"edgelab/transport"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// edgedBinary builds edged once for the whole test binary.
func edgedBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edged-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "edged")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// receiver is a minimal mTLS HTTP/2 segment receiver: the test's stand-in
// for a peer, keeping ids in arrival order.
type receiver struct {
	mu   sync.Mutex
	ids  []string
	held map[string]bool
	addr string
}

func (r *receiver) Put(_ context.Context, in transport.Incoming) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[in.ID] {
		return false, nil
	}
	r.held[in.ID] = true
	r.ids = append(r.ids, in.ID)
	return true, nil
}

func (r *receiver) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func startReceiver(t *testing.T, files transport.TLSFiles) *receiver {
	t.Helper()
	cfg, err := files.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{held: map[string]bool{}, addr: l.Addr().String()}
	srv := &http.Server{Handler: &transport.SegmentHandler{Store: r, MaxBytes: 1 << 20}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tls.NewListener(l, cfg))
	t.Cleanup(func() { srv.Close() })
	return r
}

// lab is one edged under test with its files.
type lab struct {
	t      *testing.T
	dir    string
	config string
	tls    labsetup.TLSPaths
	peer   *receiver
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer // written by the edged process while tests read it
	done   chan error
	client *control.Client
}

func newLab(t *testing.T, opts labsetup.ConfigOptions) *lab {
	t.Helper()
	// Unix socket paths are short; t.TempDir can be too long for them.
	dir, err := os.MkdirTemp("", "edg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	paths, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{NodeID: "edge-it", PeerID: "peer-it"})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, dir: dir, config: filepath.Join(dir, "edge.toml"), tls: paths}
	l.peer = startReceiver(t, paths.PeerFiles())
	// A free port: 19054/19055 belong to the VAL23 lab.
	opts.NodeID, opts.PeerID, opts.PeerAddr, opts.Listen = "edge-it", "peer-it", l.peer.addr, "127.0.0.1:0"
	if _, err := labsetup.WriteConfig(l.config, opts); err != nil {
		t.Fatal(err)
	}
	l.client = &control.Client{Socket: filepath.Join(dir, "ctl.sock")}
	return l
}

func (l *lab) start() {
	l.t.Helper()
	l.stderr = &syncbuf.Buffer{}
	l.cmd = exec.Command(edgedBinary(l.t), "run", "--config", l.config)
	l.cmd.Stderr = l.stderr
	if err := l.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.done = make(chan error, 1)
	go func() { l.done <- l.cmd.Wait() }()
	l.t.Cleanup(func() {
		if l.cmd.ProcessState == nil {
			l.cmd.Process.Kill()
			<-l.done
		}
	})
	l.waitFor("control socket answers", func() (bool, string) {
		st, err := l.client.Status(context.Background())
		return err == nil, fmt.Sprintf("status=%+v err=%v", st, err)
	})
}

// stop sends SIGTERM and returns the exit error.
func (l *lab) stop() error {
	l.t.Helper()
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		l.t.Fatal(err)
	}
	select {
	case err := <-l.done:
		return err
	case <-time.After(15 * time.Second):
		l.cmd.Process.Kill()
		l.t.Fatalf("edged did not stop on SIGTERM; log:\n%s", l.stderr)
		return nil
	}
}

// waitFor polls cond until it holds, failing with the last observed state.
func (l *lab) waitFor(what string, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	l.t.Fatalf("timed out waiting for %s; last observed: %s\nedged log:\n%s", what, last, l.stderr)
}

func (l *lab) status() api.Status {
	l.t.Helper()
	st, err := l.client.Status(context.Background())
	if err != nil {
		l.t.Fatalf("status: %v\nedged log:\n%s", err, l.stderr)
	}
	return st
}

func (l *lab) seed(prefix string, n int) []string {
	l.t.Helper()
	ids, err := seed.Seed(context.Background(), filepath.Join(l.dir, "ledger.db"),
		labsetup.SeedOptions{Prefix: prefix, Count: n, Size: 64, TargetPeer: "peer-it"})
	if err != nil {
		l.t.Fatal(err)
	}
	return ids
}

// cli runs an edged client command and returns stdout, failing on a
// non-zero exit.
func (l *lab) cli(args ...string) []byte {
	l.t.Helper()
	cmd := exec.Command(edgedBinary(l.t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		l.t.Fatalf("edged %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func (l *lab) setBandwidth(flags ...string) api.SetBandwidthResponse {
	l.t.Helper()
	args := append([]string{"relay", "config", "set-bandwidth", "--socket", l.client.Socket, "--json"}, flags...)
	var resp api.SetBandwidthResponse
	if err := json.Unmarshal(l.cli(args...), &resp); err != nil {
		l.t.Fatalf("set-bandwidth answer: %v", err)
	}
	return resp
}

func sorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func TestEdged_DeliversThenHotReloads(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	l := newLab(t, opts)
	l.start()

	// Unlimited: everything seeded arrives, exactly once.
	first := l.seed("it-a", 4)
	l.waitFor("4 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 4, fmt.Sprintf("segments=%+v peer=%v", st.Segments, l.peer.IDs())
	})
	if diff := cmp.Diff(first, l.peer.IDs()); diff != "" {
		t.Fatalf("peer ids (-want +got):\n%s", diff)
	}
	st := l.status()
	if !st.Unlimited || st.Bandwidth.Source != api.SourceDefault || st.Peers["peer-it"].DeliveredBytes != 256 {
		t.Fatalf("status after unlimited delivery: got %+v", st)
	}

	// 8 B/s blocks 64 B segments for whole cycles; the answer warns.
	resp := l.setBandwidth("--bytes-per-second", "8")
	if !resp.Applied || resp.Bandwidth.BytesPerSecond != 8 || resp.Bandwidth.Source != api.SourceRuntime {
		t.Fatalf("set 8 B/s: got %+v", resp)
	}
	blocked := l.seed("it-b", 2)
	l.waitFor("two cycles throttling both", func() (bool, string) {
		st := l.status()
		return st.ThrottleCount >= 4 && st.LastCycleThrottled == 2,
			fmt.Sprintf("throttle=%d last_cycle=%d segments=%+v", st.ThrottleCount, st.LastCycleThrottled, st.Segments)
	})
	st = l.status()
	if st.Segments.Delivered != 4 || st.Segments.BlockedOversize != 2 || len(l.peer.IDs()) != 4 {
		t.Fatalf("while blocked: got segments=%+v peer=%v, want 4 delivered and 2 blocked", st.Segments, l.peer.IDs())
	}

	// Unlimited again, live: the blocked two arrive without a restart.
	resp = l.setBandwidth("--bytes-per-second", "0")
	if !resp.Applied || resp.Previous.BytesPerSecond != 8 || resp.Bandwidth.BytesPerSecond != 0 {
		t.Fatalf("set unlimited: got %+v", resp)
	}
	l.waitFor("6 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 6, fmt.Sprintf("segments=%+v", st.Segments)
	})
	if diff := cmp.Diff(append(first, blocked...), l.peer.IDs()); diff != "" {
		t.Fatalf("peer ids (-want +got):\n%s", diff)
	}
	for _, s := range mustLedger(t, l).Segments {
		if s.State != "DELIVERED" || s.Attempts != 1 {
			t.Fatalf("segment %s: got state=%s attempts=%d, want DELIVERED after 1 attempt", s.ID, s.State, s.Attempts)
		}
	}

	// Both changes are in the audit log, with the caller's uid.
	events, err := audit.Read(filepath.Join(l.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var rates []int64
	for _, e := range events {
		if e.Event != audit.EventBandwidthConfigured || !strings.Contains(e.Actor, "uid=") {
			t.Fatalf("audit event: got %+v", e)
		}
		rates = append(rates, e.Bandwidth.BytesPerSecond)
	}
	if diff := cmp.Diff([]int64{8, 0}, rates); diff != "" {
		t.Fatalf("audited rates (-want +got):\n%s", diff)
	}

	// SIGTERM: clean exit, socket removed.
	if err := l.stop(); err != nil {
		t.Fatalf("edged exit: %v\nlog:\n%s", err, l.stderr)
	}
	if _, err := os.Stat(l.client.Socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("control socket after stop: got %v, want it removed", err)
	}
}

func mustLedger(t *testing.T, l *lab) api.Ledger {
	t.Helper()
	var led api.Ledger
	if err := json.Unmarshal(l.cli("ledger", "dump", "--socket", l.client.Socket), &led); err != nil {
		t.Fatal(err)
	}
	return led
}

func TestEdged_RuntimeSettingSurvivesRestart(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.BytesPerSecond = 1000
	l := newLab(t, opts)
	l.start()
	if got := l.status().Bandwidth; got.Source != api.SourceConfig || got.BytesPerSecond != 1000 {
		t.Fatalf("boot bandwidth: got %+v, want 1000 from config", got)
	}
	l.setBandwidth("--bytes-per-second", "500", "--daily-quota-bytes", "4096")
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}

	l.start()
	want := api.Bandwidth{BytesPerSecond: 500, DailyQuotaBytes: 4096, Source: api.SourceRuntime}
	if diff := cmp.Diff(want, l.status().Bandwidth); diff != "" {
		t.Fatalf("after restart (-want +got):\n%s", diff)
	}
	resp := l.setBandwidth("--reset")
	want = api.Bandwidth{BytesPerSecond: 1000, Source: api.SourceConfig}
	if diff := cmp.Diff(want, resp.Bandwidth); diff != "" {
		t.Fatalf("after --reset (-want +got):\n%s", diff)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestEdged_QuotaDeadletters(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.DailyQuotaBytes = 128
	opts.MaxRetryCount = 2
	l := newLab(t, opts)
	l.start()
	ids := l.seed("it-q", 4)
	l.waitFor("2 delivered, 2 deadletter", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 2 && st.Segments.Deadletter == 2, fmt.Sprintf("segments=%+v", st.Segments)
	})
	st := l.status()
	if st.QuotaDropCount != 4 || st.DailyUsedBytes != 128 || st.DailyRemainingBytes == nil || *st.DailyRemainingBytes != 0 {
		t.Fatalf("status: got quota_drops=%d used=%d remaining=%v, want 4, 128, 0", st.QuotaDropCount, st.DailyUsedBytes, st.DailyRemainingBytes)
	}
	if diff := cmp.Diff(ids[:2], l.peer.IDs()); diff != "" {
		t.Fatalf("peer ids (-want +got):\n%s", diff)
	}
	// Each drop is an attempt that failed at its admission.
	for _, s := range mustLedger(t, l).Segments[2:] {
		if len(s.History) != 2 {
			t.Fatalf("%s: got history %+v, want its 2 attempts", s.ID, s.History)
		}
		for i, a := range s.History {
			if a.Attempt != i+1 || a.Outcome != api.AttemptFailed || a.Error != "quota exceeded" || !a.StartedAt.Equal(a.EndedAt) {
				t.Errorf("%s attempt %d: got %+v, want a quota drop starting and ending at once", s.ID, i+1, a)
			}
		}
	}
	l.stop()
}

// The dump holds each segment's attempts, and the limiter's journal the
// decisions behind them, from the settings at boot on; the throttle
// counter is the journal's throttled entries.
func TestEdged_RecordsHistoryAndDecisions(t *testing.T) {
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	l := newLab(t, opts)
	l.start()
	ids := l.seed("it-h", 4)
	l.waitFor("4 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 4, fmt.Sprintf("segments=%+v", st.Segments)
	})

	started := map[string]time.Time{}
	for _, s := range mustLedger(t, l).Segments {
		if len(s.History) != 1 {
			t.Fatalf("%s: got history %+v, want one attempt", s.ID, s.History)
		}
		a := s.History[0]
		if a.Attempt != 1 || a.Outcome != api.AttemptDelivered || a.Error != "" ||
			a.StartedAt.Before(s.CreatedAt) || a.EndedAt.Before(a.StartedAt) || s.DeliveredAt == nil || s.DeliveredAt.Before(a.EndedAt) {
			t.Errorf("%s (created %v, delivered %v): got attempt %+v, want attempt 1 delivered between them", s.ID, s.CreatedAt, s.DeliveredAt, a)
		}
		started[s.ID] = a.StartedAt
	}
	var one api.Segment
	if err := json.Unmarshal(l.cli("ledger", "history", ids[0], "--json", "--socket", l.client.Socket), &one); err != nil {
		t.Fatal(err)
	}
	if one.ID != ids[0] || len(one.History) != 1 || !one.History[0].StartedAt.Equal(started[ids[0]]) {
		t.Errorf("ledger history %s: got %+v, want the dump's attempt", ids[0], one)
	}
	if table := string(l.cli("ledger", "history", ids[0], "--socket", l.client.Socket)); !strings.Contains(table, "\n1        ") || !strings.Contains(table, "delivered") {
		t.Errorf("ledger history table:\n%s", table)
	}

	decisions := func() api.Decisions {
		var d api.Decisions
		if err := json.Unmarshal(l.cli("relay", "decisions", "--json", "--socket", l.client.Socket), &d); err != nil {
			t.Fatal(err)
		}
		if d.Dropped != 0 || d.Total != int64(len(d.Decisions)) || d.Capacity != 1<<16 {
			t.Fatalf("decisions: capacity %d, total %d, dropped %d for %d entries", d.Capacity, d.Total, d.Dropped, len(d.Decisions))
		}
		return d
	}
	d := decisions()
	var allowed []string
	for i, e := range d.Decisions {
		if e.Seq != int64(i+1) {
			t.Fatalf("decision %d: seq %d", i, e.Seq)
		}
		switch {
		case i == 0:
			if e.Kind != api.DecisionSettings || e.Scope != "" || e.Settings == nil || e.Tokens != nil {
				t.Errorf("first decision: got %+v, want the boot's unlimited global settings", e)
			}
		case i == 1:
			if e.Kind != api.DecisionSettings || e.Scope != "peer-it" {
				t.Errorf("second decision: got %+v, want the settings of peer-it", e)
			}
		case e.Kind == api.DecisionAllowed:
			allowed = append(allowed, e.Segment)
			if e.TargetPeer != "peer-it" || e.Size != 64 || e.Tokens != nil || started[e.Segment].Before(e.At) {
				t.Errorf("allowed %s: got %+v, want 64 B for peer-it, no tokens, at or before its attempt's start %v", e.Segment, e, started[e.Segment])
			}
		default:
			t.Errorf("decision %d: got %+v, want allowed", i, e)
		}
	}
	if diff := cmp.Diff(ids, allowed); diff != "" {
		t.Errorf("allowed segments (-want +got):\n%s", diff)
	}

	// 8 B/s: a 64 B segment is larger than the burst and never passes.
	l.setBandwidth("--bytes-per-second", "8")
	blocked := l.seed("it-hb", 1)[0]
	l.waitFor("two throttles", func() (bool, string) {
		st := l.status()
		return st.ThrottleCount >= 2, fmt.Sprintf("throttle=%d", st.ThrottleCount)
	})
	// A restart starts a new journal, with the settings in force.
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	l.start()
	d = decisions()
	if len(d.Decisions) < 2 || d.Decisions[0].Settings == nil || d.Decisions[0].Settings.BytesPerSecond != 8 {
		t.Fatalf("journal after a restart: got %+v, want it to start with the runtime 8 B/s", d.Decisions)
	}
	l.waitFor("two throttles after the restart", func() (bool, string) {
		st := l.status()
		return st.ThrottleCount >= 2, fmt.Sprintf("throttle=%d", st.ThrottleCount)
	})
	// The executor goes on throttling: the journal, read after the
	// status, holds at least the throttles the status counted.
	st := l.status()
	d = decisions()
	var throttled int64
	for _, e := range d.Decisions {
		if e.Kind != api.DecisionThrottled {
			continue
		}
		throttled++
		if e.Segment != blocked || e.Scope != "" || e.Tokens == nil || *e.Tokens > 8 || e.RetryAt != nil {
			t.Errorf("throttled: got %+v, want %s refused by the global burst, never to pass", e, blocked)
		}
	}
	if throttled < st.ThrottleCount {
		t.Errorf("journal holds %d throttled decisions, status counted %d before it was read", throttled, st.ThrottleCount)
	}
	if h := mustLedger(t, l).Segments; len(h) != 5 || h[4].ID != blocked || len(h[4].History) != 0 {
		t.Errorf("the throttled segment: got %+v, want no attempt in its history", h[len(h)-1])
	}
	l.stop()
}

func TestEdged_RefusesALiveSocket(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	out, err := exec.Command(edgedBinary(t), "run", "--config", l.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use") {
		t.Fatalf("second edged on the same socket: got err=%v output:\n%s\nwant a non-zero exit saying the socket is in use", err, out)
	}
	l.status() // the first one still answers
	l.stop()
}

func TestEdged_BadConfigNamesTheKey(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown key", func(s string) string { return strings.Replace(s, "[relay]\n", "[relay]\nbogus = 1\n", 1) }, []string{"relay.bogus", "unknown key"}},
		{"bad duration", func(s string) string {
			return strings.Replace(s, `tick_interval = "1s"`, `tick_interval = "soon"`, 1)
		}, []string{"tick_interval", "soon"}},
		{"negative retry count", func(s string) string {
			return strings.Replace(s, "max_retry_count = 3", "max_retry_count = -1", 1)
		}, []string{"relay.max_retry_count", "-1"}},
	}
	orig, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := tt.edit(string(orig))
			if edited == string(orig) {
				t.Fatalf("the edit changed nothing; config is:\n%s", orig)
			}
			path := filepath.Join(l.dir, "bad.toml")
			if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(edgedBinary(t), "run", "--config", path).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("got err=%v, want a non-zero exit; output:\n%s", err, out)
			}
			for _, w := range append(tt.want, "bad.toml:") {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
		})
	}
}
