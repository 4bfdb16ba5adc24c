package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/edged/control"
)

// defaultConfig is read for the socket path when neither --socket nor
// --config is given, if it exists in the working directory.
const defaultConfig = "edge.toml"

// clientOpts are the flags every client command shares.
type clientOpts struct {
	socket  string
	config  string
	timeout time.Duration
}

func (o *clientOpts) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.socket, "socket", "", "control socket of the daemon (default: control_socket of --config, else ./"+control.DefaultSocket+")")
	f.StringVar(&o.config, "config", "", "edge.toml to read control_socket from (default: ./"+defaultConfig+" if it exists)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "give up on the daemon after this long (0: never)")
}

// socketPath finds the control socket: --socket, else control_socket of
// --config, else of ./edge.toml, else ./ctl.sock.
func (o *clientOpts) socketPath() (string, error) {
	switch {
	case o.socket != "" && o.config != "":
		return "", usageErr("give --socket or --config, not both")
	case o.socket != "":
		return o.socket, nil
	case o.config != "":
		return socketFromConfig(o.config)
	}
	if _, err := os.Stat(defaultConfig); err == nil {
		return socketFromConfig(defaultConfig)
	}
	return control.DefaultSocket, nil
}

func socketFromConfig(path string) (string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return "", &exitError{code: ExitUsage, err: fmt.Errorf("find the control socket: %w", err)}
	}
	return cfg.ControlSocket, nil
}

// call runs fn with a client for the daemon, under --timeout.
func (o *clientOpts) call(cmd *cobra.Command, fn func(ctx context.Context, c *control.Client) error) error {
	if o.timeout < 0 {
		return usageErr("--timeout must not be negative, got %s", o.timeout)
	}
	sock, err := o.socketPath()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if err := fn(ctx, &control.Client{Socket: sock}); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer from %s within --timeout %s: %w", sock, o.timeout, err)
		}
		return failure(err)
	}
	return nil
}

// printIndented writes a JSON answer indented, keeping every field the
// daemon sent, including ones this CLI does not know yet.
func printIndented(w io.Writer, body []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(body), "", "  "); err != nil {
		return fmt.Errorf("the daemon's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func (a *app) statusCmd() *cobra.Command {
	var (
		opts   clientOpts
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the relay's bandwidth settings, counters and segment counts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodGet, api.PathStatus, nil)
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(a.stdout, body)
				}
				var st api.Status
				if err := json.Unmarshal(body, &st); err != nil {
					return fmt.Errorf("decode status: %w", err)
				}
				return writeStatus(a.stdout, st)
			})
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status JSON of the control API")
	return cmd
}

func (a *app) ledgerDumpCmd() *cobra.Command {
	var opts clientOpts
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Print every segment of the ledger, with its attempt history, as JSON",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodGet, api.PathLedger, nil)
				if err != nil {
					return err
				}
				return printIndented(a.stdout, body)
			})
		},
	}
	opts.addFlags(cmd)
	return cmd
}

func (a *app) ledgerHistoryCmd() *cobra.Command {
	var (
		opts   clientOpts
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Show every delivery attempt of one segment",
		Long: `history prints the delivery attempts the ledger recorded for segment ID:
when each started (its admission by the bandwidth limits) and ended (the
peer's answer), and how it ended. A quota drop is a failed attempt that
starts and ends at its admission; a throttle defers a segment without an
attempt ('edged relay decisions' shows those).

Attempts made by an edged older than the history are not in it.

A segment requeued ('edged ledger requeue') keeps its earlier attempts: the
history then has a ROUND column, each requeue a line of its own ending its
round, and the next round's attempts are numbered from 1 again.

Exit status: 0 when shown, 1 when the segment is not in the ledger or the
daemon failed, 2 for bad flags or arguments (nothing is sent).`,
		Example: `  edged ledger history val23-sc-001
  edged ledger history val23-sc-001 --json`,
		Args: segmentID,
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				path := api.PathHistory + "?" + url.Values{"id": {args[0]}}.Encode()
				body, err := c.Do(ctx, http.MethodGet, path, nil)
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(a.stdout, body)
				}
				var seg api.Segment
				if err := json.Unmarshal(body, &seg); err != nil {
					return fmt.Errorf("decode the history of %s: %w", args[0], err)
				}
				return writeHistory(a.stdout, seg)
			})
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the segment with its history as the control API answers it")
	return cmd
}

// segmentID takes exactly one non-empty segment id, refusing anything else
// as a usage error.
func segmentID(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usageErr("missing the segment ID: %s ID", cmd.CommandPath())
	case len(args) > 1:
		return usageErr("%s takes one segment ID, got %q", cmd.CommandPath(), args)
	case args[0] == "":
		return usageErr("the segment ID must not be empty")
	}
	return nil
}

