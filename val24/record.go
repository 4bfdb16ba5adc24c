package val24

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"edgelab/edged/api"
	"edgelab/edged/audit"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labrun"
	"edgelab/peer/received"
	"edgelab/transport"
)

// VAL24's own files in a scenario's evidence directory <evidence>/<S-X>/;
// the files every lab writes are labrun's (labrun.FileScenario, …, and
// labrun.PeerEvidenceFile and labrun.PeerLogFile for each peer).
const (
	FileSends          = "sends.json"               // S-A: []Send, every PUT and its answer
	FileStatusPreSpoof = "status-before-spoof.json" // S-A: api.Status before the spoofed PUTs
	FileStatusSpoofed  = "status-after-spoof.json"  // S-A: api.Status after them
	FileMetrics        = "metrics.txt"              // S-A: GET /metrics on the control socket
	FileMetricsStatus  = "metrics-status.json"      // S-A: api.Status right after that scrape
	FilePromtool       = "promtool-check.json"      // S-A: `promtool check metrics` on metrics.txt, when installed
	FilePreKill        = "pre-kill-status.json"     // S-C: api.Status just before kill -9
	FileKill           = "kill.json"                // S-C: KillRecord
	FilePostRestart    = "post-restart-status.json" // S-C: the first api.Status after the restart
	FilePostLedger     = "post-restart-ledger.json" // S-C: api.Ledger right after the restart
	FileEdgedRestart   = "edged-restart.log"        // S-C: the restarted edged's output
)

// Labels of the set-bandwidth runs.
const (
	LabelPeerRate    = "peer-a-rate"
	LabelUnknownPeer = "unknown-peer"
	LabelGlobalQuota = "global-quota"
	LabelPeerQuota   = "peer-a-quota"
)

// Observation is one poll of edged's status and the peers' evidence.
type Observation struct {
	At          time.Time                  `json:"at"`
	Elapsed     float64                    `json:"elapsed_seconds"`
	Phase       string                     `json:"phase"`
	Segments    api.SegmentCounts          `json:"segments"`
	Peers       map[string]PeerObservation `json:"peers,omitempty"`
	Ingress     int64                      `json:"ingress_bytes"`
	StatusError string                     `json:"status_error,omitempty"`
	PeerError   string                     `json:"peer_error,omitempty"`
}

// PeerObservation is one peer's figures in a poll: edged's view and what
// the peer holds.
type PeerObservation struct {
	Delivered  int64 `json:"delivered"`
	Pending    int64 `json:"pending"`
	Throttles  int64 `json:"throttle_count"`
	QuotaDrops int64 `json:"quota_drop_count"`
	DailyUsed  int64 `json:"daily_used_bytes"`
	Received   int   `json:"received"` // entries in the peer's evidence
}

