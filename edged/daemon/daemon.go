// Package daemon wires edged together: config, ledger, limiter, relay
// executor, segment listener, control API, audit log and metrics.
package daemon

import (
	"context"
	"errors"
	"log/slog"

	"edgelab/edged/config"
)

// Run runs edged with cfg until ctx is cancelled (SIGTERM/SIGINT), then
// stops taking work, lets the in-flight delivery finish or abandons it,
// closes the ledger and removes the control socket.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return errors.New("daemon.Run: not implemented yet")
}
