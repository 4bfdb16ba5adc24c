package val25

import (
	"bufio"
	"bytes"
	"encoding/json"
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
)

// VAL25's own files in a scenario's evidence directory <evidence>/<S-X>/;
// the files every lab writes are labrun's.
const (
	FileClock        = "clock-moves.json"       // S-A, S-B, S-C: []ClockMove, every POST /v1/lab/clock
	FilePlan         = "plan.json"              // S-B, S-C: Plan, the local days the scenario used
	FileDeadletter   = "ledger-deadletter.json" // S-D: api.Ledger with everything dead-lettered, before the requeue
	FileRequeueLate  = "requeue-late.json"      // S-A: `edged ledger requeue --id <the fourth> --json` after +24h
	FileRequeueAll   = "requeue-all.json"       // S-D: `edged ledger requeue --all --json`
	FileRequeueDone  = "requeue-delivered.json" // S-D: `edged ledger requeue --id <DELIVERED id> --json`
	FileSends        = "sends.json"             // S-F: []Send
	FileKill         = "kill.json"              // S-C, S-F: KillRecord
	FileIngress      = "ingress-report.json"    // S-F: `edged ingress report --json` after the restart
	FileEdgedRestart = "edged-restart.log"      // S-C, S-F: the restarted edged's output
	FileHeld         = "ledger-held.json"       // S-G: api.Ledger while two segments are held
)

// StatusFile is a labelled status snapshot.
func StatusFile(label string) string { return "status-" + label + ".json" }

// Status snapshot labels.
const (
	StatusSpent       = "spent"        // S-A: two delivered, the third refused
	StatusLateRefused = "late-refused" // S-A: the fourth refused at +23h59m
	StatusPreKill     = "pre-kill"     // S-C: just before SIGKILL
	StatusPostRestart = "post-restart" // S-C: after the restart, the clock set again
	StatusPreKillF    = StatusPreKill  // S-F: just before SIGKILL, after the relay
	StatusHeld        = "held"         // S-G: two delivered, two held
	StatusDay         = "day"          // S-H: before the 19:00 boundary
	StatusOff         = "off"          // S-H: after it
)

// SBSpent and SBReset are S-B's snapshots of one side.
func SBSpent(side string) string { return side + "-spent" }
func SBReset(side string) string { return side + "-reset" }

// Labels of the set-bandwidth runs of S-E.
const (
	LabelRate  = "rate"
	LabelQuota = "quota-only"
)

// ClockMove is one POST /v1/lab/clock: what was asked, the answer, and the
// system clock around the call, so a check can place the peer's receipts
// (system time) on the lab clock: lab ≈ Now + (t − SysAfter), within
// SysAfter − SysBefore.
type ClockMove struct {
	Label     string                `json:"label"`
	Request   api.LabClockRequest   `json:"request"`
	SysBefore time.Time             `json:"sys_before"`
	SysAfter  time.Time             `json:"sys_after"`
	Now       time.Time             `json:"now"`
	Error     string                `json:"error,omitempty"`
	Response  *api.LabClockResponse `json:"response,omitempty"`
}

// Plan is the local days S-B and S-C moved the clock to.
type Plan struct {
	Sides      []DSTSide `json:"sides,omitempty"`      // S-B
	RestartDay time.Time `json:"restart_day,omitzero"` // S-C
}

