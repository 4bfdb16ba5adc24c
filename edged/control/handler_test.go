package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
)

func sampleStatus() api.Status {
	remaining := int64(64)
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return api.Status{
		NodeID:              "edge-val23",
		Bandwidth:           api.Bandwidth{BytesPerSecond: 64, DailyQuotaBytes: 128, Source: api.SourceRuntime},
		ThrottleCount:       4,
		QuotaDropCount:      2,
		DailyUsedBytes:      64,
		DailyRemainingBytes: &remaining,
		DailyWindowStart:    &start,
		Segments:            api.SegmentCounts{Pending: 1, Delivered: 4, Deadletter: 2, BlockedOversize: 1},
		Peers:               map[string]api.PeerStatus{"peer-val23": {DeliveredSegments: 4, DeliveredBytes: 256}},
		Ingress:             api.Ingress{Bytes: 192, ByPeer: map[string]int64{"a": 192}},
		ExecutorCycles:      9,
	}
}

func sampleLedger() api.Ledger {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	end := at.Add(3 * time.Millisecond)
	drop := func(n int) api.Attempt {
		t := at.Add(time.Duration(n) * time.Second)
		return api.Attempt{Attempt: n, StartedAt: t, EndedAt: t, Outcome: api.AttemptFailed, Error: "quota exceeded"}
	}
	return api.Ledger{Segments: []api.Segment{
		{ID: "val23-sa-001", TargetPeer: "peer-val23", Size: 64, State: "DELIVERED", Attempts: 1, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at, DeliveredAt: &at,
			History: []api.Attempt{{Attempt: 1, StartedAt: at, EndedAt: end, Outcome: api.AttemptDelivered}}},
		{ID: "val23-sa-002", TargetPeer: "peer-val23", Size: 64, State: "DEADLETTER", Attempts: 3, NextAttemptAt: at, LastError: "quota exceeded", CreatedAt: at, UpdatedAt: at,
			History: []api.Attempt{drop(1), drop(2), drop(3)}},
		{ID: "val23-sa-003", TargetPeer: "peer-val23", Size: 64, State: "PENDING", NextAttemptAt: at, CreatedAt: at, UpdatedAt: at, History: []api.Attempt{}},
	}}
}

func sampleDecisions() api.Decisions {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tokens, retry := 16.5, at.Add(time.Second)
	return api.Decisions{Capacity: 65536, Total: 3, Decisions: []api.Decision{
		{Seq: 1, At: at, Kind: api.DecisionSettings, Scope: "", Tokens: &tokens, Settings: &api.Bandwidth{BytesPerSecond: 64}},
		{Seq: 2, At: at, Kind: api.DecisionAllowed, Segment: "val23-sa-001", TargetPeer: "peer-val23", Size: 64, Tokens: &tokens},
		{Seq: 3, At: at, Kind: api.DecisionThrottled, Segment: "val23-sa-002", TargetPeer: "peer-val23", Size: 64, Scope: "peer-val23", RetryAt: &retry},
	}}
}

var fakeMetrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "# fake exposition\nsegments{state=\"pending\"} 1\n")
})

func newFake() *fakeBackend {
	return &fakeBackend{
		status:    sampleStatus(),
		ledger:    sampleLedger(),
		decisions: sampleDecisions(),
		resp: api.SetBandwidthResponse{
			Applied:   true,
			Bandwidth: api.Bandwidth{BytesPerSecond: 64, Source: api.SourceRuntime},
			Warnings:  []string{"segment val23-x-001 (100 bytes) exceeds burst 64"},
		},
	}
}

