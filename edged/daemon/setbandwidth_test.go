package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/bandwidth"
	"edgelab/edged/config"
	"edgelab/setup/labsetup"
)

// startTestDaemon runs a daemon on a fresh lab directory (no segment
// listener, rate 1000 B/s from edge.toml) until the test ends.
func startTestDaemon(t testing.TB, edit ...func(*config.Config)) (*Daemon, config.Config) {
	t.Helper()
	dir, err := os.MkdirTemp("", "edd") // short: the control socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{NodeID: "edge-ut", PeerID: "peer-ut"}); err != nil {
		t.Fatal(err)
	}
	opts := labsetup.DefaultConfigOptions()
	opts.NodeID, opts.PeerID, opts.PeerAddr, opts.Listen = "edge-ut", "peer-ut", "127.0.0.1:1", "127.0.0.1:0"
	opts.BytesPerSecond = 1000
	if _, err := labsetup.WriteConfig(filepath.Join(dir, "edge.toml"), opts); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "edge.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		d.Wait()
	})
	return d, cfg
}

// bandwidthState is everything a bandwidth change touches.
type bandwidthState struct {
	Live      bandwidth.Settings
	Source    string
	Persisted *bandwidth.Settings // nil: no runtime setting
	Audit     string
}

func stateOf(t *testing.T, d *Daemon, cfg config.Config) bandwidthState {
	t.Helper()
	d.mu.Lock()
	st := bandwidthState{Live: d.limits.GlobalSettings(), Source: d.source}
	d.mu.Unlock()
	var s bandwidth.Settings
	ok, err := d.ledger.Setting(context.Background(), settingBandwidth, &s)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		st.Persisted = &s
	}
	data, err := os.ReadFile(cfg.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	st.Audit = string(data)
	return st
}

func sameState(t *testing.T, what string, want, got bandwidthState) {
	t.Helper()
	if want.Live != got.Live || want.Source != got.Source || (want.Persisted == nil) != (got.Persisted == nil) ||
		(want.Persisted != nil && *want.Persisted != *got.Persisted) || want.Audit != got.Audit {
		t.Errorf("%s: state changed:\nbefore %+v (persisted %v)\nafter  %+v (persisted %v)", what, want, want.Persisted, got, got.Persisted)
	}
}

// An audit event that cannot be written refuses the change: a 5xx naming
// the audit file and the cause, and neither the live limit nor the
// persisted setting changes.
func TestSetBandwidth_UnwritableAuditRefusesTheChange(t *testing.T) {
	d, cfg := startTestDaemon(t)
	full, err := audit.Open("/dev/full") // every write fails with ENOSPC
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	real := d.audit
	d.audit = full
	t.Cleanup(func() { full.Close(); d.audit = real })

	for _, req := range []api.SetBandwidthRequest{
		{BytesPerSecond: api.Value(500)},
		{DailyQuotaBytes: api.Value(4096)},
		{Reset: true},
		{Peer: "peer-ut", BytesPerSecond: api.Value(64)},
	} {
		before := stateOf(t, d, cfg)
		peerBefore, _ := d.limits.PeerSettings("peer-ut")
		resp, err := d.SetBandwidth(context.Background(), req, "uid=0")
		if err == nil {
			t.Fatalf("%+v: answered %+v, want a refusal", req, resp)
		}
		for _, want := range []string{"refused", "nothing changed", "/dev/full", "no space left on device"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: error %q does not say %q", req, err, want)
			}
		}
		sameState(t, "after the refusal", before, stateOf(t, d, cfg))
		if peerAfter, _ := d.limits.PeerSettings("peer-ut"); peerAfter != peerBefore {
			t.Errorf("%+v: peer limit changed from %+v to %+v", req, peerBefore, peerAfter)
		}
	}
}

// A setting that cannot be persisted after its audit event was written
// takes the event back: the audit file is byte for byte as before.
func TestSetBandwidth_PersistFailureTakesBackTheAuditEvent(t *testing.T) {
	d, cfg := startTestDaemon(t)
	if _, err := d.SetBandwidth(context.Background(), api.SetBandwidthRequest{BytesPerSecond: api.Value(700)}, "uid=0"); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, d, cfg)
	if err := d.ledger.Close(); err != nil { // every later ledger write fails
		t.Fatal(err)
	}
	// No rate (cleared along with the quota set): the change reads nothing
	// from the ledger before its event.
	_, err := d.SetBandwidth(context.Background(), api.SetBandwidthRequest{BytesPerSecond: api.Value(0), DailyQuotaBytes: api.Value(4096)}, "uid=0")
	if err == nil || !strings.Contains(err.Error(), "nothing changed: persist the setting") {
		t.Fatalf("got %v, want a refusal saying the setting was not persisted", err)
	}
	d.mu.Lock()
	live, source := d.limits.GlobalSettings(), d.source
	d.mu.Unlock()
	if live != before.Live || source != before.Source {
		t.Errorf("live limit %+v (%s), want %+v (%s) unchanged", live, source, before.Live, before.Source)
	}
	data, err := os.ReadFile(cfg.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != before.Audit {
		t.Errorf("audit log changed although the change was refused:\nbefore %q\nafter  %q", before.Audit, data)
	}
}

// tripContext is cancelled at the n-th time anything asks it whether it is
// (Done or Err): run at n = 1, 2, … it cancels a call at every point it
// looks at its context.
type tripContext struct {
	context.Context
	mu   sync.Mutex
	left int
	done chan struct{}
}

