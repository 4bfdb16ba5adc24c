// Package daemon wires edged together: config, ledger, limiter, relay
// executor, segment listener, control API, audit log and metrics.
package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"edgelab/edged/audit"
	"edgelab/edged/bandwidth"
	"edgelab/edged/config"
	"edgelab/edged/control"
	"edgelab/edged/ledger"
	"edgelab/edged/metrics"
	"edgelab/edged/relay"
	"edgelab/internal/clock"
	"edgelab/transport"
)

// settingNodeID keeps a generated node id stable across restarts.
const settingNodeID = "node_id"

// insertPoll is how soon segments seeded by another process are noticed.
const insertPoll = 50 * time.Millisecond

// MaxInboundConns caps the authenticated connections the segment listener
// serves at once.
const MaxInboundConns = transport.DefaultMaxConns

// MaxHandshakes caps the connections still in their TLS handshake, each
// given HandshakeTimeout; beyond it new connections are closed at once.
const MaxHandshakes = transport.DefaultMaxHandshakes

// HandshakeTimeout is how long a connection has to authenticate.
const HandshakeTimeout = transport.DefaultHandshakeTimeout

// RelayInFlight is how many segments the executor keeps admitted and not
// yet recorded (relay.Executor.InFlight): enough deliveries under way to
// hide round trips and ledger commits behind one another and to fill each
// ledger transaction with many DELIVERED marks (docs/PERFORMANCE.md). It
// is also the most a crash can leave delivered but not marked, to be
// delivered again after a restart. Their payloads are bounded apart
// (relayInFlightBytes).
const RelayInFlight = 64

// relayOrderedUpTo: a cycle with this many due segments or fewer delivers
// them one at a time, in ledger order, as the lab and most interactive use
// see them; a backlog is relayed RelayInFlight at a time, in any order.
const relayOrderedUpTo = 16

// relayInFlightBytes bounds the payloads of the deliveries under way:
// 16 segments of the default 1 MiB maximum.
const relayInFlightBytes = 16 << 20

// relayBatch is how many due segments a cycle reads: every cycle ends by
// waiting for its last deliveries, so a larger batch spreads that pause
// over more segments.
const relayBatch = 1024

// shutdownGrace bounds how long servers get to finish requests on stop.
const shutdownGrace = 5 * time.Second

// Daemon is a running edged. Build it with Start, stop it by cancelling the
// context given to Start and calling Wait.
type Daemon struct {
	cfg   config.Config
	log   *slog.Logger
	clock clock.Clock // the one clock of the daemon (clock.go)
	// schedule is edge.toml's timetable of rates, nil without one.
	schedule  *bandwidth.Schedule
	nodeID    string
	sessionID string

	ledger   *ledger.Ledger
	lock     *ledger.Lock // held for the daemon's life
	limits   *bandwidth.Limits
	executor *relay.Executor
	audit    auditLog
	client   *transport.Client
	// batcher delivers to the peers with [[peers]] batch = true: the
	// deliveries to one peer that overlap go in one request (DESIGN.md §7,
	// "Batched transfer").
	batcher *transport.Batcher
	ingress *transport.Attribution
	// maxPeers caps the per-peer figures ([ingress] max_tracked_peers).
	maxPeers int
	ingressK *ingressKeys // the sender names the ledger's ingress buckets use (ingress.go)
	// listenAddr is where the segment listener is bound ("" without one).
	listenAddr string
	// segListener and segHandler serve segments (nil without a listener).
	segListener *transport.Listener
	segHandler  *transport.SegmentHandler

	// mu serialises bandwidth changes so each audit event's "previous" is
	// the setting it replaced.
	mu         sync.Mutex
	source     string
	peerSource map[string]string // per configured peer: runtime or default

	// ctl is the control socket's listener; Wait removes its socket file
	// only while it is still the one it created.
	ctl *control.Listener

	servers []*http.Server
	wg      sync.WaitGroup
	errc    chan error
}

// Run runs edged with cfg until ctx is cancelled (SIGTERM/SIGINT), then
// stops taking work, lets the deliveries in flight finish or abandons them,
// closes the ledger and removes the control socket.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	d, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.Wait()
}