func TestClient_Paths(t *testing.T) {
	fb := newFake()
	sock := serve(t, fb, fakeMetrics)
	c := &Client{Socket: sock}
	ctx := context.Background()

	st, err := c.Status(ctx)
	mustNoErr(t, err)
	if diff := cmp.Diff(sampleStatus(), st); diff != "" {
		t.Errorf("Status mismatch (-want +got):\n%s", diff)
	}

	l, err := c.Ledger(ctx)
	mustNoErr(t, err)
	if diff := cmp.Diff(sampleLedger(), l); diff != "" {
		t.Errorf("Ledger mismatch (-want +got):\n%s", diff)
	}

	for _, want := range sampleLedger().Segments {
		seg, err := c.History(ctx, want.ID)
		mustNoErr(t, err)
		if diff := cmp.Diff(want, seg); diff != "" {
			t.Errorf("History(%s) mismatch (-want +got):\n%s", want.ID, diff)
		}
	}

	d, err := c.Decisions(ctx)
	mustNoErr(t, err)
	if diff := cmp.Diff(sampleDecisions(), d); diff != "" {
		t.Errorf("Decisions mismatch (-want +got):\n%s", diff)
	}

	m, err := c.Metrics(ctx)
	mustNoErr(t, err)
	equal(t, "# fake exposition\nsegments{state=\"pending\"} 1\n", m)

	req := api.SetBandwidthRequest{BytesPerSecond: api.Value(64), BurstBytes: api.Value(128), DailyQuotaBytes: api.Value(4096), Peer: "peer-val23"}
	resp, err := c.SetBandwidth(ctx, req)
	mustNoErr(t, err)
	if diff := cmp.Diff(fb.resp, resp); diff != "" {
		t.Errorf("SetBandwidth answer mismatch (-want +got):\n%s", diff)
	}
	// The actor comes from SO_PEERCRED: this very test process.
	want := []setCall{{Req: req, Actor: fmt.Sprintf("uid=%d pid=%d", os.Getuid(), os.Getpid())}}
	if diff := cmp.Diff(want, fb.Calls()); diff != "" {
		t.Errorf("backend calls mismatch (-want +got):\n%s", diff)
	}
}

func TestHandler_EmptyAnswersAreArrays(t *testing.T) {
	fb := newFake()
	fb.ledger = api.Ledger{}
	fb.decisions = api.Decisions{}
	fb.resp = api.SetBandwidthResponse{Applied: true}
	sock := serve(t, fb, nil)

	got := rawDo(t, sock, http.MethodGet, api.PathLedger, nil)
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, `{"segments":[]}`, got.Body)

	got = rawDo(t, sock, http.MethodGet, api.PathDecisions, nil)
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, `{"capacity":0,"total":0,"dropped":0,"decisions":[]}`, got.Body)

	// A segment whose backend row has no history still says "history":[].
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	fb.mu.Lock()
	fb.ledger = api.Ledger{Segments: []api.Segment{{ID: "s", State: "PENDING", NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}}}
	fb.mu.Unlock()
	segment := `{"id":"s","target_peer":"","size":0,"state":"PENDING","attempts":0,"next_attempt_at":"2025-03-01T12:00:00Z",
		"last_error":"","created_at":"2025-03-01T12:00:00Z","updated_at":"2025-03-01T12:00:00Z","history":[]}`
	got = rawDo(t, sock, http.MethodGet, api.PathLedger, nil)
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, `{"segments":[`+segment+`]}`, got.Body)
	got = rawDo(t, sock, http.MethodGet, api.PathHistory+"?id=s", nil)
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, segment, got.Body)

	got = rawDo(t, sock, http.MethodPost, api.PathBandwidth, strings.NewReader(`{"bytes_per_second":0}`))
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, `{"applied":true,"bandwidth":{"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0},"previous":{"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0},"warnings":[]}`, got.Body)

	// Without a metrics handler /metrics is simply not there.
	got = rawDo(t, sock, http.MethodGet, api.PathMetrics, nil)
	equal(t, http.StatusNotFound, got.Code)
}

