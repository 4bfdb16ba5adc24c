// Command val23 runs the VAL23 relay bandwidth lab against real edged and
// peer processes and writes its evidence directory:
//
//	go run ./labs/val23 [evidence-dir] [--history FILE]
//	go run ./labs/val23 --check-only evidence-dir
//	go run ./labs/val23 --diff dir-a dir-b
//
// The command line is labrun.CLI's, the same for every lab (--help).
//
// --check-only first verifies the directory's manifest.sha256 and
// attestation (and, with EDGELAB_VERIFY_KEY, its signature): evidence that
// changed since the run is an ERROR naming the files, unless
// --ignore-manifest.
//
// Exit status: 0 all checks PASS, 1 any FAIL (--diff: a check went from
// PASS to FAIL or ERROR), 2 the lab could not run or a usage error.
package main

import (
	"context"

	"edgelab/labs/labrun"
	"edgelab/val23"
)

func main() {
	labrun.CLI{
		Name: "val23", Lab: val23.LabName, Short: val23.Title,
		Run: func(ctx context.Context, cfg labrun.Config) int {
			return val23.Main(ctx, val23.Config{Config: cfg})
		},
		CheckOnly: func(ctx context.Context, cfg labrun.CheckConfig) int {
			return val23.CheckOnly(ctx, val23.CheckConfig(cfg))
		},
	}.Main()
}
