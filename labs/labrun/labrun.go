// Package labrun is what the VAL23, VAL24 and VAL25 labs share above the process
// harness, so that each rule has one place:
//
//   - Main, the lab driver: evidence directory, provenance, one build of
//     edged and the peer, the scenarios, the evaluation, the report,
//     evidence/latest, the exit status;
//   - Run, one scenario in progress: fresh edged and peer processes, its
//     phases, the evidence it saves, its teardown;
//   - the files of a scenario's evidence directory every lab writes
//     (scenario.json and the rest) and ScenarioRecord;
//   - CheckDef, the evaluation of one check over evidence read back;
//   - CLI, the labs' one command line (run, --check-only, --diff,
//     --history, --version), CheckOnly and the run's history line.
//
// A lab keeps only what is its own: its scenarios' steps, its evidence
// records and its checks.
package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// Scenario names one scenario of a lab.
type Scenario struct {
	Name  string // "S-A"
	Title string // as the report's scenario summary names it
	// UnitTests marks a scenario that only runs `go test`: it needs
	// neither the lab's ports nor its binaries, so it runs even when
	// those are not to be had (a busy port is no reason to skip tests).
	UnitTests bool
	// Floor is the least the scenario can take by design (token refill,
	// backoff, cycles): the history records each run's time above it.
	Floor time.Duration
}

// Def is the scenario as the driver sees it; a lab whose scenarios carry
// more embeds Scenario and so has Def too.
func (s Scenario) Def() Scenario { return s }

// Named is a lab's scenario definition: Scenario, or a type that embeds it.
type Named interface{ Def() Scenario }

// Lookup returns the scenario called name in list.
func Lookup[S Named](list []S, name string) (S, bool) {
	for _, s := range list {
		if s.Def().Name == name {
			return s, true
		}
	}
	var none S
	return none, false
}

// Defs are the names and titles of list, in its order.
func Defs[S Named](list []S) []Scenario {
	out := make([]Scenario, 0, len(list))
	for _, s := range list {
		out = append(out, s.Def())
	}
	return out
}

// Spec is one lab as Main drives it.
type Spec struct {
	// Name is the lab's short name ("VAL23"): the report's lab; in lower
	// case it prefixes the lab's messages and its work directory.
	Name string
	// Title is the first line of report.txt.
	Title string
	// DirName names the default evidence directory,
	// evidence/<DirName>-<YYYY-MM-DD> under the module root.
	DirName string
	// Scenarios are run and reported in this order.
	Scenarios []Scenario
	// Ports are the addresses the lab's processes listen on. All must be
	// free before anything starts, so a lab never talks to a stranger's
	// process.
	Ports []string
	// Only, when set, runs just these scenarios; the others are recorded
	// as not run, so their checks are ERROR.
	Only []string
	// Run runs scenario s with fresh processes and saves its raw evidence
	// to <env.EvidenceDir>/<s.Name>. It never fails as such: what went
	// wrong is in scenario.json for the checks to judge.
	Run func(ctx context.Context, env *Env, s Scenario)
	// Evaluate reads the evidence directory back and evaluates every
	// check: the same path for a fresh run and for a saved directory.
	Evaluate func(evidenceDir string) ([]evidence.Scenario, []evidence.Check)
}

// Config is one invocation of a lab.
type Config struct {
	// Args is the command line, recorded as provenance.
	Args []string
	// EvidenceDir is where evidence goes; empty means the lab's default
	// directory (Spec.DirName).
	EvidenceDir string
	// Stdout receives the final report; Stderr progress and notices.
	Stdout, Stderr io.Writer
	// History, when set, is the history file the run appends its line to
	// (evidence.AppendHistory); the command line defaults it to
	// <module>/evidence/history.jsonl.
	History string
}

// EndConditionTimeout is how long each end condition may take: the VAL23
// seed's runner waited 20 s, and every lab keeps to it.
const EndConditionTimeout = 20 * time.Second

// Env is what every scenario of one lab run shares: where the module and
// the evidence are, the binaries built once, and how long to wait.
type Env struct {
	ModuleRoot  string
	EvidenceDir string
	Edged, Peer string // binaries
	Setup       string // the setup binary: seeding goes through it, so the orchestrator does not link SQLite
	// Binaries are Edged and Peer with their sha256, hashed once built,
	// before any scenario ran them.
	Binaries []evidence.Binary
	// WorkRoot holds each scenario's workdir; kept short because unix
	// socket paths must stay under 108 bytes.
	WorkRoot string
	Progress *harness.Progress
	// Timeout bounds each end condition; Interval is the poll period.
	Timeout  time.Duration
	Interval time.Duration

	lab string // the lab's name in lower case, for messages
}

