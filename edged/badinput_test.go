package main_test

// Bad input (issue #6): every kind of bad input the issue lists, tried on a
// real running edged, must be refused with an error naming its cause, and
// leave the daemon answering status with its stored data intact.
//
// Covered here on the real binary, and also by unit tests:
//   config (malformed TOML, unknown key, wrong type, negative values,
//     missing TLS files)                 edged/config TestParse_Errors
//   cert/key files                       transport TestTLSFiles_ErrorsNameTheFiles
//   socket path too long                 edged/control TestListen_PathTooLong
//   control requests                     edged/control TestHandler_BadRequests,
//                                        TestDecodeBandwidthRequest, FuzzDecodeBandwidthRequest
//   segment PUTs                         transport TestSegmentHandler_Answers,
//                                        peer/server TestDeliver_BadIDs, TestDeliver_SizeLimitAndLength
//   CLI flags                            edged/cli TestUsageErrorsSendNothing, setup TestCLI_BadFlags
//   seed with a duplicate id             setup/labsetup TestSeed_DuplicateInsertsNothing

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
	"edgelab/transport"
)

// badInputLab is a running edged with three delivered segments, a segment
// listener on a known port, and max_segment_bytes of 1024.
func badInputLab(t *testing.T) (*lab, string) {
	t.Helper()
	opts := labsetup.DefaultConfigOptions()
	opts.TickInterval = 200 * time.Millisecond
	opts.MaxSegmentBytes = 1024
	l := newLab(t, opts)
	addr := relListenOn(t, l)
	l.start()
	l.seed("it-a", 3)
	l.waitFor("3 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 3, fmt.Sprintf("segments=%+v", st.Segments)
	})
	return l, addr
}

