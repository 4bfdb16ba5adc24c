package control

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
)

// opsFake is fakeBackend with the operator features.
type opsFake struct {
	*fakeBackend
	lab bool

	mu       sync.Mutex
	requeues []api.RequeueRequest
	actors   []string
	reports  [][2]string
	moves    []api.LabClockRequest
}

func (f *opsFake) Requeue(_ context.Context, req api.RequeueRequest, actor string) (api.RequeueResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requeues = append(f.requeues, req)
	f.actors = append(f.actors, actor)
	if len(req.IDs) > 0 && req.IDs[0] == "delivered-1" {
		return api.RequeueResponse{}, &RequestError{Code: http.StatusConflict, Msg: "nothing requeued: delivered-1 is DELIVERED, not DEADLETTER"}
	}
	return api.RequeueResponse{Requeued: nil, DryRun: req.DryRun}, nil
}

func (f *opsFake) IngressReport(_ context.Context, since, until string) (api.IngressReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, [2]string{since, until})
	return api.IngressReport{}, nil
}

func (f *opsFake) LabClockEnabled() bool { return f.lab }

func (f *opsFake) MoveLabClock(_ context.Context, req api.LabClockRequest, _ string) (api.LabClockResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.moves = append(f.moves, req)
	return api.LabClockResponse{Now: time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC)}, nil
}

func TestHandler_Requeue(t *testing.T) {
	f := &opsFake{fakeBackend: newFake()}
	sock := serve(t, f, nil)
	c := &Client{Socket: sock}
	ctx := context.Background()

	resp, err := c.Requeue(ctx, api.RequeueRequest{Peer: "peer-a", DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, api.RequeueResponse{Requeued: []string{}, DryRun: true}, resp)
	a := rawDo(t, sock, http.MethodPost, api.PathRequeue, strings.NewReader(`{"all":true}`))
	assert.Equal(t, http.StatusOK, a.Code)
	jsonEq(t, `{"requeued":[],"dry_run":false}`, a.Body)

	_, err = c.Requeue(ctx, api.RequeueRequest{IDs: []string{"delivered-1", "x"}})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Code)
	assert.Contains(t, ae.Msg, "delivered-1 is DELIVERED")

	f.mu.Lock()
	require.Len(t, f.requeues, 3)
	assert.Equal(t, api.RequeueRequest{All: true}, f.requeues[1])
	assert.Contains(t, f.actors[0], "uid=", "the caller's credentials, as set-bandwidth has them")
	f.mu.Unlock()

	for _, tc := range []struct{ body, want string }{
		{`{}`, `exactly one of "ids", "peer" or "all"`},
		{`{"all":true,"peer":"p"}`, `exactly one of`},
		{`{"ids":[""]}`, `ids[0] is empty`},
		{`{"ids":"a"}`, `bad request body`},
		{`{"all":true,"force":true}`, `unknown field "force"`},
		{``, `must be a JSON object`},
		{`[1]`, `must be a JSON object`},
		{`{"all":true}{}`, `more than one JSON value`},
	} {
		a := rawDo(t, sock, http.MethodPost, api.PathRequeue, strings.NewReader(tc.body))
		assert.Equal(t, http.StatusBadRequest, a.Code, tc.body)
		assert.Contains(t, errMsg(t, a.Body), tc.want, tc.body)
	}
	a = rawDo(t, sock, http.MethodGet, api.PathRequeue, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, a.Code)
	f.mu.Lock()
	assert.Len(t, f.requeues, 3, "bad requests never reach the backend")
	f.mu.Unlock()
}

func TestHandler_IngressReportPassesTheBounds(t *testing.T) {
	f := &opsFake{fakeBackend: newFake()}
	sock := serve(t, f, nil)
	rep, err := (&Client{Socket: sock}).IngressReport(context.Background(), "24h", "2026-03-01T00:00:00Z")
	require.NoError(t, err)
	assert.Equal(t, []api.TrafficBucket{}, rep.Buckets)
	a := rawDo(t, sock, http.MethodGet, api.PathIngressReport, nil)
	jsonEq(t, `{"since":null,"until":null,"buckets":[]}`, a.Body)
	assert.Equal(t, [][2]string{{"24h", "2026-03-01T00:00:00Z"}, {"", ""}}, f.reports)
}

func TestHandler_LabClockOnlyWhenEnabled(t *testing.T) {
	off := serve(t, &opsFake{fakeBackend: newFake()}, nil)
	a := rawDo(t, off, http.MethodPost, api.PathLabClock, strings.NewReader(`{"advance":"1m"}`))
	assert.Equal(t, http.StatusNotFound, a.Code)
	assert.Contains(t, a.Body, "no such path")
	// A backend without the feature at all: 404 too, and no other path lost.
	plain := serve(t, newFake(), nil)
	assert.Equal(t, http.StatusNotFound, rawDo(t, plain, http.MethodPost, api.PathLabClock, strings.NewReader(`{}`)).Code)
	assert.Equal(t, http.StatusNotFound, rawDo(t, plain, http.MethodPost, api.PathRequeue, strings.NewReader(`{}`)).Code)

	f := &opsFake{fakeBackend: newFake(), lab: true}
	on := serve(t, f, nil)
	c := &Client{Socket: on}
	resp, err := c.MoveLabClock(context.Background(), api.LabClockRequest{Set: "2026-10-25T01:59:00Z"})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 10, 25, 1, 59, 0, 0, time.UTC), resp.Now)
	for _, tc := range []struct{ body, want string }{
		{`{}`, `exactly one of "advance"`},
		{`{"advance":"1m","set":"2026-10-25T01:59:00Z"}`, `exactly one of`},
		{`{"advance":"soon"}`, `advance "soon"`},
		{`{"advance":"-1h"}`, `negative`},
		{`{"set":"yesterday"}`, `want RFC 3339`},
	} {
		a := rawDo(t, on, http.MethodPost, api.PathLabClock, strings.NewReader(tc.body))
		assert.Equal(t, http.StatusBadRequest, a.Code, tc.body)
		assert.Contains(t, errMsg(t, a.Body), tc.want, tc.body)
	}
	assert.Equal(t, []api.LabClockRequest{{Set: "2026-10-25T01:59:00Z"}}, f.moves)
}

// errMsg is the message of an {"error":…} answer.
func errMsg(t *testing.T, body string) string {
	t.Helper()
	var e api.Error
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	return e.Error
}
