// Package cli is edged's command line: `edged run` starts the daemon, and the
// client commands (relay status, relay decisions, relay config
// set-bandwidth, ledger dump, ledger history) drive a running daemon over
// its control socket.
package cli

import (
	"context"
	"edgelab/internal/version"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"edgelab/edged/config"
	"edgelab/edged/daemon"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1 // the daemon or the API failed, or a change was not applied
	ExitUsage   = 2 // bad flags, arguments or config: nothing was started or sent
)

// Main runs edged with args (without the program name) and returns the exit
// status.
func Main(args []string) int {
	return Run(context.Background(), args, os.Stdout, os.Stderr)
}

// Run is Main with its context and output streams given, for tests and
// embedding.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&app{stdout: stdout, stderr: stderr, runDaemon: daemon.Run}).run(ctx, args)
}

type app struct {
	stdout, stderr io.Writer
	// runDaemon is daemon.Run; tests replace it to see what `run` passes.
	runDaemon func(ctx context.Context, cfg config.Config, log *slog.Logger) error
}

// exitError carries the exit status of a failed command. hint adds a pointer
// to the command's --help, for mistakes in how it was called.
type exitError struct {
	code int
	hint bool
	err  error
	// logged: the error is already in the daemon's log on stderr; saying
	// it again in another form would only repeat it.
	logged bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: ExitUsage, hint: true, err: fmt.Errorf(format, args...)}
}

func failure(err error) error {
	return &exitError{code: ExitFailure, err: err}
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	// Errors cobra makes itself (unknown command or flag, bad flag value)
	// are usage errors.
	code, hint := ExitUsage, true
	var ee *exitError
	if errors.As(err, &ee) {
		code, hint = ee.code, ee.hint
		if ee.logged {
			return code
		}
	}
	for line := range strings.SplitSeq(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(a.stderr, "edged: %s\n", line)
	}
	if hint && cmd != nil {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "edged",
		Short: "edged is the edge relay daemon with live bandwidth controls",
		Long: `edged is the edge relay daemon: a durable segment ledger, a relay executor
that delivers segments to peers over mTLS, bandwidth controls that can be
changed live, a local control API on a unix socket, an audit log and metrics.

Start it with 'edged run --config edge.toml'; the other commands talk to a
running daemon over its control socket.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr("missing command (run, relay, ledger or ingress)")
		},
	}
	root.Version = version.String()
	root.SetVersionTemplate("edged {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, hint: true, err: err}
	})

	relay := &cobra.Command{
		Use:   "relay",
		Short: "Inspect and configure the relay of a running daemon",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("missing command (status, decisions or config)")
		},
	}
	relayConfig := &cobra.Command{
		Use:   "config",
		Short: "Change the relay's settings live",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("missing command (set-bandwidth)")
		},
	}
	relayConfig.AddCommand(a.setBandwidthCmd())
	relay.AddCommand(a.statusCmd(), a.decisionsCmd(), relayConfig)

	ledger := &cobra.Command{
		Use:   "ledger",
		Short: "Inspect the segment ledger of a running daemon",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("missing command (dump, history or requeue)")
		},
	}
	ledger.AddCommand(a.ledgerDumpCmd(), a.ledgerHistoryCmd(), a.ledgerRequeueCmd(), a.ledgerPruneCmd())

	root.AddCommand(a.runCmd(), relay, ledger, a.ingressCmd())
	return root
}

// noArgs refuses positional arguments as a usage error, naming them.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.HasSubCommands() {
		return usageErr("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	if len(args) > 0 {
		return usageErr("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
