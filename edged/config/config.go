// Package config loads and validates edge.toml (DESIGN.md §2). A config that
// fails validation is refused whole, with an error naming the file, the
// line and column, and the key, so a daemon never starts on a
// half-understood file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"edgelab/edged/bandwidth"
)

// Defaults applied to keys the file leaves out.
const (
	DefaultControlSocket      = "ctl.sock"
	DefaultLedger             = "ledger.db"
	DefaultAuditLog           = "audit.jsonl"
	DefaultTickInterval       = time.Second
	DefaultMaxRetryCount      = 3
	DefaultBackoffBaseSeconds = 1
	DefaultMaxBackoffSeconds  = 3600
	DefaultMaxSegmentBytes    = 1 << 20
	DefaultMaxTrackedPeers    = 1024
	// MaxTrackedPeersLimit bounds [ingress] max_tracked_peers: it is the
	// cap on every per-peer series family of /metrics (metrics.
	// CardinalityLimit), so it bounds the exposition's size too.
	MaxTrackedPeersLimit = 4096
)

// Upper bounds of the retry settings: beyond them the backoff arithmetic
// means nothing (a next attempt centuries away, or an overflow).
const (
	MaxMaxRetryCount      = 1_000_000
	MaxBackoffBaseSeconds = 86_400     // a day
	MaxMaxBackoffSeconds  = 30 * 86400 // thirty days
)

// Config is edge.toml. Relative paths are resolved against the directory of
// the file by Load.
type Config struct {
	NodeID        string  `toml:"node_id"`
	Listen        string  `toml:"listen"`
	ControlSocket string  `toml:"control_socket"`
	Ledger        string  `toml:"ledger"`
	AuditLog      string  `toml:"audit_log"`
	MetricsListen string  `toml:"metrics_listen,omitempty"`
	TLS           TLS     `toml:"tls"`
	Relay         Relay   `toml:"relay"`
	Ingress       Ingress `toml:"ingress"`
	Peers         []Peer  `toml:"peers"`

	// File is the path the config was loaded from (empty when built in code).
	File string `toml:"-"`
	// LabClock is edged run --lab-clock: the daemon's clock moves only by
	// hand over the control API (POST /v1/lab/clock). Never in edge.toml.
	LabClock bool `toml:"-"`
}

// TLS names the PEM files edged uses both to deliver and to listen.
type TLS struct {
	CA   string `toml:"ca"`
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
}

// Relay holds the executor's settings.
type Relay struct {
	TickInterval       time.Duration `toml:"tick_interval"`
	MaxRetryCount      int           `toml:"max_retry_count"`
	BackoffBaseSeconds int64         `toml:"backoff_base_seconds"`
	// MaxBackoffSeconds caps one backoff: base × 2^(k-1) grows to it and
	// stays there.
	MaxBackoffSeconds int64 `toml:"max_backoff_seconds"`
	MaxSegmentBytes   int64 `toml:"max_segment_bytes"`
	// KeepDelivered is how long a DELIVERED segment stays in the ledger
	// after its delivery; 0 (the default) keeps every one. Dead letters stay
	// until requeued.
	KeepDelivered time.Duration `toml:"keep_delivered,omitempty"`
	Bandwidth     Bandwidth     `toml:"bandwidth"`
}

// Bandwidth is the boot-time limit; 0 means unlimited, a zero burst means
// "equal to bytes_per_second". QuotaPeriod, QuotaStart and TimeZone make
// the quota's window a calendar period (bandwidth.ParsePeriod); without
// them it is the 24 h from the first delivery counted.
type Bandwidth struct {
	BytesPerSecond  int64  `toml:"bytes_per_second"`
	BurstBytes      int64  `toml:"burst_bytes"`
	DailyQuotaBytes int64  `toml:"daily_quota_bytes"`
	QuotaPeriod     string `toml:"quota_period,omitempty"` // day, week, month
	QuotaStart      string `toml:"quota_start,omitempty"`  // "04:00", "1 04:00" (week: day 1-7 from Monday; month: day 1-28)
	TimeZone        string `toml:"time_zone,omitempty"`    // IANA, default UTC
	// QuotaAction is what an exhausted quota does to a segment: "deadletter"
	// (the default, the seed's rule: a failed attempt) or "hold" (it stays
	// PENDING, no attempt counted, until the window resets).
	QuotaAction string `toml:"quota_action,omitempty"`
	// StartEmpty makes every token bucket start with no tokens, as
	// rclone's --bwlimit does, instead of full (the seed's default): the
	// first second sends rate bytes, not rate + burst.
	StartEmpty bool `toml:"start_empty,omitempty"`
	// Schedule is a daily timetable of rates in TimeZone ([[relay.bandwidth.schedule]]):
	// from each entry's At until the next, its rate and burst are in force
	// (unless set-bandwidth overrides them until --reset).
	Schedule []ScheduleEntry `toml:"schedule,omitempty"`
}