// Start opens everything edged needs and starts serving. On error nothing is
// left open.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Daemon, err error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: log, sessionID: uuid.NewString(), errc: make(chan error, 8)}
	d.clock = newClock(cfg, log)
	if d.schedule, err = cfg.Relay.Bandwidth.TimeTable(); err != nil {
		return nil, fmt.Errorf("relay.bandwidth.schedule: %w", err)
	}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()

	// The control socket comes first: if another daemon owns it, nothing of
	// this one (ledger, ports) must be touched.
	ctlListener, err := control.Listen(cfg.ControlSocket)
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { ctlListener.Close() })
	d.ctl = ctlListener

	// The TLS files are read before the ledger is locked: a daemon that
	// cannot run says so, whoever holds the ledger.
	files := transport.TLSFiles{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}
	clientTLS, err := files.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	var serverTLS *tls.Config
	if cfg.Listen != "" {
		if serverTLS, err = files.ServerConfig(); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}

	// One executor per ledger: a second daemon on it would deliver the
	// same segments and count the quota twice. The lock is held until Wait
	// has closed the ledger; other writers (setup seed) open the ledger
	// without it.
	if d.lock, err = ledger.TryLock(cfg.Ledger); err != nil {
		return nil, err
	}
	closers = append(closers, func() { d.lock.Unlock() })
	if d.ledger, err = ledger.Open(cfg.Ledger); err != nil {
		return nil, err
	}
	closers = append(closers, func() { d.ledger.Close() })
	if d.nodeID, err = d.resolveNodeID(ctx); err != nil {
		return nil, err
	}
	settings, source, err := d.bootBandwidth(ctx)
	if err != nil {
		return nil, err
	}
	d.source = source
	usage, err := d.ledger.Usage(ctx, "")
	if err != nil {
		return nil, err
	}
	d.limits = bandwidth.NewLimits(settings, bandwidth.Usage{WindowStart: usage.WindowStart, UsedBytes: usage.UsedBytes}, d.clock.Now)
	// Config validation parsed the period already: an error here cannot
	// happen for a loaded config.
	period, err := cfg.Relay.Bandwidth.Period()
	if err != nil {
		return nil, fmt.Errorf("relay.bandwidth: %w", err)
	}
	d.limits.SetPeriod(period)
	d.limits.SetQuotaHold(cfg.Relay.Bandwidth.QuotaAction == config.QuotaHold)
	d.limits.SetStartEmpty(cfg.Relay.Bandwidth.StartEmpty)
	if err := d.bootPeers(ctx); err != nil {
		return nil, err
	}

	auditFile, err := audit.Open(cfg.AuditLog)
	if err != nil {
		return nil, err
	}
	d.audit = auditFile
	if torn := auditFile.Repaired(); torn != nil {
		log.Warn("audit log ended in a torn line (a crash during an append); cut it off and kept it in the side file",
			"audit_log", cfg.AuditLog, "line", torn.Line, "offset", torn.Offset, "bytes", len(torn.Data), "side_file", torn.SideFile)
	}
	closers = append(closers, func() { d.audit.Close() })

	d.client = &transport.Client{TLS: clientTLS, PeerID: d.nodeID, SessionID: d.sessionID}
	// A batch's payloads are at most one segment of edged's largest: what
	// the peer takes in one PUT already.
	d.batcher = &transport.Batcher{Client: d.client, MaxBytes: cfg.Relay.MaxSegmentBytes}
	// One cap for every per-peer figure: ingress senders, status targets
	// and the metrics SDK's cardinality limit.
	d.maxPeers = cfg.Ingress.MaxTrackedPeers
	if d.maxPeers <= 0 { // a config built in code; Load refuses it
		d.maxPeers = config.DefaultMaxTrackedPeers
	}
	d.ingress = &transport.Attribution{MaxPeers: d.maxPeers}
	d.ingressK = newIngressKeys(d.maxPeers)

	metricsHandler, err := metrics.New(d.Status, d.maxPeers)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}

	// Bind every TCP port before serving any, so a busy port fails the start
	// cleanly.
	var metricsListener net.Listener
	if cfg.Listen != "" {
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("segment listener: %w", err)
		}
		// Every open connection holds a descriptor and a goroutine until
		// its timeouts expire; the caps keep a flood of them from taking
		// the descriptors the ledger, the control socket and deliveries
		// need. Authenticated connections and handshakes in progress have
		// budgets of their own, so connections that never authenticate
		// cannot starve the peers that do (DESIGN.md §3).
		d.segListener = transport.NewListener(l, serverTLS, transport.ListenerLimits{
			MaxConns: MaxInboundConns, MaxHandshakes: MaxHandshakes, HandshakeTimeout: HandshakeTimeout,
		}, log.With("component", "listener"))
		d.listenAddr = l.Addr().String()
		closers = append(closers, func() { d.segListener.Close() })
	}
	if cfg.MetricsListen != "" {
		if metricsListener, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
		closers = append(closers, func() { metricsListener.Close() })
	}

	d.executor = &relay.Executor{
		Ledger:        d.ledger,
		Limits:        d.limits,
		Deliverer:     relay.DeliverFunc(d.deliver),
		MaxRetry:      cfg.Relay.MaxRetryCount,
		BackoffBase:   time.Duration(cfg.Relay.BackoffBaseSeconds) * time.Second,
		MaxBackoff:    time.Duration(cfg.Relay.MaxBackoffSeconds) * time.Second,
		Tick:          cfg.Relay.TickInterval,
		BatchSize:     relayBatch,
		InFlight:      RelayInFlight,
		InFlightBytes: relayInFlightBytes,
		OrderedUpTo:   relayOrderedUpTo,
		InsertPoll:    insertPoll,
		Now:           d.clock.Now,
		Log:           log.With("component", "relay"),
	}
	// relay.Executor makes its wake channel on first use, unguarded: make
	// it here, before the control server (whose set-bandwidth wakes the
	// executor) and Run start, so neither races the other to create it.
	// The token it leaves only starts the first cycle, which starts at once
	// anyway.
	d.executor.Wake()

	ctlServer := control.NewServer(control.NewHandler(d, metricsHandler, log.With("component", "control")), log)
	d.serve(ctlServer, ctlListener, "control")
	if d.segListener != nil {
		d.segHandler = &transport.SegmentHandler{
			Store: d, MaxBytes: cfg.Relay.MaxSegmentBytes, Ingress: d.ingress,
			Log: log.With("component", "listener"),
		}
		d.serve(newServer(d.segHandler, log), d.segListener, "segments")
	}
	if metricsListener != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler)
		d.serve(newServer(mux, log), metricsListener, "metrics")
	}

	execCtx, stopExec := context.WithCancel(context.WithoutCancel(ctx))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.executor.Run(execCtx)
	}()
	d.wakeOnClockMoves(execCtx)
	if d.schedule != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.runSchedule(execCtx)
		}()
	}
	if keep := cfg.Relay.KeepDelivered; keep > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.runRetention(execCtx, keep)
		}()
	}

	// Stop on the caller's signal or the first server failure.
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-ctx.Done():
		case err := <-d.errc:
			d.errc <- err
		}
		d.log.Info("edged stopping")
		stopExec()
		d.shutdownServers()
	}()

	log.Info("edged started", "node_id", d.nodeID, "session", d.sessionID,
		"control_socket", cfg.ControlSocket, "listen", d.listenAddr, "peers", len(cfg.Peers),
		"bandwidth", settings, "bandwidth_source", source)
	return d, nil
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Each stream may hold a handler goroutine and a body buffer: the
		// cap bounds them per connection (the body budget bounds bytes).
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: transport.MaxConcurrentStreams},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (d *Daemon) serve(srv *http.Server, l net.Listener, name string) {
	d.servers = append(d.servers, srv)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("%s server: %w", name, err)
		}
	}()
}