// Send is one PUT of S-A to edged's listener and its answer.
type Send struct {
	Sender string `json:"sender"`  // the plan's name
	Cert   string `json:"cert"`    // identity of the client certificate
	PeerID string `json:"peer_id"` // Edge-Peer-Id declared; "" sends none
	// Session is the Edge-Session-Id sent.
	Session string `json:"session"`
	Conn    int    `json:"conn"` // which of the sender's clients
	// LocalAddr is the TCP connection's local address, so the evidence
	// shows how many connections each sender really used.
	LocalAddr string    `json:"local_addr"`
	ID        string    `json:"id"`
	Target    string    `json:"target"`
	Bytes     int64     `json:"bytes"`
	SHA256    string    `json:"sha256"`
	Phase     string    `json:"phase"`
	Code      int       `json:"code"` // HTTP status; 0 when there was no answer
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// Accepted reports that edged stored (201) or already held (200) it.
func (s Send) Accepted() bool { return s.Code == 201 || s.Code == 200 }

// Credited is the identity the bytes of an accepted send belong to: the
// declared peer id, else the session's key, "session:<uuid>".
func (s Send) Credited() string {
	if s.PeerID != "" {
		return s.PeerID
	}
	return transport.SessionKey(s.Session)
}

// KillRecord is S-C's kill -9.
type KillRecord struct {
	At       time.Time `json:"at"`
	Pid      int       `json:"pid"`
	Signal   string    `json:"signal"`
	ExitedAs string    `json:"exited_as"` // "signal: killed"
	Error    string    `json:"error,omitempty"`
}

// Recorded is one scenario's evidence read back from disk. A file absent or
// unreadable is in problems, and the checks that need it are ERROR.
type Recorded struct {
	Scenario labrun.Scenario
	Dir      string
	Run      labrun.ScenarioRecord
	Seeded   map[string][]string
	Peers    map[string]received.Evidence
	Status   api.Status
	Ledger   api.Ledger
	Audit    []audit.Event
	Sends    []Send
	// Statuses are the other api.Status snapshots, by file name.
	Statuses     map[string]api.Status
	PostLedger   api.Ledger
	Metrics      string
	Promtool     *harness.CommandResult            // nil: promtool was not installed
	SetBandwidth map[string]labrun.SetBandwidthRun // by label
	Decisions    api.Decisions
	Kill         KillRecord
	GoTest       []harness.TestEvent
	Observations []Observation

	problems map[string]error
}

var errNotRecorded = errors.New("not recorded")

// Load reads what scenario s left under evidenceDir.
func Load(evidenceDir string, s labrun.Scenario) *Recorded {
	r := &Recorded{
		Scenario: s, Dir: filepath.Join(evidenceDir, s.Name),
		Peers: map[string]received.Evidence{}, Statuses: map[string]api.Status{},
		SetBandwidth: map[string]labrun.SetBandwidthRun{}, problems: map[string]error{},
	}
	r.read(labrun.FileScenario, &r.Run)
	if r.problems[labrun.FileScenario] != nil {
		return r
	}
	r.read(labrun.FileSeeded, &r.Seeded)
	r.read(labrun.FileStatus, &r.Status)
	r.read(labrun.FileLedger, &r.Ledger)
	r.read(labrun.FileObservations, &r.Observations)
	for _, p := range []string{PeerA, PeerB} {
		ev, err := received.ReadFile(filepath.Join(r.Dir, labrun.PeerEvidenceFile(p)))
		r.note(labrun.PeerEvidenceFile(p), err)
		r.Peers[p] = ev
	}
	// A torn last line (a crash mid-append) only loses that line: the
	// events before it are the log.
	if events, err := audit.Read(filepath.Join(r.Dir, labrun.FileAudit)); err != nil && !errors.Is(err, audit.ErrTornTail) {
		r.note(labrun.FileAudit, err)
	} else {
		r.Audit = events
	}
	switch s.Name {
	case SA:
		r.read(FileSends, &r.Sends)
		for _, f := range []string{FileStatusPreSpoof, FileStatusSpoofed, FileMetricsStatus} {
			var st api.Status
			if r.read(f, &st) {
				r.Statuses[f] = st
			}
		}
		data, err := os.ReadFile(filepath.Join(r.Dir, FileMetrics))
		r.note(FileMetrics, err)
		r.Metrics = string(data)
		if _, err := os.Stat(filepath.Join(r.Dir, FilePromtool)); err == nil {
			var res harness.CommandResult
			if r.read(FilePromtool, &res) {
				r.Promtool = &res
			}
		}
	case SB, SC:
		r.read(labrun.FileDecisions, &r.Decisions)
		for _, l := range []string{LabelPeerRate, LabelUnknownPeer, LabelGlobalQuota, LabelPeerQuota} {
			var res labrun.SetBandwidthRun
			if _, err := os.Stat(filepath.Join(r.Dir, labrun.SetBandwidthFile(l))); err == nil && r.read(labrun.SetBandwidthFile(l), &res) {
				r.SetBandwidth[l] = res
			}
		}
		if s.Name == SC {
			for _, f := range []string{FilePreKill, FilePostRestart} {
				var st api.Status
				if r.read(f, &st) {
					r.Statuses[f] = st
				}
			}
			r.read(FilePostLedger, &r.PostLedger)
			r.read(FileKill, &r.Kill)
		}
	case SD:
		data, err := os.ReadFile(filepath.Join(r.Dir, labrun.FileGoTest))
		r.note(labrun.FileGoTest, err)
		if err == nil {
			r.GoTest, err = harness.ParseTestEvents(data)
			r.note(labrun.FileGoTest, err)
		}
	}
	return r
}

// Record is the scenario's scenario.json, as the checks' timings need it.
func (r *Recorded) Record() labrun.ScenarioRecord { return r.Run }

func (r *Recorded) read(name string, v any) bool {
	err := evidence.ReadJSON(filepath.Join(r.Dir, name), v)
	r.note(name, err)
	return err == nil
}

func (r *Recorded) note(name string, err error) {
	if err != nil {
		r.problems[name] = err
	}
}

// need returns the reason a check cannot be evaluated: the scenario did not
// run, or one of files is missing or unreadable.
func (r *Recorded) need(files ...string) error {
	if err := r.problems[labrun.FileScenario]; err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRecorded) {
			return fmt.Errorf("scenario %s was not recorded", r.Scenario.Name)
		}
		return fmt.Errorf("%s/%s: %w", r.Scenario.Name, labrun.FileScenario, err)
	}
	if r.Run.Error != "" {
		return fmt.Errorf("scenario %s could not run: %s", r.Scenario.Name, r.Run.Error)
	}
	for _, f := range files {
		if err := r.problems[f]; err != nil {
			return fmt.Errorf("evidence %s/%s: %w", r.Scenario.Name, f, err)
		}
	}
	return nil
}
