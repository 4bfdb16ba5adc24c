package labsetup_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"edgelab/edged/config"
	"edgelab/setup/labsetup"
)

func TestWriteConfig_RoundTripsThroughLoad(t *testing.T) {
	tests := []struct {
		name string
		opts func(*labsetup.ConfigOptions)
		want func(dir string) config.Config
	}{
		{
			name: "defaults",
			opts: func(*labsetup.ConfigOptions) {},
			want: func(dir string) config.Config {
				c := config.Default()
				c.NodeID, c.Listen = "edge-val23", "127.0.0.1:19054"
				c.ControlSocket = filepath.Join(dir, "ctl.sock")
				c.Ledger = filepath.Join(dir, "ledger.db")
				c.AuditLog = filepath.Join(dir, "audit.jsonl")
				c.TLS = config.TLS{CA: filepath.Join(dir, "tls/ca.pem"), Cert: filepath.Join(dir, "tls/edged.pem"), Key: filepath.Join(dir, "tls/edged-key.pem")}
				c.Peers = []config.Peer{{ID: "peer-val23", Addr: "127.0.0.1:19055", ServerName: "peer-val23"}}
				return c
			},
		},
		{
			name: "scenario S-D",
			opts: func(o *labsetup.ConfigOptions) {
				o.NodeID, o.PeerID = "edge-d", "peer-d"
				o.Listen, o.PeerAddr = "127.0.0.1:40001", "127.0.0.1:40002"
				o.TickInterval = 250 * time.Millisecond
				o.MaxRetryCount, o.BackoffBaseSeconds = 5, 0
				o.BytesPerSecond, o.BurstBytes, o.DailyQuotaBytes = 8, 16, 4096
				o.MaxSegmentBytes = 2048
				o.MetricsListen = "127.0.0.1:0"
			},
			want: func(dir string) config.Config {
				c := config.Default()
				c.NodeID, c.Listen, c.MetricsListen = "edge-d", "127.0.0.1:40001", "127.0.0.1:0"
				c.ControlSocket = filepath.Join(dir, "ctl.sock")
				c.Ledger = filepath.Join(dir, "ledger.db")
				c.AuditLog = filepath.Join(dir, "audit.jsonl")
				c.TLS = config.TLS{CA: filepath.Join(dir, "tls/ca.pem"), Cert: filepath.Join(dir, "tls/edged.pem"), Key: filepath.Join(dir, "tls/edged-key.pem")}
				c.Relay.TickInterval = 250 * time.Millisecond
				c.Relay.MaxRetryCount, c.Relay.BackoffBaseSeconds, c.Relay.MaxSegmentBytes = 5, 0, 2048
				c.Relay.Bandwidth = config.Bandwidth{BytesPerSecond: 8, BurstBytes: 16, DailyQuotaBytes: 4096}
				c.Peers = []config.Peer{{ID: "peer-d", Addr: "127.0.0.1:40002", ServerName: "peer-d"}}
				return c
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "edge.toml")
			opts := labsetup.DefaultConfigOptions()
			tt.opts(&opts)
			written, err := labsetup.WriteConfig(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := config.Load(path)
			if err != nil {
				t.Fatalf("config.Load of the written file: %v", err)
			}
			want := tt.want(dir)
			ignoreFile := cmpopts.IgnoreFields(config.Config{}, "File")
			if diff := cmp.Diff(want, loaded, ignoreFile); diff != "" {
				t.Errorf("config.Load (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(loaded, written); diff != "" {
				t.Errorf("WriteConfig's answer differs from config.Load (-load +write):\n%s", diff)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Mode().Perm(); got != 0o644 {
				t.Errorf("mode = %o, want 644", got)
			}
		})
	}
}

// The config may be written before `setup tls` runs; edged names the
// missing file when it loads it.
func TestWriteConfig_BeforeTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scenario", "edge.toml")
	if _, err := labsetup.WriteConfig(path, labsetup.DefaultConfigOptions()); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "tls.ca" {
		t.Fatalf("config.Load without TLS files = %v, want a *config.Error for key tls.ca", err)
	}
}

func TestWriteConfig_BadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts func(*labsetup.ConfigOptions)
		want string
	}{
		{"negative rate", func(o *labsetup.ConfigOptions) { o.BytesPerSecond = -1 }, "bytes per second must not be negative, got -1"},
		{"negative quota", func(o *labsetup.ConfigOptions) { o.DailyQuotaBytes = -5 }, "daily quota bytes must not be negative, got -5"},
		{"zero tick", func(o *labsetup.ConfigOptions) { o.TickInterval = 0 }, "tick interval must be positive"},
		{"no retries", func(o *labsetup.ConfigOptions) { o.MaxRetryCount = 0 }, "max retry count must be at least 1, got 0"},
		{"bad listen", func(o *labsetup.ConfigOptions) { o.Listen = "19054" }, `listen "19054" is not host:port`},
		{"bad peer addr", func(o *labsetup.ConfigOptions) { o.PeerAddr = "nohost" }, `peer address "nohost" is not host:port`},
		{"bad peer id", func(o *labsetup.ConfigOptions) { o.PeerID = "peer/1" }, `peer id: identity "peer/1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.toml")
			opts := labsetup.DefaultConfigOptions()
			tt.opts(&opts)
			_, err := labsetup.WriteConfig(path, opts)
			wantErr(t, err, tt.want)
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused config was written (stat: %v)", err)
			}
		})
	}
}
