package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// CheckConfig is one --check-only invocation (the fields of
// val23.CheckConfig, which converts to it).
type CheckConfig struct {
	// Args is the command line, recorded in the report's rechecks.
	Args []string
	// Dir is the evidence directory to re-evaluate.
	Dir            string
	Stdout, Stderr io.Writer
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
}

// CheckOnly re-evaluates spec's checks over the saved evidence in
// cfg.Dir without running anything, as val23.CheckOnly does for VAL23:
// it rewrites report.json and everything rendered from it, keeping the
// run's provenance and appending a re-check record, prints report.txt and
// returns the lab's status (0 all PASS, 1 a FAIL, 2 an ERROR or a
// directory it cannot use). Only spec's Name, Title, Scenarios and
// Evaluate are used.
func CheckOnly(ctx context.Context, cfg CheckConfig, spec Spec) int {
	lab := strings.ToLower(spec.Name)
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		fmt.Fprintf(cfg.Stderr, "%s: --check-only %s: %v\n", lab, cfg.Dir, err)
		return 2
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		why := "a file"
		if errors.Is(err, fs.ErrNotExist) {
			why = "it does not exist"
		} else if err != nil {
			why = err.Error()
		}
		fmt.Fprintf(cfg.Stderr, "%s: --check-only %s: not an evidence directory (%s)\n", lab, cfg.Dir, why)
		return 2
	}

	rc := evidence.Recheck{At: now()}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		rc.Note = "report.json was absent: the run's provenance is unknown"
		report = evidence.Report{Provenance: evidence.Provenance{StartedAt: earliestStart(dir, spec.Scenarios)}}
	case err != nil:
		fmt.Fprintf(cfg.Stderr, "%s: --check-only: %v\n", lab, err)
		return 2
	case report.Lab != "" && report.Lab != spec.Name:
		fmt.Fprintf(cfg.Stderr, "%s: --check-only %s: a %s report, not %s\n", lab, cfg.Dir, report.Lab, spec.Name)
		return 2
	}
	if !hasAnyScenarioDir(dir, spec.Scenarios) {
		fmt.Fprintf(cfg.Stderr, "%s: --check-only %s: no scenario directories (%s/ … %s/): not a %s evidence directory\n",
			lab, cfg.Dir, spec.Scenarios[0].Name, spec.Scenarios[len(spec.Scenarios)-1].Name, spec.Name)
		return 2
	}

	if root, err := harness.ModuleRoot(ctx); err == nil {
		p := evidence.CollectProvenance(ctx, root, cfg.Args, rc.At)
		rc.GitRevision, rc.GitDirty, rc.GitError, rc.GoVersion, rc.Hostname = p.GitRevision, p.GitDirty, p.GitError, p.GoVersion, p.Hostname
	} else {
		rc.GitError = err.Error()
		rc.Hostname, _ = os.Hostname()
	}
	rc.CommandLine = append([]string(nil), cfg.Args...)
	if report.EvidenceDir != "" && report.EvidenceDir != dir {
		rc.EvidenceDirWas = report.EvidenceDir
	}

	scenarios, checks := spec.Evaluate(dir)
	rc.Changed = ChangedStatuses(report.Checks, checks)
	report.Schema, report.Lab, report.Title, report.EvidenceDir = evidence.SchemaVersion, spec.Name, spec.Title, dir
	report.Scenarios, report.Checks = scenarios, checks
	report.Rechecks = append(report.Rechecks, rc)

	code := report.ExitCode()
	if err := evidence.WriteReport(dir, report); err != nil {
		fmt.Fprintf(cfg.Stderr, "%s: %v\n", lab, err)
		code = 2
	}
	changed := "no check changed status"
	if len(rc.Changed) > 0 {
		changed = "changed: " + strings.Join(rc.Changed, ", ")
	}
	fmt.Fprintf(cfg.Stderr, "%s: re-checked %s (%s)\n", lab, dir, changed)
	fmt.Fprint(cfg.Stdout, evidence.Text(report))
	return code
}

func hasAnyScenarioDir(dir string, scenarios []Scenario) bool {
	for _, s := range scenarios {
		if info, err := os.Stat(filepath.Join(dir, s.Name)); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// earliestStart is the earliest scenario start in dir's scenario.json
// files, standing in for the run's start when report.json is gone.
func earliestStart(dir string, scenarios []Scenario) time.Time {
	var first time.Time
	for _, s := range scenarios {
		var rec ScenarioRecord
		if err := evidence.ReadJSON(filepath.Join(dir, s.Name, FileScenario), &rec); err != nil {
			continue
		}
		if t := rec.StartedAt; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// ChangedStatuses lists the checks whose status differs between two
// evaluations, as "VAL23-05 PASS→FAIL"; a check new to the second is
// "VAL23-11 →PASS".
func ChangedStatuses(before, after []evidence.Check) []string {
	was := map[string]evidence.Status{}
	for _, c := range before {
		was[c.ID] = c.Status
	}
	var out []string
	for _, c := range after {
		if old := was[c.ID]; old != c.Status {
			out = append(out, fmt.Sprintf("%s %s→%s", c.ID, old, c.Status))
		}
	}
	return out
}
