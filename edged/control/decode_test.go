package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
)

func TestDecodeBandwidthRequest(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     api.SetBandwidthRequest
		wantCode int    // 0: accepted
		wantMsg  string // exact error message
	}{
		{name: "rate only", body: `{"bytes_per_second":64}`, want: api.SetBandwidthRequest{BytesPerSecond: api.Value(64)}},
		{name: "all fields", body: `{"bytes_per_second":64,"burst_bytes":128,"daily_quota_bytes":4096,"peer":"peer-val23"}`,
			want: api.SetBandwidthRequest{BytesPerSecond: api.Value(64), BurstBytes: api.Value(128), DailyQuotaBytes: api.Value(4096), Peer: "peer-val23"}},
		{name: "unlimited", body: ` {"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0} `, want: api.SetBandwidthRequest{BytesPerSecond: api.Value(0), BurstBytes: api.Value(0), DailyQuotaBytes: api.Value(0)}},
		{name: "the quota alone: the rate is left as it is", body: `{"daily_quota_bytes":128}`, want: api.SetBandwidthRequest{DailyQuotaBytes: api.Value(128)}},
		{name: "reset", body: `{"reset":true}`, want: api.SetBandwidthRequest{Reset: true}},
		{name: "reset one peer", body: `{"reset":true,"peer":"p1"}`, want: api.SetBandwidthRequest{Reset: true, Peer: "p1"}},
		{name: "at the ceiling", body: `{"daily_quota_bytes":1125899906842624}`, want: api.SetBandwidthRequest{DailyQuotaBytes: api.Value(1 << 50)}},
		{name: "trailing newline", body: "{\"burst_bytes\":1}\n", want: api.SetBandwidthRequest{BurstBytes: api.Value(1)}},

		{name: "empty", body: "", wantCode: 400, wantMsg: `request body is empty; want a JSON object such as {"bytes_per_second":64}`},
		{name: "blank", body: " \n\t", wantCode: 400, wantMsg: `request body is empty; want a JSON object such as {"bytes_per_second":64}`},
		{name: "array", body: `[1]`, wantCode: 400, wantMsg: `request body must be a JSON object, got "[1]"`},
		{name: "null", body: `null`, wantCode: 400, wantMsg: `request body must be a JSON object, got "null"`},
		{name: "truncated", body: `{"bytes_per_second":`, wantCode: 400, wantMsg: "malformed JSON: the body ends in the middle of a value"},
		{name: "unknown field", body: `{"bytes_per_second":1,"rate":2}`, wantCode: 400, wantMsg: `bad request body: json: unknown field "rate"`},
		{name: "upper-case key", body: `{"BYTES_PER_SECOND":64}`, wantCode: 400, wantMsg: `unknown field "BYTES_PER_SECOND": field names match exactly, did you mean "bytes_per_second"?`},
		{name: "capitalised key", body: `{"Peer":"p1"}`, wantCode: 400, wantMsg: `unknown field "Peer": field names match exactly, did you mean "peer"?`},
		{name: "unicode-folded key", body: `{"bytes_per_ſecond":64}`, wantCode: 400, wantMsg: `unknown field "bytes_per_ſecond": field names match exactly, did you mean "bytes_per_second"?`},
		{name: "duplicate key", body: `{"bytes_per_second":1,"bytes_per_second":1000000}`, wantCode: 400, wantMsg: `duplicate field "bytes_per_second": each field may appear once`},
		{name: "duplicate by escape", body: `{"peer":"p1","p\u0065er":"p2"}`, wantCode: 400, wantMsg: `duplicate field "peer": each field may appear once`},
		{name: "duplicate by case", body: `{"reset":true,"RESET":false}`, wantCode: 400, wantMsg: `unknown field "RESET": field names match exactly, did you mean "reset"?`},
		{name: "string number", body: `{"burst_bytes":"1"}`, wantCode: 400, wantMsg: "field burst_bytes: want int64, got JSON string"},
		{name: "fraction", body: `{"burst_bytes":1.5}`, wantCode: 400, wantMsg: "field burst_bytes: want int64, got JSON number 1.5"},
		{name: "two objects", body: `{}{}`, wantCode: 400, wantMsg: "request body holds more than one JSON value"},
		{name: "trailing garbage", body: `{} x`, wantCode: 400, wantMsg: "request body holds more than one JSON value"},
		{name: "negative rate", body: `{"bytes_per_second":-64}`, wantCode: 400, wantMsg: "bytes_per_second must not be negative, got -64"},
		{name: "negative burst", body: `{"burst_bytes":-1}`, wantCode: 400, wantMsg: "burst_bytes must not be negative, got -1"},
		{name: "negative quota", body: `{"daily_quota_bytes":-1}`, wantCode: 400, wantMsg: "daily_quota_bytes must not be negative, got -1"},
		{name: "absurd rate", body: `{"bytes_per_second":9223372036854775807}`, wantCode: 400, wantMsg: "bytes_per_second 9223372036854775807 is too large (at most 1125899906842624)"},
		{name: "bad peer", body: `{"peer":"a/b"}`, wantCode: 400, wantMsg: `peer: invalid peer id: "a/b" has characters outside [A-Za-z0-9._-]`},
		{name: "dotdot peer", body: `{"peer":".."}`, wantCode: 400, wantMsg: `peer: invalid peer id: ".."`},
		{name: "nothing to change", body: `{}`, wantCode: 400, wantMsg: "nothing to change: give bytes_per_second, burst_bytes or daily_quota_bytes (a limit left out keeps its value; 0 means none of that kind), or \"reset\":true"},
		{name: "a peer and nothing to change", body: `{"peer":"p1"}`, wantCode: 400, wantMsg: "nothing to change: give bytes_per_second, burst_bytes or daily_quota_bytes (a limit left out keeps its value; 0 means none of that kind), or \"reset\":true"},
		{name: "reset and rate", body: `{"reset":true,"bytes_per_second":5}`, wantCode: 400, wantMsg: "reset returns to edge.toml and cannot be combined with bytes_per_second, burst_bytes or daily_quota_bytes"},
		{name: "too large", body: `{"peer":"` + strings.Repeat("a", MaxRequestBytes) + `"}`, wantCode: 413, wantMsg: "request body is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBandwidthRequest(strings.NewReader(tt.body))
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("got error %v, want %+v", err, tt.want)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("request mismatch (-want +got):\n%s", diff)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v (request %+v), want *RequestError %d", err, err, got, tt.wantCode)
			}
			if re.Code != tt.wantCode || re.Msg != tt.wantMsg {
				t.Errorf("got %d %q, want %d %q", re.Code, re.Msg, tt.wantCode, tt.wantMsg)
			}
			if got != (api.SetBandwidthRequest{}) {
				t.Errorf("a refused request came back non-zero: %+v", got)
			}
		})
	}
}

