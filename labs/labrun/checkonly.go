package labrun

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
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
	Dir string
	// IgnoreManifest re-checks a directory whose seal does not verify (a
	// file changed, missing or added; the attestation or its signature
	// wrong) instead of refusing it; the re-check record says what did not
	// match.
	IgnoreManifest bool
	Stdout, Stderr io.Writer
	// Now is the clock (tests fix it); nil means time.Now.
	Now func() time.Time
}

// CheckSpec is the part of a lab a re-check needs.
type CheckSpec struct {
	Name, Title string
	Scenarios   []Scenario
	Evaluate    func(evidenceDir string) ([]evidence.Scenario, []evidence.Check)
}

// CheckOnly re-evaluates the checks over the saved evidence in cfg.Dir,
// without running anything: a reviewer's way to re-run the verdict, e.g.
// after a check was fixed or on a CI artifact.
//
// It first verifies the directory's seal (manifest.sha256, the attestation
// of it and, with EDGELAB_VERIFY_KEY, its signature): when that fails the
// verdict is ERROR naming what changed, and nothing is rewritten, unless
// cfg.IgnoreManifest. Then it rewrites report.json and everything rendered
// from it, keeping the run's provenance and recording the re-check and
// what it verified, seals the directory anew (signed with
// EDGELAB_SIGNING_KEY), prints report.txt and returns the status the lab
// would have: 0 all PASS, 1 a FAIL, 2 an ERROR or a directory it cannot
// use.
func CheckOnly(ctx context.Context, cfg CheckConfig, spec CheckSpec) int {
	lab := strings.ToLower(spec.Name)
	log := slog.New(slog.NewTextHandler(cfg.Stderr, nil)).With("lab", lab)
	fail := func(format string, args ...any) int {
		fmt.Fprintf(cfg.Stderr, "%s: --check-only %s: %s\n", lab, cfg.Dir, fmt.Sprintf(format, args...))
		return 2
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return fail("%v", err)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fail("not an evidence directory (%s)", statReason(err))
	}
	// evidence/latest names the run it points at.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if !hasScenarioDirs(dir, spec.Scenarios) {
		return fail("no scenario directories (%s/ … %s/): not a %s evidence directory",
			spec.Scenarios[0].Name, spec.Scenarios[len(spec.Scenarios)-1].Name, spec.Name)
	}
	verifyKey, err := keyFromEnv(evidence.EnvVerifyKey, evidence.ReadVerifyKey)
	if err != nil {
		return fail("%v", err)
	}
	seal, err := SealOptionsFromEnv()
	if err != nil {
		return fail("%v", err)
	}

	// The seal first: a re-check must never bless evidence that changed
	// since the run by rewriting its manifest.
	v, err := evidence.VerifySeal(dir, verifyKey)
	if err != nil {
		return fail("verify: %v", err)
	}
	if v.Problem != "" {
		if !cfg.IgnoreManifest {
			return fail("verdict ERROR: %s; nothing rewritten (--ignore-manifest re-checks it as it is)", v.Problem)
		}
		v.Ignored = true
		log.Warn("re-checking evidence whose seal does not verify", "dir", dir, "problem", v.Problem)
	}

	rc := evidence.Recheck{At: now(), Verified: &v, Signed: seal.SigningKey != nil}
	var notes []string
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A run that crashed before writing its report still left its raw
		// evidence, which is exactly what a re-check is for.
		notes = append(notes, "report.json was absent: the run's provenance is unknown")
		report = evidence.Report{Provenance: evidence.Provenance{StartedAt: runStart(dir, spec.Scenarios)}}
	case err != nil:
		// Not ours to overwrite: a report this code does not understand.
		return fail("%v", err)
	}
	if v.Ignored {
		notes = append(notes, "the seal did not verify ("+v.Problem+"); re-checked as it is (--ignore-manifest)")
	}
	if v.Signature != evidence.VerifyAbsent && seal.SigningKey == nil {
		notes = append(notes, "the run's signature was removed: this re-check had no "+evidence.EnvSigningKey)
	}
	rc.Note = strings.Join(notes, "; ")

	// The revision that evaluates the checks matters as much as the one
	// that ran the lab: the checks may have changed in between.
	if root, err := harness.ModuleRoot(ctx); err == nil {
		p := evidence.CollectProvenance(ctx, root, cfg.Args, rc.At)
		rc.GitRevision, rc.GitDirty, rc.GitError, rc.GoVersion, rc.Hostname = p.GitRevision, p.GitDirty, p.GitError, p.GoVersion, p.Hostname
	} else {
		rc.GitError = err.Error()
		rc.Hostname, _ = os.Hostname()
	}
	rc.CommandLine = evidence.CommandLine(cfg.Args)
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
	} else if err := evidence.Seal(dir, report, seal); err != nil {
		fmt.Fprintf(cfg.Stderr, "%s: seal: %v\n", lab, err)
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

// SealOptionsFromEnv are the seal options of this process: signed when
// EDGELAB_SIGNING_KEY names a key file.
func SealOptionsFromEnv() (evidence.SealOptions, error) {
	key, err := keyFromEnv(evidence.EnvSigningKey, evidence.ReadSigningKey)
	return evidence.SealOptions{SigningKey: key}, err
}

func keyFromEnv[K ed25519.PrivateKey | ed25519.PublicKey](name string, read func(string) (K, error)) (K, error) {
	path := os.Getenv(name)
	if path == "" {
		return nil, nil
	}
	key, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return key, nil
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

func hasScenarioDirs(dir string, scenarios []Scenario) bool {
	for _, s := range scenarios {
		if info, err := os.Stat(filepath.Join(dir, s.Name)); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// runStart is the earliest scenario start recorded in dir, standing in for
// the run's start (report.txt's Date) when report.json is gone.
func runStart(dir string, scenarios []Scenario) time.Time {
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
