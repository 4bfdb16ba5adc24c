package evidence

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// HistorySchema names the layout of one history line.
const HistorySchema = "edgelab.evidence.history/v1"

// HistoryFile is the history's default name, under <module>/evidence.
const HistoryFile = "history.jsonl"

// DefaultHistory is where lab runs append by default:
// <module>/evidence/history.jsonl (git-ignored).
func DefaultHistory(moduleRoot string) string {
	return filepath.Join(moduleRoot, "evidence", HistoryFile)
}

// HistoryEntry is one line of the history file: one lab run, small enough
// that a year of nightly runs of both labs stays a few MB, and complete
// enough that trend.html needs nothing else.
type HistoryEntry struct {
	Schema string `json:"schema"`
	// Time is when the run started.
	Time     time.Time `json:"time"`
	Lab      string    `json:"lab"`
	Revision string    `json:"revision"`
	Dirty    bool      `json:"dirty,omitempty"`
	// Verdict is PASS, FAIL or ERROR, as the exit status 0, 1, 2 says.
	Verdict string `json:"verdict"`
	// LabError says why the lab could not run at all (its checks are all
	// ERROR): the trend does not count such a run as a status flip.
	LabError    string `json:"lab_error,omitempty"`
	EvidenceDir string `json:"evidence_dir"`
	// Checks is each check's status by id.
	Checks map[string]Status `json:"checks"`
	// Scenarios is each scenario's wall time against its physical floor.
	Scenarios map[string]HistoryScenario `json:"scenarios"`
	// Counters are the checks' observed numbers, "VAL23-04.throttle_count"
	// (ObservedValues: top-level numbers of each check's observed values).
	Counters map[string]float64 `json:"counters,omitempty"`
}

// HistoryScenario is one scenario's timing in a history line.
type HistoryScenario struct {
	Seconds float64 `json:"seconds"`
	// FloorSeconds is the least the scenario can take by design (token
	// refill, backoff, cycles; docs/PERFORMANCE.md figure 1).
	FloorSeconds float64 `json:"floor_seconds"`
	// AboveFloorSeconds is Seconds − FloorSeconds: what the trend watches.
	AboveFloorSeconds float64 `json:"above_floor_seconds"`
	// NotRun is set when the scenario did not run (its seconds mean
	// nothing).
	NotRun bool `json:"not_run,omitempty"`
}

// verdictOf is the run's verdict in a word: PASS, FAIL or ERROR, as
// ExitCode's 0, 1 and 2.
func verdictOf(r Report) string {
	switch r.ExitCode() {
	case 0:
		return string(Pass)
	case 1:
		return string(Fail)
	default:
		return string(Error)
	}
}

// NewHistoryEntry is r's history line; floors are the scenarios' physical
// floors in seconds by name (a scenario without one has 0).
func NewHistoryEntry(r Report, floors map[string]float64) HistoryEntry {
	e := HistoryEntry{
		Schema: HistorySchema, Time: r.Provenance.StartedAt.UTC(), Lab: r.Lab,
		Revision: r.Provenance.GitRevision, Dirty: r.Provenance.GitDirty,
		Verdict: verdictOf(r), LabError: r.Error, EvidenceDir: r.EvidenceDir,
		Checks: map[string]Status{}, Scenarios: map[string]HistoryScenario{}, Counters: map[string]float64{},
	}
	for _, c := range r.Checks {
		e.Checks[c.ID] = c.Status
		for _, v := range ObservedValues(c.ID, c.Observed) {
			if n, ok := v.Value.(float64); ok && v.Kind == KindNumber {
				e.Counters[v.Path] = n
			}
		}
	}
	for _, s := range r.Scenarios {
		secs := round3(s.Seconds())
		floor := floors[s.Name]
		e.Scenarios[s.Name] = HistoryScenario{
			Seconds: secs, FloorSeconds: floor, AboveFloorSeconds: round3(secs - floor), NotRun: s.Error != "",
		}
	}
	if len(e.Counters) == 0 {
		e.Counters = nil
	}
	return e
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// AppendHistory appends e as one line to the history file at path,
// creating it (and its directory) when needed. The line is one write to a
// file opened O_APPEND, so two runs appending at once never interleave.
func AppendHistory(path string, e HistoryEntry) error {
	e.Schema = HistorySchema
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("history %s: %w", path, err)
	}
	return nil
}

// ReadHistory reads a history file's lines, oldest first. A line that is
// not a history entry (torn by a crash, another schema) is skipped and
// named in skipped as "line N: reason", so one bad line never hides the
// rest.
func ReadHistory(r io.Reader) (entries []HistoryEntry, skipped []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e HistoryEntry
		if err := json.Unmarshal(line, &e); err != nil {
			skipped = append(skipped, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		if e.Schema != HistorySchema {
			skipped = append(skipped, fmt.Sprintf("line %d: schema %q, want %q", n, e.Schema, HistorySchema))
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return entries, skipped, fmt.Errorf("read history: %w", err)
	}
	return entries, skipped, nil
}

// ReadHistoryFile is ReadHistory of the file at path.
func ReadHistoryFile(path string) ([]HistoryEntry, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	return ReadHistory(f)
}

// Value kinds of ObservedValues.
const (
	KindNumber = "number" // a counter: compared exactly
	KindTiming = "timing" // a number of seconds: compared within a noise band
	KindText   = "text"   // a string or a bool: compared exactly
	KindIDSet  = "ids"    // a list of strings: compared as a set
)

// ObservedValue is one leaf of a check's or scenario's observed values.
type ObservedValue struct {
	// Path is "<owner>.<key>[.<key>…]", e.g. "VAL23-04.throttle_count" or
	// "S-B.final_status.segments.delivered".
	Path  string
	Kind  string
	Value any // float64, string, bool or []string
}

// ObservedValues flattens observed (as decoded from report.json: maps,
// float64, string, bool, lists) into its leaves, prefixed with owner, in
// path order. Timestamps and lists of objects are left out: they differ
// between any two runs, and what they hold is counted elsewhere. Numbers
// whose key names seconds are timings.
func ObservedValues(owner string, observed map[string]any) []ObservedValue {
	var out []ObservedValue
	var walk func(path string, key string, v any)
	walk = func(path, key string, v any) {
		switch v := normalise(v).(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				walk(path+"."+k, k, v[k])
			}
		case float64:
			kind := KindNumber
			if strings.HasPrefix(key, "seconds") || strings.HasSuffix(key, "_seconds") {
				kind = KindTiming
			}
			out = append(out, ObservedValue{path, kind, v})
		case bool:
			out = append(out, ObservedValue{path, KindText, v})
		case string:
			if _, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return
			}
			out = append(out, ObservedValue{path, KindText, v})
		case []any:
			ids := make([]string, 0, len(v))
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return
				}
				ids = append(ids, s)
			}
			out = append(out, ObservedValue{path, KindIDSet, ids})
		}
	}
	for _, k := range sortedKeys(observed) {
		walk(owner+"."+k, k, observed[k])
	}
	return out
}

// normalise turns the Go values a lab puts in Observed (ints, []string,
// structs) into what report.json decodes to, so a fresh report and a read
// one flatten alike.
func normalise(v any) any {
	switch v.(type) {
	case nil, float64, string, bool, map[string]any, []any:
		return v
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
