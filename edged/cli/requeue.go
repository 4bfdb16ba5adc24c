package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"edgelab/edged/api"
	"edgelab/edged/control"
)

func (a *app) ledgerRequeueCmd() *cobra.Command {
	var (
		opts   clientOpts
		req    api.RequeueRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "requeue (--id ID... | --peer PEER | --all) [--dry-run]",
		Short: "Move dead-lettered segments back to PENDING, to be delivered again at once",
		Long: `requeue moves DEADLETTER segments back to PENDING: their attempt count is
reset to 0, their last error cleared, and they are due at once (the executor
is woken). Their attempt history is kept: it gains an entry "requeued" that
ends the round, and the attempts of the next round are numbered from 1
again ('edged ledger history ID' shows the rounds).

Select the segments with --id (repeatable, or comma-separated), --peer (every
dead-lettered segment for that target) or --all. With --id it is all or
nothing: if one id is DELIVERED, PENDING or not in the ledger, nothing is
requeued and each such id is named. --dry-run says what would be requeued
and changes nothing. A requeue is recorded in the audit log (event
ledger.requeued, with the ids and the caller).

Exit status: 0 when requeued (or, with --dry-run, checked), 1 when the daemon
refused or failed, 2 for bad flags (nothing is sent).`,
		Example: `  edged ledger requeue --id val23-sc-001 --id val23-sc-002
  edged ledger requeue --peer peer-a --dry-run
  edged ledger requeue --all`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := control.ValidateRequeueRequest(req); err != nil {
				return usageErr("give exactly one of --id, --peer or --all (and no empty --id)")
			}
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				body, err := c.Do(ctx, http.MethodPost, api.PathRequeue, req)
				if err != nil {
					return err
				}
				if asJSON {
					return printIndented(a.stdout, body)
				}
				var resp api.RequeueResponse
				if err := json.Unmarshal(body, &resp); err != nil {
					return fmt.Errorf("decode requeue answer: %w", err)
				}
				verb := "requeued"
				if resp.DryRun {
					verb = "would requeue (dry run, nothing changed)"
				}
				fmt.Fprintf(a.stdout, "%s %d segment(s)\n", verb, len(resp.Requeued))
				for _, id := range resp.Requeued {
					fmt.Fprintln(a.stdout, id)
				}
				for _, w := range resp.Warnings {
					fmt.Fprintf(a.stderr, "warning: %s\n", w)
				}
				return nil
			})
		},
	}
	opts.addFlags(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&req.IDs, "id", nil, "a dead-lettered segment to requeue (repeat, or separate with commas)")
	f.StringVar(&req.Peer, "peer", "", "requeue every dead-lettered segment for this target peer")
	f.BoolVar(&req.All, "all", false, "requeue every dead-lettered segment")
	f.BoolVar(&req.DryRun, "dry-run", false, "say what would be requeued; change nothing")
	f.BoolVar(&asJSON, "json", false, "print the daemon's JSON answer")
	return cmd
}

// requeued reports whether seg's history has rounds: a requeue in it.
func requeued(seg api.Segment) bool {
	for _, a := range seg.History {
		if a.Outcome == api.AttemptRequeued {
			return true
		}
	}
	return false
}

// writeRounds renders a history with requeues: a ROUND column, and each
// requeue as a line of its own closing its round.
func writeRounds(tw *tabwriter.Writer, seg api.Segment) error {
	rounds := 1
	for _, a := range seg.History {
		if a.Outcome == api.AttemptRequeued {
			rounds++
		}
	}
	fmt.Fprintf(tw, "rounds\t%d (requeued %d time(s); attempt numbers start at 1 in each round)\n", rounds, rounds-1)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ROUND\tATTEMPT\tSTARTED\tENDED\tDURATION\tOUTCOME\tERROR")
	for _, a := range seg.History {
		if a.Outcome == api.AttemptRequeued {
			fmt.Fprintf(tw, "%d\t-\t%s\t-\t-\t%s\tround %d ended after %d attempt(s); back to PENDING\n",
				a.Round, instant(a.StartedAt), a.Outcome, a.Round, a.Attempt)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", a.Round, a.Attempt, instant(a.StartedAt), instant(a.EndedAt),
			a.EndedAt.Sub(a.StartedAt).Round(time.Microsecond), a.Outcome, orDash(a.Error))
	}
	return tw.Flush()
}

func (a *app) ingressCmd() *cobra.Command {
	ingress := &cobra.Command{
		Use:   "ingress",
		Short: "Report the traffic the ledger attributes to each peer",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr("missing command (report)")
		},
	}
	ingress.AddCommand(a.ingressReportCmd())
	return ingress
}

func (a *app) ingressReportCmd() *cobra.Command {
	var (
		opts         clientOpts
		since, until string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "report [--since T] [--until T] [--json]",
		Short: "Print the bytes received from and delivered to each peer, per hour",
		Long: `report prints, per hour (UTC, on the daemon's clock) and per peer, the bytes
and segments the segment listener received from each sender (INGRESS: the
sender's declared peer id, redeliveries included, as status's ingress
counts them) and delivered to each target (DELIVERED). The ledger keeps
them, written in the transactions that store the received segment and the
DELIVERED mark, so they survive restarts and crashes.

T is RFC 3339 (2026-03-01T00:00:00Z) or a duration before the daemon's now
(24h, or "24h ago"). --since takes the whole hour it falls in; --until is
exclusive.`,
		Example: `  edged ingress report
  edged ingress report --since 24h
  edged ingress report --since 2026-03-01T00:00:00Z --until 2026-03-02T00:00:00Z --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.call(cmd, func(ctx context.Context, c *control.Client) error {
				rep, err := c.IngressReport(ctx, since, until)
				if err != nil {
					return err
				}
				if asJSON {
					body, err := json.Marshal(rep)
					if err != nil {
						return err
					}
					return printIndented(a.stdout, body)
				}
				return writeTraffic(a.stdout, rep)
			})
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&since, "since", "", "first hour: RFC 3339 or a duration before now (24h)")
	cmd.Flags().StringVar(&until, "until", "", "end (exclusive): RFC 3339 or a duration before now")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the control API's JSON answer")
	return cmd
}

// writeTraffic renders the hourly buckets for people, with a total per
// peer and kind.
func writeTraffic(w io.Writer, rep api.IngressReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	bound := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "since\t%s\nuntil\t%s\n\n", bound(rep.Since), bound(rep.Until))
	if len(rep.Buckets) == 0 {
		fmt.Fprintln(tw, "no traffic recorded")
		return tw.Flush()
	}
	type key struct{ peer, kind string }
	totals := map[key][2]int64{}
	var order []key
	fmt.Fprintln(tw, "HOUR\tPEER\tKIND\tBYTES\tSEGMENTS")
	for _, b := range rep.Buckets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", b.Hour.UTC().Format(time.RFC3339), b.Peer, b.Kind, b.Bytes, b.Segments)
		k := key{b.Peer, b.Kind}
		if _, ok := totals[k]; !ok {
			order = append(order, k)
		}
		t := totals[k]
		totals[k] = [2]int64{t[0] + b.Bytes, t[1] + b.Segments}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "TOTAL\tPEER\tKIND\tBYTES\tSEGMENTS")
	for _, k := range order {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", "-", k.peer, k.kind, totals[k][0], totals[k][1])
	}
	return tw.Flush()
}
