package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"edgelab/edged/api"
)

// The operator features' backends. They are interfaces of their own, so a
// Backend without them still serves the rest; a handler registers each path
// only when its backend has the feature (a path it does not register is
// answered 404 like any unknown path).

// Requeuer moves DEADLETTER segments back to PENDING (POST
// /v1/ledger/requeue); actor names the caller for the audit log.
type Requeuer interface {
	Requeue(ctx context.Context, req api.RequeueRequest, actor string) (api.RequeueResponse, error)
}

// TrafficReporter answers the hourly traffic (GET /v1/ingress/report).
// since and until are as the query gave them: RFC 3339, a duration before
// the backend's now, or "" for unbounded; a bad one is a *RequestError.
type TrafficReporter interface {
	IngressReport(ctx context.Context, since, until string) (api.IngressReport, error)
}

// LabClock moves the backend's clock (POST /v1/lab/clock). The path exists
// only while LabClockEnabled is true (edged run --lab-clock).
type LabClock interface {
	LabClockEnabled() bool
	MoveLabClock(ctx context.Context, req api.LabClockRequest, actor string) (api.LabClockResponse, error)
}

// addOpsRoutes registers the paths of the operator features the backend has.
func (h *handler) addOpsRoutes() {
	if b, ok := h.backend.(Requeuer); ok {
		h.routes[api.PathRequeue] = route{http.MethodPost, func(w http.ResponseWriter, r *http.Request) error {
			return h.requeue(w, r, b)
		}}
	}
	if b, ok := h.backend.(TrafficReporter); ok {
		h.routes[api.PathIngressReport] = route{http.MethodGet, func(w http.ResponseWriter, r *http.Request) error {
			q := r.URL.Query()
			rep, err := b.IngressReport(r.Context(), q.Get("since"), q.Get("until"))
			if err != nil {
				return err
			}
			if rep.Buckets == nil {
				rep.Buckets = []api.TrafficBucket{}
			}
			writeJSON(w, http.StatusOK, rep)
			return nil
		}}
	}
	if b, ok := h.backend.(LabClock); ok && b.LabClockEnabled() {
		h.routes[api.PathLabClock] = route{http.MethodPost, func(w http.ResponseWriter, r *http.Request) error {
			var req api.LabClockRequest
			if err := decodeObject(w, r, &req, `{"advance":"23h59m"} or {"set":"2026-10-25T01:59:00Z"}`); err != nil {
				return err
			}
			if err := ValidateLabClockRequest(req); err != nil {
				return err
			}
			actor := Actor(r.Context())
			resp, err := b.MoveLabClock(r.Context(), req, actor)
			if err != nil {
				return err
			}
			h.log.Warn("lab clock moved over control API", "actor", actor, "advance", req.Advance, "set", req.Set, "now", resp.Now)
			writeJSON(w, http.StatusOK, resp)
			return nil
		}}
	}
}

func (h *handler) requeue(w http.ResponseWriter, r *http.Request, b Requeuer) error {
	var req api.RequeueRequest
	if err := decodeObject(w, r, &req, `{"ids":["ID"]}, {"peer":"PEER"} or {"all":true}`); err != nil {
		return err
	}
	if err := ValidateRequeueRequest(req); err != nil {
		return err
	}
	actor := Actor(r.Context())
	resp, err := b.Requeue(r.Context(), req, actor)
	if err != nil {
		return err
	}
	if resp.Requeued == nil {
		resp.Requeued = []string{}
	}
	h.log.Info("requeue over control API", "actor", actor, "ids", len(req.IDs), "peer", req.Peer, "all", req.All,
		"dry_run", resp.DryRun, "requeued", len(resp.Requeued))
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// ValidateRequeueRequest checks that exactly one selector is given and
// that no id is empty; the CLI runs it before sending.
func ValidateRequeueRequest(req api.RequeueRequest) error {
	given := 0
	if len(req.IDs) > 0 {
		given++
	}
	if req.Peer != "" {
		given++
	}
	if req.All {
		given++
	}
	if given != 1 {
		return &RequestError{Code: http.StatusBadRequest, Msg: `give exactly one of "ids", "peer" or "all"`}
	}
	for i, id := range req.IDs {
		if id == "" {
			return &RequestError{Code: http.StatusBadRequest, Msg: fmt.Sprintf("ids[%d] is empty", i)}
		}
	}
	return nil
}

// ValidateLabClockRequest checks that exactly one of advance (a duration,
// not negative) and set (RFC 3339) is given and well formed.
func ValidateLabClockRequest(req api.LabClockRequest) error {
	bad := func(format string, args ...any) error {
		return &RequestError{Code: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case (req.Advance == "") == (req.Set == ""):
		return bad(`give exactly one of "advance" (a duration such as "23h59m") or "set" (RFC 3339 such as "2026-10-25T01:59:00Z")`)
	case req.Advance != "":
		d, err := time.ParseDuration(req.Advance)
		if err != nil {
			return bad("advance %q: %v", req.Advance, err)
		}
		if d < 0 {
			return bad("advance %q is negative: the lab clock goes back only with set", req.Advance)
		}
	default:
		if _, err := time.Parse(time.RFC3339Nano, req.Set); err != nil {
			return bad("set %q: want RFC 3339 such as 2026-10-25T01:59:00Z: %v", req.Set, err)
		}
	}
	return nil
}

// decodeObject reads one JSON object of v's type from the request body,
// refusing unknown fields, anything but an object, and more than one value.
// example shows a good body in the message of an empty one.
func decodeObject(w http.ResponseWriter, r *http.Request, v any, example string) error {
	if r.ContentLength > MaxRequestBytes {
		return tooLargeBody()
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLargeBody()
		}
		return &RequestError{Code: http.StatusBadRequest, Msg: fmt.Sprintf("read request body: %v", err)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return &RequestError{Code: http.StatusBadRequest, Msg: "request body must be a JSON object such as " + example}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		return &RequestError{Code: http.StatusBadRequest, Msg: "bad request body: " + msg}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &RequestError{Code: http.StatusBadRequest, Msg: "request body holds more than one JSON value"}
	}
	return nil
}

func tooLargeBody() *RequestError {
	return &RequestError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body is larger than %d bytes", MaxRequestBytes)}
}