func (a *app) decisionsCmd() *cobra.Command {
	var (
		opts   clientOpts
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "Show the bandwidth limiter's journal of decisions",
		Long: `decisions prints the bandwidth limiter's journal, oldest first: every
admission it decided (allowed, throttled, quota_exceeded) and every change of
the limits in force (settings: at start, and at every set-bandwidth), each
with the limiter's clock reading.

SCOPE is the limit concerned: global, or a peer's own limit; for a refusal,
the limit that refused. TOKENS is what that limit's token bucket held before
the decision (for settings: once they apply), "-" without a rate. A throttled
segment is retried when the buckets hold enough (RETRY AT), never when it is
larger than a burst.

The journal keeps the latest decisions only (its capacity); the first line
says how many it no longer holds.`,
		Example: `  edged relay decisions
  edged relay decisions --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodGet, api.PathDecisions, nil)
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(a.stdout, body)
				}
				var d api.Decisions
				if err := json.Unmarshal(body, &d); err != nil {
					return fmt.Errorf("decode decisions: %w", err)
				}
				return writeDecisions(a.stdout, d)
			})
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the journal as the control API answers it")
	return cmd
}

func (a *app) setBandwidthCmd() *cobra.Command {
	var (
		opts        clientOpts
		req         api.SetBandwidthRequest
		rate, burst int64
		quota       int64
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "set-bandwidth",
		Short: "Change the bandwidth limits of the running daemon, live",
		Long: `set-bandwidth applies new limits to the running daemon at once (within one
executor tick), persists them, and records them in the audit log. A value
of 0 means no limit of that kind; a limit whose flag is not given keeps its
current value (--bytes-per-second 0 alone also clears the burst). --reset
drops the runtime setting and returns to edge.toml.

With --peer ID the limit applies to deliveries to that peer (one of
[[peers]] in edge.toml) on top of the global limit: a segment is delivered
only when both allow it. --reset --peer ID drops that peer's limit.

Exit status: 0 when applied, 1 when the daemon refused or did not apply it,
2 for bad flags (nothing is sent).`,
		Example: `  edged relay config set-bandwidth --bytes-per-second 64
  edged relay config set-bandwidth --daily-quota-bytes 128       # the rate stays 64
  edged relay config set-bandwidth --bytes-per-second 0 --daily-quota-bytes 0   # unlimited
  edged relay config set-bandwidth --reset
  edged relay config set-bandwidth --peer peer-a --bytes-per-second 64 --daily-quota-bytes 4096
  edged relay config set-bandwidth --reset --peer peer-a`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Only the flags given are sent: the others keep their values.
			for name, v := range map[string]struct {
				dst **int64
				val int64
			}{"bytes-per-second": {&req.BytesPerSecond, rate}, "burst-bytes": {&req.BurstBytes, burst}, "daily-quota-bytes": {&req.DailyQuotaBytes, quota}} {
				if cmd.Flags().Changed(name) {
					*v.dst = api.Value(v.val)
				}
			}
			if err := checkBandwidthFlags(cmd, req); err != nil {
				return err
			}
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodPost, api.PathBandwidth, req)
				if err != nil {
					return err
				}
				var resp api.SetBandwidthResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					return fmt.Errorf("decode set-bandwidth answer: %w", err)
				}
				if asJSON {
					if _, err := a.stdout.Write(body); err != nil {
						return err
					}
				} else {
					verb := "applied"
					if !resp.Applied {
						verb = "NOT applied"
					}
					if req.Peer != "" {
						verb += " for peer " + req.Peer
					}
					fmt.Fprintf(a.stdout, "%s: %s\n", verb, bandwidthText(resp.Bandwidth))
					fmt.Fprintf(a.stdout, "previous: %s\n", bandwidthText(resp.Previous))
					for _, w := range resp.Warnings {
						fmt.Fprintf(a.stderr, "warning: %s\n", w)
					}
				}
				if !resp.Applied {
					return failure(errors.New("the daemon did not apply the bandwidth change"))
				}
				return nil
			})
		},
	}
	opts.addFlags(cmd)
	f := cmd.Flags()
	f.Int64Var(&rate, "bytes-per-second", 0, "token bucket rate in bytes per second (0: no rate limit; not given: unchanged)")
	f.Int64Var(&burst, "burst-bytes", 0, "token bucket capacity in bytes (0: equal to the rate; not given: unchanged)")
	f.Int64Var(&quota, "daily-quota-bytes", 0, "bytes allowed per quota window (0: no quota; not given: unchanged)")
	f.StringVar(&req.Peer, "peer", "", "set this peer's own limit (on top of the global one) instead of the global limit")
	f.BoolVar(&req.Reset, "reset", false, "drop the runtime setting: the global one returns to edge.toml, a --peer one to unlimited")
	f.BoolVar(&asJSON, "json", false, "print the daemon's JSON answer as received")
	return cmd
}

var valueFlags = []string{"bytes-per-second", "burst-bytes", "daily-quota-bytes"}

// checkBandwidthFlags refuses what the daemon would refuse, before anything
// is sent, naming the flag.
// jsonToFlags renames request fields in validation errors to the flags
// that set them.
var jsonToFlags = strings.NewReplacer(
	"bytes_per_second", "--bytes-per-second",
	"burst_bytes", "--burst-bytes",
	"daily_quota_bytes", "--daily-quota-bytes",
	"peer: ", "--peer: ",
)

func checkBandwidthFlags(cmd *cobra.Command, req api.SetBandwidthRequest) error {
	given := 0
	for _, name := range valueFlags {
		if cmd.Flags().Changed(name) {
			given++
		}
	}
	if given == 0 && !req.Reset {
		return usageErr("give at least one of --bytes-per-second, --burst-bytes, --daily-quota-bytes, or --reset")
	}
	if given > 0 && req.Reset {
		return usageErr("--reset returns to edge.toml and cannot be combined with --bytes-per-second, --burst-bytes or --daily-quota-bytes")
	}
	// The daemon's own rule, checked before sending, spoken in flag names.
	if err := control.ValidateBandwidthRequest(req); err != nil {
		return usageErr("%s", jsonToFlags.Replace(err.Error()))
	}
	return nil
}
