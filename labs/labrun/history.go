package labrun

import (
	"fmt"
	"io"
	"strings"

	"edgelab/evidence"
)

// appendHistory appends the run's line to the history file path (none when
// path is empty). A history that cannot be written is a notice, not a
// failure: the evidence directory is the record, the history an index.
func appendHistory(path string, r evidence.Report, scenarios []Scenario, stderr io.Writer) {
	if path == "" {
		return
	}
	if err := evidence.AppendHistory(path, evidence.NewHistoryEntry(r, Floors(scenarios))); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", strings.ToLower(r.Lab), err)
	}
}

// Floors are the scenarios' physical floors in seconds, by name.
func Floors(scenarios []Scenario) map[string]float64 {
	out := make(map[string]float64, len(scenarios))
	for _, s := range scenarios {
		out[s.Name] = s.Floor.Seconds()
	}
	return out
}
