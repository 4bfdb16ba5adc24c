package labrun

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"edgelab/evidence"
)

// Files of a scenario's evidence directory <evidence>/<S-X>/ that every lab
// writes under the same names (the evidence layout of DESIGN.md §5 and §7);
// reviewers, the checks and --check-only read them. A lab's own files are
// named in the lab.
const (
	FileScenario     = "scenario.json"        // ScenarioRecord: timings, end condition, errors
	FileObservations = "observations.json"    // the lab's poll history, every poll
	FileSeeded       = "seeded.json"          // the ids setup seeded
	FileEdgeTOML     = "edge.toml"            // the config edged ran with
	FileStatus       = "relay-status.json"    // api.Status at the end condition
	FileLedger       = "ledger-dump.json"     // api.Ledger at the end condition, each segment's attempt history with it
	FileAudit        = "audit.jsonl"          // edged's audit log, copied
	FileDecisions    = "decisions.json"       // api.Decisions: edged's limiter journal at the end condition
	FileEdgedLog     = "edged.log"            // edged's output
	FileGoTest       = "go-test.json"         // a go test scenario: the go test -json stream
	FileGoTestRun    = "go-test-command.json" // that go test: harness.CommandResult without stdout
)

// SetBandwidthFile is the evidence file of one set-bandwidth CLI run: a
// SetBandwidthRun, whose stdout is the api.SetBandwidthResponse JSON.
func SetBandwidthFile(label string) string { return "set-bandwidth-" + label + ".json" }

// PeerEvidenceFile and PeerLogFile are the evidence and the output of the
// peer process called peer ("peer", "peer-a"), as Run.StartPeer names them.
func PeerEvidenceFile(peer string) string { return peer + "-evidence.json" }
func PeerLogFile(peer string) string      { return peer + ".log" }

// ScenarioRecord is scenario.json: what the runner did and when. A lab that
// records more embeds it in its own record.
type ScenarioRecord struct {
	Name      string    `json:"name"`
	Title     string    `json:"title"`
	Workdir   string    `json:"workdir,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	// EndCondition describes what the runner waited for; ReachedAt is when
	// it held, TimedOut that it never did within the deadline.
	EndCondition string     `json:"end_condition,omitempty"`
	ReachedAt    *time.Time `json:"reached_at,omitempty"`
	TimedOut     bool       `json:"timed_out"`
	// Error says why the scenario could not run (setup, start, readiness):
	// its checks are ERROR.
	Error string `json:"error,omitempty"`
	// Problems are things that went wrong while it ran (a wait that timed
	// out, a process that exited); the evidence shows their effect and the
	// checks judge it.
	Problems []string         `json:"problems,omitempty"`
	Phases   []evidence.Phase `json:"phases,omitempty"`
	// Exits says how each process ended when stopped ("exit status 0"
	// after SIGTERM is the clean case).
	Exits map[string]string `json:"exits,omitempty"`
}

// Faults are what went wrong while the scenario ran, in the record: an end
// condition that timed out and every problem met (a CLI call that failed,
// a process that died, evidence that could not be collected). Any fault
// makes every check of the scenario FAIL, never PASS (CheckDef.Evaluate).
func (rec ScenarioRecord) Faults() []string {
	var out []string
	if rec.TimedOut {
		out = append(out, "the end condition timed out: "+rec.EndCondition)
	}
	out = append(out, rec.Problems...)
	return out
}

// ReportEntry begins the report's entry for the scenario name (title) from
// its record: times, end condition, phases. notRun is the lab's reason when
// the scenario did not run; the entry is then complete, its error the
// record's own when it has one, and ran is false. Otherwise Summary holds
// the "S-X title: " prefix for the lab to finish and Observed the problems
// met while it ran.
func (rec ScenarioRecord) ReportEntry(name, title string, notRun error) (s evidence.Scenario, ran bool) {
	s = evidence.Scenario{
		Name: name, Title: title,
		StartedAt: rec.StartedAt, EndedAt: rec.EndedAt,
		EndCondition: rec.EndCondition, ReachedAt: rec.ReachedAt, TimedOut: rec.TimedOut,
		Phases: rec.Phases,
	}
	s.Summary = fmt.Sprintf("%s %s: ", name, title)
	if notRun != nil {
		s.Error = cmp.Or(rec.Error, notRun.Error())
		s.Summary += fmt.Sprintf("not run (%s)", OneLine(s.Error))
		return s, false
	}
	s.Observed = map[string]any{}
	if len(rec.Problems) > 0 {
		s.Observed["problems"] = rec.Problems
	}
	return s, true
}

// OneLine keeps a reason to one short line, so report.txt keeps one line
// per row; the whole reason stays in report.json.
func OneLine(s string) string {
	const max = 160
	line, _, cut := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > max {
		line, cut = line[:max], true
	}
	if cut {
		line += " …"
	}
	return line
}

// WriteJSON saves v as the evidence file name of the scenario directory dir.
func WriteJSON(dir, name string, v any) error {
	return evidence.WriteJSON(filepath.Join(dir, name), v)
}