func TestBadInput_Config(t *testing.T) {
	l, _ := badInputLab(t)
	before := relSnapshot(t, l)
	orig, err := os.ReadFile(l.config)
	if err != nil {
		t.Fatal(err)
	}
	// A second daemon is started on each bad file, sharing the running
	// one's ledger and audit log but with a socket of its own, so that its
	// own problem is what stops it, not the live socket.
	base := relSetKey(t, string(orig), "control_socket", `"bad.sock"`)
	tlsDir := filepath.Join(l.dir, "tls")
	longSocket := "/tmp/" + strings.Repeat("s", 110) + ".sock"
	tests := []struct {
		name     string
		edit     func(string) string
		wantCode int
		want     []string
	}{
		{"malformed TOML", func(s string) string { return s + "\nthis is not toml\n" }, 2,
			[]string{"bad.toml:", "expected"}},
		{"unknown key", func(s string) string { return strings.Replace(s, "[relay]\n", "[relay]\n  retries = 7\n", 1) }, 2,
			[]string{"bad.toml:", "key relay.retries: unknown key"}},
		{"wrong type", func(s string) string { return relSetKey(t, s, "max_retry_count", `"three"`) }, 2,
			[]string{"bad.toml:", "max_retry_count"}},
		{"negative rate", func(s string) string { return relSetKey(t, s, "bytes_per_second", "-64") }, 2,
			[]string{"bad.toml:", "key relay.bandwidth.bytes_per_second: must not be negative, got -64"}},
		{"negative quota", func(s string) string { return relSetKey(t, s, "daily_quota_bytes", "-1") }, 2,
			[]string{"bad.toml:", "key relay.bandwidth.daily_quota_bytes: must not be negative, got -1"}},
		{"negative retry count", func(s string) string { return relSetKey(t, s, "max_retry_count", "-1") }, 2,
			[]string{"bad.toml:", "key relay.max_retry_count: must be between 1 and 1000000, got -1"}},
		{"missing cert", func(s string) string { return relSetKey(t, s, "cert", `"tls/nope.pem"`) }, 2,
			[]string{"bad.toml:", "key tls.cert", "nope.pem", "no such file"}},
		{"missing key", func(s string) string { return relSetKey(t, s, "key", `"tls/nope-key.pem"`) }, 2,
			[]string{"bad.toml:", "key tls.key", "nope-key.pem", "no such file"}},
		// Running as root, a mode-000 file is readable anyway; a directory
		// where the certificate should be is unreadable for anyone.
		{"unreadable cert", func(s string) string { return relSetKey(t, s, "cert", `"tls"`) }, 1,
			[]string{tlsDir, "is a directory"}},
		{"cert does not match key", func(s string) string { return relSetKey(t, s, "key", `"tls/peer-key.pem"`) }, 1,
			[]string{filepath.Join(tlsDir, "edged.pem"), filepath.Join(tlsDir, "peer-key.pem"), "private key does not match public key"}},
		{"socket path too long", func(s string) string { return relSetKey(t, s, "control_socket", `"`+longSocket+`"`) }, 1,
			[]string{longSocket, "is 120 bytes; unix sockets allow at most 107"}},
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(l.dir, "unreadable-key.pem")
		key, err := os.ReadFile(filepath.Join(tlsDir, "edged-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(unreadable, key, 0o000); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct {
			name     string
			edit     func(string) string
			wantCode int
			want     []string
		}{"unreadable key", func(s string) string { return relSetKey(t, s, "key", `"`+unreadable+`"`) }, 1,
			[]string{unreadable, "permission denied"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(l.dir, "bad.toml")
			if err := os.WriteFile(path, []byte(tt.edit(base)), 0o644); err != nil {
				t.Fatal(err)
			}
			r := relRun(t, "run", "--config", path)
			if r.code != tt.wantCode {
				t.Errorf("exit status %d, want %d; stderr:\n%s", r.code, tt.wantCode, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(l.dir, "bad.sock")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused daemon left its control socket (stat: %v)", err)
			}
			relCheckIntact(t, l, before)
		})
	}
}

func TestBadInput_ControlRequests(t *testing.T) {
	l, _ := badInputLab(t)
	before := relSnapshot(t, l)
	bandwidth := l.status().Bandwidth
	hc := relUnixHTTP(l.client.Socket)
	defer hc.CloseIdleConnections()
	big := `{"bytes_per_second":1}` + strings.Repeat(" ", 64<<10)
	tests := []struct {
		name    string
		method  string
		path    string
		body    io.Reader
		want    int
		wantMsg string
	}{
		{"malformed JSON", "POST", api.PathBandwidth, strings.NewReader(`{"bytes_per_second":`), 400, "malformed JSON: the body ends in the middle of a value"},
		{"syntax error", "POST", api.PathBandwidth, strings.NewReader(`{bytes_per_second: 1}`), 400, "malformed JSON at byte 2"},
		{"not an object", "POST", api.PathBandwidth, strings.NewReader(`[64]`), 400, "request body must be a JSON object"},
		{"empty body", "POST", api.PathBandwidth, strings.NewReader(``), 400, "request body is empty"},
		{"unknown field", "POST", api.PathBandwidth, strings.NewReader(`{"rate":64}`), 400, `unknown field "rate"`},
		{"wrong type", "POST", api.PathBandwidth, strings.NewReader(`{"bytes_per_second":"64"}`), 400, "field bytes_per_second: want int64, got JSON string"},
		{"negative rate", "POST", api.PathBandwidth, strings.NewReader(`{"bytes_per_second":-64}`), 400, "bytes_per_second must not be negative, got -64"},
		{"negative quota", "POST", api.PathBandwidth, strings.NewReader(`{"daily_quota_bytes":-1}`), 400, "daily_quota_bytes must not be negative, got -1"},
		{"absurdly large", "POST", api.PathBandwidth, strings.NewReader(`{"burst_bytes":9223372036854775807}`), 400, "burst_bytes 9223372036854775807 is too large"},
		{"beyond int64", "POST", api.PathBandwidth, strings.NewReader(`{"daily_quota_bytes":1e30}`), 400, "field daily_quota_bytes: want int64"},
		{"wrong method", "GET", api.PathBandwidth, nil, 405, "method GET not allowed on /v1/relay/config/bandwidth, use POST"},
		{"wrong method on status", "DELETE", api.PathStatus, nil, 405, "method DELETE not allowed"},
		{"wrong path", "GET", "/v1/relay/nothing", nil, 404, `no such path "/v1/relay/nothing"`},
		{"oversized body", "POST", api.PathBandwidth, strings.NewReader(big), 413, "request body is larger than 65536 bytes"},
		// No Content-Length: the size is only found out while reading.
		{"oversized chunked body", "POST", api.PathBandwidth, io.MultiReader(strings.NewReader(big)), 413, "request body is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://edged"+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e api.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Errorf("answer is not {\"error\":…}: %q", body)
			}
			if resp.StatusCode != tt.want || !strings.Contains(e.Error, tt.wantMsg) {
				t.Errorf("got %d %q, want %d and an error containing %q", resp.StatusCode, e.Error, tt.want, tt.wantMsg)
			}
			relCheckIntact(t, l, before)
			if got := l.status().Bandwidth; got != bandwidth {
				t.Errorf("bandwidth changed to %+v, want %+v", got, bandwidth)
			}
		})
	}
}

