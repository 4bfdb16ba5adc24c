package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
)

// fakeBackend answers from its fields and records SetBandwidth calls.
type fakeBackend struct {
	mu        sync.Mutex
	status    api.Status
	ledger    api.Ledger
	decisions api.Decisions
	resp      api.SetBandwidthResponse
	setErr    error
	reqs      []api.SetBandwidthRequest
}

func (f *fakeBackend) Status(context.Context) (api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeBackend) SetBandwidth(_ context.Context, req api.SetBandwidthRequest, _ string) (api.SetBandwidthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return f.resp, f.setErr
}

func (f *fakeBackend) Ledger(context.Context) (api.Ledger, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ledger, nil
}

func (f *fakeBackend) History(_ context.Context, id string) (api.Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.ledger.Segments {
		if s.ID == id {
			return s, nil
		}
	}
	return api.Segment{}, control.SegmentNotFound(id)
}

func (f *fakeBackend) Decisions(context.Context) (api.Decisions, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.decisions, nil
}

func (f *fakeBackend) requests() []api.SetBandwidthRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.SetBandwidthRequest(nil), f.reqs...)
}

func newFake() *fakeBackend {
	remaining, peerRemaining := int64(64), int64(36)
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := start.Add(time.Minute)
	burst, short, retry := 64.0, 12.25, at.Add(812500*time.Microsecond)
	return &fakeBackend{
		status: api.Status{
			NodeID:              "edge-val23",
			Bandwidth:           api.Bandwidth{BytesPerSecond: 64, DailyQuotaBytes: 128, Source: api.SourceRuntime},
			ThrottleCount:       4,
			QuotaDropCount:      1,
			DailyUsedBytes:      64,
			DailyRemainingBytes: &remaining,
			DailyWindowStart:    &start,
			Segments:            api.SegmentCounts{Pending: 1, Delivered: 1, Deadletter: 0, BlockedOversize: 1},
			Peers: map[string]api.PeerStatus{
				"peer-val23": {
					DeliveredSegments: 1, DeliveredBytes: 64, Configured: true,
					Bandwidth:     &api.Bandwidth{BytesPerSecond: 32, DailyQuotaBytes: 100, Source: api.SourceRuntime},
					ThrottleCount: 3, QuotaDropCount: 1, DailyUsedBytes: 64, DailyRemainingBytes: &peerRemaining,
					DailyWindowStart: &start, PendingSegments: 1, BlockedOversize: 1,
				},
				"old-peer": {DeliveredSegments: 2, DeliveredBytes: 10},
			},
			Ingress:            api.Ingress{Bytes: 192, ByPeer: map[string]int64{"a": 192}},
			ExecutorCycles:     5,
			LastCycleThrottled: 1,
		},
		ledger: api.Ledger{Segments: []api.Segment{
			{ID: "val23-sb-001", TargetPeer: "peer-val23", Size: 64, State: "DELIVERED", Attempts: 2, NextAttemptAt: at, LastError: "", CreatedAt: at, UpdatedAt: at, DeliveredAt: &at,
				History: []api.Attempt{
					{Attempt: 1, StartedAt: start, EndedAt: start, Outcome: api.AttemptFailed, Error: "quota exceeded"},
					{Attempt: 2, StartedAt: at, EndedAt: at.Add(1500 * time.Microsecond), Outcome: api.AttemptDelivered},
				}},
			{ID: "val23-sb-002", TargetPeer: "peer-val23", Size: 100, State: "PENDING", NextAttemptAt: at, CreatedAt: at, UpdatedAt: at, History: []api.Attempt{}},
		}},
		decisions: api.Decisions{Capacity: 65536, Total: 4, Decisions: []api.Decision{
			{Seq: 1, At: start, Kind: api.DecisionSettings, Tokens: &burst, Settings: &api.Bandwidth{BytesPerSecond: 64}},
			{Seq: 2, At: start, Kind: api.DecisionAllowed, Segment: "val23-sb-001", TargetPeer: "peer-val23", Size: 64, Tokens: &burst},
			{Seq: 3, At: at, Kind: api.DecisionThrottled, Segment: "val23-sb-003", TargetPeer: "peer-val23", Size: 64, Scope: "peer-val23", Tokens: &short, RetryAt: &retry},
			{Seq: 4, At: at, Kind: api.DecisionThrottled, Segment: "val23-sb-002", TargetPeer: "peer-val23", Size: 100, Tokens: &short},
		}},
		resp: api.SetBandwidthResponse{
			Applied:   true,
			Bandwidth: api.Bandwidth{BytesPerSecond: 64, Source: api.SourceRuntime},
			Previous:  api.Bandwidth{Source: api.SourceDefault},
			Warnings:  []string{"segment val23-sb-002 (100 bytes) exceeds burst 64 and can never pass"},
		},
	}
}

