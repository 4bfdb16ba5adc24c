package val23

import (
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
	"edgelab/labs/labrun"
	"edgelab/peer/received"
)

// VAL23's own files in a scenario's evidence directory <evidence>/<S-X>/;
// the files every lab writes are labrun's (labrun.FileScenario, …). The
// names are the evidence layout of DESIGN.md §5; reviewers and --check-only
// read them.
const (
	peerProcess    = "peer" // the peer's process name: peer.log, peer-evidence.json
	unlimitedLabel = "unlimited"
	FilePreReload  = "pre-reload.json" // S-D: PreReload
)

var (
	FilePeer    = labrun.PeerEvidenceFile(peerProcess) // received.Evidence, copied after edged stopped
	FilePeerLog = labrun.PeerLogFile(peerProcess)
	// FileSetBandwidthUnlimited is S-D's reload, the CLI run VAL23-08 judges.
	FileSetBandwidthUnlimited = labrun.SetBandwidthFile(unlimitedLabel)
)

// ScenarioRecord is scenario.json: labrun's record of what the runner did
// and when, and what VAL23 adds to it.
type ScenarioRecord struct {
	labrun.ScenarioRecord
	// Last is the last complete observation (failed polls are in
	// observations.json).
	Last *Observation `json:"last,omitempty"`
	// StatusFrom says where relay-status.json came from: "final" (fetched
	// after the end condition) or "last-observation" (edged no longer
	// answered).
	StatusFrom string `json:"status_from,omitempty"`
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
	SetBandwidth map[string]labrun.SetBandwidthRun // by file name
	Decisions    api.Decisions
	PreReload    PreReload
	GoTest       []harness.TestEvent
	// Relay is the [relay] table edged booted with (edge.toml); Boot its
	// [relay.bandwidth].
	Relay config.Relay
	Boot  config.Bandwidth
	// Files are the names in the scenario's directory, sorted.
	Files    []string
	problems map[string]error
}

// Load reads the evidence of scenario s from evidenceDir/<s.Name>.
func Load(evidenceDir string, s Scenario) *Recorded {
	r := &Recorded{
		Scenario:     s,
		Dir:          filepath.Join(evidenceDir, s.Name),
		SetBandwidth: map[string]labrun.SetBandwidthRun{},
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
	r.load(labrun.FileScenario, func(b []byte) error { return json.Unmarshal(b, &r.Run) })
	r.load(labrun.FileEdgeTOML, func(b []byte) error {
		// Only [relay] matters here (the retry schedule, the tick, the boot
		// bandwidth); edged itself validated the whole file when it started.
		var f struct {
			Relay config.Relay `toml:"relay"`
		}
		_, err := toml.Decode(string(b), &f)
		r.Relay, r.Boot = f.Relay, f.Relay.Bandwidth
		return err
	})
	r.load(labrun.FileSeeded, func(b []byte) error { return json.Unmarshal(b, &r.Seeded) })
	r.load(FilePeer, func(b []byte) error { return json.Unmarshal(b, &r.Peer) })
	r.load(labrun.FileStatus, func(b []byte) error { return json.Unmarshal(b, &r.Status) })
	r.load(labrun.FileLedger, func(b []byte) error { return json.Unmarshal(b, &r.Ledger) })
	r.load(labrun.FileDecisions, func(b []byte) error { return json.Unmarshal(b, &r.Decisions) })
	// audit.Read is edged's own reader: a foreign line is an error; a torn
	// last line (a crash mid-append) only loses that line, and the events
	// before it are the log.
	if events, err := audit.Read(filepath.Join(r.Dir, labrun.FileAudit)); err != nil && !errors.Is(err, audit.ErrTornTail) {
		r.problems[labrun.FileAudit] = notExistOr(err)
	} else {
		r.Audit = events
	}
	r.load(FilePreReload, func(b []byte) error { return json.Unmarshal(b, &r.PreReload) })
	r.load(labrun.FileGoTest, func(b []byte) (err error) { r.GoTest, err = harness.ParseTestEvents(b); return err })
	// The runs the checks read are needed by name, so that an absent one
	// is missing evidence; any other set-bandwidth run is kept for
	// reviewers.
	names := []string{FileSetBandwidthUnlimited, labrun.SetBandwidthFile(rateLabel), labrun.SetBandwidthFile(quotaLabel)}
	matches, _ := filepath.Glob(filepath.Join(r.Dir, labrun.SetBandwidthFile("*")))
	for _, m := range matches {
		if name := filepath.Base(m); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		r.load(name, func(b []byte) error {
			var res labrun.SetBandwidthRun
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
	if err := r.problems[labrun.FileScenario]; err != nil {
		return fmt.Errorf("%s did not record a run (%s/%s: %v)", r.Scenario.Name, r.Scenario.Name, labrun.FileScenario, err)
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

// Record is the scenario's scenario.json, as the checks' timings need it.
func (r *Recorded) Record() labrun.ScenarioRecord { return r.Run.ScenarioRecord }

// EvidenceFiles are the files a reader should open for a check's verdict,
// relative to the evidence directory and only those that exist: the
// check's own files. For an ERROR the scenario record comes first: it says
// why the scenario could not run or what went wrong while it ran; the
// daemon's log follows.
func (r *Recorded) EvidenceFiles(files []string, status evidence.Status) []string {
	names := files
	if status == evidence.Error {
		names = append(append([]string{labrun.FileScenario}, files...), labrun.FileEdgedLog, FilePeerLog)
	}
	var out []string
	for _, n := range names {
		if r.exists(n) && !slices.Contains(out, r.rel(n)) {
			out = append(out, r.rel(n))
		}
	}
	return out
}

// notExistOr is fs.ErrNotExist itself for an absent file (so that need
// says "missing"), else err.
func notExistOr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fs.ErrNotExist
	}
	return err
}
