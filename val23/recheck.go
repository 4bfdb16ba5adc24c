package val23

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

// CheckConfig is one --check-only invocation.
type CheckConfig struct {
	// Args is the command line, recorded in the report's rechecks.
	Args []string
	// Dir is the evidence directory to re-evaluate.
	Dir            string
	Stdout, Stderr io.Writer
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
}

// CheckOnly re-evaluates the checks over the saved evidence in cfg.Dir,
// without running anything: a reviewer's way to re-run the verdict, e.g.
// after a check was fixed or on a CI artifact. It rewrites report.json and
// everything rendered from it, keeping the run's provenance and recording
// the re-check, prints report.txt and returns the status the lab would
// have: 0 all PASS, 1 a FAIL, 2 an ERROR or a directory it cannot use.
func CheckOnly(ctx context.Context, cfg CheckConfig) int {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		fmt.Fprintf(cfg.Stderr, "val23: --check-only %s: %v\n", cfg.Dir, err)
		return 2
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		fmt.Fprintf(cfg.Stderr, "val23: --check-only %s: not an evidence directory (%s)\n", cfg.Dir, statReason(err))
		return 2
	}

	rc := evidence.Recheck{At: now()}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A run that crashed before writing its report still left its raw
		// evidence, which is exactly what a re-check is for.
		rc.Note = "report.json was absent: the run's provenance is unknown"
		report = evidence.Report{Provenance: evidence.Provenance{StartedAt: runStart(dir)}}
	case err != nil:
		// Not ours to overwrite: a report this code does not understand.
		fmt.Fprintf(cfg.Stderr, "val23: --check-only: %v\n", err)
		return 2
	}
	if !hasScenarioDirs(dir) {
		fmt.Fprintf(cfg.Stderr, "val23: --check-only %s: no scenario directories (%s/ … %s/): not a VAL23 evidence directory\n",
			cfg.Dir, Scenarios[0].Name, Scenarios[len(Scenarios)-1].Name)
		return 2
	}

	// The revision that evaluates the checks matters as much as the one
	// that ran the lab: the checks may have changed in between.
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

	scenarios, checks := Evaluate(dir)
	rc.Changed = changedStatuses(report.Checks, checks)
	report.Schema, report.Lab, report.Title, report.EvidenceDir = evidence.SchemaVersion, LabName, Title, dir
	report.Scenarios, report.Checks = scenarios, checks
	report.Rechecks = append(report.Rechecks, rc)

	code := report.ExitCode()
	if err := evidence.WriteReport(dir, report); err != nil {
		fmt.Fprintf(cfg.Stderr, "val23: %v\n", err)
		code = 2
	}
	changed := "no check changed status"
	if len(rc.Changed) > 0 {
		changed = "changed: " + strings.Join(rc.Changed, ", ")
	}
	fmt.Fprintf(cfg.Stderr, "val23: re-checked %s (%s)\n", dir, changed)
	fmt.Fprint(cfg.Stdout, evidence.Text(report))
	return code
}

func statReason(err error) string {
	if err == nil {
		return "a file"
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "it does not exist"
	}
	return err.Error()
}

func hasScenarioDirs(dir string) bool {
	for _, s := range Scenarios {
		if info, err := os.Stat(filepath.Join(dir, s.Name)); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// runStart is the earliest scenario start recorded in dir, standing in for
// the run's start (report.txt's Date) when report.json is gone.
func runStart(dir string) time.Time {
	var first time.Time
	for _, s := range Scenarios {
		r := Load(dir, s)
		if t := r.Run.StartedAt; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// changedStatuses lists the checks whose status differs between two
// evaluations, as "VAL23-05 PASS→FAIL"; a check new to the second is
// "VAL23-11 →PASS".
func changedStatuses(before, after []evidence.Check) []string {
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
