package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"edgelab/edged/api"
)

// DefaultSocket is the control socket a client uses when told nothing else,
// relative to the working directory (edge.toml's default control_socket).
const DefaultSocket = "ctl.sock"

// maxAnswerBytes bounds what a client reads from the daemon; a ledger dump of
// many thousands of segments stays well below it.
const maxAnswerBytes = 256 << 20

// APIError is a non-2xx answer of the control API.
type APIError struct {
	Code int
	Msg  string // the server's {"error":…}, or the raw body when it has none
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Code)
}

// Client talks to edged's control API over its unix socket. The zero value
// uses DefaultSocket.
type Client struct {
	// Socket is the control socket path; "" means DefaultSocket.
	Socket string
	// HTTPClient, when set, is used as given and must reach the socket
	// itself (its Transport dials); nil means a client dialing Socket.
	HTTPClient *http.Client
}

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

// Status fetches GET /v1/relay/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	err := c.getJSON(ctx, api.PathStatus, &st)
	return st, err
}

// Ledger fetches GET /v1/ledger.
func (c *Client) Ledger(ctx context.Context) (api.Ledger, error) {
	var l api.Ledger
	err := c.getJSON(ctx, api.PathLedger, &l)
	return l, err
}

// History fetches GET /v1/ledger/history?id=ID: one segment with its
// attempt history. An unknown id is an *APIError with Code 404.
func (c *Client) History(ctx context.Context, id string) (api.Segment, error) {
	var s api.Segment
	err := c.getJSON(ctx, api.PathHistory+"?"+url.Values{"id": {id}}.Encode(), &s)
	return s, err
}

// Decisions fetches GET /v1/relay/decisions: the limiter's journal.
func (c *Client) Decisions(ctx context.Context) (api.Decisions, error) {
	var d api.Decisions
	err := c.getJSON(ctx, api.PathDecisions, &d)
	return d, err
}

// Metrics fetches the Prometheus text exposition of GET /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	body, err := c.Do(ctx, http.MethodGet, api.PathMetrics, nil)
	return string(body), err
}

// SetBandwidth posts req to POST /v1/relay/config/bandwidth.
func (c *Client) SetBandwidth(ctx context.Context, req api.SetBandwidthRequest) (api.SetBandwidthResponse, error) {
	var resp api.SetBandwidthResponse
	body, err := c.Do(ctx, http.MethodPost, api.PathBandwidth, req)
	if err != nil {
		return resp, err
	}
	if err := decodeAnswer(api.PathBandwidth, body, &resp); err != nil {
		return resp, err
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	body, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	return decodeAnswer(path, body, v)
}

func decodeAnswer(path string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}

// Do sends one request and returns the raw body of a 2xx answer; in, when
// not nil, is sent as JSON. Non-2xx answers are *APIError.
func (c *Client) Do(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request for %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	// The host is a placeholder: the transport dials the socket whatever it says.
	req, err := http.NewRequestWithContext(ctx, method, "http://edged"+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		tr := c.transport()
		defer tr.CloseIdleConnections()
		hc = &http.Client{Transport: tr}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.connError(method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s from %s: %w", method, path, c.socket(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, answerError(resp.StatusCode, data)
	}
	return data, nil
}

func (c *Client) transport() *http.Transport {
	socket := c.socket()
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression: true,
	}
}

// connError says what a failed round trip most likely means for an operator.
func (c *Client) connError(method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // drop the placeholder URL, it names no real host
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("is edged running? %w", op)
	}
	return fmt.Errorf("%s %s via %s: %w", method, path, c.socket(), err)
}

func answerError(code int, body []byte) *APIError {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &APIError{Code: code, Msg: e.Error}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(code)
	}
	return &APIError{Code: code, Msg: msg}
}
