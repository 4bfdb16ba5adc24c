// Command peer is the mTLS lab peer: it accepts segments over the segment
// protocol and writes JSON evidence of exactly what it received, from whom.
package main

import (
	"context"
	"edgelab/internal/version"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"edgelab/edged/config"
	"edgelab/peer/server"
	"edgelab/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	var (
		tlsDir string
		opts   = server.Options{
			Listen:          server.DefaultListen,
			MaxSegmentBytes: config.DefaultMaxSegmentBytes,
			MaxTrackedPeers: transport.DefaultMaxTrackedPeers,
		}
	)
	cmd := &cobra.Command{
		Use:           "peer --id ID --tls-dir DIR --evidence FILE",
		Short:         "Run the mTLS lab peer: accept segments, write JSON evidence",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.TLS = transport.TLSFiles{
				CA:   filepath.Join(tlsDir, "ca.pem"),
				Cert: filepath.Join(tlsDir, "peer.pem"),
				Key:  filepath.Join(tlsDir, "peer-key.pem"),
			}
			opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
			return server.Run(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", opts.Listen, "address to listen on (port 0: any free port, see --ready-file)")
	f.StringVar(&opts.PeerID, "id", "", "this peer's id (its certificate's identity)")
	f.StringVar(&tlsDir, "tls-dir", "", "directory holding ca.pem, peer.pem and peer-key.pem")
	f.StringVar(&opts.EvidencePath, "evidence", "", "evidence JSON file, rewritten atomically after every change; an existing one is resumed")
	f.BoolVar(&opts.FreshEvidence, "fresh", false, "start with no segments, replacing an existing evidence file instead of resuming it")
	f.StringVar(&opts.ReadyFile, "ready-file", "", "file to write the listen address to once accepting (removed at exit)")
	f.Int64Var(&opts.MaxSegmentBytes, "max-segment-bytes", opts.MaxSegmentBytes, "larger segments are refused with 413")
	f.IntVar(&opts.MaxTrackedPeers, "max-tracked-peers", opts.MaxTrackedPeers, "distinct senders attributed before the overflow series")
	for _, name := range []string{"id", "tls-dir", "evidence"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.Version = version.String()
	cmd.SetVersionTemplate("peer {{.Version}}\n")
	return cmd
}
