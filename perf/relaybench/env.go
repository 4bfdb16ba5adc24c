// Package relaybench measures edged's whole-process figures (docs/
// PERFORMANCE.md): real edged, peer and sink processes on free loopback
// ports, segments seeded into the ledger, and the baselines of package perf
// measured in the same run, interleaved with the figures they are compared
// with, so that a noisy machine moves both sides.
package relaybench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/edged/ledger"
	"edgelab/labs/harness"
	"edgelab/perf"
	"edgelab/setup/labsetup"
)

// Env is where the processes run: the binaries (edged, peer, sink), a work
// directory, the lab TLS files, and where progress is written.
type Env struct {
	Bin  map[string]string
	Work string
	TLS  labsetup.TLSPaths
	Log  io.Writer

	runs int
}

// NewEnv generates the lab certificates under work.
func NewEnv(bin map[string]string, work string, log io.Writer) (*Env, error) {
	for _, name := range []string{"edged", "peer", "sink"} {
		if bin[name] == "" {
			return nil, fmt.Errorf("no %s binary", name)
		}
	}
	p, err := perf.NewTLS(work)
	if err != nil {
		return nil, err
	}
	return &Env{Bin: bin, Work: work, TLS: p, Log: log}, nil
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// Receiver is what edged relays to: the lab peer (its evidence file
// rewritten after every segment) or the sink (receive times in memory).
type Receiver string

const (
	Peer Receiver = "peer"
	Sink Receiver = "sink"
)

// Run is one edged process relaying segments seeded before it started to
// one receiver process.
type Run struct {
	env   *Env
	Dir   string
	group harness.Group

	Receiver Receiver
	recv     *harness.Process
	RecvAddr string
	Edged    *harness.Process
	Control  *control.Client
}

// RunOptions shape a run: what is seeded and the edge.toml bandwidth.
type RunOptions struct {
	Receiver Receiver
	Count    int
	Size     int
	Config   func(*labsetup.ConfigOptions) // e.g. a rate limit at boot
	// Peers > 1 lists that many peers in edge.toml (peer-0001…, every one
	// at the receiver) and spreads the seeded segments over them in turn:
	// the status's per-peer work at fleet size.
	Peers int
}

// Start seeds the ledger, starts the receiver, then edged.
func (e *Env) Start(ctx context.Context, o RunOptions) (_ *Run, err error) {
	e.runs++
	r := &Run{env: e, Dir: filepath.Join(e.Work, fmt.Sprintf("run-%02d-%s-%dx%d", e.runs, o.Receiver, o.Count, o.Size)), Receiver: o.Receiver}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.group.StopAll()
		}
	}()
	maxBytes := max(int64(o.Size), 1<<20)
	targets := []string{labsetup.DefaultPeerID}
	if o.Peers > 1 {
		targets = PeerIDs(o.Peers)
	}
	if err := SeedTargets(ctx, r.path("ledger.db"), "b", o.Count, o.Size, targets); err != nil {
		return nil, err
	}
	ready := r.path(string(o.Receiver) + ".ready")
	spec := harness.Spec{Name: string(o.Receiver), Dir: r.Dir, Log: r.path(string(o.Receiver) + ".log")}
	switch o.Receiver {
	case Peer:
		spec.Path = e.Bin["peer"]
		spec.Args = []string{"--listen", "127.0.0.1:0", "--id", e.TLS.PeerID, "--tls-dir", e.TLS.Dir,
			"--evidence", r.path("peer-evidence.json"), "--ready-file", ready, "--max-segment-bytes", strconv.FormatInt(maxBytes, 10)}
	case Sink:
		spec.Path = e.Bin["sink"]
		spec.Args = []string{"--listen", "127.0.0.1:0", "--tls-dir", e.TLS.Dir,
			"--out", r.path("sink-received.json"), "--ready-file", ready, "--max-segment-bytes", strconv.FormatInt(maxBytes, 10)}
	default:
		return nil, fmt.Errorf("unknown receiver %q", o.Receiver)
	}
	if r.recv, err = r.group.Start(spec); err != nil {
		return nil, err
	}
	if err := harness.WaitFile(ctx, 20*time.Second, ready, r.recv); err != nil {
		return nil, err
	}
	addr, err := os.ReadFile(ready)
	if err != nil {
		return nil, err
	}
	r.RecvAddr = strings.TrimSpace(string(addr))

	opts := labsetup.DefaultConfigOptions()
	opts.Listen = "127.0.0.1:0"
	opts.PeerID = e.TLS.PeerID
	opts.PeerAddr = r.RecvAddr
	opts.TLSDir = e.TLS.Dir
	opts.MaxSegmentBytes = maxBytes
	if o.Config != nil {
		o.Config(&opts)
	}
	if err := writeConfig(r.path("edge.toml"), opts, targets, e.TLS.PeerID); err != nil {
		return nil, err
	}
	if r.Edged, err = r.group.Start(harness.Spec{
		Name: "edged", Path: e.Bin["edged"], Dir: r.Dir, Log: r.path("edged.log"),
		Args: []string{"run", "--config", "edge.toml"},
	}); err != nil {
		return nil, err
	}
	r.Control = &control.Client{Socket: r.path("ctl.sock")}
	if _, err := harness.Until(ctx, harness.Poll{Timeout: 20 * time.Second, Interval: 10 * time.Millisecond},
		func(ctx context.Context) (api.Status, error) {
			if err := r.Edged.Alive(); err != nil {
				return api.Status{}, harness.Abort(err)
			}
			return r.Control.Status(ctx)
		}, func(api.Status) bool { return true }); err != nil {
		return nil, fmt.Errorf("edged did not answer on its control socket: %w (see %s)", err, r.path("edged.log"))
	}
	return r, nil
}