// Main runs the whole lab and returns its exit status: 0 when all checks
// pass, 1 when any fails, 2 when the lab could not run. The report is
// written to the evidence directory and printed to cfg.Stdout, also when
// the lab could not run.
func Main(ctx context.Context, cfg Config, spec Spec) int {
	started := time.Now()
	stderr := cfg.Stderr
	lab := strings.ToLower(spec.Name)
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", lab, err)
		return 2
	}
	// A signature asked for and impossible is known before anything runs.
	seal, err := SealOptionsFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", lab, err)
		return 2
	}
	want := cfg.EvidenceDir
	if want == "" {
		want = evidence.DefaultDir(root, spec.DirName, started)
	}
	dir, moved, err := evidence.Allocate(want)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", lab, err)
		return 2
	}
	if moved {
		fmt.Fprintf(stderr, "%s: %s is not empty; writing this run's evidence to %s\n", lab, want, dir)
	}
	fmt.Fprintf(stderr, "%s: evidence dir %s\n", lab, dir)

	// The evidence directory is the lab's output, not a change to the
	// code: it never makes the tree dirty.
	prov := evidence.CollectProvenance(ctx, root, cfg.Args, started, dir)
	env := &Env{
		ModuleRoot: root, EvidenceDir: dir,
		Progress: &harness.Progress{W: stderr, Every: 500 * time.Millisecond},
		Timeout:  EndConditionTimeout, Interval: 50 * time.Millisecond,
		lab: lab,
	}
	labErr := env.prepare(ctx, spec.Ports)
	prepErr := labErr
	defer env.cleanup()
	for _, s := range spec.Scenarios {
		if labErr == nil && ctx.Err() != nil {
			labErr = fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
		switch {
		case labErr != nil && !(s.UnitTests && labErr == prepErr):
			env.recordNotRun(s, labErr)
		case len(spec.Only) > 0 && !slices.Contains(spec.Only, s.Name):
			env.recordNotRun(s, errors.New("not selected in this run"))
		default:
			spec.Run(ctx, env, s)
		}
	}

	scenarios, checks := spec.Evaluate(dir)
	prov.FinishedAt = time.Now()
	prov.LoadEnd = evidence.LoadAverage()
	prov.Binaries = env.Binaries
	report := evidence.Report{
		Schema: evidence.SchemaVersion, Lab: spec.Name, Title: spec.Title, EvidenceDir: dir,
		Provenance: prov, Scenarios: scenarios, Checks: checks,
	}
	if labErr != nil {
		report.Error = labErr.Error()
	}
	if err := evidence.WriteReport(dir, report); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", lab, err)
	}
	if err := evidence.UpdateLatest(root, dir); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", lab, err)
	}
	appendHistory(cfg.History, report, spec.Scenarios, stderr)
	// Last: the manifest covers every file written above, the attestation
	// the manifest. Nothing is written into dir after this.
	code := report.ExitCode()
	if err := evidence.Seal(dir, report, seal); err != nil {
		fmt.Fprintf(stderr, "%s: seal: %v\n", lab, err)
		code = 2
	}
	fmt.Fprint(cfg.Stdout, evidence.Text(report))
	return code
}

// prepare checks the lab's ports and builds the binaries once. An error
// means the lab cannot run.
func (e *Env) prepare(ctx context.Context, ports []string) error {
	// The work root comes first: a unit-test scenario runs in it even when
	// a port is busy.
	var err error
	if e.WorkRoot, err = os.MkdirTemp(shortTempDir(), e.lab+"-"); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	if err := harness.CheckPortsFree(ports...); err != nil {
		fmt.Fprintf(e.Progress.W, "%s: %v\n", e.lab, err)
		return err
	}
	start := time.Now()
	e.Progress.Printf("build", "building edged, peer and setup (the first run compiles SQLite, about a minute; later runs a few seconds)…")
	// A cold build is silent for a long time: say it is still going.
	building, done := context.WithCancel(ctx)
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-building.Done():
				return
			case <-tick.C:
				e.Progress.Printf("build", "still building (%.0fs)…", time.Since(start).Seconds())
			}
		}
	}()
	// Without DWARF and the symbol table the link, the slow part of a warm
	// build, takes about half as long; panics still print full stack traces.
	bins, err := harness.Build(ctx, e.ModuleRoot, filepath.Join(e.WorkRoot, "bin"), []string{"./edged", "./peer", "./setup"}, "-ldflags=-s -w")
	done()
	if err != nil {
		fmt.Fprintf(e.Progress.W, "%s: %v\n", e.lab, err)
		return err
	}
	e.Edged, e.Peer, e.Setup = bins["edged"], bins["peer"], bins["setup"]
	e.Binaries = evidence.HashBinaries(map[string]string{"edged": e.Edged, "peer": e.Peer})
	e.Progress.Printf("build", "edged, peer and setup built in %.1fs", time.Since(start).Seconds())
	return nil
}

func (e *Env) cleanup() {
	if e.WorkRoot != "" {
		os.RemoveAll(e.WorkRoot)
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
func (e *Env) recordNotRun(s Scenario, why error) {
	dir := filepath.Join(e.EvidenceDir, s.Name)
	now := time.Now()
	rec := ScenarioRecord{Name: s.Name, Title: s.Title, StartedAt: now, EndedAt: now, Error: why.Error()}
	// A busy port is reported as the operator reads it ("port 19054 is in
	// use"), whatever wrapped it.
	var inUse *harness.PortInUseError
	if errors.As(why, &inUse) {
		rec.Error = inUse.Error()
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := WriteJSON(dir, FileScenario, rec); err != nil {
			fmt.Fprintf(e.Progress.W, "%s: %v\n", e.lab, err)
		}
	}
}
