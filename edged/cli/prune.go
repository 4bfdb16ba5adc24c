package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"edgelab/edged/api"
	"edgelab/edged/control"
)

func (a *app) ledgerPruneCmd() *cobra.Command {
	var (
		opts      clientOpts
		olderThan time.Duration
		dryRun    bool
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than DURATION [--dry-run]",
		Short: "Delete DELIVERED segments delivered longer ago than a duration",
		Long: `prune deletes DELIVERED segments delivered more than --older-than ago, with
their attempt history and payloads, in small transactions (deliveries go on
meanwhile). The delivered counts in status and /metrics keep counting them.
PENDING and DEADLETTER segments are never pruned. [relay] keep_delivered in
edge.toml does the same every minute.

Exit status: 0 when pruned (or counted, with --dry-run), 1 when the daemon
failed, 2 for bad flags.`,
		Example: `  edged ledger prune --older-than 72h --dry-run
  edged ledger prune --older-than 168h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < time.Minute {
				return usageErr("--older-than must be at least 1m, got %s", olderThan)
			}
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodPost, api.PathPrune, api.PruneRequest{OlderThan: olderThan.String(), DryRun: dryRun})
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(a.stdout, body)
				}
				var resp api.PruneResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					return fmt.Errorf("decode prune answer: %w", err)
				}
				verb := "pruned"
				if resp.DryRun {
					verb = "would prune (dry run, nothing changed)"
				}
				fmt.Fprintf(a.stdout, "%s %d delivered segment(s) delivered before %s\n", verb, resp.Pruned, resp.Cutoff.Format(time.RFC3339))
				return nil
			})
		},
	}
	opts.addFlags(cmd)
	f := cmd.Flags()
	f.DurationVar(&olderThan, "older-than", 0, "delete segments delivered longer ago than this (at least 1m)")
	f.BoolVar(&dryRun, "dry-run", false, "count them; delete nothing")
	f.BoolVar(&asJSON, "json", false, "print the daemon's JSON answer")
	_ = cmd.MarkFlagRequired("older-than")
	return cmd
}
