package val25

import (
	"edgelab/evidence"
	"edgelab/labs/labrun"
)

// CheckDef is one row of the lab's check matrix.
type CheckDef = labrun.CheckDef[*Recorded]

// Checks is the check matrix, in report order.
var Checks = []CheckDef{}

// Evaluate re-reads the evidence directory and evaluates every check.
func Evaluate(evidenceDir string) ([]evidence.Scenario, []evidence.Check) {
	recs := map[string]*Recorded{}
	for _, s := range Scenarios {
		recs[s.Name] = Load(evidenceDir, s)
	}
	var scenarios []evidence.Scenario
	for _, s := range Scenarios {
		sc, _ := recs[s.Name].Run.ReportEntry(s.Name, s.Title, recs[s.Name].need())
		scenarios = append(scenarios, sc)
	}
	var checks []evidence.Check
	for _, def := range Checks {
		checks = append(checks, def.Evaluate(recs[def.Scenario]))
	}
	return scenarios, checks
}