func TestBadInput_SegmentPUTs(t *testing.T) {
	l, addr := badInputLab(t)
	before := relSnapshot(t, l)
	// A legitimate sender: the lab peer's certificate, declaring its id.
	cfg := relClientConfig(t, l.tls.PeerFiles())
	hc := relSegmentClient(t, cfg, true)
	hdr := func(target string) http.Header {
		return http.Header{transport.HeaderPeerID: {"peer-it"}, transport.HeaderSessionID: {"11111111-1111-4111-8111-111111111111"}, transport.HeaderTargetPeer: {target}}
	}
	tests := []struct {
		name    string
		rawPath string // as sent, escaped
		body    io.Reader
		length  int64 // -1: no Content-Length
		header  http.Header
		want    int
		wantMsg string
	}{
		{"path traversal", "/v1/segments/..%2F..%2Fetc%2Fpasswd", strings.NewReader("x"), 1, hdr("peer-it"), 400, `bad segment id: "../../etc/passwd" has characters outside [A-Za-z0-9._-]`},
		{"dot dot", "/v1/segments/..", strings.NewReader("x"), 1, hdr("peer-it"), 400, `bad segment id: ".."`},
		{"empty id", "/v1/segments/", strings.NewReader("x"), 1, hdr("peer-it"), 400, "bad segment id: empty"},
		{"129 characters", "/v1/segments/" + strings.Repeat("a", 129), strings.NewReader("x"), 1, hdr("peer-it"), 400, "bad segment id: 129 characters, at most 128"},
		{"non-ASCII", "/v1/segments/s%C3%A9g-1", strings.NewReader("x"), 1, hdr("peer-it"), 400, `bad segment id: "ség-1" has characters outside`},
		{"missing Content-Length", "/v1/segments/nolen-1", io.MultiReader(strings.NewReader("abc")), -1, hdr("peer-it"), 411, "Content-Length is required"},
		{"larger than max_segment_bytes", "/v1/segments/big-1", bytes.NewReader(make([]byte, 1025)), 1025, hdr("peer-it"), 413, "segment of 1025 bytes exceeds the limit of 1024"},
		{"unknown target", "/v1/segments/ghost-1", strings.NewReader("x"), 1, hdr("ghost"), 400, `unknown target peer "ghost"`},
		{"no target", "/v1/segments/lost-1", strings.NewReader("x"), 1, http.Header{transport.HeaderPeerID: {"peer-it"}}, 400, transport.HeaderTargetPeer + " is required"},
		{"wrong method", "/v1/segments/get-1", nil, 0, hdr("peer-it"), 405, "method GET not allowed, use PUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodPut
			if tt.body == nil {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, "https://"+addr+"/", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			path, err := url.PathUnescape(tt.rawPath)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawPath, req.URL.Path = tt.rawPath, path
			req.ContentLength = tt.length
			req.Header = tt.header
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("PUT %s: %v", tt.rawPath, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e api.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Errorf("answer is not {\"error\":…}: %q", body)
			}
			if resp.StatusCode != tt.want || !strings.Contains(e.Error, tt.wantMsg) {
				t.Errorf("got %d %q, want %d and an error containing %q", resp.StatusCode, e.Error, tt.want, tt.wantMsg)
			}
			relCheckIntact(t, l, before)
		})
	}

	// Bodies that do not match their Content-Length: an HTTP client library
	// refuses to send them, so they are written by hand over HTTP/1.1.
	rawTests := []struct {
		name    string
		length  int64
		body    string
		want    string
		wantMsg string
	}{
		{"body shorter than declared", 100, "0123456789", "HTTP/1.1 400", "body shorter than Content-Length 100"},
		{"declared absurdly large", 1 << 40, "", "HTTP/1.1 413", "segment of 1099511627776 bytes exceeds the limit of 1024"},
	}
	for _, tt := range rawTests {
		t.Run(tt.name, func(t *testing.T) {
			h1 := cfg.Clone()
			h1.ServerName, h1.NextProtos = "edge-it", []string{"http/1.1"}
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, h1)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "PUT /v1/segments/raw-1 HTTP/1.1\r\nHost: edge-it\r\nContent-Length: %d\r\n"+
				"Edge-Peer-Id: peer-it\r\nEdge-Session-Id: 11111111-1111-4111-8111-111111111111\r\nEdge-Target-Peer: peer-it\r\n\r\n%s", tt.length, tt.body)
			// Closing the sending side ends the body early.
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(conn)
			if !bytes.HasPrefix(answer, []byte(tt.want)) || !bytes.Contains(answer, []byte(tt.wantMsg)) {
				t.Errorf("answer:\n%s\nwant %s with a message containing %q", answer, tt.want, tt.wantMsg)
			}
			relCheckIntact(t, l, before)
		})
	}

	// The listener still takes a good segment afterwards and relays it.
	req, err := http.NewRequest(http.MethodPut, "https://"+addr+transport.SegmentsPath+"good-1", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr("peer-it")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("good segment after the bad ones: %d, want 201", resp.StatusCode)
	}
	l.waitFor("good-1 relayed to the peer", func() (bool, string) {
		ids := l.peer.IDs()
		return len(ids) == 4 && ids[3] == "good-1", fmt.Sprintf("peer ids %v", ids)
	})
}

