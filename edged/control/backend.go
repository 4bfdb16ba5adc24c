package control

import (
	"context"
	"fmt"
	"net/http"

	"edgelab/edged/api"
)

// Backend is what the control API serves: the running daemon implements it.
// Errors that are the caller's fault are *RequestError (answered 4xx); any
// other error is answered 500 and logged.
type Backend interface {
	Status(ctx context.Context) (api.Status, error)
	// SetBandwidth applies a bandwidth change live; actor names the caller
	// (e.g. "uid=1000") for the audit log.
	SetBandwidth(ctx context.Context, req api.SetBandwidthRequest, actor string) (api.SetBandwidthResponse, error)
	// Ledger lists every segment with its History.
	Ledger(ctx context.Context) (api.Ledger, error)
	// History is one segment with its History; an id the ledger does not
	// hold is SegmentNotFound.
	History(ctx context.Context, id string) (api.Segment, error)
	// Decisions is the limiter's journal, oldest first.
	Decisions(ctx context.Context) (api.Decisions, error)
}

// SegmentNotFound is the refusal of a segment id the ledger does not hold.
func SegmentNotFound(id string) *RequestError {
	return &RequestError{Code: http.StatusNotFound, Msg: fmt.Sprintf("segment %q not found", id)}
}

// RequestError is a request the backend refuses because of what it asked.
type RequestError struct {
	Code int // HTTP status, 4xx
	Msg  string
}

func (e *RequestError) Error() string { return e.Msg }
