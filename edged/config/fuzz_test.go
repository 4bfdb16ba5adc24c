package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse feeds the config loader arbitrary files. It must never panic;
// every refusal must name the file (and, for a located problem, be a
// *Error with a message); and a config it accepts must encode to a file
// that parses back to the same config, so what `setup config` writes and
// what edged reads cannot drift apart.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		valid,
		"",
		"node_id = \"edge-val23\"\n[tls]\nca = \"tls/ca.pem\"\ncert = \"tls/edged.pem\"\nkey = \"tls/edged-key.pem\"\n",
		"[relay]\ntick_interval = \"1s\"\nmax_retry_count = 3\nbackoff_base_seconds = 1\nmax_segment_bytes = 1048576\n",
		"[relay.bandwidth]\nbytes_per_second = -1\nburst_bytes = 9223372036854775807\n",
		"[ingress]\nmax_tracked_peers = 0\n",
		"[[peers]]\nid = \"p\"\naddr = \"127.0.0.1:1\"\n[[peers]]\nid = \"p\"\naddr = \"x\"\n",
		"colour = \"blue\"\n",
		"tick_interval = 5\n[relay]\ntick_interval = 5\n",
		"[relay]\ntick_interval = \"-1s\"\n",
		"[tls\nca = 1\n",
		"listen = \"[::1]:0\"\nmetrics_listen = \"::1\"\n",
		"node_id = \"\\u0000\\n\"\ncontrol_socket = \"/tmp/\\\"x\\\".sock\"\n",
		"a = 1\na = 2\n",
		"\"relay\" = {max_retry_count = 2}\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	for _, name := range []string{"ca.pem", "edged.pem", "edged-key.pem"} {
		// Placeholders: Parse checks only that the TLS files exist.
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls", name), []byte("x"), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	path := filepath.Join(dir, "edge.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(path, data)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("refusal does not name the file %s: %v", path, err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Msg == "" {
				t.Fatalf("refusal is not a *Error with a message: %T %v", err, err)
			}
			return
		}
		again, err := cfg.Encode()
		if err != nil {
			t.Fatalf("encode accepted config: %v", err)
		}
		back, err := Parse(path, again)
		if err != nil {
			t.Fatalf("the encoding of an accepted config is refused: %v\n--- input:\n%s\n--- encoded:\n%s", err, data, again)
		}
		if diff := cmp.Diff(cfg, back); diff != "" {
			t.Fatalf("config changed through Encode and Parse (-first +second):\n%s\n--- encoded:\n%s", diff, again)
		}
	})
}
