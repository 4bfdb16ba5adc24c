package labrun

import (
	"context"
	"edgelab/internal/version"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// CLI is one lab as its command line drives it: the one command builder
// both labs' mains use, so their flags, usage and exit statuses are the
// same.
type CLI struct {
	// Name is the command's name ("val23"); Lab the report's ("VAL23").
	Name, Lab string
	// Short is the one-line description in --help.
	Short string
	// Run runs the lab; CheckOnly re-evaluates a saved directory.
	Run       func(ctx context.Context, cfg Config) int
	CheckOnly func(ctx context.Context, cfg CheckConfig) int
}

// usageError is a command line the lab cannot act on: exit 2.
type usageError struct{ error }

// Command builds the lab's cobra command. args is the whole command line
// (recorded as provenance); the command's exit status is stored in *code
// once it ran. Flags may come before or after the directory.
func (c CLI) Command(args []string, stdout, stderr io.Writer, code *int) *cobra.Command {
	var (
		checkOnly, diff, ignoreManifest bool
		history                         string
	)
	cmd := &cobra.Command{
		Use:   c.Name + " [evidence-dir]",
		Short: c.Short,
		Example: fmt.Sprintf("  go run ./labs/%[1]s [evidence-dir] [--history FILE]\n"+
			"  go run ./labs/%[1]s --check-only evidence-dir\n"+
			"  go run ./labs/%[1]s --diff evidence/nightly-last evidence/nightly", c.Name),
		Long: c.Short + `

With no flag, runs the lab on real edged and peer processes and writes its
evidence to evidence-dir (by default evidence/<lab>-<date> under the module
root), and appends the run's line to the history file.

--check-only DIR re-evaluates the checks over a saved evidence directory,
running nothing, and rewrites its report files.

--diff A B prints what changed from evidence directory A to B: verdicts,
check statuses, observed counters, timings beyond the noise band (` + evidence.DefaultNoise.String() + `)
and id sets.

Exit status: 0 all checks PASS (for --diff: no check went from PASS to
FAIL or ERROR), 1 a check FAILed (--diff: one regressed), 2 the lab could
not run, or a usage error.`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, pos []string) error {
			ctx := cmd.Context()
			switch {
			case diff:
				if len(pos) != 2 {
					return usageError{fmt.Errorf("--diff takes two evidence directories, got %d", len(pos))}
				}
				*code = DiffDirs(c.Lab, pos[0], pos[1], stdout, stderr)
			case checkOnly:
				if len(pos) != 1 {
					return usageError{fmt.Errorf("--check-only takes one evidence directory, got %d", len(pos))}
				}
				*code = c.CheckOnly(ctx, CheckConfig{Args: args, Dir: pos[0], IgnoreManifest: ignoreManifest, Stdout: stdout, Stderr: stderr})
			default:
				if len(pos) > 1 {
					return usageError{fmt.Errorf("at most one evidence directory, got %d", len(pos))}
				}
				cfg := Config{Args: args, Stdout: stdout, Stderr: stderr, History: history}
				if len(pos) == 1 {
					cfg.EvidenceDir = pos[0]
				}
				if !cmd.Flags().Changed("history") {
					root, err := harness.ModuleRoot(ctx)
					if err != nil {
						fmt.Fprintf(stderr, "%s: no history: %v\n", c.Name, err)
					} else {
						cfg.History = evidence.DefaultHistory(root)
					}
				}
				*code = c.Run(ctx, cfg)
			}
			return nil
		},
	}
	cmd.SetArgs(args[1:])
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	f := cmd.Flags()
	f.BoolVar(&checkOnly, "check-only", false, "re-evaluate the checks over an existing evidence directory; run nothing")
	f.BoolVar(&ignoreManifest, "ignore-manifest", false, "with --check-only: re-check even when the directory does not match its manifest.sha256, and record that it did not")
	f.BoolVar(&diff, "diff", false, "print what changed between two evidence directories; exit 1 when a check went from PASS to FAIL or ERROR")
	f.StringVar(&history, "history", "", `the history file a run appends its line to (default <module>/evidence/history.jsonl; "" for none)`)
	cmd.MarkFlagsMutuallyExclusive("check-only", "diff")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

// Exec runs the command line args and returns the exit status: the lab's,
// 0 for --help and --version, 2 for a usage error.
func (c CLI) Exec(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code := 0
	cmd := c.Command(args, stdout, stderr, &code)
	// Every error cobra returns is about the command line: the lab's own
	// failures are exit statuses, never errors.
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", c.Name, err, c.Name)
		return 2
	}
	return code
}

// Main is a lab's main: Ctrl-C or SIGTERM cancels the run (the lab then
// stops its processes, saves the evidence it has and reports the rest as
// not run), the orchestrator gets SIGTERM when its parent (go run) dies so
// its edged and peer die with it, and the process exits with Exec's
// status.
func (c CLI) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if err := harness.SignalWhenParentDies(syscall.SIGTERM); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
	code := c.Exec(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// DiffDirs prints what changed from the evidence directory a to b (their
// report.json files) and returns 1 when a check went from PASS to FAIL or
// ERROR, 0 otherwise, 2 when a report cannot be read or is not lab's.
func DiffDirs(lab, a, b string, stdout, stderr io.Writer) int {
	name := strings.ToLower(lab)
	var reports [2]evidence.Report
	for i, dir := range []string{a, b} {
		r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
		if err != nil {
			fmt.Fprintf(stderr, "%s: --diff: %v\n", name, err)
			return 2
		}
		if r.Lab != lab {
			fmt.Fprintf(stderr, "%s: --diff: %s holds a %s report, not %s\n", name, dir, r.Lab, lab)
			return 2
		}
		reports[i] = r
	}
	d := evidence.Diff(reports[0], reports[1], evidence.DefaultNoise)
	fmt.Fprint(stdout, d.Text(a, b))
	if len(d.Regressions()) > 0 {
		return 1
	}
	return 0
}

// buildVersion is the binary's version from its build info: the module
// version, the VCS revision and whether the tree was modified (go build
// stamps them; go run does not, which it says).
func buildVersion() string {
	b, ok := version.Info()
	if !ok {
		return "(no build info)"
	}
	v := b.Version
	if b.Revision != "" {
		v += " " + b.Revision
		if b.Modified {
			v += " (modified)"
		}
		if b.Time != "" {
			v += " " + b.Time
		}
	} else {
		v += " (no VCS revision in the build info: go run, -buildvcs=false or no usable git leave it out)"
	}
	return v + " " + b.GoVersion
}
