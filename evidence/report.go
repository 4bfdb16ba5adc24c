// Package evidence holds a lab run's report and the evidence directory it
// lives in. report.json is the one source: report.txt, junit.xml,
// environment.json and index.html are rendered from the Report value, never
// assembled on the side, so they can never disagree.
package evidence

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// SchemaVersion names the layout of report.json, so a later reader (e.g.
// --check-only) can refuse a report it does not understand. v2 adds the
// top-level verdict, counts and exit_code, the recheck's seal
// verification and the richer provenance; nothing of v1 was renamed or
// removed, so a v1 report still reads (SchemaV1) and is written back as v2.
// evidence/schema/report.schema.json is its JSON Schema.
const SchemaVersion = "edgelab.evidence.report/v2"

// SchemaV1 is the earlier layout ReadReport still accepts.
const SchemaV1 = "edgelab.evidence.report/v1"

// Status is a check's verdict.
type Status string

const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	// Error means the check could not be evaluated (its evidence is missing
	// because the scenario could not run); it is never a silent PASS or a
	// misleading FAIL.
	Error Status = "ERROR"
)

// Report is a whole lab run.
type Report struct {
	Schema string `json:"schema"`
	// Verdict, Tally and ExitStatus restate what Checks and Error amount
	// to, so a reader needs no rule of its own; WriteReport sets them.
	Verdict    Status      `json:"verdict"`
	Tally      CheckCounts `json:"counts"`
	ExitStatus int         `json:"exit_code"`
	// Lab is the short lab name, e.g. "VAL23".
	Lab string `json:"lab"`
	// Title is the first line of report.txt.
	Title       string `json:"title"`
	EvidenceDir string `json:"evidence_dir"`
	// Error says why the lab could not run at all (e.g. "port 19054 is in
	// use"); empty when it ran.
	Error      string     `json:"error,omitempty"`
	Provenance Provenance `json:"provenance"`
	Scenarios  []Scenario `json:"scenarios"`
	Checks     []Check    `json:"checks"`
	// Rechecks lists the times the checks were re-evaluated over this
	// directory's saved evidence after the run (--check-only), oldest
	// first. Provenance stays the original run's.
	Rechecks []Recheck `json:"rechecks,omitempty"`
}

// Recheck records one re-evaluation of a saved evidence directory: when, by
// which command and code revision (the checks may have changed since the
// run), and what it changed.
type Recheck struct {
	At          time.Time `json:"at"`
	CommandLine []string  `json:"command_line"`
	GitRevision string    `json:"git_revision"`
	GitDirty    bool      `json:"git_dirty"`
	GitError    string    `json:"git_error,omitempty"`
	GoVersion   string    `json:"go_version"`
	Hostname    string    `json:"hostname"`
	// EvidenceDirWas is the directory's previous path when it was moved
	// (e.g. a CI artifact downloaded elsewhere).
	EvidenceDirWas string `json:"evidence_dir_was,omitempty"`
	// Changed lists the checks whose status differs from the previous
	// evaluation, as "VAL23-05 PASS→FAIL".
	Changed []string `json:"changed,omitempty"`
	// Note says what else a reader should know (e.g. report.json was
	// absent, so the run's provenance is unknown).
	Note string `json:"note,omitempty"`
	// Verified is what the re-check verified of the directory's seal
	// (manifest, attestation, signature) before evaluating it.
	Verified *Verification `json:"verified,omitempty"`
	// Signed says the re-check signed the new attestation.
	Signed bool `json:"signed,omitempty"`
}

// Provenance records what produced the run, so evidence can be tied back to
// a revision and a machine.
type Provenance struct {
	GitRevision string `json:"git_revision"`
	// GitDirty says the tree had changes beside the revision; the lab's
	// own evidence directory is not one.
	GitDirty bool `json:"git_dirty"`
	// GitError says why the revision is unknown (not a checkout, no git).
	GitError string `json:"git_error,omitempty"`
	// RevisionSource says where the revision came from: "buildinfo" (the
	// binary's VCS stamp) or "git" (asked in the module root, as for
	// `go run` or -buildvcs=false).
	RevisionSource string `json:"revision_source,omitempty"`
	// VCSTime is the revision's commit time.
	VCSTime *time.Time `json:"vcs_time,omitempty"`
	// GitStatus are the first lines of `git status --porcelain` that made
	// the tree dirty.
	GitStatus []string `json:"git_status,omitempty"`
	// ModulePath and ModuleVersion are the main module as the binary's
	// build info names it ("(devel)" for a local build).
	ModulePath    string `json:"module_path,omitempty"`
	ModuleVersion string `json:"module_version,omitempty"`
	// CommandLine is the command as typed: a `go run` binary in the build
	// cache is shown as "go run ./labs/<lab>", and Executable keeps the
	// real os.Args[0].
	CommandLine []string  `json:"command_line"`
	Executable  string    `json:"executable,omitempty"`
	WorkingDir  string    `json:"working_dir"`
	ModuleRoot  string    `json:"module_root"`
	GoVersion   string    `json:"go_version"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Hostname    string    `json:"hostname"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	// Kernel is `uname -r`; CPUModel and CPUCount the processor;
	// LoadStart and LoadEnd the 1/5/15-minute load average when the run
	// started and ended (a loaded machine explains a slow scenario).
	Kernel    string    `json:"kernel,omitempty"`
	CPUModel  string    `json:"cpu_model,omitempty"`
	CPUCount  int       `json:"cpu_count,omitempty"`
	LoadStart []float64 `json:"load_average_start,omitempty"`
	LoadEnd   []float64 `json:"load_average_end,omitempty"`
	// Binaries are the programs the lab built and ran, with their sha256.
	Binaries []Binary `json:"binaries,omitempty"`
}

