package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TestEvent is one line of `go test -json` (test2json).
type TestEvent struct {
	Time    time.Time `json:"Time"`
	Action  string    `json:"Action"`
	Package string    `json:"Package"`
	Test    string    `json:"Test,omitempty"`
	Elapsed float64   `json:"Elapsed,omitempty"`
	Output  string    `json:"Output,omitempty"`
}

// ParseTestEvents reads a `go test -json` stream. A line that is not an
// event (a build error printed before the stream) becomes an "output" event
// holding it, so nothing the command printed is lost.
func ParseTestEvents(data []byte) ([]TestEvent, error) {
	var events []TestEvent
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e TestEvent
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			e = TestEvent{Action: "output", Output: string(line)}
		}
		events = append(events, e)
	}
	return events, sc.Err()
}

// TestVerdict is what a `go test -json` stream says about the tests a lab
// requires.
type TestVerdict struct {
	Passed  []string `json:"passed"`  // top-level tests that passed, in order
	Failed  []string `json:"failed"`  // tests or packages that failed
	Missing []string `json:"missing"` // required tests with no pass event
}

// OK reports that every required test passed and nothing failed.
func (v TestVerdict) OK() bool { return len(v.Failed) == 0 && len(v.Missing) == 0 }

func (v TestVerdict) String() string {
	var parts []string
	if len(v.Failed) > 0 {
		parts = append(parts, "failed: "+strings.Join(v.Failed, ", "))
	}
	if len(v.Missing) > 0 {
		parts = append(parts, "no pass event (not run, or no such test): "+strings.Join(v.Missing, ", "))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d passed", len(v.Passed))
	}
	return strings.Join(parts, "; ")
}

// VerdictOf judges events against the top-level tests required: each must
// have a pass event, and no test or package may fail. A required test that
// does not exist is Missing ("no tests to run" is never a pass).
func VerdictOf(events []TestEvent, required ...string) TestVerdict {
	v := TestVerdict{Passed: []string{}, Failed: []string{}, Missing: []string{}}
	for _, e := range events {
		switch {
		case e.Action == "pass" && e.Test != "" && !strings.Contains(e.Test, "/"):
			v.Passed = append(v.Passed, e.Test)
		case e.Action == "fail":
			name := e.Test
			if name == "" {
				name = "package " + e.Package
			}
			v.Failed = append(v.Failed, name)
		}
	}
	for _, name := range required {
		if !slices.Contains(v.Passed, name) {
			v.Missing = append(v.Missing, name)
		}
	}
	return v
}