func FuzzDecodeBandwidthRequest(f *testing.F) {
	for _, seed := range []string{
		`{"bytes_per_second":64}`,
		`{"bytes_per_second":64,"burst_bytes":128,"daily_quota_bytes":4096,"peer":"peer-val23"}`,
		`{"reset":true,"peer":"p"}`,
		`{}`,
		``,
		`null`,
		`[]`,
		`{"bytes_per_second":-1}`,
		`{"burst_bytes":1125899906842625}`,
		`{"daily_quota_bytes":1e3}`,
		`{"peer":"../x"}`,
		`{"rate":1}`,
		`{"bytes_per_second":1}{"bytes_per_second":2}`,
		`{"BYTES_PER_SECOND":3}`,
		`{"bytes_per_second":1,"bytes_per_second":-1}`,
		"{\"peer\":\"\xff\"}",
		`{"bytes_per_second":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeBandwidthRequest(bytes.NewReader(body))
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || (re.Code != 400 && re.Code != 413) || re.Msg == "" {
				t.Fatalf("refusal is not a 400/413 *RequestError with a message: %T %v", err, err)
			}
			return
		}
		for name, v := range map[string]*int64{"bytes_per_second": req.BytesPerSecond, "burst_bytes": req.BurstBytes, "daily_quota_bytes": req.DailyQuotaBytes} {
			if v != nil && (*v < 0 || *v > MaxBandwidthValue) {
				t.Fatalf("accepted %s=%d from %q", name, *v, body)
			}
		}
		if !req.Reset && !req.Changes() {
			t.Fatalf("accepted %q, which changes nothing", body)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(body, &keys); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		for k := range keys {
			if !slices.Contains(requestFields, k) {
				t.Fatalf("accepted key %q of %q, which is no field's exact name", k, body)
			}
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", req, err)
		}
		back, err := DecodeBandwidthRequest(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("re-encoded request %s refused: %v", again, err)
		}
		if diff := cmp.Diff(req, back); diff != "" {
			t.Fatalf("round trip changed the request (-first +second):\n%s", diff)
		}
	})
}
