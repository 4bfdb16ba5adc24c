package val23

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/edged/config"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/peer/received"
)

// Files of a scenario's evidence directory <evidence>/<S-X>/. The names are
// the evidence layout of DESIGN.md §5; reviewers and --check-only read them.
const (
	FileScenario              = "scenario.json"      // ScenarioRecord: timings, end condition, errors
	FileObservations          = "observations.json"  // []Observation: the raw poll history
	FileSeeded                = "seeded.json"        // []string: ids setup seeded
	FileEdgeTOML              = "edge.toml"          // the config edged ran with
	FilePeer                  = "peer-evidence.json" // received.Evidence, copied after edged stopped
	FileStatus                = "relay-status.json"  // api.Status at the end condition
	FileLedger                = "ledger-dump.json"   // api.Ledger at the end condition
	FileAudit                 = "audit.jsonl"        // edged's audit log, copied
	FileEdgedLog              = "edged.log"
	FilePeerLog               = "peer.log"
	FilePreReload             = "pre-reload.json"              // S-D: PreReload
	FileGoTest                = "go-test.json"                 // S-E: the go test -json stream
	FileGoTestRun             = "go-test-command.json"         // S-E: harness.CommandResult without stdout
	FileSetBandwidthUnlimited = "set-bandwidth-unlimited.json" // S-D: the reload's CLI run (see SetBandwidthFile)
)

// SetBandwidthFile is the evidence file of one set-bandwidth CLI run: a
// harness.CommandResult whose stdout is the api.SetBandwidthResponse JSON.
func SetBandwidthFile(label string) string { return "set-bandwidth-" + label + ".json" }

// ScenarioRecord is scenario.json: what the runner did and when.
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
	Problems []string `json:"problems,omitempty"`
	Phases   []Phase  `json:"phases,omitempty"`
	// Exits says how edged and the peer ended when stopped ("exit status
	// 0" after SIGTERM is the clean case).
	Exits map[string]string `json:"exits,omitempty"`
	// Last is the last complete observation (failed polls are in
	// observations.json).
	Last *Observation `json:"last,omitempty"`
	// StatusFrom says where relay-status.json came from: "final" (fetched
	// after the end condition) or "last-observation" (edged no longer
	// answered).
	StatusFrom string `json:"status_from,omitempty"`
}

// Phase is one step of a scenario.
type Phase struct {
	Name      string     `json:"name"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   time.Time  `json:"ended_at"`
	ReachedAt *time.Time `json:"reached_at,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// Observation is one poll of edged's status and the peer's evidence.
type Observation struct {
	At                 time.Time `json:"at"`
	Elapsed            float64   `json:"elapsed_seconds"` // since the scenario started
	Phase              string    `json:"phase"`
	Delivered          int64     `json:"delivered"`
	Pending            int64     `json:"pending"`
	Deadletter         int64     `json:"deadletter"`
	BlockedOversize    int64     `json:"blocked_oversize"`
	Throttle           int64     `json:"throttle_count"`
	QuotaDrops         int64     `json:"quota_drop_count"`
	DailyUsed          int64     `json:"daily_used_bytes"`
	ExecutorCycles     int64     `json:"executor_cycles"`
	LastCycleThrottled int64     `json:"last_cycle_throttled"`
	PeerCount          int       `json:"peer_count"`
	StatusError        string    `json:"status_error,omitempty"`
	PeerError          string    `json:"peer_error,omitempty"`
}

// PreReload is S-D's proof that delivery was really blocked before the
// unlimited setting was applied.
type PreReload struct {
	// Baseline is the first status after seeding; Last the last status
	// before the reload, with the peer's ids from the same poll.
	BaselineAt time.Time  `json:"baseline_at"`
	Baseline   api.Status `json:"baseline"`
	LastAt     time.Time  `json:"last_at"`
	Last       api.Status `json:"last"`
	PeerIDs    []string   `json:"peer_ids"`
	// Reached says the blocking condition held before the reload.
	Reached bool   `json:"reached"`
	Error   string `json:"error,omitempty"`
}

// TestEvent is one line of `go test -json` (test2json).
type TestEvent struct {
	Time    time.Time `json:"Time"`
	Action  string    `json:"Action"`
	Package string    `json:"Package"`
	Test    string    `json:"Test,omitempty"`
	Elapsed float64   `json:"Elapsed,omitempty"`
	Output  string    `json:"Output,omitempty"`
}

// Recorded is what one scenario left in its evidence directory, read back
// from disk. A file that is absent or unreadable is noted in problems and
// makes the checks that need it ERROR.
type Recorded struct {
	Scenario     Scenario
	Dir          string
	Run          ScenarioRecord
	Seeded       []string
	Peer         received.Evidence
	Status       api.Status
	Ledger       api.Ledger
	Audit        []audit.Event
	SetBandwidth map[string]harness.CommandResult // by file name
	PreReload    PreReload
	GoTest       []TestEvent
	// Boot is the [relay.bandwidth] edged booted with (edge.toml).
	Boot config.Bandwidth
	// Files are the names in the scenario's directory, sorted.
	Files    []string
	problems map[string]error
}

// Load reads the evidence of scenario s from evidenceDir/<s.Name>.
func Load(evidenceDir string, s Scenario) *Recorded {
	r := &Recorded{
		Scenario:     s,
		Dir:          filepath.Join(evidenceDir, s.Name),
		SetBandwidth: map[string]harness.CommandResult{},
		problems:     map[string]error{},
	}
	if entries, err := os.ReadDir(r.Dir); err == nil {
		for _, e := range entries {
			// Dot files are an atomic write's leftovers, not evidence.
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				r.Files = append(r.Files, e.Name())
			}
		}
	}
	r.load(FileScenario, func(b []byte) error { return json.Unmarshal(b, &r.Run) })
	r.load(FileEdgeTOML, func(b []byte) error {
		// Only the boot bandwidth matters here; edged itself validated the
		// whole file when it started.
		var f struct {
			Relay struct {
				Bandwidth config.Bandwidth `toml:"bandwidth"`
			} `toml:"relay"`
		}
		_, err := toml.Decode(string(b), &f)
		r.Boot = f.Relay.Bandwidth
		return err
	})
	r.load(FileSeeded, func(b []byte) error { return json.Unmarshal(b, &r.Seeded) })
	r.load(FilePeer, func(b []byte) error { return json.Unmarshal(b, &r.Peer) })
	r.load(FileStatus, func(b []byte) error { return json.Unmarshal(b, &r.Status) })
	r.load(FileLedger, func(b []byte) error { return json.Unmarshal(b, &r.Ledger) })
	// audit.Read is edged's own reader: a torn or foreign line is an error.
	if events, err := audit.Read(filepath.Join(r.Dir, FileAudit)); err != nil {
		r.problems[FileAudit] = notExistOr(err)
	} else {
		r.Audit = events
	}
	r.load(FilePreReload, func(b []byte) error { return json.Unmarshal(b, &r.PreReload) })
	r.load(FileGoTest, func(b []byte) (err error) { r.GoTest, err = parseTestEvents(b); return err })
	// The reload's answer is needed by name; other set-bandwidth runs are
	// kept for reviewers.
	names := []string{FileSetBandwidthUnlimited}
	matches, _ := filepath.Glob(filepath.Join(r.Dir, "set-bandwidth-*.json"))
	for _, m := range matches {
		if name := filepath.Base(m); name != FileSetBandwidthUnlimited {
			names = append(names, name)
		}
	}
	for _, name := range names {
		r.load(name, func(b []byte) error {
			var res harness.CommandResult
			if err := json.Unmarshal(b, &res); err != nil {
				return err
			}
			r.SetBandwidth[name] = res
			return nil
		})
	}
	return r
}

