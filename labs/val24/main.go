// Command val24 runs the VAL24 per-peer bandwidth lab against real edged and
// peer processes and writes its evidence directory:
//
//	go run ./labs/val24 [evidence-dir] [--history FILE]
//	go run ./labs/val24 --check-only evidence-dir
//	go run ./labs/val24 --diff dir-a dir-b
//
// The command line is labrun.CLI's, the same for every lab (--help).
//
// Exit status: 0 all checks PASS, 1 any FAIL (--diff: a check went from
// PASS to FAIL or ERROR), 2 the lab could not run or a usage error.
package main

import (
	"context"

	"edgelab/labs/labrun"
	"edgelab/val24"
)

func main() {
	labrun.CLI{
		Name: "val24", Lab: val24.LabName, Short: val24.Title,
		Run: func(ctx context.Context, cfg labrun.Config) int {
			return val24.Main(ctx, val24.Config{Config: cfg})
		},
		CheckOnly: val24.CheckOnly,
	}.Main()
}
