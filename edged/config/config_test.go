package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTLS creates placeholder TLS files so Parse's existence check passes.
func writeTLS(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "edged.pem", "edged-key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, "tls", f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const valid = `node_id = "edge-val23"
listen = "127.0.0.1:19054"

[tls]
ca = "tls/ca.pem"
cert = "tls/edged.pem"
key = "tls/edged-key.pem"

[relay]
tick_interval = "500ms"
max_retry_count = 5
backoff_base_seconds = 2

[relay.bandwidth]
bytes_per_second = 64

[[peers]]
id = "peer-a"
addr = "127.0.0.1:19055"

[[peers]]
id = "peer-b"
addr = "127.0.0.1:19056"
server_name = "b.example"
`

func TestParse_Valid(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	path := filepath.Join(dir, "edge.toml")
	got, err := Parse(path, []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = path
	want.NodeID = "edge-val23"
	want.Listen = "127.0.0.1:19054"
	want.ControlSocket = filepath.Join(dir, "ctl.sock")
	want.Ledger = filepath.Join(dir, "ledger.db")
	want.AuditLog = filepath.Join(dir, "audit.jsonl")
	want.TLS = TLS{CA: filepath.Join(dir, "tls/ca.pem"), Cert: filepath.Join(dir, "tls/edged.pem"), Key: filepath.Join(dir, "tls/edged-key.pem")}
	want.Relay.TickInterval = 500 * time.Millisecond
	want.Relay.MaxRetryCount = 5
	want.Relay.BackoffBaseSeconds = 2
	want.Relay.Bandwidth.BytesPerSecond = 64
	want.Peers = []Peer{{ID: "peer-a", Addr: "127.0.0.1:19055", ServerName: "peer-a"}, {ID: "peer-b", Addr: "127.0.0.1:19056", ServerName: "b.example"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
}

// [[peers]] batch: the batched transfer per peer, off unless set; a config
// without it encodes without it (the labs' files unchanged).
func TestParse_PeerBatch(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	path := filepath.Join(dir, "edge.toml")
	tests := []struct {
		name string
		edit func(string) string
		want []bool // Batch of each peer
	}{
		{"default off", func(s string) string { return s }, []bool{false, false}},
		{"on for one peer", func(s string) string {
			return strings.Replace(s, `server_name = "b.example"`, "server_name = \"b.example\"\nbatch = true", 1)
		}, []bool{false, true}},
		{"explicitly off", func(s string) string {
			return strings.Replace(s, `addr = "127.0.0.1:19055"`, "addr = \"127.0.0.1:19055\"\nbatch = false", 1)
		}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(path, []byte(tt.edit(valid)))
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, p := range cfg.Peers {
				got = append(got, p.Batch)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("batch per peer (-want +got):\n%s", diff)
			}
		})
	}
	cfg, err := Parse(path, []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	data, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "batch") {
		t.Errorf("a config without batch encodes with it:\n%s", data)
	}
	cfg.Peers[0].Batch = true
	if data, _ = cfg.Encode(); !strings.Contains(string(data), "batch = true") {
		t.Errorf("batch = true is not encoded:\n%s", data)
	}
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string // substrings of the error
	}{
		{"malformed TOML", func(s string) string { return s + "\nnot toml at all\n" }, []string{"edge.toml:26:"}},
		{"unknown top-level key", func(s string) string { return "colour = \"blue\"\n" + s }, []string{"edge.toml:1:1: key colour: unknown key"}},
		{"unknown key in a table", func(s string) string {
			return strings.Replace(s, "max_retry_count = 5", "max_retry_count = 5\nretries = 7", 1)
		}, []string{"edge.toml:12:1: key relay.retries: unknown key"}},
		{"unknown dotted key", func(s string) string {
			return strings.Replace(s, "[tls]", "relay.bandwidth.bytes_per_secnd = 5\n\n[tls]", 1)
		}, []string{"edge.toml:4:1: key relay.bandwidth.bytes_per_secnd: unknown key"}},
		{"unknown key in an inline table", func(s string) string {
			return strings.Replace(s, "listen = \"127.0.0.1:19054\"", "listen = \"127.0.0.1:19054\"\ningress = { max_tracked_peers = 8, colour = 1 }", 1)
		}, []string{"edge.toml:3:36: key ingress.colour: unknown key"}},
		{"unknown key in every [[peers]] table", func(s string) string {
			return strings.ReplaceAll(s, "addr = ", "adress = 1\naddr = ")
		}, []string{"edge.toml:19:1: key peers.adress: unknown key", "edge.toml:24:1: key peers.adress: unknown key"}},
		{"unknown key in an indented table", func(s string) string {
			return strings.Replace(s, "bytes_per_second = 64", "bytes_per_second = 64\n    burst = 1", 1)
		}, []string{"edge.toml:16:5: key relay.bandwidth.burst: unknown key"}},
		{"wrong type", func(s string) string {
			return strings.Replace(s, "max_retry_count = 5", `max_retry_count = "five"`, 1)
		}, []string{"edge.toml:11:1", "max_retry_count"}},
		{"bad duration", func(s string) string {
			return strings.Replace(s, `"500ms"`, `"half a second"`, 1)
		}, []string{"edge.toml:10:", "tick_interval", "half a second"}},
		{"negative rate", func(s string) string {
			return strings.Replace(s, "bytes_per_second = 64", "bytes_per_second = -64", 1)
		}, []string{"edge.toml:15:1: key relay.bandwidth.bytes_per_second: must not be negative, got -64"}},
		{"negative rate as a dotted key", func(s string) string {
			return strings.Replace(s, "[relay.bandwidth]\nbytes_per_second = 64", "bandwidth.bytes_per_second = -64", 1)
		}, []string{"edge.toml:14:1: key relay.bandwidth.bytes_per_second: must not be negative, got -64"}},
		{"zero retry count", func(s string) string {
			return strings.Replace(s, "max_retry_count = 5", "max_retry_count = 0", 1)
		}, []string{"edge.toml:11:1: key relay.max_retry_count: must be between 1 and 1000000, got 0"}},
		{"bad peer address", func(s string) string {
			return strings.Replace(s, `"127.0.0.1:19056"`, `"nowhere"`, 1)
		}, []string{"edge.toml:23:1: key peers[1].addr", "nowhere"}},
		{"duplicate peer", func(s string) string {
			return strings.Replace(s, `id = "peer-b"`, `id = "peer-a"`, 1)
		}, []string{"edge.toml:22:1: key peers[1].id", "listed twice"}},
		{"max_tracked_peers above the metrics cap", func(s string) string {
			return strings.Replace(s, "[[peers]]", "[ingress]\nmax_tracked_peers = 4097\n\n[[peers]]", 1)
		}, []string{"key ingress.max_tracked_peers: must be at most 4096", "got 4097"}},
		{"more peers than max_tracked_peers", func(s string) string {
			return strings.Replace(s, "[[peers]]", "[ingress]\nmax_tracked_peers = 1\n\n[[peers]]", 1)
		}, []string{"key ingress.max_tracked_peers: is 1 but [[peers]] lists 2"}},
		{"batch not a boolean", func(s string) string {
			return strings.Replace(s, `addr = "127.0.0.1:19056"`, "addr = \"127.0.0.1:19056\"\nbatch = \"yes\"", 1)
		}, []string{`edge.toml:24:1: key peers.batch: want true or false, got "yes"`}},
		{"batch a number", func(s string) string {
			return strings.Replace(s, `addr = "127.0.0.1:19055"`, "addr = \"127.0.0.1:19055\"\nbatch = 1", 1)
		}, []string{"edge.toml:20:1: key peers.batch: want true or false, got 1"}},
		{"wrong type names the value", func(s string) string {
			return strings.Replace(s, "max_retry_count = 5", `max_retry_count = "five"`, 1)
		}, []string{`edge.toml:11:1: key relay.max_retry_count: incompatible types`, `got "five"`}},
		{"missing TLS file", func(s string) string {
			return strings.Replace(s, "tls/ca.pem", "tls/nope.pem", 1)
		}, []string{"edge.toml:5:1: key tls.ca", "nope.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTLS(t, dir)
			edited := tt.edit(valid)
			require.NotEqual(t, valid, edited, "the edit changed nothing")
			_, err := Parse(filepath.Join(dir, "edge.toml"), []byte(edited))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParse_ErrorsInInlinePeers(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	doc := valid[:strings.Index(valid, "[[peers]]")]
	doc = strings.Replace(doc, "listen = ", "peers = [{ id = \"p\", addr = \"127.0.0.1:1\" },\n  { id = \"q\", addr = \"nowhere\" }]\nlisten = ", 1)
	_, err := Parse(filepath.Join(dir, "edge.toml"), []byte(doc))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "edge.toml:3:15: key peers[1].addr")
}

func TestEncode_RoundTrips(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	cfg := Default()
	cfg.NodeID = "n"
	cfg.TLS = TLS{CA: "tls/ca.pem", Cert: "tls/edged.pem", Key: "tls/edged-key.pem"}
	cfg.Relay.TickInterval = 250 * time.Millisecond
	cfg.Peers = []Peer{{ID: "p", Addr: "127.0.0.1:1", ServerName: "p"}}
	data, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(filepath.Join(dir, "edge.toml"), data)
	if err != nil {
		t.Fatalf("parse encoded config: %v\n%s", err, data)
	}
	if got.Relay.TickInterval != 250*time.Millisecond || got.NodeID != "n" || len(got.Peers) != 1 {
		t.Fatalf("round trip: got %+v", got)
	}
}

func TestParse_QuotaPeriod(t *testing.T) {
	tests := []struct {
		name, keys string
		want       string // "" for no error; else a substring
		period     string // the period's String()
	}{
		{"a day at 04:00 Berlin", "quota_period = \"day\"\nquota_start = \"04:00\"\ntime_zone = \"Europe/Berlin\"\n", "", "day 04:00 Europe/Berlin"},
		{"a month from the 1st, UTC by default", "quota_period = \"month\"\n", "", "month 1 00:00 UTC"},
		{"a week from Monday", "quota_period = \"week\"\nquota_start = \"monday 06:30\"\n", "", "week monday 06:30 UTC"},
		{"no such period", "quota_period = \"fortnight\"\n", "edge.toml:16:1: key relay.bandwidth.quota_period: period \"fortnight\"", ""},
		{"a bad zone", "quota_period = \"day\"\ntime_zone = \"Mars/Olympus\"\n", "edge.toml:17:1: key relay.bandwidth.time_zone: time zone \"Mars/Olympus\"", ""},
		{"a bad start", "quota_period = \"month\"\nquota_start = \"31 00:00\"\n", "edge.toml:17:1: key relay.bandwidth.quota_start", ""},
		{"a start without a period", "quota_start = \"04:00\"\n", "edge.toml:16:1: key relay.bandwidth.quota_start: needs quota_period", ""},
		{"a quota action that is not one", "quota_action = \"drop\"\n", "edge.toml:16:1: key relay.bandwidth.quota_action: \"drop\": want \"deadletter\" (the default) or \"hold\"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTLS(t, dir)
			doc := strings.Replace(valid, "bytes_per_second = 64\n", "bytes_per_second = 64\n"+tt.keys, 1)
			cfg, err := Parse(filepath.Join(dir, "edge.toml"), []byte(doc))
			if tt.want != "" {
				assert.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			p, err := cfg.Relay.Bandwidth.Period()
			require.NoError(t, err)
			assert.Equal(t, tt.period, p.String())
		})
	}
}

func TestParse_Schedule(t *testing.T) {
	tests := []struct {
		name, keys, want string
	}{
		{"two boundaries", "time_zone = \"Europe/Berlin\"\n\n[[relay.bandwidth.schedule]]\nat = \"08:00\"\nbytes_per_second = 1048576\n\n[[relay.bandwidth.schedule]]\nat = \"19:00\"\nbytes_per_second = 0\n", ""},
		{"a bad time", "\n[[relay.bandwidth.schedule]]\nat = \"8am\"\n", "edge.toml:18:1: key relay.bandwidth.schedule[0].at: \"8am\" is not HH:MM"},
		{"a negative rate", "\n[[relay.bandwidth.schedule]]\nat = \"08:00\"\nbytes_per_second = -1\n", "edge.toml:19:1: key relay.bandwidth.schedule[0].bytes_per_second: must not be negative"},
		{"two entries at one time", "\n[[relay.bandwidth.schedule]]\nat = \"08:00\"\n\n[[relay.bandwidth.schedule]]\nat = \"08:00\"\n", "key relay.bandwidth.schedule: two entries at 08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTLS(t, dir)
			doc := strings.Replace(valid, "bytes_per_second = 64\n", "bytes_per_second = 64\n"+tt.keys, 1)
			cfg, err := Parse(filepath.Join(dir, "edge.toml"), []byte(doc))
			if tt.want != "" {
				assert.ErrorContains(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			s, err := cfg.Relay.Bandwidth.TimeTable()
			require.NoError(t, err)
			require.Len(t, s.Entries, 2)
			assert.Equal(t, "Europe/Berlin", s.Location.String())
		})
	}
}

// The retry settings are bounded: past the bounds the backoff arithmetic
// overflowed into immediate retries.
func TestParse_RetryBounds(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	path := filepath.Join(dir, "edge.toml")
	for _, tt := range []struct{ key, value, want string }{
		{"max_retry_count", "1000001", "key relay.max_retry_count: must be between 1 and 1000000, got 1000001"},
		{"backoff_base_seconds", "86401", "key relay.backoff_base_seconds: must be between 0 and 86400, got 86401"},
		{"backoff_base_seconds", "-1", "key relay.backoff_base_seconds: must be between 0 and 86400, got -1"},
		{"max_backoff_seconds", "0", "key relay.max_backoff_seconds: must be between 1 and 2592000, got 0"},
		{"max_backoff_seconds", "2592001", "key relay.max_backoff_seconds: must be between 1 and 2592000, got 2592001"},
	} {
		data := strings.Replace(valid, "[relay]\n", "[relay]\n"+tt.key+" = "+tt.value+"\n", 1)
		data = strings.Replace(data, "max_retry_count = 5\n", "", strings.Count(tt.key, "max_retry_count"))
		data = strings.Replace(data, "backoff_base_seconds = 2\n", "", strings.Count(tt.key, "backoff_base_seconds"))
		_, err := Parse(path, []byte(data))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s = %s: got %v, want an error naming %s and %q", tt.key, tt.value, err, path, tt.want)
		}
	}
	data := strings.Replace(valid, "[relay]\n", "[relay]\nmax_backoff_seconds = 600\n", 1)
	got, err := Parse(path, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.Relay.MaxBackoffSeconds != 600 {
		t.Errorf("max_backoff_seconds = 600 read as %d", got.Relay.MaxBackoffSeconds)
	}
	if got, _ := Parse(path, []byte(valid)); got.Relay.MaxBackoffSeconds != DefaultMaxBackoffSeconds {
		t.Errorf("max_backoff_seconds defaults to %d, want %d", got.Relay.MaxBackoffSeconds, DefaultMaxBackoffSeconds)
	}
}

func TestParse_KeepDelivered(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	path := filepath.Join(dir, "edge.toml")
	cfg, err := Parse(path, []byte(strings.Replace(valid, "[relay]\n", "[relay]\nkeep_delivered = \"72h\"\n", 1)))
	require.NoError(t, err)
	assert.Equal(t, 72*time.Hour, cfg.Relay.KeepDelivered)
	_, err = Parse(path, []byte(strings.Replace(valid, "[relay]\n", "[relay]\nkeep_delivered = \"10s\"\n", 1)))
	assert.ErrorContains(t, err, "edge.toml:10:1: key relay.keep_delivered: must be 0 (keep every delivered segment) or at least 1m, got 10s")
}