// daemonFixture is a fake backend served by the real control API on a real
// unix socket, counting every HTTP request that reaches it.
type daemonFixture struct {
	backend  *fakeBackend
	socket   string
	requests atomic.Int64
}

func shortDir(t *testing.T) string {
	t.Helper()
	// t.TempDir embeds the test name and can pass the 107-byte socket limit.
	dir, err := os.MkdirTemp("", "cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func startDaemon(t *testing.T, dir string) *daemonFixture {
	t.Helper()
	d := &daemonFixture{backend: newFake(), socket: filepath.Join(dir, "ctl.sock")}
	l, err := control.Listen(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := control.NewHandler(d.backend, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "edged_throttled_segments_total 4\n")
	}), log)
	srv := control.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		h.ServeHTTP(w, r)
	}), log)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return d
}

type result struct {
	code   int
	stdout string
	stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestStatusJSONRoundTrips(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "relay", "status", "--json", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Status
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the status JSON: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(d.backend.status, got); diff != "" {
		t.Errorf("status mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"node_id\": \"edge-val23\",\n") {
		t.Errorf("status JSON is not indented:\n%s", r.stdout)
	}
}

func TestStatusTable(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "relay", "status", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `node                edge-val23
unlimited           no
bandwidth           rate=64 B/s burst=64 B (= rate) quota=128 B/day (source runtime)
throttle count      4
quota drop count    1
daily used          64 B
daily remaining     64 B
daily window start  2025-03-01T12:00:00Z
executor cycles     5 (last cycle throttled 1)
segments            pending=1 delivered=1 deadletter=0 blocked_oversize=1

PEER        DELIVERED SEGMENTS  DELIVERED BYTES  PENDING  DEADLETTER  THROTTLES  QUOTA DROPS
old-peer    2                   10               0        0           0          0
peer-val23  1                   64               1        0           3          1

PEER LIMIT  BANDWIDTH                                                         DAILY USED  DAILY REMAINING  DAILY WINDOW START
peer-val23  rate=32 B/s burst=32 B (= rate) quota=100 B/day (source runtime)  64 B        36 B             2025-03-01T12:00:00Z

INGRESS FROM  BYTES
(total)       192
a             192
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("status table mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Error("status table contains ANSI escapes")
	}
}

func TestLedgerDump(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "ledger", "dump", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Ledger
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not ledger JSON: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(d.backend.ledger, got); diff != "" {
		t.Errorf("ledger mismatch (-want +got):\n%s", diff)
	}
}

func TestLedgerHistoryTable(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "ledger", "history", "val23-sb-001", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `segment     val23-sb-001
target      peer-val23
size        64 B
state       DELIVERED after 2 attempt(s)
last error  -

ATTEMPT  STARTED                      ENDED                        DURATION  OUTCOME    ERROR
1        2025-03-01T12:00:00.000000Z  2025-03-01T12:00:00.000000Z  0s        failed     quota exceeded
2        2025-03-01T12:01:00.000000Z  2025-03-01T12:01:00.001500Z  1.5ms     delivered  -
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("history table mismatch (-want +got):\n%s", diff)
	}

	r = runCLI(t, "ledger", "history", "val23-sb-002", "--socket", d.socket)
	if want := "no attempts recorded\n"; r.code != ExitOK || !strings.HasSuffix(r.stdout, "\n\n"+want) {
		t.Errorf("history of a segment never attempted: exit %d, stdout %q, want it to end with %q", r.code, r.stdout, want)
	}
}

func TestLedgerHistoryJSON(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "ledger", "history", "--json", "--socket", d.socket, "val23-sb-001")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Segment
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the segment JSON: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(d.backend.ledger.Segments[0], got); diff != "" {
		t.Errorf("segment mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, "\n  \"history\": [\n    {\n      \"attempt\": 1,") {
		t.Errorf("segment JSON is not indented:\n%s", r.stdout)
	}
}

func TestLedgerHistoryOfAnUnknownSegment(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "ledger", "history", "nope", "--socket", d.socket)
	if r.code != ExitFailure || r.stdout != "" {
		t.Errorf("exit %d stdout %q, want %d and nothing", r.code, r.stdout, ExitFailure)
	}
	if want := "edged: segment \"nope\" not found (HTTP 404)\n"; r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestLedgerHistoryUsage(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "edged: missing the segment ID: edged ledger history ID"},
		{[]string{"a", "b"}, `edged: edged ledger history takes one segment ID, got ["a" "b"]`},
		{[]string{""}, "edged: the segment ID must not be empty"},
		{[]string{"a", "--jsn"}, "edged: unknown flag: --jsn"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			d := startDaemon(t, shortDir(t))
			r := runCLI(t, append([]string{"ledger", "history", "--socket", d.socket}, tt.args...)...)
			first, rest, _ := strings.Cut(r.stderr, "\n")
			if r.code != ExitUsage || first != tt.wantErr || rest != "Run 'edged ledger history --help' for usage.\n" {
				t.Errorf("got exit %d stderr %q, want %d %q and the hint", r.code, r.stderr, ExitUsage, tt.wantErr)
			}
			if n := d.requests.Load(); n != 0 {
				t.Errorf("%d requests reached the daemon, want none", n)
			}
		})
	}
}