func (d *Daemon) shutdownServers() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, srv := range d.servers {
		if err := srv.Shutdown(ctx); err != nil {
			d.log.Warn("server shutdown", "err", err)
			srv.Close()
		}
	}
}

// Wait blocks until the daemon has stopped, then closes the ledger and the
// audit log and removes the control socket.
func (d *Daemon) Wait() error {
	d.wg.Wait()
	var errs []error
	select {
	case err := <-d.errc:
		errs = append(errs, err)
	default:
	}
	d.client.CloseIdle()
	// A bandwidth change runs detached from its caller and can outlive the
	// server's shutdown grace: let it finish before its audit log and
	// ledger close. One that starts later finds them closed and is refused
	// with nothing changed.
	d.mu.Lock()
	if err := d.audit.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close audit log: %w", err))
	}
	if err := d.ledger.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close ledger: %w", err))
	}
	d.mu.Unlock()
	if err := d.lock.Unlock(); err != nil {
		errs = append(errs, fmt.Errorf("unlock ledger: %w", err))
	}
	// The server's shutdown closed the listener, which removed the socket
	// if it was still ours; this covers a server that never got that far.
	// A socket a successor made at the path stays.
	if removed, err := d.ctl.RemoveSocket(); err != nil {
		errs = append(errs, fmt.Errorf("remove control socket: %w", err))
	} else if !removed {
		if _, err := os.Lstat(d.cfg.ControlSocket); err == nil {
			d.log.Info("control socket left in place: another process made it after ours was removed", "control_socket", d.cfg.ControlSocket)
		}
	}
	d.log.Info("edged stopped")
	return errors.Join(errs...)
}

