// Command sink is the minimal receiver of the end-to-end benchmarks: the
// segment protocol over mutual TLS 1.3 (HTTP/2) like the lab peer, but it
// only records each segment's id, size and arrival time in memory, and
// writes them as JSON to --out when it is stopped (SIGTERM or SIGINT). It
// shows edged's own cost where the lab peer's evidence file would be the
// bottleneck.
//
//	sink --listen 127.0.0.1:0 --tls-dir DIR --ready-file F --out received.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"edgelab/perf"
	"edgelab/transport"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	tlsDir := flag.String("tls-dir", "", "directory holding ca.pem, peer.pem and peer-key.pem")
	ready := flag.String("ready-file", "", "file to write the listen address to once accepting")
	out := flag.String("out", "received.json", "where to write the records at exit")
	maxBytes := flag.Int64("max-segment-bytes", 64<<20, "larger segments are refused with 413")
	listeners := flag.Int("listeners", 1, "listen on this many addresses (each a new port: --listen must say port 0); the ready file lists them, one a line")
	flag.Parse()
	if *tlsDir == "" {
		return errors.New("--tls-dir is required")
	}
	files := transport.TLSFiles{
		CA:   filepath.Join(*tlsDir, "ca.pem"),
		Cert: filepath.Join(*tlsDir, "peer.pem"),
		Key:  filepath.Join(*tlsDir, "peer-key.pem"),
	}
	cfg, err := files.ServerConfig()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var sink perf.Sink
	// The lab peer's server settings (peer/server), so that the two
	// receivers differ in what they do with a segment, and in the HTTP/2
	// windows below.
	srv := &http.Server{
		Handler:           &transport.SegmentHandler{Store: &sink, MaxBytes: *maxBytes},
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		// Larger HTTP/2 receive windows than Go's defaults (1 MiB per
		// connection): with the defaults a sender of large segments waits
		// on window updates more than on the receiver's processor. The lab
		// peer should have the same (docs/PERFORMANCE.md).
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 16 << 20, MaxReceiveBufferPerStream: 4 << 20},
	}
	if *listeners < 1 {
		return fmt.Errorf("--listeners %d: want at least 1", *listeners)
	}
	if _, port, err := net.SplitHostPort(*listen); *listeners > 1 && (err != nil || port != "0") {
		return fmt.Errorf("--listeners %d needs --listen host:0, not %q", *listeners, *listen)
	}
	done := make(chan error, *listeners)
	var addrs []string
	for range *listeners {
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		addrs = append(addrs, l.Addr().String())
		go func() { done <- srv.ServeTLS(l, "", "") }()
	}
	if *ready != "" {
		// Written aside and renamed, so a reader never sees it half done.
		tmp := *ready + ".tmp"
		if err := os.WriteFile(tmp, []byte(strings.Join(addrs, "\n")), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *ready); err != nil {
			return err
		}
		defer os.Remove(*ready)
	}
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	data, err := json.Marshal(sink.Received())
	if err != nil {
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}
