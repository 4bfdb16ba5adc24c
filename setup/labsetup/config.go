package labsetup

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"edgelab/edged/config"
)

// Lab addresses used when the caller names none (DESIGN.md §5).
const (
	DefaultListen   = "127.0.0.1:19054"
	DefaultPeerAddr = "127.0.0.1:19055"
	DefaultTLSDir   = "tls"
)

// ConfigOptions is one scenario's edge.toml. Start from
// DefaultConfigOptions: numbers are written as given (0 is meaningful for
// the bandwidth and the backoff), only empty strings take defaults.
type ConfigOptions struct {
	NodeID   string
	Listen   string
	PeerID   string
	PeerAddr string
	// TLSDir holds ca.pem, edged.pem and edged-key.pem; a relative path is
	// relative to the config file's directory, as edged resolves it.
	TLSDir        string
	MetricsListen string
	// PeerBatch sets [[peers]] batch = true: the batched transfer to the
	// peer (the labs keep the single PUT).
	PeerBatch bool

	TickInterval       time.Duration
	MaxRetryCount      int
	BackoffBaseSeconds int64
	MaxSegmentBytes    int64

	BytesPerSecond  int64
	BurstBytes      int64
	DailyQuotaBytes int64

	// MorePeers are [[peers]] after the one PeerID/PeerAddr name (the
	// benchmarks' many-peer runs).
	MorePeers []config.Peer
}

// DefaultConfigOptions is the VAL23 lab's config: unlimited bandwidth, the
// lab ports and identities, edged's relay defaults.
func DefaultConfigOptions() ConfigOptions {
	d := config.Default()
	return ConfigOptions{
		NodeID:             DefaultNodeID,
		Listen:             DefaultListen,
		PeerID:             DefaultPeerID,
		PeerAddr:           DefaultPeerAddr,
		TLSDir:             DefaultTLSDir,
		TickInterval:       d.Relay.TickInterval,
		MaxRetryCount:      d.Relay.MaxRetryCount,
		BackoffBaseSeconds: d.Relay.BackoffBaseSeconds,
		MaxSegmentBytes:    d.Relay.MaxSegmentBytes,
	}
}

// BuildConfig turns opts into an edged config with the lab's relative
// paths (control_socket, ledger and audit_log beside the file, TLS files
// under TLSDir). Values are not validated here; WriteConfig does that.
func BuildConfig(opts ConfigOptions) config.Config {
	d := DefaultConfigOptions()
	def := func(v *string, fallback string) {
		if *v == "" {
			*v = fallback
		}
	}
	def(&opts.NodeID, d.NodeID)
	def(&opts.Listen, d.Listen)
	def(&opts.PeerID, d.PeerID)
	def(&opts.PeerAddr, d.PeerAddr)
	def(&opts.TLSDir, d.TLSDir)

	cfg := config.Default()
	cfg.NodeID = opts.NodeID
	cfg.Listen = opts.Listen
	cfg.MetricsListen = opts.MetricsListen
	cfg.TLS = config.TLS{
		CA:   filepath.ToSlash(filepath.Join(opts.TLSDir, CAFile)),
		Cert: filepath.ToSlash(filepath.Join(opts.TLSDir, EdgedCertFile)),
		Key:  filepath.ToSlash(filepath.Join(opts.TLSDir, EdgedKeyFile)),
	}
	cfg.Relay.TickInterval = opts.TickInterval
	cfg.Relay.MaxRetryCount = opts.MaxRetryCount
	cfg.Relay.BackoffBaseSeconds = opts.BackoffBaseSeconds
	cfg.Relay.MaxSegmentBytes = opts.MaxSegmentBytes
	cfg.Relay.Bandwidth = config.Bandwidth{
		BytesPerSecond:  opts.BytesPerSecond,
		BurstBytes:      opts.BurstBytes,
		DailyQuotaBytes: opts.DailyQuotaBytes,
	}
	cfg.Peers = append([]config.Peer{{ID: opts.PeerID, Addr: opts.PeerAddr, ServerName: opts.PeerID, Batch: opts.PeerBatch}}, opts.MorePeers...)
	return cfg
}

// WriteConfig writes edge.toml for opts to path (atomically, 0644) and
// returns it as config.Load reads it back. The file is validated by edged's
// own parser before it is written; only the TLS files may still be missing,
// since `setup tls` may run after `setup config`.
func WriteConfig(path string, opts ConfigOptions) (config.Config, error) {
	cfg := BuildConfig(opts)
	if err := checkConfig(cfg); err != nil {
		return config.Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	data, err := cfg.Encode()
	if err != nil {
		return config.Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	loaded, err := config.Parse(path, data)
	if err := withoutMissingTLS(err); err != nil {
		return config.Config{}, fmt.Errorf("generated config does not validate: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return config.Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		return config.Config{}, err
	}
	return loaded, nil
}

// checkConfig names the option at fault in terms a setup user typed, before
// edged's parser would name the TOML key.
func checkConfig(cfg config.Config) error {
	var errs []error
	for _, a := range []struct{ name, v string }{{"listen", cfg.Listen}, {"peer address", cfg.Peers[0].Addr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port: %w", a.name, a.v, err))
		}
	}
	if cfg.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics listen %q is not host:port: %w", cfg.MetricsListen, err))
		}
	}
	for _, id := range []struct{ name, v string }{{"node id", cfg.NodeID}, {"peer id", cfg.Peers[0].ID}} {
		if err := checkIdentity(id.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id.name, err))
		}
	}
	if cfg.Relay.TickInterval <= 0 {
		errs = append(errs, fmt.Errorf("tick interval must be positive, got %s", cfg.Relay.TickInterval))
	}
	if cfg.Relay.MaxRetryCount < 1 {
		errs = append(errs, fmt.Errorf("max retry count must be at least 1, got %d", cfg.Relay.MaxRetryCount))
	}
	if cfg.Relay.MaxSegmentBytes <= 0 {
		errs = append(errs, fmt.Errorf("max segment bytes must be positive, got %d", cfg.Relay.MaxSegmentBytes))
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"backoff base seconds", cfg.Relay.BackoffBaseSeconds},
		{"bytes per second", cfg.Relay.Bandwidth.BytesPerSecond},
		{"burst bytes", cfg.Relay.Bandwidth.BurstBytes},
		{"daily quota bytes", cfg.Relay.Bandwidth.DailyQuotaBytes},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %d", n.name, n.v))
		}
	}
	return errors.Join(errs...)
}

// withoutMissingTLS drops the "TLS file does not exist" problems from a
// config.Parse error; config.Parse reports those only once every other key
// validated.
func withoutMissingTLS(err error) error {
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var kept []error
	for _, e := range list {
		var ce *config.Error
		if errors.As(e, &ce) {
			switch ce.Key {
			case "tls.ca", "tls.cert", "tls.key":
				if ce.Msg != "is required" {
					continue
				}
			}
		}
		kept = append(kept, e)
	}
	return errors.Join(kept...)
}
