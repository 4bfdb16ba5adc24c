// Command val25 runs the VAL25 lab (lab clock, quota periods across DST,
// restarts, dead-letter redrive, partial updates, the hourly ingress
// report) against real edged and peer processes and writes its evidence
// directory:
//
//	go run ./labs/val25 [evidence-dir]
//
// Exit status: 0 all checks PASS, 1 any FAIL, 2 the lab could not run.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/val25"
)

func main() {
	if len(os.Args) > 2 || len(os.Args) == 2 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
		fmt.Fprintln(os.Stderr, "usage: go run ./labs/val25 [evidence-dir]")
		os.Exit(2)
	}
	var dir string
	if len(os.Args) == 2 {
		dir = os.Args[1]
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
	code := val25.Main(ctx, val25.Config{Config: labrun.Config{Args: os.Args, EvidenceDir: dir, Stdout: os.Stdout, Stderr: os.Stderr}})
	stop()
	os.Exit(code)
}