// The quota actions ([relay.bandwidth] quota_action).
const (
	QuotaDeadletter = "deadletter"
	QuotaHold       = "hold"
)

// ScheduleEntry is one [[relay.bandwidth.schedule]] table.
type ScheduleEntry struct {
	At             string `toml:"at"` // "HH:MM" local
	BytesPerSecond int64  `toml:"bytes_per_second"`
	BurstBytes     int64  `toml:"burst_bytes"`
}

// TimeTable is the schedule the keys describe, nil without one.
func (b Bandwidth) TimeTable() (*bandwidth.Schedule, error) {
	if len(b.Schedule) == 0 {
		return nil, nil
	}
	loc, err := time.LoadLocation(b.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: not an IANA zone name (like Europe/Berlin): %w", b.TimeZone, err)
	}
	entries := make([]bandwidth.ScheduleEntry, 0, len(b.Schedule))
	for i, e := range b.Schedule {
		t, err := time.Parse("15:04", e.At)
		if err != nil {
			return nil, fmt.Errorf("schedule[%d].at %q is not HH:MM (00:00-23:59)", i, e.At)
		}
		entries = append(entries, bandwidth.ScheduleEntry{Hour: t.Hour(), Minute: t.Minute(), BytesPerSecond: e.BytesPerSecond, BurstBytes: e.BurstBytes})
	}
	return bandwidth.NewSchedule(entries, loc)
}

// IsZero reports whether no limit is configured.
func (b Bandwidth) IsZero() bool {
	return b.BytesPerSecond == 0 && b.BurstBytes == 0 && b.DailyQuotaBytes == 0
}

// Period is the calendar quota period the keys describe, nil without
// quota_period.
func (b Bandwidth) Period() (*bandwidth.Period, error) {
	if b.QuotaPeriod == "" {
		return nil, nil
	}
	start := b.QuotaStart
	if start == "" {
		start = map[string]string{"day": "00:00", "week": "1 00:00", "month": "1 00:00"}[b.QuotaPeriod]
	}
	p, err := bandwidth.ParsePeriod(b.QuotaPeriod, start, b.TimeZone)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Ingress bounds what the listener tracks per sender.
type Ingress struct {
	MaxTrackedPeers int `toml:"max_tracked_peers"`
}

// Peer is a delivery target.
type Peer struct {
	ID         string `toml:"id"`
	Addr       string `toml:"addr"`
	ServerName string `toml:"server_name"`
	// Batch sends this peer's segments in batched requests (POST
	// /v1/segments:batch, DESIGN.md §7 "Batched transfer"), several per
	// request when deliveries to it overlap; the peer must serve that
	// path. Default false: one PUT per segment.
	Batch bool `toml:"batch,omitempty"`
}

// Default returns a config with every default filled in and no peers.
func Default() Config {
	return Config{
		ControlSocket: DefaultControlSocket,
		Ledger:        DefaultLedger,
		AuditLog:      DefaultAuditLog,
		Relay: Relay{
			TickInterval:       DefaultTickInterval,
			MaxRetryCount:      DefaultMaxRetryCount,
			BackoffBaseSeconds: DefaultBackoffBaseSeconds,
			MaxBackoffSeconds:  DefaultMaxBackoffSeconds,
			MaxSegmentBytes:    DefaultMaxSegmentBytes,
		},
		Ingress: Ingress{MaxTrackedPeers: DefaultMaxTrackedPeers},
	}
}

// Error is a config problem located in its file.
type Error struct {
	File string
	Line int // 0 when unknown
	Col  int // 0 when unknown
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	switch {
	case e.Line > 0 && e.Col > 0:
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	case e.Line > 0:
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: key %s: %s", loc, e.Key, e.Msg)
}

// Load reads, validates and resolves path. Every problem found is returned,
// joined, so one run shows them all.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; path names the file in errors and
// anchors relative paths.
func Parse(path string, data []byte) (Config, error) {
	cfg := Default()
	cfg.File = path
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		return Config{}, decodeError(path, data, err)
	}
	pos := keyPositions(data)
	located := func(key toml.Key, msg string) error {
		at := pos.lookup(key)
		return &Error{File: path, Line: at.Line, Col: at.Col, Key: keyName(key), Msg: msg}
	}
	var errs []error
	for _, k := range md.Undecoded() {
		errs = append(errs, located(k, "unknown key"))
	}
	for _, p := range cfg.problems() {
		errs = append(errs, located(p.key, p.msg))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	cfg.resolve(filepath.Dir(path))
	for _, p := range cfg.missingFiles() {
		errs = append(errs, located(p.key, p.msg))
	}
	return cfg, errors.Join(errs...)
}

// typeErrRe picks the line and key out of the decoder's type errors, which
// are plain errors rather than toml.ParseError.
var typeErrRe = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// typeMessage says what a key of the wrong type wants and what it got.
func typeMessage(msg, raw string) string {
	if raw == "" {
		return msg
	}
	if strings.HasSuffix(msg, "destination has type boolean") {
		return fmt.Sprintf("want true or false, got %s", raw)
	}
	return fmt.Sprintf("%s; got %s", msg, raw)
}

// rawValue is the text after "=" on line (1-based) of data, as written:
// what a type error names. Empty when the line holds no simple key = value.
func rawValue(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	_, v, ok := strings.Cut(lines[line-1], "=")
	v = strings.TrimSpace(v)
	if !ok || v == "" || strings.ContainsAny(v, "{[") {
		return ""
	}
	if len(v) > 60 {
		v = v[:60] + "…"
	}
	return v
}

func decodeError(path string, data []byte, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: path, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: pe.Message}
	}
	if m := typeErrRe.FindStringSubmatch(err.Error()); m != nil {
		// The decoder gives the line; the parser's positions give the
		// column (and the line where the decoder has none).
		line, _ := strconv.Atoi(m[1])
		at := keyPositions(data).lookup(strings.Split(m[2], "."))
		if at.Line != line && line > 0 {
			at.Col = 0
		}
		if line == 0 {
			line = at.Line
		}
		return &Error{File: path, Line: line, Col: at.Col, Key: m[2], Msg: typeMessage(m[3], rawValue(data, line))}
	}
	return &Error{File: path, Msg: err.Error()}
}