func TestHandler_BadRequests(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		body      io.Reader
		setErr    error
		statusErr error
		wantCode  int
		wantAllow string
		wantMsg   string // substring of the {"error"} message
		wantCalls int    // SetBandwidth calls that reach the backend
	}{
		{name: "GET on POST path", method: "GET", path: api.PathBandwidth, wantCode: 405, wantAllow: "POST", wantMsg: "method GET not allowed on /v1/relay/config/bandwidth, use POST"},
		{name: "POST on status", method: "POST", path: api.PathStatus, body: strings.NewReader("{}"), wantCode: 405, wantAllow: "GET", wantMsg: "use GET"},
		{name: "DELETE ledger", method: "DELETE", path: api.PathLedger, wantCode: 405, wantAllow: "GET", wantMsg: "method DELETE not allowed"},
		{name: "POST metrics", method: "POST", path: api.PathMetrics, wantCode: 405, wantAllow: "GET"},
		{name: "unknown path", method: "GET", path: "/v1/nope", wantCode: 404, wantMsg: `no such path "/v1/nope"`},
		{name: "unversioned path", method: "GET", path: "/relay/status", wantCode: 404, wantMsg: "no such path"},
		{name: "empty body", method: "POST", path: api.PathBandwidth, body: strings.NewReader(""), wantCode: 400, wantMsg: "request body is empty"},
		{name: "malformed JSON", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":`), wantCode: 400, wantMsg: "malformed JSON"},
		{name: "syntax error", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":6 4}`), wantCode: 400, wantMsg: "malformed JSON at byte"},
		{name: "unknown field", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"rate":64}`), wantCode: 400, wantMsg: `unknown field "rate"`},
		{name: "wrong type", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":"64"}`), wantCode: 400, wantMsg: "field bytes_per_second: want int64, got JSON string"},
		{name: "two values", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{} {}`), wantCode: 400, wantMsg: "more than one JSON value"},
		{name: "null body", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`null`), wantCode: 400, wantMsg: "must be a JSON object"},
		{name: "negative rate", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":-1}`), wantCode: 400, wantMsg: "bytes_per_second must not be negative, got -1"},
		{name: "negative quota", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"daily_quota_bytes":-128}`), wantCode: 400, wantMsg: "daily_quota_bytes must not be negative, got -128"},
		{name: "absurd burst", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"burst_bytes":1125899906842625}`), wantCode: 400, wantMsg: "burst_bytes 1125899906842625 is too large"},
		{name: "int64 overflow", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":99999999999999999999}`), wantCode: 400, wantMsg: "field bytes_per_second"},
		{name: "bad peer id", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":1,"peer":"../etc"}`), wantCode: 400, wantMsg: "peer: invalid peer id"},
		{name: "reset with values", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":1,"reset":true}`), wantCode: 400, wantMsg: "cannot be combined"},
		{name: "oversized body", method: "POST", path: api.PathBandwidth, body: strings.NewReader("{}" + spaces(MaxRequestBytes)), wantCode: 413, wantMsg: "larger than 65536 bytes"},
		{name: "oversized chunked body", method: "POST", path: api.PathBandwidth, body: onlyReader{strings.NewReader("{}" + spaces(MaxRequestBytes))}, wantCode: 413, wantMsg: "larger than 65536 bytes"},
		{name: "backend refuses", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":1,"peer":"nobody"}`), setErr: &RequestError{Code: 409, Msg: `unknown peer "nobody"`}, wantCode: 409, wantMsg: `unknown peer "nobody"`, wantCalls: 1},
		{name: "backend wrapped refusal", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"daily_quota_bytes":1}`), setErr: fmt.Errorf("apply: %w", &RequestError{Code: 422, Msg: "no"}), wantCode: 422, wantMsg: "apply: no", wantCalls: 1},
		{name: "backend fails", method: "POST", path: api.PathBandwidth, body: strings.NewReader(`{"bytes_per_second":1}`), setErr: errors.New("ledger is locked"), wantCode: 500, wantMsg: "ledger is locked", wantCalls: 1},
		{name: "status fails", method: "GET", path: api.PathStatus, statusErr: errors.New("disk on fire"), wantCode: 500, wantMsg: "disk on fire"},
		{name: "history without id", method: "GET", path: api.PathHistory, wantCode: 400, wantMsg: `missing query parameter "id"`},
		{name: "history with an empty id", method: "GET", path: api.PathHistory + "?id=", wantCode: 400, wantMsg: `missing query parameter "id"`},
		{name: "history of an unknown id", method: "GET", path: api.PathHistory + "?id=nope", wantCode: 404, wantMsg: `segment "nope" not found`},
		{name: "POST history", method: "POST", path: api.PathHistory + "?id=val23-sa-001", body: strings.NewReader("{}"), wantCode: 405, wantAllow: "GET"},
		{name: "POST decisions", method: "POST", path: api.PathDecisions, body: strings.NewReader("{}"), wantCode: 405, wantAllow: "GET", wantMsg: "use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := newFake()
			fb.setErrors(tt.setErr, tt.statusErr)
			sock := serve(t, fb, fakeMetrics)

			got := rawDo(t, sock, tt.method, tt.path, tt.body)
			if got.Code != tt.wantCode {
				t.Errorf("code: got %d, want %d (body %s)", got.Code, tt.wantCode, got.Body)
			}
			if got := got.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllow)
			}
			var e api.Error
			if err := json.Unmarshal([]byte(got.Body), &e); err != nil {
				t.Fatalf("body is not {\"error\":…} JSON: %v: %q", err, got.Body)
			}
			if e.Error == "" || !strings.Contains(e.Error, tt.wantMsg) {
				t.Errorf("error message: got %q, want it to contain %q", e.Error, tt.wantMsg)
			}
			if got := len(fb.Calls()); got != tt.wantCalls {
				t.Errorf("SetBandwidth calls: got %d, want %d", got, tt.wantCalls)
			}

			// The server keeps answering after every bad request.
			fb.setErrors(nil, nil)
			after := rawDo(t, sock, http.MethodGet, api.PathStatus, nil)
			if after.Code != http.StatusOK {
				t.Errorf("status after the bad request: got %d %s, want 200", after.Code, after.Body)
			}
		})
	}
}

func TestClient_APIError(t *testing.T) {
	fb := newFake()
	fb.setErrors(&RequestError{Code: 409, Msg: "burst below segment"}, nil)
	c := &Client{Socket: serve(t, fb, nil)}

	_, err := c.SetBandwidth(context.Background(), api.SetBandwidthRequest{BytesPerSecond: api.Value(1)})
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want *APIError", err, err)
	}
	equal(t, &APIError{Code: 409, Msg: "burst below segment"}, ae)
	equal(t, "burst below segment (HTTP 409)", err.Error())

	_, err = c.Metrics(context.Background())
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want *APIError", err, err)
	}
	equal(t, 404, ae.Code)
}

// The answers' JSON as the lab and reviewers read it: an unknown segment's
// exact error, and a decision's null tokens and absent retry_at.
func TestHandler_HistoryAndDecisionsJSON(t *testing.T) {
	fb := newFake()
	sock := serve(t, fb, nil)

	got := rawDo(t, sock, http.MethodGet, api.PathHistory+"?id=x%22y", nil)
	equal(t, http.StatusNotFound, got.Code)
	jsonEq(t, `{"error":"segment \"x\\\"y\" not found"}`, got.Body)

	got = rawDo(t, sock, http.MethodGet, api.PathHistory+"?id=val23-sa-002", nil)
	equal(t, http.StatusOK, got.Code)
	var seg map[string]any
	mustNoErr(t, json.Unmarshal([]byte(got.Body), &seg))
	jsonEq(t, `[{"attempt":1,"started_at":"2025-03-01T12:00:01Z","ended_at":"2025-03-01T12:00:01Z","outcome":"failed","error":"quota exceeded"},
		{"attempt":2,"started_at":"2025-03-01T12:00:02Z","ended_at":"2025-03-01T12:00:02Z","outcome":"failed","error":"quota exceeded"},
		{"attempt":3,"started_at":"2025-03-01T12:00:03Z","ended_at":"2025-03-01T12:00:03Z","outcome":"failed","error":"quota exceeded"}]`, mustJSON(t, seg["history"]))

	got = rawDo(t, sock, http.MethodGet, api.PathDecisions, nil)
	equal(t, http.StatusOK, got.Code)
	jsonEq(t, `{"capacity":65536,"total":3,"dropped":0,"decisions":[
		{"seq":1,"at":"2025-03-01T12:00:00Z","kind":"settings","scope":"","tokens":16.5,
		 "settings":{"bytes_per_second":64,"burst_bytes":0,"daily_quota_bytes":0}},
		{"seq":2,"at":"2025-03-01T12:00:00Z","kind":"allowed","segment":"val23-sa-001","target_peer":"peer-val23","size":64,"scope":"","tokens":16.5},
		{"seq":3,"at":"2025-03-01T12:00:00Z","kind":"throttled","segment":"val23-sa-002","target_peer":"peer-val23","size":64,"scope":"peer-val23","tokens":null,
		 "retry_at":"2025-03-01T12:00:01Z"}]}`, got.Body)

	_, err := (&Client{Socket: sock}).History(context.Background(), "nope")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusNotFound || ae.Msg != `segment "nope" not found` {
		t.Errorf("History(nope): got %v, want *APIError 404 segment \"nope\" not found", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	mustNoErr(t, err)
	return string(b)
}

func TestClient_NoDaemon(t *testing.T) {
	sock := shortDir(t) + "/absent.sock"
	_, err := (&Client{Socket: sock}).Status(context.Background())
	if err == nil {
		t.Fatal("got no error")
	}
	want := "is edged running? dial unix " + sock + ": connect: no such file or directory"
	equal(t, want, err.Error())
}

func TestClient_ZeroValueUsesDefaultSocket(t *testing.T) {
	dir := shortDir(t)
	wd, err := os.Getwd()
	mustNoErr(t, err)
	// Not parallel-safe, and no test in this package is parallel.
	mustNoErr(t, os.Chdir(dir))
	t.Cleanup(func() { os.Chdir(wd) })

	fb := newFake()
	l, err := Listen(DefaultSocket)
	mustNoErr(t, err)
	srv := NewServer(NewHandler(fb, nil, nil), nil)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	var c Client
	st, err := c.Status(context.Background())
	mustNoErr(t, err)
	equal(t, "edge-val23", st.NodeID)
}
