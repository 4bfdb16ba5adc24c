// Command setup prepares a lab workdir: `setup tls` writes the lab CA and
// certificates, `setup config` writes edge.toml, `setup seed` inserts
// PENDING segments into a ledger. The work is done by package labsetup.
package main

import (
	"context"
	"edgelab/internal/version"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"edgelab/setup/labsetup"
	"edgelab/setup/seed"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Stdout).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
}

func newRootCmd(out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "setup",
		Short:         "Prepare a lab workdir: certificates, edge.toml, seeded segments",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = version.String()
	root.SetVersionTemplate("setup {{.Version}}\n")
	root.SetOut(out)
	root.AddCommand(newTLSCmd(), newConfigCmd(), newSeedCmd())
	return root
}

func newTLSCmd() *cobra.Command {
	var dir string
	opts := labsetup.TLSOptions{NodeID: labsetup.DefaultNodeID, PeerID: labsetup.DefaultPeerID, Validity: labsetup.DefaultValidity}
	cmd := &cobra.Command{
		Use:   "tls --dir DIR",
		Short: "Write a lab CA and the certificates of edged and the lab peer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Validity <= 0 {
				return fmt.Errorf("--validity must be positive, got %s", opts.Validity)
			}
			p, err := labsetup.GenerateTLS(dir, opts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "CA:    %s (key %s)\n", p.CA, p.CAKey)
			fmt.Fprintf(w, "edged: %s (key %s), identity %s\n", p.Edged, p.EdgedKey, p.NodeID)
			fmt.Fprintf(w, "peer:  %s (key %s), identity %s\n", p.Peer, p.PeerKey, p.PeerID)
			fmt.Fprintf(w, "valid: %s .. %s\n", p.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), p.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory to write the PEM files into (created if missing)")
	f.StringVar(&opts.NodeID, "node-id", opts.NodeID, "edged's identity (CN and URI SAN of edged.pem)")
	f.StringVar(&opts.PeerID, "peer-id", opts.PeerID, "the lab peer's identity (CN, DNS and URI SAN of peer.pem)")
	f.DurationVar(&opts.Validity, "validity", opts.Validity, "how long the certificates are valid")
	f.BoolVar(&opts.Force, "force", false, "replace PEM files already in the directory")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func newConfigCmd() *cobra.Command {
	var out string
	opts := labsetup.DefaultConfigOptions()
	cmd := &cobra.Command{
		Use:   "config --out edge.toml",
		Short: "Write a valid edge.toml for a lab scenario",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := labsetup.WriteConfig(out, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: node %s listening on %s, peer %s at %s, bandwidth %d B/s burst %d, daily quota %d\n",
				out, cfg.NodeID, cfg.Listen, cfg.Peers[0].ID, cfg.Peers[0].Addr,
				cfg.Relay.Bandwidth.BytesPerSecond, cfg.Relay.Bandwidth.BurstBytes, cfg.Relay.Bandwidth.DailyQuotaBytes)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "path of the edge.toml to write")
	f.StringVar(&opts.NodeID, "node-id", opts.NodeID, "edged's node id")
	f.StringVar(&opts.Listen, "listen", opts.Listen, "edged's mTLS segment listener")
	f.StringVar(&opts.PeerID, "peer-id", opts.PeerID, "the delivery peer's id (also its TLS server name)")
	f.StringVar(&opts.PeerAddr, "peer-addr", opts.PeerAddr, "the delivery peer's address")
	f.StringVar(&opts.TLSDir, "tls-dir", opts.TLSDir, "directory of ca.pem, edged.pem, edged-key.pem (relative: to the config's directory)")
	f.StringVar(&opts.MetricsListen, "metrics-listen", opts.MetricsListen, "optional TCP address for Prometheus scrapes")
	f.DurationVar(&opts.TickInterval, "tick-interval", opts.TickInterval, "relay executor tick")
	f.IntVar(&opts.MaxRetryCount, "max-retry-count", opts.MaxRetryCount, "failed attempts before DEADLETTER")
	f.Int64Var(&opts.BackoffBaseSeconds, "backoff-base-seconds", opts.BackoffBaseSeconds, "retry backoff base: base × 2^(attempt-1) seconds")
	f.Int64Var(&opts.MaxSegmentBytes, "max-segment-bytes", opts.MaxSegmentBytes, "largest segment the listener accepts")
	f.Int64Var(&opts.BytesPerSecond, "bytes-per-second", opts.BytesPerSecond, "boot rate limit (0: unlimited)")
	f.Int64Var(&opts.BurstBytes, "burst-bytes", opts.BurstBytes, "token bucket capacity (0: equal to the rate)")
	f.Int64Var(&opts.DailyQuotaBytes, "daily-quota-bytes", opts.DailyQuotaBytes, "daily quota (0: none)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newSeedCmd() *cobra.Command {
	var (
		ledgerPath string
		batchSpecs []string
	)
	opts := labsetup.SeedOptions{Start: 1, Count: 1, Size: 64, TargetPeer: labsetup.DefaultPeerID}
	cmd := &cobra.Command{
		Use:   "seed --ledger ledger.db (--prefix P [--count N] [--size BYTES] [--target PEER] | --batch P:N:BYTES:PEER[:START] ...)",
		Short: "Insert PENDING segments prefix-001… into a ledger (safe while edged runs)",
		Long: `Insert PENDING segments prefix-001… into a ledger, all or none. The
payload of each is a function of its id and size, so a witness can check it.
--batch (repeatable) inserts several batches, e.g. one per target peer, in
one transaction, all due at the same instant. Each id is printed with its
size and sha256.`,
		Example: `  setup seed --ledger work/ledger.db --prefix val23-sb --count 5 --size 64
  setup seed --ledger work/ledger.db --batch val24-a:5:64:peer-a --batch val24-b:5:64:peer-b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Start < 1 {
				return fmt.Errorf("--start must be at least 1, got %d", opts.Start)
			}
			batches := []labsetup.SeedOptions{opts}
			switch {
			case len(batchSpecs) > 0 && cmd.Flags().Changed("prefix"):
				return errors.New("give either --prefix (one batch) or --batch, not both")
			case len(batchSpecs) > 0:
				batches = batches[:0]
				for _, spec := range batchSpecs {
					b, err := parseBatch(spec)
					if err != nil {
						return err
					}
					batches = append(batches, b)
				}
			case !cmd.Flags().Changed("prefix"):
				return errors.New("missing --prefix (or --batch)")
			}
			ids, err := seed.Batch(cmd.Context(), ledgerPath, batches...)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			total := 0
			for i, b := range batches {
				for _, id := range ids[i] {
					fmt.Fprintf(w, "%s %d sha256=%s\n", id, b.Size, labsetup.PayloadSHA256(id, b.Size))
				}
				total += len(ids[i])
			}
			fmt.Fprintf(w, "inserted %s into %s\n", segmentsText(total, batches), ledgerPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ledgerPath, "ledger", "", "ledger database (created if missing)")
	f.StringVar(&opts.Prefix, "prefix", "", "segment id prefix, e.g. val23-sb")
	f.IntVar(&opts.Start, "start", opts.Start, "first segment number")
	f.IntVar(&opts.Count, "count", opts.Count, "number of segments")
	f.IntVar(&opts.Size, "size", opts.Size, "bytes per segment (deterministic content derived from the id)")
	f.StringVar(&opts.TargetPeer, "target", opts.TargetPeer, "target peer id")
	f.StringArrayVar(&batchSpecs, "batch", nil, "a batch PREFIX:COUNT:SIZE:TARGET[:START] (repeatable; all in one transaction)")
	_ = cmd.MarkFlagRequired("ledger")
	return cmd
}

// parseBatch reads --batch PREFIX:COUNT:SIZE:TARGET[:START].
func parseBatch(spec string) (labsetup.SeedOptions, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 4 && len(parts) != 5 {
		return labsetup.SeedOptions{}, fmt.Errorf("--batch %q: want PREFIX:COUNT:SIZE:TARGET[:START]", spec)
	}
	start := 1
	if len(parts) == 5 {
		n, err := strconv.Atoi(parts[4])
		if err != nil || n < 1 {
			return labsetup.SeedOptions{}, fmt.Errorf("--batch %q: start %q is not a number of at least 1", spec, parts[4])
		}
		start = n
	}
	count, err := strconv.Atoi(parts[1])
	if err != nil {
		return labsetup.SeedOptions{}, fmt.Errorf("--batch %q: count %q is not a number", spec, parts[1])
	}
	size, err := strconv.Atoi(parts[2])
	if err != nil {
		return labsetup.SeedOptions{}, fmt.Errorf("--batch %q: size %q is not a number", spec, parts[2])
	}
	return labsetup.SeedOptions{Prefix: parts[0], Start: start, Count: count, Size: size, TargetPeer: parts[3]}, nil
}

// segmentsText says what was inserted: "1 PENDING segment of 64 bytes for
// peer-val23", "10 PENDING segments (2 batches)".
func segmentsText(n int, batches []labsetup.SeedOptions) string {
	noun := "segments"
	if n == 1 {
		noun = "segment"
	}
	if len(batches) == 1 {
		b := batches[0]
		return fmt.Sprintf("%d PENDING %s of %d bytes for %s", n, noun, b.Size, b.TargetPeer)
	}
	return fmt.Sprintf("%d PENDING %s (%d batches)", n, noun, len(batches))
}
