package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"edgelab/edged/api"
	"edgelab/transport"
)

// MaxRequestBytes caps a request body; a bandwidth request is well under 1 KiB.
const MaxRequestBytes = 64 << 10

// MaxBandwidthValue is the largest byte figure a request may carry (1 PiB/s or
// a 1 PiB quota). Larger values are typing mistakes, and refusing them keeps
// the limiter's arithmetic far from int64 overflow.
const MaxBandwidthValue = 1 << 50

// DecodeBandwidthRequest reads one SetBandwidthRequest JSON object from r and
// validates it. Every error is a *RequestError: 413 for a body over
// MaxRequestBytes, 400 for anything else, with a message naming the cause.
func DecodeBandwidthRequest(r io.Reader) (api.SetBandwidthRequest, error) {
	var req api.SetBandwidthRequest
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, tooLarge()
		}
		return req, badRequest("read request body: %v", err)
	}
	if len(data) > MaxRequestBytes {
		return req, tooLarge()
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return req, badRequest(`request body is empty; want a JSON object such as {"bytes_per_second":64}`)
	}
	// null, arrays and bare numbers decode without error into the zero value,
	// which would silently mean "unlimited"; only an object is a request.
	if trimmed[0] != '{' {
		return req, badRequest("request body must be a JSON object, got %s", describeStart(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return api.SetBandwidthRequest{}, badRequest("%s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return api.SetBandwidthRequest{}, badRequest("request body holds more than one JSON value")
	}
	// encoding/json matches field names case-insensitively (with Unicode
	// folding) and lets a repeated key win silently: a request is refused
	// unless every key is a field's exact name, at most once.
	if err := checkKeys(data); err != nil {
		return api.SetBandwidthRequest{}, err
	}
	if err := ValidateBandwidthRequest(req); err != nil {
		return api.SetBandwidthRequest{}, err
	}
	return req, nil
}

// requestFields are the exact JSON names of api.SetBandwidthRequest.
var requestFields = func() []string {
	t := reflect.TypeFor[api.SetBandwidthRequest]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}()

// checkKeys walks the top-level keys of data, one JSON object that
// encoding/json has already decoded without error, and refuses a key that is
// not a field's exact name or that appears twice. Keys are compared after
// JSON unescaping, so "p\u0065er" is "peer".
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the opening brace
		return badRequest("%s", describeJSONError(err))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("%s", describeJSONError(err))
		}
		key, _ := tok.(string)
		if !slices.Contains(requestFields, key) {
			for _, f := range requestFields {
				if strings.EqualFold(f, key) {
					return badRequest("unknown field %q: field names match exactly, did you mean %q?", key, f)
				}
			}
			return badRequest("unknown field %q", key)
		}
		if seen[key] {
			return badRequest("duplicate field %q: each field may appear once", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return badRequest("%s", describeJSONError(err))
		}
	}
	return nil
}

// ValidateBandwidthRequest checks the values of a request; the CLI runs it
// before sending so a bad flag never reaches the daemon.
func ValidateBandwidthRequest(req api.SetBandwidthRequest) error {
	for _, f := range []struct {
		name string
		v    *int64
	}{
		{"bytes_per_second", req.BytesPerSecond},
		{"burst_bytes", req.BurstBytes},
		{"daily_quota_bytes", req.DailyQuotaBytes},
	} {
		switch {
		case f.v == nil:
		case *f.v < 0:
			return badRequest("%s must not be negative, got %d", f.name, *f.v)
		case *f.v > MaxBandwidthValue:
			return badRequest("%s %d is too large (at most %d)", f.name, *f.v, int64(MaxBandwidthValue))
		}
	}
	if req.Reset && req.Changes() {
		return badRequest("reset returns to edge.toml and cannot be combined with bytes_per_second, burst_bytes or daily_quota_bytes")
	}
	if req.Peer != "" {
		if err := transport.ValidateID(req.Peer); err != nil {
			// ValidateID speaks of segment ids; peer ids follow the same rule.
			detail := strings.TrimPrefix(err.Error(), transport.ErrBadID.Error()+": ")
			return badRequest("peer: invalid peer id: %s", detail)
		}
	}
	if !req.Reset && !req.Changes() {
		return badRequest(`nothing to change: give bytes_per_second, burst_bytes or daily_quota_bytes (a limit left out keeps its value; 0 means none of that kind), or "reset":true`)
	}
	return nil
}

func badRequest(format string, args ...any) *RequestError {
	return &RequestError{Code: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func tooLarge() *RequestError {
	return &RequestError{Code: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("request body is larger than %d bytes", MaxRequestBytes)}
}

// describeJSONError turns encoding/json's errors into messages that name the
// field or the byte offset.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %s: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("want %s, got JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends in the middle of a value"
	default:
		// Unknown fields arrive as `json: unknown field "x"`.
		return fmt.Sprintf("bad request body: %v", err)
	}
}

func describeStart(b []byte) string {
	const max = 16
	if len(b) > max {
		return fmt.Sprintf("%q…", b[:max])
	}
	return fmt.Sprintf("%q", b)
}
