// Package server runs the lab peer: the segment protocol over mutual TLS
// 1.3 (HTTP/2) into a received.Store, plus GET /v1/health and
// GET /v1/evidence on the same listener. The peer command and the tests
// share it.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"edgelab/edged/config"
	"edgelab/peer/received"
	"edgelab/transport"
)

// Paths served beside the segment protocol.
const (
	PathHealth   = "/v1/health"
	PathEvidence = "/v1/evidence"
)

// DefaultListen is the VAL23 peer address.
const DefaultListen = "127.0.0.1:19055"

// Options configures a peer server.
type Options struct {
	Listen string // host:port; port 0 picks a free one (see Server.Addr)
	PeerID string
	TLS    transport.TLSFiles
	// EvidencePath is the evidence file, rewritten after every change;
	// empty keeps evidence in memory (GET /v1/evidence still serves it).
	// An existing file is resumed (see received.NewStore).
	EvidencePath string
	// FreshEvidence starts with no segments, replacing an existing
	// evidence file instead of resuming it.
	FreshEvidence bool
	// ReadyFile, when set, is written with the listen address once the
	// listener accepts, and removed at shutdown.
	ReadyFile       string
	MaxSegmentBytes int64 // 0: config.DefaultMaxSegmentBytes
	MaxTrackedPeers int   // 0: transport.DefaultMaxTrackedPeers
	Log             *slog.Logger
}

// Server is a running peer.
type Server struct {
	opts  Options
	log   *slog.Logger
	store *received.Store
	ln    net.Listener
	http  *http.Server
	mux   *http.ServeMux
	seg   *transport.SegmentHandler

	done    chan struct{}
	serveMu sync.Mutex
	err     error // why Serve returned, unless it was Shutdown
}

// Start listens on opts.Listen and serves in the background until Shutdown.
func Start(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.PeerID == "" {
		return nil, errors.New("peer id is required")
	}
	if err := transport.ValidateID(opts.PeerID); err != nil {
		return nil, fmt.Errorf("peer id %q must match [A-Za-z0-9._-]{1,128}", opts.PeerID)
	}
	if opts.MaxSegmentBytes == 0 {
		opts.MaxSegmentBytes = config.DefaultMaxSegmentBytes
	}
	if opts.MaxSegmentBytes < 0 {
		return nil, fmt.Errorf("max segment bytes must be positive, got %d", opts.MaxSegmentBytes)
	}
	if opts.MaxTrackedPeers < 0 {
		return nil, fmt.Errorf("max tracked peers must be positive, got %d", opts.MaxTrackedPeers)
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	tlsCfg, err := opts.TLS.ServerConfig()
	if err != nil {
		return nil, fmt.Errorf("peer TLS: %w", err)
	}
	if leaf := tlsCfg.Certificates[0].Leaf; leaf != nil {
		// edged verifies the peer by its id as server name; a certificate
		// for another identity would fail every delivery, so say so early.
		if got := transport.Identity(leaf); got != opts.PeerID {
			log.Warn("peer certificate names another identity", "cert", opts.TLS.Cert, "identity", got, "peer_id", opts.PeerID)
		}
	}
	store, err := received.NewStore(received.Options{
		Path:    opts.EvidencePath,
		PeerID:  opts.PeerID,
		Ingress: &transport.Attribution{MaxPeers: opts.MaxTrackedPeers},
		Log:     log,
		Fresh:   opts.FreshEvidence,
	})
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:  opts,
		log:   log,
		store: store,
		mux:   http.NewServeMux(),
		done:  make(chan struct{}),
		// Ingress stays nil: the store credits bytes itself, under the lock
		// that writes the evidence (see received.Store).
		seg: &transport.SegmentHandler{Store: store, MaxBytes: opts.MaxSegmentBytes, Log: log},
	}
	s.mux.HandleFunc("GET "+PathHealth, s.health)
	s.mux.HandleFunc("GET "+PathEvidence, s.evidence)
	s.http = &http.Server{
		Handler:           s,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Go's default HTTP/2 windows stall a sender of large segments
		// waiting for window updates; these let a 1 MiB segment flow.
		// MaxConcurrentStreams is edged's cap: each stream may hold a
		// handler and a body buffer.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 16 << 20, MaxReceiveBufferPerStream: 4 << 20,
			MaxConcurrentStreams: transport.MaxConcurrentStreams},
		// Errors of the HTTP server itself land here.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		// edged's listener: handshakes under a short deadline in a budget
		// of their own, the cap on authenticated connections. Refused
		// handshakes (no certificate, unknown CA, expired, TLS 1.2) are
		// logged there as "TLS handshake error", evidence in the peer's log.
		err := s.http.Serve(transport.NewListener(ln, tlsCfg, transport.ListenerLimits{}, log.With("component", "listener")))
		if !errors.Is(err, http.ErrServerClosed) {
			s.serveMu.Lock()
			s.err = err
			s.serveMu.Unlock()
		}
	}()
	if opts.ReadyFile != "" {
		if err := writeReady(opts.ReadyFile, s.Addr()); err != nil {
			s.http.Close()
			<-s.done
			return nil, err
		}
	}
	log.Info("peer listening", "addr", s.Addr(), "peer_id", opts.PeerID, "evidence", opts.EvidencePath,
		"max_segment_bytes", opts.MaxSegmentBytes)
	return s, nil
}