// Binary is one program a lab ran.
type Binary struct {
	Name   string `json:"name"` // "edged"
	Path   string `json:"path"`
	SHA256 string `json:"sha256,omitempty"`
	// Error says why the digest is unknown.
	Error string `json:"error,omitempty"`
}

// Scenario is one scenario's run: its timings, whether its end condition was
// reached, and a summary of what was observed.
type Scenario struct {
	Name  string `json:"name"`  // "S-A"
	Title string `json:"title"` // "unlimited baseline"
	// Summary is the scenario's line in report.txt, observed values filled in.
	Summary   string    `json:"summary"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	// EndCondition describes what the runner waited for.
	EndCondition string     `json:"end_condition,omitempty"`
	ReachedAt    *time.Time `json:"reached_at,omitempty"`
	TimedOut     bool       `json:"timed_out"`
	// Error says why the scenario could not run (its checks are ERROR).
	Error    string         `json:"error,omitempty"`
	Observed map[string]any `json:"observed,omitempty"`
	// Phases are the scenario's steps with their times.
	Phases []Phase `json:"phases,omitempty"`
	// Files are the scenario's evidence files, relative to the evidence
	// directory (so links in index.html work wherever it is copied).
	Files []string `json:"files,omitempty"`
	// Timeline is delivery over time against the limits in force; nil
	// when the scenario delivers nothing by design or did not run.
	Timeline *Timeline `json:"timeline,omitempty"`
}

// Phase is one step of a scenario.
type Phase struct {
	Name      string     `json:"name"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   time.Time  `json:"ended_at"`
	ReachedAt *time.Time `json:"reached_at,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Seconds is the scenario's wall time.
func (s Scenario) Seconds() float64 {
	if s.StartedAt.IsZero() || s.EndedAt.Before(s.StartedAt) {
		return 0
	}
	return s.EndedAt.Sub(s.StartedAt).Seconds()
}

// Check is one row of the check matrix.
type Check struct {
	ID          string `json:"id"`       // "VAL23-01"
	Scenario    string `json:"scenario"` // "S-A"
	Description string `json:"description"`
	Criterion   string `json:"criterion"`
	Status      Status `json:"status"`
	// Summary is the text after the status in report.txt, e.g.
	// "unlimited baseline: 4/4 delivered".
	Summary  string         `json:"summary"`
	Observed map[string]any `json:"observed,omitempty"`
	// Detail explains a FAIL or ERROR, e.g. a go-cmp diff of id sets.
	Detail string `json:"detail,omitempty"`
	// Evidence are the files the verdict rests on, relative to the
	// evidence directory, the one that best explains it first.
	Evidence []string `json:"evidence,omitempty"`
	// Seconds is the wall time of the scenario that gathered the evidence.
	Seconds float64 `json:"seconds"`
	// EvalSeconds is how long evaluating the check took (junit.xml's
	// testcase time).
	EvalSeconds float64 `json:"eval_seconds"`
}

// Counts tallies the checks by status.
func (r Report) Counts() (pass, fail, errs int) {
	for _, c := range r.Checks {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			errs++
		}
	}
	return pass, fail, errs
}

// CheckCounts is report.json's counts: each check counted once, so the
// three add up to the number of checks.
type CheckCounts struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
}

// Summarize sets Verdict, Tally and ExitStatus from the checks and Error.
func (r *Report) Summarize() {
	pass, fail, errs := r.Counts()
	r.Tally = CheckCounts{Pass: pass, Fail: fail, Error: errs}
	r.ExitStatus = r.ExitCode()
	r.Verdict = [...]Status{Pass, Fail, Error}[r.ExitStatus]
}

// ExitCode is the lab's exit status: 0 when every check passed, 1 when any
// failed, 2 when any could not be evaluated (the lab could not run).
func (r Report) ExitCode() int {
	pass, fail, errs := r.Counts()
	switch {
	case errs > 0 || r.Error != "" || pass == 0:
		return 2
	case fail > 0:
		return 1
	default:
		return 0
	}
}

// Date is the run's date as report.txt shows it.
func (r Report) Date() string {
	return r.Provenance.StartedAt.Format(time.DateOnly)
}

// ReadReport loads a report.json.
func ReadReport(path string) (Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Report{}, fmt.Errorf("read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, fmt.Errorf("decode report %s: %w", path, err)
	}
	if r.Schema != SchemaVersion && r.Schema != SchemaV1 {
		return Report{}, fmt.Errorf("report %s: schema %q, want %q", path, r.Schema, SchemaVersion)
	}
	// A v1 report has no verdict fields; the rule that sets them is the
	// same for both.
	r.Summarize()
	return r, nil
}