func newTripContext(n int) *tripContext {
	return &tripContext{Context: context.Background(), left: n, done: make(chan struct{})}
}

func (c *tripContext) tick() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left > 0 {
		if c.left--; c.left == 0 {
			close(c.done)
		}
	}
	return c.left == 0
}

func (c *tripContext) Done() <-chan struct{} { c.tick(); return c.done }

func (c *tripContext) Err() error {
	if c.tick() {
		return context.Canceled
	}
	return nil
}

// A caller that hangs up at any point of a change leaves it either fully
// made (live, persisted, audited with the right "previous") or not made at
// all; never live and persisted without its audit event.
func TestSetBandwidth_CallerHangsUpMidChange(t *testing.T) {
	d, cfg := startTestDaemon(t)
	for n := 1; n <= 40; n++ {
		before := stateOf(t, d, cfg)
		beforeEvents, err := audit.Read(cfg.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		req := api.SetBandwidthRequest{BytesPerSecond: api.Value(int64(100 + n))}
		_, err = d.SetBandwidth(newTripContext(n), req, "uid=0")
		after := stateOf(t, d, cfg)
		if err != nil {
			sameState(t, "a change that failed", before, after)
			continue
		}
		want := bandwidth.Settings{BytesPerSecond: *req.BytesPerSecond}
		if after.Live != want || after.Persisted == nil || *after.Persisted != want {
			t.Errorf("cancel at %d: answered applied, but live %+v persisted %v, want %+v", n, after.Live, after.Persisted, want)
		}
		events, err := audit.Read(cfg.AuditLog)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != len(beforeEvents)+1 {
			t.Fatalf("cancel at %d: %d audit events after the change, want %d", n, len(events), len(beforeEvents)+1)
		}
		last := events[len(events)-1]
		if last.Bandwidth != apiBandwidth(want, api.SourceRuntime) || last.Previous != apiBandwidth(before.Live, before.Source) {
			t.Errorf("cancel at %d: audit event %+v, want bandwidth %+v previous %+v", n, last, want, before.Live)
		}
	}
	// And with an answer of error, the state must match: checked above.
	if !bytes.Contains([]byte(stateOf(t, d, cfg).Audit), []byte(`"bytes_per_second":140`)) {
		t.Errorf("the last change (cancel at 40) is not in the audit log")
	}
}

// A change names only what it changes: the rest keeps its value (the
// partial-update rule), and the answer and the audit event show previous
// and new.
func TestSetBandwidth_PartialUpdates(t *testing.T) {
	d, _ := startTestDaemon(t)
	steps := []struct {
		req      api.SetBandwidthRequest
		want     bandwidth.Settings
		previous bandwidth.Settings
	}{
		{api.SetBandwidthRequest{BytesPerSecond: api.Value(64), BurstBytes: api.Value(128)}, bandwidth.Settings{BytesPerSecond: 64, BurstBytes: 128}, bandwidth.Settings{BytesPerSecond: 1000}}, // the test config's 1000 B/s
		{api.SetBandwidthRequest{DailyQuotaBytes: api.Value(4096)}, bandwidth.Settings{BytesPerSecond: 64, BurstBytes: 128, DailyQuotaBytes: 4096}, bandwidth.Settings{BytesPerSecond: 64, BurstBytes: 128}},
		{api.SetBandwidthRequest{BurstBytes: api.Value(0)}, bandwidth.Settings{BytesPerSecond: 64, DailyQuotaBytes: 4096}, bandwidth.Settings{BytesPerSecond: 64, BurstBytes: 128, DailyQuotaBytes: 4096}},
		// A rate of 0 clears a burst it would leave meaningless.
		{api.SetBandwidthRequest{BytesPerSecond: api.Value(8), BurstBytes: api.Value(16)}, bandwidth.Settings{BytesPerSecond: 8, BurstBytes: 16, DailyQuotaBytes: 4096}, bandwidth.Settings{BytesPerSecond: 64, DailyQuotaBytes: 4096}},
		{api.SetBandwidthRequest{BytesPerSecond: api.Value(0)}, bandwidth.Settings{DailyQuotaBytes: 4096}, bandwidth.Settings{BytesPerSecond: 8, BurstBytes: 16, DailyQuotaBytes: 4096}},
		{api.SetBandwidthRequest{DailyQuotaBytes: api.Value(0)}, bandwidth.Settings{}, bandwidth.Settings{DailyQuotaBytes: 4096}},
	}
	for i, s := range steps {
		resp, err := d.SetBandwidth(context.Background(), s.req, "uid=0")
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		got := bandwidth.Settings{BytesPerSecond: resp.Bandwidth.BytesPerSecond, BurstBytes: resp.Bandwidth.BurstBytes, DailyQuotaBytes: resp.Bandwidth.DailyQuotaBytes}
		prev := bandwidth.Settings{BytesPerSecond: resp.Previous.BytesPerSecond, BurstBytes: resp.Previous.BurstBytes, DailyQuotaBytes: resp.Previous.DailyQuotaBytes}
		if got != s.want || prev != s.previous {
			t.Errorf("step %d %+v: answered %+v (previous %+v), want %+v (previous %+v)", i+1, s.req, got, prev, s.want, s.previous)
		}
		if live := d.limits.GlobalSettings(); live != s.want {
			t.Errorf("step %d: live %+v, want %+v", i+1, live, s.want)
		}
	}
}