// Send is one PUT of S-F to edged's listener and its answer.
type Send struct {
	Sender  string    `json:"sender"`
	Session string    `json:"session"`
	ID      string    `json:"id"`
	Target  string    `json:"target"`
	Bytes   int64     `json:"bytes"`
	SHA256  string    `json:"sha256"`
	Code    int       `json:"code"` // HTTP status; 0 when there was no answer
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

// Accepted reports that edged stored (201) or already held (200) it.
func (s Send) Accepted() bool { return s.Code == 201 || s.Code == 200 }

// CLIRun is one `edged …` CLI run against the live daemon, with the
// caller's uid (what an audit actor must name).
type CLIRun struct {
	harness.CommandResult
	CallerUID int `json:"caller_uid"`
}

// KillRecord is a SIGKILL of edged.
type KillRecord struct {
	At       time.Time `json:"at"`
	Pid      int       `json:"pid"`
	Signal   string    `json:"signal"`
	ExitedAs string    `json:"exited_as"` // "signal: killed"
	Error    string    `json:"error,omitempty"`
}

// RequeueEvent is the audit line of a requeue (ledger.requeued).
type RequeueEvent struct {
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	Count    int       `json:"count"`
	IDs      []string  `json:"ids"`
	Selector string    `json:"selector"`
	Peer     string    `json:"peer,omitempty"`
	Actor    string    `json:"actor"`
}

// EventRequeued is the audit event of a requeue.
const EventRequeued = "ledger.requeued"

// Observation is one poll of edged's status and the peer's evidence.
type Observation struct {
	At          time.Time         `json:"at"`
	Elapsed     float64           `json:"elapsed_seconds"`
	Phase       string            `json:"phase"`
	Segments    api.SegmentCounts `json:"segments"`
	QuotaDrops  int64             `json:"quota_drop_count"`
	DailyUsed   int64             `json:"daily_used_bytes"`
	Received    int               `json:"received"`
	StatusError string            `json:"status_error,omitempty"`
	PeerError   string            `json:"peer_error,omitempty"`
}

// Recorded is one scenario's evidence read back from disk. A file absent or
// unreadable is in problems, and the checks that need it are ERROR.
type Recorded struct {
	Scenario     labrun.Scenario
	Dir          string
	Run          labrun.ScenarioRecord
	Seeded       map[string][]string
	Peer         received.Evidence
	Status       api.Status
	Ledger       api.Ledger
	Statuses     map[string]api.Status // by label
	Clock        []ClockMove
	Plan         Plan
	Deadletter   api.Ledger
	Requeue      map[string]CLIRun // by file
	Audit        []RequeueEvent    // the ledger.requeued lines
	Bandwidth    []audit.Event     // S-H: the relay.bandwidth.configured lines
	SetBandwidth map[string]labrun.SetBandwidthRun
	Decisions    api.Decisions
	Sends        []Send
	Kill         KillRecord
	Ingress      CLIRun

	problems map[string]error
}

// Load reads what scenario s left under evidenceDir.
func Load(evidenceDir string, s labrun.Scenario) *Recorded {
	r := &Recorded{
		Scenario: s, Dir: filepath.Join(evidenceDir, s.Name),
		Statuses: map[string]api.Status{}, Requeue: map[string]CLIRun{},
		SetBandwidth: map[string]labrun.SetBandwidthRun{}, problems: map[string]error{},
	}
	r.read(labrun.FileScenario, &r.Run)
	if r.problems[labrun.FileScenario] != nil {
		return r
	}
	r.read(labrun.FileSeeded, &r.Seeded)
	r.read(labrun.FileStatus, &r.Status)
	r.read(labrun.FileLedger, &r.Ledger)
	ev, err := received.ReadFile(filepath.Join(r.Dir, labrun.PeerEvidenceFile(Peer)))
	r.note(labrun.PeerEvidenceFile(Peer), err)
	r.Peer = ev
	statuses := func(labels ...string) {
		for _, l := range labels {
			var st api.Status
			if r.read(StatusFile(l), &st) {
				r.Statuses[l] = st
			}
		}
	}
	switch s.Name {
	case SA:
		r.read(FileClock, &r.Clock)
		statuses(StatusSpent, StatusLateRefused)
		r.readRequeue(FileRequeueLate)
		r.read(labrun.FileDecisions, &r.Decisions)
	case SB:
		r.read(FileClock, &r.Clock)
		r.read(FilePlan, &r.Plan)
		statuses(SBSpent(Spring), SBReset(Spring), SBSpent(Autumn), SBReset(Autumn))
	case SC:
		r.read(FileClock, &r.Clock)
		r.read(FilePlan, &r.Plan)
		r.read(FileKill, &r.Kill)
		statuses(StatusPreKill, StatusPostRestart)
	case SD:
		r.read(FileDeadletter, &r.Deadletter)
		r.readRequeue(FileRequeueAll)
		r.readRequeue(FileRequeueDone)
		r.readAudit()
	case SE:
		r.read(labrun.FileDecisions, &r.Decisions)
		for _, l := range []string{LabelRate, LabelQuota} {
			var res labrun.SetBandwidthRun
			if r.read(labrun.SetBandwidthFile(l), &res) {
				r.SetBandwidth[l] = res
			}
		}
	case SF:
		r.read(FileSends, &r.Sends)
		r.read(FileKill, &r.Kill)
		r.read(FileIngress, &r.Ingress)
		statuses(StatusPreKillF)
	case SG:
		r.read(FileClock, &r.Clock)
		r.read(FileHeld, &r.Deadletter) // the ledger while held
		r.read(labrun.FileDecisions, &r.Decisions)
		statuses(StatusHeld)
	case SH:
		r.read(FileClock, &r.Clock)
		r.read(labrun.FileDecisions, &r.Decisions)
		statuses(StatusDay, StatusOff)
		events, err := audit.Read(filepath.Join(r.Dir, labrun.FileAudit))
		r.note(labrun.FileAudit, err)
		for _, e := range events {
			if e.Event == audit.EventBandwidthConfigured {
				r.Bandwidth = append(r.Bandwidth, e)
			}
		}
	}
	return r
}

func (r *Recorded) readRequeue(name string) {
	var res CLIRun
	if r.read(name, &res) {
		r.Requeue[name] = res
	}
}

// readAudit keeps the ledger.requeued lines of audit.jsonl.
func (r *Recorded) readAudit() {
	data, err := os.ReadFile(filepath.Join(r.Dir, labrun.FileAudit))
	if err != nil {
		r.note(labrun.FileAudit, err)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e RequeueEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			r.note(labrun.FileAudit, fmt.Errorf("line %d: %w", n, err))
			return
		}
		if e.Event == EventRequeued {
			r.Audit = append(r.Audit, e)
		}
	}
}

// Record is the scenario's scenario.json, as the checks' timings need it.
func (r *Recorded) Record() labrun.ScenarioRecord { return r.Run }

// EvidenceFiles names the files a reader should open for a check.
func (r *Recorded) EvidenceFiles(files []string, _ evidence.Status) []string {
	var out []string
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(r.Dir, f)); err == nil {
			out = append(out, filepath.Join(r.Scenario.Name, f))
		}
	}
	return out
}

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
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("scenario %s was not recorded", r.Scenario.Name)
		}
		return fmt.Errorf("%s/%s: %w", r.Scenario.Name, labrun.FileScenario, err)
	}
	if r.Run.Error != "" {
		return fmt.Errorf("scenario %s could not run: %s", r.Scenario.Name, r.Run.Error)
	}
	for _, f := range files {
		if err := r.problems[f]; err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("evidence missing: %s/%s", r.Scenario.Name, f)
			}
			return fmt.Errorf("evidence %s/%s: %w", r.Scenario.Name, f, err)
		}
	}
	return nil
}
