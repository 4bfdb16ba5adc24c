package val23

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// Config is one invocation of the lab.
type Config struct {
	// Args is the command line, recorded as provenance.
	Args []string
	// EvidenceDir is where evidence goes; empty means the default
	// evidence/val23-relay-bandwidth-local-<date> under the module root.
	EvidenceDir string
	// Stdout receives the final report; Stderr progress and notices.
	Stdout, Stderr io.Writer
	// EdgedAddr and PeerAddr override the lab ports (tests use free ones);
	// empty means 127.0.0.1:19054 and :19055.
	EdgedAddr, PeerAddr string
}

// Lab is a run in progress: the built binaries, the evidence directory and
// the processes it has started.
type Lab struct {
	ModuleRoot  string
	EvidenceDir string
	Edged, Peer string // binaries
	// WorkRoot holds each scenario's workdir; kept short because unix
	// socket paths must stay under 108 bytes.
	WorkRoot string
	// EdgedAddr and PeerAddr are where edged and the peer listen.
	EdgedAddr, PeerAddr string
	Progress            *harness.Progress
	// Timeout bounds each end condition; Interval is the poll period.
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
		fmt.Fprintf(stderr, "val23: %v\n", err)
		return 2
	}
	want := cfg.EvidenceDir
	if want == "" {
		want = evidence.DefaultDir(root, DirName, started)
	}
	dir, moved, err := evidence.Allocate(want)
	if err != nil {
		fmt.Fprintf(stderr, "val23: %v\n", err)
		return 2
	}
	if moved {
		fmt.Fprintf(stderr, "val23: %s is not empty; writing this run's evidence to %s\n", want, dir)
	}
	fmt.Fprintf(stderr, "val23: evidence dir %s\n", dir)

	prov := evidence.CollectProvenance(ctx, root, cfg.Args, started)
	lab := &Lab{
		ModuleRoot: root, EvidenceDir: dir,
		EdgedAddr: cmp.Or(cfg.EdgedAddr, EdgedAddr), PeerAddr: cmp.Or(cfg.PeerAddr, PeerAddr),
		Progress: &harness.Progress{W: stderr, Every: 500 * time.Millisecond},
		Timeout:  EndConditionTimeout, Interval: 50 * time.Millisecond,
	}
	labErr := lab.prepare(ctx)
	defer lab.cleanup()
	for _, s := range Scenarios {
		if labErr == nil && ctx.Err() != nil {
			labErr = fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		if labErr != nil {
			lab.recordNotRun(s, labErr)
			continue
		}
		lab.RunScenario(ctx, s)
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
		fmt.Fprintf(stderr, "val23: %v\n", err)
	}
	if err := evidence.UpdateLatest(root, dir); err != nil {
		fmt.Fprintf(stderr, "val23: %v\n", err)
	}
	fmt.Fprint(cfg.Stdout, evidence.Text(report))
	return report.ExitCode()
}

// prepare checks the lab ports and builds the binaries once. An error means
// the lab cannot run.
func (l *Lab) prepare(ctx context.Context) error {
	if err := harness.CheckPortsFree(l.EdgedAddr, l.PeerAddr); err != nil {
		fmt.Fprintf(l.Progress.W, "val23: %v\n", err)
		return err
	}
	var err error
	if l.WorkRoot, err = os.MkdirTemp(shortTempDir(), "val23-"); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	start := time.Now()
	l.Progress.Update("build", "go-build", 0, "")
	// Without DWARF and the symbol table the link, the slow part of a warm
	// build, takes about half as long; panics still print full stack traces.
	bins, err := harness.Build(ctx, l.ModuleRoot, filepath.Join(l.WorkRoot, "bin"), []string{"./edged", "./peer"}, "-ldflags=-s -w")
	if err != nil {
		fmt.Fprintf(l.Progress.W, "val23: %v\n", err)
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
	var inUse *harness.PortInUseError
	if errors.As(why, &inUse) {
		rec.Error = inUse.Error()
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = writeJSON(dir, FileScenario, rec)
		if err != nil {
			fmt.Fprintf(l.Progress.W, "val23: %v\n", err)
		}
	}
}
