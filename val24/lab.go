package val24

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// Config is one invocation of the lab.
type Config struct {
	// Args is the command line, recorded as provenance.
	Args []string
	// EvidenceDir is where evidence goes; empty means the default
	// evidence/val24-per-peer-bandwidth-local-<date> under the module root.
	EvidenceDir string
	// Stdout receives the final report; Stderr progress and notices.
	Stdout, Stderr io.Writer
	// EdgedAddr, PeerAAddr and PeerBAddr override the lab ports (tests use
	// free ones); empty means 127.0.0.1:19056, :19057 and :19058.
	EdgedAddr, PeerAAddr, PeerBAddr string
	// Only, when set, runs just these scenarios; the others' checks are
	// ERROR (not run).
	Only []string
}

// Lab is a run in progress: the built binaries, the evidence directory and
// where processes listen.
type Lab struct {
	ModuleRoot  string
	EvidenceDir string
	Edged, Peer string // binaries
	// WorkRoot holds each scenario's workdir; kept short because unix
	// socket paths must stay under 108 bytes.
	WorkRoot                        string
	EdgedAddr, PeerAAddr, PeerBAddr string
	Progress                        *harness.Progress
	// Timeout bounds each wait; Interval is the poll period.
	Timeout  time.Duration
	Interval time.Duration
}

// Main runs the whole lab and returns its exit status: 0 when all checks
// pass, 1 when any fails, 2 when the lab could not run. The report is
// written to the evidence directory and printed to cfg.Stdout, also when
// the lab could not run.
func Main(ctx context.Context, cfg Config) int {
	started := time.Now()
	stderr := cfg.Stderr
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "val24: %v\n", err)
		return 2
	}
	want := cfg.EvidenceDir
	if want == "" {
		want = evidence.DefaultDir(root, DirName, started)
	}
	dir, moved, err := evidence.Allocate(want)
	if err != nil {
		fmt.Fprintf(stderr, "val24: %v\n", err)
		return 2
	}
	if moved {
		fmt.Fprintf(stderr, "val24: %s is not empty; writing this run's evidence to %s\n", want, dir)
	}
	fmt.Fprintf(stderr, "val24: evidence dir %s\n", dir)

	prov := evidence.CollectProvenance(ctx, root, cfg.Args, started)
	lab := &Lab{
		ModuleRoot: root, EvidenceDir: dir,
		EdgedAddr: cmp.Or(cfg.EdgedAddr, EdgedAddr), PeerAAddr: cmp.Or(cfg.PeerAAddr, PeerAAddr), PeerBAddr: cmp.Or(cfg.PeerBAddr, PeerBAddr),
		Progress: &harness.Progress{W: stderr, Every: 500 * time.Millisecond},
		Timeout:  EndConditionTimeout, Interval: 50 * time.Millisecond,
	}
	labErr := lab.prepare(ctx)
	defer lab.cleanup()
	for _, s := range Scenarios {
		if labErr == nil && ctx.Err() != nil {
			labErr = fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		switch {
		case labErr != nil:
			lab.recordNotRun(s, labErr)
		case len(cfg.Only) > 0 && !slices.Contains(cfg.Only, s.Name):
			lab.recordNotRun(s, errors.New("not selected in this run"))
		default:
			lab.RunScenario(ctx, s)
		}
	}

	scenarios, checks := Evaluate(dir)
	prov.FinishedAt = time.Now()
	report := evidence.Report{
		Schema: evidence.SchemaVersion, Lab: LabName, Title: Title, EvidenceDir: dir,
		Provenance: prov, Scenarios: scenarios, Checks: checks,
	}
	if labErr != nil {
		report.Error = labErr.Error()
	}
	if err := evidence.WriteReport(dir, report); err != nil {
		fmt.Fprintf(stderr, "val24: %v\n", err)
	}
	fmt.Fprint(cfg.Stdout, evidence.Text(report))
	return report.ExitCode()
}

// prepare checks the lab ports and builds the binaries once. An error means
// the lab cannot run.
func (l *Lab) prepare(ctx context.Context) error {
	if err := harness.CheckPortsFree(l.EdgedAddr, l.PeerAAddr, l.PeerBAddr); err != nil {
		fmt.Fprintf(l.Progress.W, "val24: %v\n", err)
		return err
	}
	var err error
	if l.WorkRoot, err = os.MkdirTemp(shortTempDir(), "val24-"); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	start := time.Now()
	l.Progress.Update("build", "go-build", 0, "")
	bins, err := harness.Build(ctx, l.ModuleRoot, filepath.Join(l.WorkRoot, "bin"), []string{"./edged", "./peer"}, "-ldflags=-s -w")
	if err != nil {
		fmt.Fprintf(l.Progress.W, "val24: %v\n", err)
		return err
	}
	l.Edged, l.Peer = bins["edged"], bins["peer"]
	l.Progress.Printf("build", "edged and peer built in %.1fs", time.Since(start).Seconds())
	return nil
}

func (l *Lab) cleanup() {
	if l.WorkRoot != "" {
		os.RemoveAll(l.WorkRoot)
	}
}

// shortTempDir is where workdirs go: $TMPDIR unless it is so long that a
// control socket path below it could pass the unix limit.
func shortTempDir() string {
	if dir := os.TempDir(); len(dir) <= 40 {
		return dir
	}
	return "/tmp"
}

// recordNotRun leaves a scenario.json saying why s did not run, so its
// checks are ERROR with that reason.
func (l *Lab) recordNotRun(s Scenario, why error) {
	dir := filepath.Join(l.EvidenceDir, s.Name)
	now := time.Now()
	rec := ScenarioRecord{Name: s.Name, Title: s.Title, StartedAt: now, EndedAt: now, Error: why.Error()}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := writeJSON(dir, FileScenario, rec); err != nil {
			fmt.Fprintf(l.Progress.W, "val24: %v\n", err)
		}
	}
}