func (r *Run) path(name string) string { return filepath.Join(r.Dir, name) }

// PeerIDs are the ids of n configured peers: peer-0001…
func PeerIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("peer-%04d", i+1)
	}
	return ids
}

// writeConfig writes edge.toml for opts; with several targets, one
// [[peers]] entry each, all at the receiver under its TLS name.
func writeConfig(path string, opts labsetup.ConfigOptions, targets []string, serverName string) error {
	if len(targets) <= 1 {
		_, err := labsetup.WriteConfig(path, opts)
		return err
	}
	cfg := labsetup.BuildConfig(opts)
	cfg.Peers = cfg.Peers[:0]
	for _, id := range targets {
		cfg.Peers = append(cfg.Peers, config.Peer{ID: id, Addr: opts.PeerAddr, ServerName: serverName})
	}
	data, err := cfg.Encode()
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// Seed inserts count PENDING segments of size bytes, prefix-0000001…, due
// now, as setup seed does (another connection to the ledger). The payload
// is a cheap pattern: the figures are about moving bytes, and the
// receivers do not check contents.
func Seed(ctx context.Context, path, prefix string, count, size int) error {
	return SeedTargets(ctx, path, prefix, count, size, []string{labsetup.DefaultPeerID})
}

// SeedTargets is Seed with the segments spread over targets in turn.
func SeedTargets(ctx context.Context, path, prefix string, count, size int, targets []string) error {
	l, err := ledger.Open(path)
	if err != nil {
		return err
	}
	defer l.Close()
	payload := bytes.Repeat([]byte("edgelab-"), size/8+1)[:size]
	const chunk = 512
	now := time.Now()
	for start := 0; start < count; start += chunk {
		var segs []ledger.New
		for i := start; i < min(count, start+chunk); i++ {
			segs = append(segs, ledger.New{ID: fmt.Sprintf("%s-%07d", prefix, i+1), TargetPeer: targets[i%len(targets)], Payload: payload})
		}
		if err := l.Insert(ctx, now, segs...); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// WaitDelivered polls the status every interval until n segments are
// DELIVERED; each poll's round trip is passed to observe (nil: none).
func (r *Run) WaitDelivered(ctx context.Context, n int64, interval, timeout time.Duration, observe func(time.Duration, api.Status)) (api.Status, error) {
	return r.WaitStatus(ctx, interval, timeout, observe, func(st api.Status) bool { return st.Segments.Delivered >= n })
}

// WaitStatus polls the status every interval until done holds; each poll's
// round trip is passed to observe (nil: none).
func (r *Run) WaitStatus(ctx context.Context, interval, timeout time.Duration, observe func(time.Duration, api.Status), done func(api.Status) bool) (api.Status, error) {
	return harness.Until(ctx, harness.Poll{Timeout: timeout, Interval: interval},
		func(ctx context.Context) (api.Status, error) {
			if err := r.Edged.Alive(); err != nil {
				return api.Status{}, harness.Abort(err)
			}
			start := time.Now()
			st, err := r.Control.Status(ctx)
			if err == nil && observe != nil {
				observe(time.Since(start), st)
			}
			return st, err
		}, done)
}

// Arrival is one segment at the receiver.
type Arrival struct {
	ID    string
	Bytes int64
	At    time.Time
}

// CPU is the processor time edged and the receiver have used so far.
func (r *Run) CPU() (edged, recv time.Duration, err error) {
	if edged, err = ReadCPU(r.Edged.Pid()); err != nil {
		return 0, 0, err
	}
	recv, err = ReadCPU(r.recv.Pid())
	return edged, recv, err
}

// Finish stops edged and the receiver and returns what arrived (in arrival
// order) and the ledger's rows.
func (r *Run) Finish() ([]Arrival, []ledger.Segment, error) {
	errs := []error{r.Edged.Stop(10 * time.Second), r.recv.Stop(10 * time.Second)}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	arrivals, err := r.arrivals()
	if err != nil {
		return nil, nil, err
	}
	l, err := ledger.Open(r.path("ledger.db"))
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	segs, err := l.List(context.Background())
	return arrivals, segs, err
}

// Stop stops every process of the run.
func (r *Run) Stop() error { return r.group.StopAll() }

func (r *Run) arrivals() ([]Arrival, error) {
	var out []Arrival
	switch r.Receiver {
	case Sink:
		data, err := os.ReadFile(r.path("sink-received.json"))
		if err != nil {
			return nil, err
		}
		var recs []perf.Received
		if err := json.Unmarshal(data, &recs); err != nil {
			return nil, fmt.Errorf("sink records: %w", err)
		}
		for _, rec := range recs {
			out = append(out, Arrival{ID: rec.ID, Bytes: rec.Bytes, At: time.Unix(0, rec.At)})
		}
	case Peer:
		return PeerArrivals(r.path("peer-evidence.json"))
	}
	return out, nil
}

// PeerArrivals reads the receive times from a lab peer's evidence file
// (docs/DESIGN.md §4), in the order the peer recorded them.
func PeerArrivals(path string) ([]Arrival, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ev struct {
		Segments []struct {
			ID         string    `json:"id"`
			Bytes      int64     `json:"bytes"`
			ReceivedAt time.Time `json:"received_at"`
		} `json:"segments"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("peer evidence %s: %w", path, err)
	}
	out := make([]Arrival, 0, len(ev.Segments))
	for _, s := range ev.Segments {
		out = append(out, Arrival{ID: s.ID, Bytes: s.Bytes, At: s.ReceivedAt})
	}
	return out, nil
}

// ReadCPU is the user + system time of pid, from /proc/PID/stat.
func ReadCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start at ")".
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// Memory is a process's resident set: the largest seen and the kernel's
// high-water mark.
type Memory struct {
	RSS, HWM int64 // bytes
}

// ReadMemory reads VmRSS and VmHWM of pid from /proc.
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.HWM = kb << 10
		}
	}
	if m.HWM == 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
	}
	return m, nil
}
