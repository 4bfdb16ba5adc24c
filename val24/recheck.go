package val24

import (
	"context"

	"edgelab/labs/labrun"
)

// CheckOnly re-evaluates the VAL24 checks over the saved evidence in
// cfg.Dir, without running anything, after verifying the directory's seal
// (labrun.CheckOnly): 0 all PASS, 1 a FAIL, 2 an ERROR (the seal did not
// verify, among others) or a directory it cannot use.
func CheckOnly(ctx context.Context, cfg labrun.CheckConfig) int {
	return labrun.CheckOnly(ctx, cfg, labrun.CheckSpec{
		Name: LabName, Title: Title, Scenarios: Scenarios, Evaluate: Evaluate,
	})
}
