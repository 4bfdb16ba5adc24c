package control

import (
	"context"

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
	Ledger(ctx context.Context) (api.Ledger, error)
}

// RequestError is a request the backend refuses because of what it asked.
type RequestError struct {
	Code int // HTTP status, 4xx
	Msg  string
}

func (e *RequestError) Error() string { return e.Msg }