func TestBadInput_CLIFlags(t *testing.T) {
	l, _ := badInputLab(t)
	before := relSnapshot(t, l)
	sock := l.client.Socket
	setBW := []string{"relay", "config", "set-bandwidth", "--socket", sock}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"negative rate", append(setBW, "--bytes-per-second", "-1"), "edged: --bytes-per-second must not be negative, got -1"},
		{"not a number", append(setBW, "--bytes-per-second", "fast"), `edged: invalid argument "fast" for "--bytes-per-second" flag: strconv.ParseInt: parsing "fast": invalid syntax`},
		{"beyond int64", append(setBW, "--daily-quota-bytes", "99999999999999999999"), `edged: invalid argument "99999999999999999999" for "--daily-quota-bytes" flag: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{"absurdly large", append(setBW, "--burst-bytes", "2000000000000000"), "edged: --burst-bytes 2000000000000000 is too large (at most 1125899906842624)"},
		{"bad peer id", append(setBW, "--bytes-per-second", "1", "--peer", "../x"), `edged: --peer: invalid peer id: "../x" has characters outside [A-Za-z0-9._-]`},
		{"unknown flag", append(setBW, "--rate", "1"), "edged: unknown flag: --rate"},
		{"negative timeout", []string{"relay", "status", "--socket", sock, "--timeout", "-1s"}, "edged: --timeout must not be negative, got -1s"},
		{"extra argument", []string{"ledger", "dump", "--socket", sock, "all"}, `edged: edged ledger dump takes no arguments, got ["all"]`},
		{"bad log level", []string{"run", "--config", l.config, "--log-level", "loud"}, `edged: --log-level "loud": want debug, info, warn or error`},
		{"missing config", []string{"run", "--config", filepath.Join(l.dir, "none.toml")}, "edged: read config: open " + filepath.Join(l.dir, "none.toml") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := relRun(t, tt.args...)
			first, _, _ := strings.Cut(r.stderr, "\n")
			if r.code != 2 || first != tt.want {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", r.code, first, tt.want)
			}
			relCheckIntact(t, l, before)
		})
	}
}

// `setup seed` is all or nothing: a batch holding an id the ledger already
// has inserts nothing, and says which id, while the daemon runs on.
func TestBadInput_SeedDuplicate(t *testing.T) {
	l, _ := badInputLab(t)
	before := relSnapshot(t, l)
	_, err := seed.Seed(context.Background(), filepath.Join(l.dir, "ledger.db"),
		labsetup.SeedOptions{Prefix: "it-a", Start: 3, Count: 3, Size: 64, TargetPeer: "peer-it"})
	want := `segment "it-a-003" is already in the ledger; nothing was inserted`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("seed it-a-003..005 over it-a-001..003: %v, want an error containing %q", err, want)
	}
	relCheckIntact(t, l, before)
	if diff := cmp.Diff([]string{"it-a-001", "it-a-002", "it-a-003"}, l.peer.IDs()); diff != "" {
		t.Errorf("peer ids (-want +got):\n%s", diff)
	}
}
