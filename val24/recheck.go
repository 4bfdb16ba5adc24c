package val24

import (
	"context"

	"edgelab/labs/labrun"
)

// CheckOnly re-evaluates the checks over a saved VAL24 evidence directory
// without running anything (labrun.CheckOnly): rewrites its report files,
// keeping the run's provenance, prints the report and returns 0/1/2.
func CheckOnly(ctx context.Context, cfg labrun.CheckConfig) int {
	return labrun.CheckOnly(ctx, cfg, labrun.Spec{Name: LabName, Title: Title, Scenarios: Scenarios, Evaluate: Evaluate})
}
