// Command trend reads the labs' history file and writes trend.html: per
// lab the flaky checks first (status flipped within the last N runs), the
// wall time of each scenario over the runs against its physical floor,
// and every check's status over the runs; it prints the same as a text
// summary.
//
//	go run ./labs/trend [--history FILE] [--out DIR] [--window N]
//
// Exit status: 0 written, 2 the history cannot be read or the page
// written, or a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// run runs the command line args (args[0] the program) and returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var (
		history, out string
		window       int
	)
	code := 0
	cmd := &cobra.Command{
		Use:   "trend",
		Short: "trend.html and a summary from the labs' history file",
		Long: `Reads the history file the lab runs append to (one JSON line per run) and
writes trend.html: per lab the flaky checks first (a status flip within the
last --window runs), each scenario's wall time over the runs against its
physical floor (SVG), and each check's status over the runs. The page is
self-contained, like index.html. A text summary goes to stdout.

Exit status: 0 written, 2 the history cannot be read or the page written,
or a usage error.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if history == "" {
				root, err := harness.ModuleRoot(ctx)
				if err != nil {
					fmt.Fprintf(stderr, "trend: --history not given and no module root: %v\n", err)
					code = 2
					return nil
				}
				history = evidence.DefaultHistory(root)
			}
			if out == "" {
				out = filepath.Dir(history)
			}
			entries, skipped, err := evidence.ReadHistoryFile(history)
			if err != nil {
				fmt.Fprintf(stderr, "trend: %v\n", err)
				code = 2
				return nil
			}
			t := evidence.NewTrend(entries, window, skipped)
			page, err := evidence.RenderTrend(t)
			if err == nil {
				err = evidence.WriteFile(filepath.Join(out, evidence.TrendHTML), page)
			}
			if err != nil {
				fmt.Fprintf(stderr, "trend: %v\n", err)
				code = 2
				return nil
			}
			fmt.Fprint(stdout, t.Text())
			fmt.Fprintf(stderr, "trend: %d runs from %s; wrote %s\n", len(entries), history, filepath.Join(out, evidence.TrendHTML))
			return nil
		},
	}
	cmd.SetArgs(args[1:])
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&history, "history", "", "the history file (default <module>/evidence/history.jsonl)")
	f.StringVar(&out, "out", "", "the directory trend.html is written to (default the history file's)")
	f.IntVar(&window, "window", evidence.DefaultFlakyWindow, "a check that flipped status within its lab's last N runs is flaky")
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "trend: %v\nRun 'trend --help' for usage.\n", err)
		return 2
	}
	return code
}

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
}
