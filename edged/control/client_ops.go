package control

import (
	"context"
	"net/http"
	"net/url"

	"edgelab/edged/api"
)

// Requeue posts req to POST /v1/ledger/requeue.
func (c *Client) Requeue(ctx context.Context, req api.RequeueRequest) (api.RequeueResponse, error) {
	var resp api.RequeueResponse
	body, err := c.Do(ctx, http.MethodPost, api.PathRequeue, req)
	if err != nil {
		return resp, err
	}
	return resp, decodeAnswer(api.PathRequeue, body, &resp)
}

// IngressReport fetches GET /v1/ingress/report; since and until are RFC
// 3339, a duration before the daemon's now, or "" for unbounded.
func (c *Client) IngressReport(ctx context.Context, since, until string) (api.IngressReport, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if until != "" {
		q.Set("until", until)
	}
	path := api.PathIngressReport
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var rep api.IngressReport
	err := c.getJSON(ctx, path, &rep)
	return rep, err
}

// MoveLabClock posts req to POST /v1/lab/clock; a daemon without
// --lab-clock answers 404 (*APIError).
func (c *Client) MoveLabClock(ctx context.Context, req api.LabClockRequest) (api.LabClockResponse, error) {
	var resp api.LabClockResponse
	body, err := c.Do(ctx, http.MethodPost, api.PathLabClock, req)
	if err != nil {
		return resp, err
	}
	return resp, decodeAnswer(api.PathLabClock, body, &resp)
}