// Addr is the address the peer listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Store is where received segments are kept.
func (s *Server) Store() *received.Store { return s.store }

// Done is closed when the server stopped serving.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped on its own (nil after Shutdown).
func (s *Server) Err() error {
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	return s.err
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// and removes the ready file.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	<-s.done
	if s.opts.ReadyFile != "" {
		if rerr := os.Remove(s.opts.ReadyFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove ready file: %w", rerr))
		}
	}
	if err != nil {
		return fmt.Errorf("shut down peer: %w", err)
	}
	return nil
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, opts Options) error {
	s, err := Start(opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.done:
		if err := s.Err(); err != nil {
			return fmt.Errorf("peer stopped serving: %w", err)
		}
	}
	s.log.Info("peer shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(sctx)
}

// ServeHTTP sends segment paths (and the batched POST /v1/segments:batch,
// each of whose segments the store records as if PUT singly) to the
// segment handler before the mux: ServeMux would clean "/v1/segments/.."
// into a redirect, and the protocol answers a bad id with 400.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, transport.SegmentsPath) || r.URL.Path == transport.BatchPath {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		s.seg.ServeHTTP(rec, r)
		args := []any{"method", r.Method, "path", r.URL.Path, "status", rec.code,
			"bytes", r.ContentLength, "peer_id", r.Header.Get(transport.HeaderPeerID),
			"session", r.Header.Get(transport.HeaderSessionID), "cert", certIdentity(r), "proto", r.Proto}
		if r.URL.Path == transport.BatchPath {
			args = append(args, "segments", r.Header.Get(transport.HeaderBatchCount))
		}
		s.log.Info("segment request", args...)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func certIdentity(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return transport.Identity(r.TLS.PeerCertificates[0])
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Health is the answer of GET /v1/health.
type Health struct {
	Status   string `json:"status"`
	PeerID   string `json:"peer_id"`
	Segments int    `json:"segments"`
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, Health{Status: "ok", PeerID: s.opts.PeerID, Segments: len(s.store.Evidence().Segments)})
}

func (s *Server) evidence(w http.ResponseWriter, _ *http.Request) {
	ev := s.store.Evidence()
	if ev.Ingress.ByPeer == nil {
		ev.Ingress.ByPeer = map[string]int64{}
	}
	writeJSON(w, ev)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// writeReady publishes the listen address atomically, so a poller never
// reads a partial address.
func writeReady(path, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	_, werr := tmp.WriteString(addr + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	return nil
}