// keyName joins a key's parts unquoted: peers[1].addr reads better than
// toml.Key's "peers[1]".addr.
func keyName(k toml.Key) string { return strings.Join(k, ".") }

type problem struct {
	key toml.Key
	msg string
}

// problems checks values, in file order as far as the struct follows it.
func (c *Config) problems() []problem {
	var ps []problem
	add := func(msg string, key ...string) { ps = append(ps, problem{toml.Key(key), msg}) }
	nonNeg := func(v int64, key ...string) {
		if v < 0 {
			add(fmt.Sprintf("must not be negative, got %d", v), key...)
		}
	}
	addr := func(v string, key ...string) {
		if v == "" {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			add(fmt.Sprintf("%q is not host:port: %v", v, err), key...)
		}
	}
	addr(c.Listen, "listen")
	addr(c.MetricsListen, "metrics_listen")
	if c.ControlSocket == "" {
		add("must not be empty", "control_socket")
	}
	if c.Ledger == "" {
		add("must not be empty", "ledger")
	}
	if c.AuditLog == "" {
		add("must not be empty", "audit_log")
	}
	if c.Relay.TickInterval <= 0 {
		add(fmt.Sprintf("must be a positive duration, got %s", c.Relay.TickInterval), "relay", "tick_interval")
	}
	if c.Relay.MaxRetryCount < 1 || c.Relay.MaxRetryCount > MaxMaxRetryCount {
		add(fmt.Sprintf("must be between 1 and %d, got %d", MaxMaxRetryCount, c.Relay.MaxRetryCount), "relay", "max_retry_count")
	}
	if v := c.Relay.BackoffBaseSeconds; v < 0 || v > MaxBackoffBaseSeconds {
		add(fmt.Sprintf("must be between 0 and %d, got %d", MaxBackoffBaseSeconds, v), "relay", "backoff_base_seconds")
	}
	if v := c.Relay.MaxBackoffSeconds; v < 1 || v > MaxMaxBackoffSeconds {
		add(fmt.Sprintf("must be between 1 and %d, got %d", MaxMaxBackoffSeconds, v), "relay", "max_backoff_seconds")
	}
	if k := c.Relay.KeepDelivered; k != 0 && k < time.Minute {
		add(fmt.Sprintf("must be 0 (keep every delivered segment) or at least 1m, got %s", k), "relay", "keep_delivered")
	}
	if c.Relay.MaxSegmentBytes <= 0 {
		add(fmt.Sprintf("must be positive, got %d", c.Relay.MaxSegmentBytes), "relay", "max_segment_bytes")
	}
	nonNeg(c.Relay.Bandwidth.BytesPerSecond, "relay", "bandwidth", "bytes_per_second")
	nonNeg(c.Relay.Bandwidth.BurstBytes, "relay", "bandwidth", "burst_bytes")
	nonNeg(c.Relay.Bandwidth.DailyQuotaBytes, "relay", "bandwidth", "daily_quota_bytes")
	if bw := c.Relay.Bandwidth; bw.QuotaPeriod == "" {
		if bw.QuotaStart != "" {
			add("needs quota_period (day, week or month)", "relay", "bandwidth", "quota_start")
		}
		if bw.TimeZone != "" && len(bw.Schedule) == 0 {
			add("needs quota_period (day, week or month) or a [[relay.bandwidth.schedule]]", "relay", "bandwidth", "time_zone")
		}
	} else if _, err := bw.Period(); err != nil {
		key := "quota_start"
		switch {
		case strings.HasPrefix(err.Error(), "period "):
			key = "quota_period"
		case strings.HasPrefix(err.Error(), "time zone "):
			key = "time_zone"
		}
		add(err.Error(), "relay", "bandwidth", key)
	}
	switch c.Relay.Bandwidth.QuotaAction {
	case "", QuotaDeadletter, QuotaHold:
	default:
		add(fmt.Sprintf("%q: want %q (the default) or %q", c.Relay.Bandwidth.QuotaAction, QuotaDeadletter, QuotaHold), "relay", "bandwidth", "quota_action")
	}
	for i, e := range c.Relay.Bandwidth.Schedule {
		entry := fmt.Sprintf("schedule[%d]", i)
		if _, err := time.Parse("15:04", e.At); err != nil {
			add(fmt.Sprintf("%q is not HH:MM (00:00-23:59)", e.At), "relay", "bandwidth", entry, "at")
		}
		nonNeg(e.BytesPerSecond, "relay", "bandwidth", entry, "bytes_per_second")
		nonNeg(e.BurstBytes, "relay", "bandwidth", entry, "burst_bytes")
	}
	if _, err := c.Relay.Bandwidth.TimeTable(); err != nil && strings.Contains(err.Error(), "two entries") {
		add(err.Error(), "relay", "bandwidth", "schedule")
	}
	switch {
	case c.Ingress.MaxTrackedPeers < 1:
		add(fmt.Sprintf("must be at least 1, got %d", c.Ingress.MaxTrackedPeers), "ingress", "max_tracked_peers")
	case c.Ingress.MaxTrackedPeers > MaxTrackedPeersLimit:
		add(fmt.Sprintf("must be at most %d (the per-peer series cap of /metrics), got %d", MaxTrackedPeersLimit, c.Ingress.MaxTrackedPeers), "ingress", "max_tracked_peers")
	case len(c.Peers) > c.Ingress.MaxTrackedPeers:
		add(fmt.Sprintf("is %d but [[peers]] lists %d: every configured peer needs a per-peer series of its own", c.Ingress.MaxTrackedPeers, len(c.Peers)), "ingress", "max_tracked_peers")
	}
	for k, v := range map[string]string{"ca": c.TLS.CA, "cert": c.TLS.Cert, "key": c.TLS.Key} {
		if v == "" {
			add("is required", "tls", k)
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		switch {
		case p.ID == "":
			add("is required", key, "id")
		case seen[p.ID]:
			add(fmt.Sprintf("peer %q is listed twice", p.ID), key, "id")
		}
		seen[p.ID] = true
		if p.Addr == "" {
			add("is required", key, "addr")
		}
		addr(p.Addr, key, "addr")
	}
	return ps
}

// resolve makes relative paths absolute against dir and fills derived
// defaults.
func (c *Config) resolve(dir string) {
	for _, p := range []*string{&c.ControlSocket, &c.Ledger, &c.AuditLog, &c.TLS.CA, &c.TLS.Cert, &c.TLS.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Peers {
		if c.Peers[i].ServerName == "" {
			c.Peers[i].ServerName = c.Peers[i].ID
		}
	}
}

func (c *Config) missingFiles() []problem {
	var ps []problem
	for _, f := range []struct {
		key  string
		path string
	}{{"ca", c.TLS.CA}, {"cert", c.TLS.Cert}, {"key", c.TLS.Key}} {
		if _, err := os.Stat(f.path); err != nil {
			ps = append(ps, problem{toml.Key{"tls", f.key}, fmt.Sprintf("cannot use %s: %v", f.path, errors.Unwrap(err))})
		}
	}
	return ps
}

// Peer returns the peer with id.
func (c *Config) Peer(id string) (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == id {
			return p, true
		}
	}
	return Peer{}, false
}

// Encode writes c as TOML.
func (c Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}