func (r *Recorded) load(name string, decode func([]byte) error) {
	data, err := os.ReadFile(filepath.Join(r.Dir, name))
	if err != nil {
		r.problems[name] = notExistOr(err)
		return
	}
	if err := decode(data); err != nil {
		r.problems[name] = fmt.Errorf("decode: %w", err)
	}
}

// need returns why the evidence files names cannot be used: the scenario
// could not run, or a file is absent or unreadable. nil means all are
// there.
func (r *Recorded) need(names ...string) error {
	if err := r.problems[FileScenario]; err != nil {
		return fmt.Errorf("%s did not record a run (%s/%s: %v)", r.Scenario.Name, r.Scenario.Name, FileScenario, err)
	}
	if r.Run.Error != "" {
		return fmt.Errorf("%s could not run: %s", r.Scenario.Name, r.Run.Error)
	}
	for _, n := range names {
		if err := r.problems[n]; err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("evidence missing: %s/%s", r.Scenario.Name, n)
			}
			return fmt.Errorf("evidence unusable: %s/%s: %v", r.Scenario.Name, n, err)
		}
	}
	return nil
}

// exists reports whether the scenario's directory holds file name.
func (r *Recorded) exists(name string) bool { return slices.Contains(r.Files, name) }

// rel is file name's path relative to the evidence directory, with
// forward slashes, as report links use it.
func (r *Recorded) rel(name string) string { return path.Join(r.Scenario.Name, name) }

// ran reports whether the scenario ran (its record exists without error).
func (r *Recorded) ran() bool { return r.need() == nil }

// has reports whether file name was read.
func (r *Recorded) has(name string) bool { return r.problems[name] == nil }

// notExistOr is fs.ErrNotExist itself for an absent file (so that need
// says "missing"), else err.
func notExistOr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fs.ErrNotExist
	}
	return err
}

// parseTestEvents reads a go test -json stream. Lines that are not JSON
// (a build failure printed before the stream) are kept as output events so
// nothing is lost.
func parseTestEvents(data []byte) ([]TestEvent, error) {
	var events []TestEvent
	err := eachLine(data, func(_ int, line []byte) error {
		var e TestEvent
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			e = TestEvent{Action: "output", Output: string(line)}
		}
		events = append(events, e)
		return nil
	})
	return events, err
}

func eachLine(data []byte, f func(n int, line []byte) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := f(n, line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// writeJSON saves v as the scenario's evidence file name.
func writeJSON(dir, name string, v any) error {
	return evidence.WriteJSON(filepath.Join(dir, name), v)
}