func TestRelayDecisionsTable(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "relay", "decisions", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `4 decision(s) shown of 4 since edged started; the journal keeps 65536, 0 dropped

SEQ  AT                           KIND       SEGMENT       PEER        SIZE  SCOPE       TOKENS  DETAIL
1    2025-03-01T12:00:00.000000Z  settings   -             -           -     global      64.0    rate=64 B/s burst=64 B (= rate) quota=unlimited
2    2025-03-01T12:00:00.000000Z  allowed    val23-sb-001  peer-val23  64    global      64.0    -
3    2025-03-01T12:01:00.000000Z  throttled  val23-sb-003  peer-val23  64    peer-val23  12.2    retry at 2025-03-01T12:01:00.812500Z
4    2025-03-01T12:01:00.000000Z  throttled  val23-sb-002  peer-val23  100   global      12.2    never passes: larger than the burst
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("decisions table mismatch (-want +got):\n%s", diff)
	}

	d.backend.mu.Lock()
	d.backend.decisions = api.Decisions{Capacity: 8, Total: 20, Dropped: 20}
	d.backend.mu.Unlock()
	r = runCLI(t, "relay", "decisions", "--socket", d.socket)
	if want := "0 decision(s) shown of 20 since edged started; the journal keeps 8, 20 dropped\n"; r.code != ExitOK || r.stdout != want {
		t.Errorf("empty journal: exit %d stdout %q, want %q", r.code, r.stdout, want)
	}
}

func TestRelayDecisionsJSON(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	r := runCLI(t, "relay", "decisions", "--json", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Decisions
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the decisions JSON: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(d.backend.decisions, got); diff != "" {
		t.Errorf("decisions mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(r.stdout, "{\n  \"capacity\": 65536,\n") {
		t.Errorf("decisions JSON is not indented as received:\n%s", r.stdout)
	}
}

func TestSetBandwidthSendsExactlyTheFlags(t *testing.T) {
	tests := []struct {
		args []string
		want api.SetBandwidthRequest
	}{
		{[]string{"--bytes-per-second", "64"}, api.SetBandwidthRequest{BytesPerSecond: api.Value(64)}},
		{[]string{"--daily-quota-bytes=128"}, api.SetBandwidthRequest{DailyQuotaBytes: api.Value(128)}},
		{[]string{"--bytes-per-second", "0", "--daily-quota-bytes", "0"}, api.SetBandwidthRequest{BytesPerSecond: api.Value(0), DailyQuotaBytes: api.Value(0)}},
		{[]string{"--bytes-per-second", "8", "--burst-bytes", "64", "--daily-quota-bytes", "4096", "--peer", "peer-val23"},
			api.SetBandwidthRequest{BytesPerSecond: api.Value(8), BurstBytes: api.Value(64), DailyQuotaBytes: api.Value(4096), Peer: "peer-val23"}},
		{[]string{"--reset"}, api.SetBandwidthRequest{Reset: true}},
		{[]string{"--reset", "--peer", "p2"}, api.SetBandwidthRequest{Reset: true, Peer: "p2"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			d := startDaemon(t, shortDir(t))
			args := append([]string{"relay", "config", "set-bandwidth", "--socket", d.socket}, tt.args...)
			r := runCLI(t, args...)
			if r.code != ExitOK {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if diff := cmp.Diff([]api.SetBandwidthRequest{tt.want}, d.backend.requests()); diff != "" {
				t.Errorf("requests mismatch (-want +got):\n%s", diff)
			}
			verb := "applied"
			if tt.want.Peer != "" {
				verb += " for peer " + tt.want.Peer
			}
			wantOut := verb + ": rate=64 B/s burst=64 B (= rate) quota=unlimited (source runtime)\n" +
				"previous: rate=unlimited burst=- quota=unlimited (source default)\n"
			if r.stdout != wantOut {
				t.Errorf("stdout:\n got %q\nwant %q", r.stdout, wantOut)
			}
			wantErr := "warning: segment val23-sb-002 (100 bytes) exceeds burst 64 and can never pass\n"
			if r.stderr != wantErr {
				t.Errorf("stderr:\n got %q\nwant %q", r.stderr, wantErr)
			}
		})
	}
}

func TestSetBandwidthJSONIsTheAnswerAsReceived(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	raw, err := (&control.Client{Socket: d.socket}).Do(context.Background(), http.MethodPost, api.PathBandwidth, api.SetBandwidthRequest{BytesPerSecond: api.Value(64)})
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "relay", "config", "set-bandwidth", "--bytes-per-second", "64", "--json", "--socket", d.socket)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != string(raw) {
		t.Errorf("stdout:\n got %q\nwant the daemon's answer %q", r.stdout, raw)
	}
}

func TestSetBandwidthNotApplied(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	d.backend.resp.Applied = false
	r := runCLI(t, "relay", "config", "set-bandwidth", "--bytes-per-second", "64", "--json", "--socket", d.socket)
	if r.code != ExitFailure {
		t.Errorf("exit: got %d, want %d", r.code, ExitFailure)
	}
	if !strings.Contains(r.stdout, `"applied":false`) {
		t.Errorf("stdout lacks the answer: %q", r.stdout)
	}
	if want := "edged: the daemon did not apply the bandwidth change\n"; r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestSetBandwidthRefusedByDaemon(t *testing.T) {
	d := startDaemon(t, shortDir(t))
	d.backend.setErr = &control.RequestError{Code: 409, Msg: `unknown peer "ghost"`}
	r := runCLI(t, "relay", "config", "set-bandwidth", "--bytes-per-second", "1", "--peer", "ghost", "--socket", d.socket)
	if r.code != ExitFailure {
		t.Errorf("exit: got %d, want %d", r.code, ExitFailure)
	}
	if want := "edged: unknown peer \"ghost\" (HTTP 409)\n"; r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestUsageErrorsSendNothing(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // first stderr line
	}{
		{[]string{"--bytes-per-second", "-5"}, "edged: --bytes-per-second must not be negative, got -5"},
		{[]string{"--bytes-per-second=64", "--burst-bytes=-1"}, "edged: --burst-bytes must not be negative, got -1"},
		{[]string{"--daily-quota-bytes", "-128"}, "edged: --daily-quota-bytes must not be negative, got -128"},
		{[]string{"--daily-quota-bytes", "2000000000000000"}, "edged: --daily-quota-bytes 2000000000000000 is too large (at most 1125899906842624)"},
		{nil, "edged: give at least one of --bytes-per-second, --burst-bytes, --daily-quota-bytes, or --reset"},
		{[]string{"--peer", "p"}, "edged: give at least one of --bytes-per-second, --burst-bytes, --daily-quota-bytes, or --reset"},
		{[]string{"--reset", "--bytes-per-second", "1"}, "edged: --reset returns to edge.toml and cannot be combined with --bytes-per-second, --burst-bytes or --daily-quota-bytes"},
		{[]string{"--bytes-per-second", "1", "--peer", "a/b"}, `edged: --peer: invalid peer id: "a/b" has characters outside [A-Za-z0-9._-]`},
		{[]string{"--bytes-per-second", "fast"}, `edged: invalid argument "fast" for "--bytes-per-second" flag: strconv.ParseInt: parsing "fast": invalid syntax`},
		{[]string{"--bytes-per-second", "1", "--rate", "2"}, "edged: unknown flag: --rate"},
		{[]string{"--bytes-per-second", "1", "extra"}, `edged: edged relay config set-bandwidth takes no arguments, got ["extra"]`},
		{[]string{"--bytes-per-second", "1", "--config", "edge.toml"}, "edged: give --socket or --config, not both"},
		{[]string{"--bytes-per-second", "1", "--timeout", "-1s"}, "edged: --timeout must not be negative, got -1s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			d := startDaemon(t, shortDir(t))
			args := append([]string{"relay", "config", "set-bandwidth", "--socket", d.socket}, tt.args...)
			r := runCLI(t, args...)
			if r.code != ExitUsage {
				t.Errorf("exit: got %d, want %d", r.code, ExitUsage)
			}
			first, rest, _ := strings.Cut(r.stderr, "\n")
			if first != tt.wantErr {
				t.Errorf("stderr:\n got %q\nwant %q", first, tt.wantErr)
			}
			if want := "Run 'edged relay config set-bandwidth --help' for usage.\n"; rest != want {
				t.Errorf("hint: got %q, want %q", rest, want)
			}
			if n := d.requests.Load(); n != 0 {
				t.Errorf("%d requests reached the daemon, want none", n)
			}
			if r.stdout != "" {
				t.Errorf("stdout: got %q, want nothing", r.stdout)
			}
		})
	}
}

func TestMissingDaemon(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ctl.sock")
	for _, args := range [][]string{
		{"relay", "status"},
		{"relay", "config", "set-bandwidth", "--bytes-per-second", "64"},
		{"ledger", "dump"},
		{"ledger", "history", "val23-sb-001"},
		{"relay", "decisions"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, append(args, "--socket", sock)...)
			if r.code != ExitFailure {
				t.Errorf("exit: got %d, want %d", r.code, ExitFailure)
			}
			want := "edged: is edged running? dial unix " + sock + ": connect: no such file or directory\n"
			if r.stderr != want {
				t.Errorf("stderr:\n got %q\nwant %q", r.stderr, want)
			}
		})
	}
}

// writeConfig writes a loadable edge.toml in dir (TLS files exist, empty).
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	for _, f := range []string{"ca.pem", "edged.pem", "edged-key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "edge.toml")
	body := `node_id = "edge-val23"
listen = "127.0.0.1:0"
` + extra + `
[tls]
ca = "ca.pem"
cert = "edged.pem"
key = "edged-key.pem"
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSocketFromConfig(t *testing.T) {
	dir := shortDir(t)
	d := startDaemon(t, dir)
	// Relative control_socket resolves against the config's directory.
	cfg := writeConfig(t, dir, `control_socket = "ctl.sock"`)

	r := runCLI(t, "relay", "status", "--json", "--config", cfg)
	if r.code != ExitOK {
		t.Fatalf("--config: exit %d, stderr %q", r.code, r.stderr)
	}

	// Neither flag: ./edge.toml when it exists.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	r = runCLI(t, "ledger", "dump")
	if r.code != ExitOK {
		t.Fatalf("./edge.toml: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := d.requests.Load(); got != 2 {
		t.Errorf("requests reaching the daemon: got %d, want 2", got)
	}

	// Neither flag nor ./edge.toml: ./ctl.sock.
	os.Remove(filepath.Join(dir, "edge.toml"))
	r = runCLI(t, "relay", "status")
	if r.code != ExitOK {
		t.Fatalf("./ctl.sock: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := d.requests.Load(); got != 3 {
		t.Errorf("requests reaching the daemon: got %d, want 3", got)
	}
}

func TestClientBadConfig(t *testing.T) {
	dir := shortDir(t)
	cfg := writeConfig(t, dir, `bogus = 1`)
	r := runCLI(t, "relay", "status", "--config", cfg)
	if r.code != ExitUsage {
		t.Errorf("exit: got %d, want %d", r.code, ExitUsage)
	}
	want := fmt.Sprintf("edged: find the control socket: %s:3:1: key bogus: unknown key\n", cfg)
	if r.stderr != want {
		t.Errorf("stderr:\n got %q\nwant %q", r.stderr, want)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[relay]\nmax_retry_count = 3\nbackof_base_seconds = 1\n")
	var called atomic.Bool
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, runDaemon: func(context.Context, config.Config, *slog.Logger) error {
		called.Store(true)
		return nil
	}}
	code := a.run(context.Background(), []string{"run", "--config", cfg})
	if code != ExitUsage {
		t.Errorf("exit: got %d, want %d", code, ExitUsage)
	}
	want := fmt.Sprintf("edged: %s:5:1: key relay.backof_base_seconds: unknown key\n", cfg)
	if errOut.String() != want {
		t.Errorf("stderr:\n got %q\nwant %q", errOut.String(), want)
	}
	if called.Load() {
		t.Error("the daemon was started on a bad config")
	}
}

func TestRunThroughMain(t *testing.T) {
	// The real entry point, with the real daemon package: a bad config must
	// stop before daemon.Run is reached.
	cfg := writeConfig(t, t.TempDir(), "ledgr = \"x.db\"\n")
	r := runCLI(t, "run", "--config", cfg)
	if r.code != ExitUsage || !strings.Contains(r.stderr, ":3:1: key ledgr: unknown key") {
		t.Errorf("got exit %d, stderr %q; want %d naming line 3 and key ledgr", r.code, r.stderr, ExitUsage)
	}
	r = runCLI(t, "run", "--config", filepath.Join(t.TempDir(), "absent.toml"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "absent.toml: no such file or directory") {
		t.Errorf("missing config: got exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRunStartsDaemon(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "")
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		daemonErr error
		args      []string
		wantCode  int
		wantLog   string
		profile   string // a file the run must leave, not empty
	}{
		{name: "clean stop", wantCode: ExitOK, wantLog: `msg="daemon ran"`},
		{name: "daemon error", daemonErr: errors.New("listen tcp: address in use"), wantCode: ExitFailure, wantLog: `level=ERROR msg="edged stopped on an error" err="listen tcp: address in use"`},
		{name: "json logs", args: []string{"--log-format", "json"}, wantCode: ExitOK, wantLog: `"msg":"daemon ran"`},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantCode: ExitUsage, wantLog: `edged: --log-format "xml": want text or json`},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantCode: ExitUsage, wantLog: `edged: --log-level "loud": want debug, info, warn or error`},
		{name: "cpu profile", args: []string{"--cpu-profile", prof}, wantCode: ExitOK, wantLog: `msg="daemon ran"`, profile: prof},
		{name: "cpu profile not writable", args: []string{"--cpu-profile", filepath.Join(notDir, "cpu.pprof")}, wantCode: ExitUsage,
			wantLog: "edged: --cpu-profile: open " + filepath.Join(notDir, "cpu.pprof") + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got config.Config
			var out, errOut bytes.Buffer
			a := &app{stdout: &out, stderr: &errOut, runDaemon: func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
				got = cfg
				log.Info("daemon ran")
				return tt.daemonErr
			}}
			code := a.run(context.Background(), append([]string{"run", "--config", cfg}, tt.args...))
			if code != tt.wantCode {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.wantLog) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantLog, errOut.String())
			}
			if tt.daemonErr != nil && strings.Count(errOut.String(), tt.daemonErr.Error()) != 1 {
				t.Errorf("stderr says the daemon's error %d times, want once:\n%s", strings.Count(errOut.String(), tt.daemonErr.Error()), errOut.String())
			}
			if tt.profile != "" {
				if fi, err := os.Stat(tt.profile); err != nil || fi.Size() == 0 {
					t.Errorf("profile %s: %v (want a non-empty file)", tt.profile, err)
				}
			}
			if tt.wantCode == ExitUsage {
				if got.File != "" {
					t.Error("the daemon was started despite a usage error")
				}
				return
			}
			if got.NodeID != "edge-val23" || got.File != cfg {
				t.Errorf("daemon got config %+v, want node edge-val23 from %s", got, cfg)
			}
		})
	}
}

func TestCommandUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{nil, ExitUsage, "edged: missing command (run, relay, ledger or ingress)\nRun 'edged --help' for usage.\n"},
		{[]string{"bogus"}, ExitUsage, "edged: unknown command \"bogus\" for \"edged\"\nRun 'edged --help' for usage.\n"},
		{[]string{"relay"}, ExitUsage, "edged: missing command (status, decisions or config)\nRun 'edged relay --help' for usage.\n"},
		{[]string{"ledger"}, ExitUsage, "edged: missing command (dump, history or requeue)\nRun 'edged ledger --help' for usage.\n"},
		{[]string{"relay", "decisions", "extra"}, ExitUsage, "edged: edged relay decisions takes no arguments, got [\"extra\"]\nRun 'edged relay decisions --help' for usage.\n"},
		{[]string{"relay", "stats"}, ExitUsage, "edged: unknown command \"stats\" for \"edged relay\"\nRun 'edged relay --help' for usage.\n"},
		{[]string{"--help"}, ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.wantCode || r.stderr != tt.wantErr {
				t.Errorf("got exit %d stderr %q, want %d %q", r.code, r.stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// Every command's --help works and exits 0, and so does --version: a
// newcomer's first two commands.
func TestEveryCommandHasHelp(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if !sub.Hidden {
				walk(sub, append(append([]string{}, path...), sub.Name()))
			}
		}
	}
	walk((&app{}).rootCmd(), nil)
	if len(paths) < 8 {
		t.Fatalf("found %d commands, want at least 8: %v", len(paths), paths)
	}
	for _, p := range paths {
		r := runCLI(t, append(p, "--help")...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("edged %s --help: exit %d, stdout %q, stderr %q; want 0 and a usage", strings.Join(p, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := runCLI(t, "--version"); r.code != ExitOK || !strings.HasPrefix(r.stdout, "edged ") {
		t.Errorf("edged --version: exit %d, stdout %q", r.code, r.stdout)
	}
}

// A ledger that cannot record is the status table's loudest line; a
// healthy one adds none (TestStatusTable).
func TestStatusTable_LedgerError(t *testing.T) {
	var b strings.Builder
	since := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	if err := writeStatus(&b, api.Status{NodeID: "n", LedgerError: &api.LedgerError{Message: "database or disk is full", Since: since}}); err != nil {
		t.Fatal(err)
	}
	if want := "LEDGER ERROR        database or disk is full (since 2026-12-02T16:00:00Z; no new deliveries until the ledger records)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("status table lacks %q:\n%s", want, b.String())
	}
}