func (d *Daemon) resolveNodeID(ctx context.Context) (string, error) {
	if d.cfg.NodeID != "" {
		return d.cfg.NodeID, nil
	}
	var id string
	ok, err := d.ledger.Setting(ctx, settingNodeID, &id)
	if err != nil {
		return "", err
	}
	if ok && id != "" {
		return id, nil
	}
	id = uuid.NewString()
	if err := d.ledger.SetSetting(ctx, settingNodeID, id); err != nil {
		return "", err
	}
	return id, nil
}

// deliver sends one segment to its target peer over mTLS: a PUT of its
// own, or its place in the next batch to a peer with batch = true.
func (d *Daemon) deliver(ctx context.Context, seg ledger.Segment, payload *io.SectionReader) error {
	peer, ok := d.cfg.Peer(seg.TargetPeer)
	if !ok {
		return fmt.Errorf("unknown target peer %q (not in [[peers]])", seg.TargetPeer)
	}
	dl := transport.Delivery{
		Addr: peer.Addr, ServerName: peer.ServerName, ID: seg.ID,
		TargetPeer: seg.TargetPeer, Body: payload,
	}
	var err error
	if peer.Batch {
		// Its own answer, or the batch's failure: retried per segment.
		_, err = d.batcher.Deliver(ctx, dl)
	} else {
		_, err = d.client.Deliver(ctx, dl)
	}
	return err
}

// Put stores a segment received on the listener as PENDING for its target,
// so the executor relays it on. A redelivery of a held id is answered 200.
func (d *Daemon) Put(ctx context.Context, in transport.Incoming) (bool, error) {
	if in.TargetPeer == "" {
		return false, &transport.BadSegmentError{Reason: transport.HeaderTargetPeer + " is required"}
	}
	if _, ok := d.cfg.Peer(in.TargetPeer); !ok {
		return false, &transport.BadSegmentError{Reason: fmt.Sprintf("unknown target peer %q", in.TargetPeer)}
	}
	created, err := d.ledger.InsertReceived(ctx, d.clock.Now(), d.ingressK.key(in.Identity), ledger.New{ID: in.ID, TargetPeer: in.TargetPeer, Payload: in.Payload})
	if err != nil {
		return false, err
	}
	if created {
		d.executor.Wake()
		return true, nil
	}
	// A redelivery must be the same segment: another body under a held
	// id is refused (409), not silently dropped.
	same, err := d.sameBody(ctx, in.ID, in.Payload)
	if err != nil {
		return false, err
	}
	if !same {
		return false, &transport.ConflictError{ID: in.ID}
	}
	return false, nil
}

// sameBody reports whether the ledger holds segment id with exactly body.
func (d *Daemon) sameBody(ctx context.Context, id string, body []byte) (bool, error) {
	held, err := d.ledger.OpenPayload(ctx, id)
	if err != nil {
		return false, fmt.Errorf("compare redelivery of %s: %w", id, err)
	}
	defer held.Close()
	if held.Size() != int64(len(body)) {
		return false, nil
	}
	buf := make([]byte, 32<<10)
	for off := int64(0); off < held.Size(); {
		n, err := held.ReadAt(buf[:min(int64(len(buf)), held.Size()-off)], off)
		if n > 0 && !bytes.Equal(buf[:n], body[off:off+int64(n)]) {
			return false, nil
		}
		off += int64(n)
		if err != nil && off < held.Size() {
			return false, fmt.Errorf("compare redelivery of %s: %w", id, err)
		}
	}
	return true, nil
}
