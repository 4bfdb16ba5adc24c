// Command val24 runs the VAL24 per-peer bandwidth lab against real edged and
// peer processes and writes its evidence directory:
//
//	go run ./labs/val24 [evidence-dir]
//	go run ./labs/val24 --check-only [--ignore-manifest] evidence-dir
//
// --check-only verifies a saved directory's seal and re-evaluates its
// checks, as for VAL23.
//
// Exit status: 0 all checks PASS, 1 any FAIL, 2 the lab could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/val24"
)

func main() {
	fs := flag.NewFlagSet("val24", flag.ExitOnError)
	checkOnly := fs.Bool("check-only", false, "re-evaluate the checks over an existing evidence directory; run nothing")
	ignoreManifest := fs.Bool("ignore-manifest", false, "with --check-only: re-check even when the directory does not match its manifest")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./labs/val24 [evidence-dir]\n       go run ./labs/val24 --check-only [--ignore-manifest] evidence-dir")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits 2 on a bad flag
	if fs.NArg() > 1 || *checkOnly && fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	dir := fs.Arg(0)
	if *checkOnly {
		os.Exit(val24.CheckOnly(context.Background(), labrun.CheckConfig{Args: os.Args, Dir: dir, IgnoreManifest: *ignoreManifest, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	// Ctrl-C or SIGTERM cancels the run; the lab then stops its processes,
	// saves the evidence it has and reports the rest as not run.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// An orchestrator whose `go run` was killed gets SIGTERM too, and its
	// edged and peer die with it (harness.Start): no stale lab keeps the
	// ports.
	if err := harness.SignalWhenParentDies(syscall.SIGTERM); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v\n", err)
	}
	code := val24.Main(ctx, val24.Config{Config: labrun.Config{Args: os.Args, EvidenceDir: dir, Stdout: os.Stdout, Stderr: os.Stderr}})
	stop()
	os.Exit(code)
}
