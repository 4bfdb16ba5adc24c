// Command val23 runs the VAL23 relay bandwidth lab against real edged and
// peer processes and writes its evidence directory:
//
//	go run ./labs/val23 [evidence-dir]
//	go run ./labs/val23 --check-only evidence-dir
//
// --check-only re-evaluates the checks over a saved evidence directory
// without running anything, rewrites its report files and prints the
// report. It first verifies the directory's manifest.sha256 and
// attestation (and, with EDGELAB_VERIFY_KEY, its signature): evidence that
// changed since the run is an ERROR naming the files, unless
// --ignore-manifest.
//
// Exit status: 0 all checks PASS, 1 any FAIL, 2 the lab could not run (or
// the directory cannot be re-checked).
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
	"edgelab/val23"
)

func main() {
	fs := flag.NewFlagSet("val23", flag.ExitOnError)
	checkOnly := fs.Bool("check-only", false, "re-evaluate the checks over an existing evidence directory; run nothing")
	ignoreManifest := fs.Bool("ignore-manifest", false, "with --check-only: re-check even when the directory does not match its manifest, and record that it did not")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./labs/val23 [evidence-dir]\n       go run ./labs/val23 --check-only [--ignore-manifest] evidence-dir")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError: exits 2 on a bad flag
	if fs.NArg() > 1 || *checkOnly && fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	dir := fs.Arg(0)
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
	var code int
	if *checkOnly {
		code = val23.CheckOnly(ctx, val23.CheckConfig{Args: os.Args, Dir: dir, IgnoreManifest: *ignoreManifest, Stdout: os.Stdout, Stderr: os.Stderr})
	} else {
		code = val23.Main(ctx, val23.Config{Config: labrun.Config{Args: os.Args, EvidenceDir: dir, Stdout: os.Stdout, Stderr: os.Stderr}})
	}
	stop()
	os.Exit(code)
}
