package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"edgelab/edged/api"
	"edgelab/edged/config"
)

func (a *app) runCmd() *cobra.Command {
	var (
		cfgPath   string
		logFormat string
		logLevel  string
		labClock  bool
		cpuProf   string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon until SIGINT or SIGTERM",
		Long: `Run loads edge.toml, opens the ledger, and runs the relay executor, the mTLS
segment listener and the control API until SIGINT or SIGTERM. A config with
unknown keys, bad values or missing TLS files is refused before anything
starts, naming the file, the line and the key (exit status 2).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageErr("--log-level %q: want debug, info, warn or error", logLevel)
			}
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler
			switch logFormat {
			case "text":
				h = slog.NewTextHandler(a.stderr, opts)
			case "json":
				h = slog.NewJSONHandler(a.stderr, opts)
			default:
				return usageErr("--log-format %q: want text or json", logFormat)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				// The config's own errors name file, line and key.
				return &exitError{code: ExitUsage, err: err}
			}
			cfg.LabClock = labClock
			log := slog.New(h)
			if cpuProf != "" {
				stopProfile, err := startCPUProfile(cpuProf)
				if err != nil {
					return usageErr("--cpu-profile: %v", err)
				}
				defer stopProfile()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log.Info("edged starting", "config", cfg.File, "pid", os.Getpid())
			if err := a.runDaemon(ctx, cfg, log); err != nil {
				// Once the log has started, the error is one log line on
				// stderr (in the format asked for), not that and a plain
				// line too.
				log.Error("edged stopped on an error", "err", err)
				return &exitError{code: ExitFailure, err: fmt.Errorf("run: %w", err), logged: true}
			}
			return nil // the daemon logs its own clean stop
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "edge.toml", "path of edge.toml")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "lowest level logged: debug, info, warn or error")
	cmd.Flags().StringVar(&cpuProf, "cpu-profile", "", "write a CPU profile of the whole run to this file (read it with go tool pprof)")
	cmd.Flags().BoolVar(&labClock, "lab-clock", false, "labs only: run on a clock that POST "+api.PathLabClock+" moves (quotas, backoffs, ledger times follow it)")
	return cmd
}

// startCPUProfile profiles the process into path until the returned func
// runs (at a clean stop: a killed daemon leaves an unreadable file).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
