package evidence

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NoiseBand is how much a timing may move between two runs before a diff
// calls it a change: both more than Fraction of the earlier value and more
// than Absolute. Wall times on a shared 2-core machine move by tens of ms
// between identical runs; the floors of docs/PERFORMANCE.md figure 1 are
// seconds.
type NoiseBand struct {
	Fraction float64
	Absolute time.Duration
}

// DefaultNoise is the diff's noise band: 20 % and 250 ms.
var DefaultNoise = NoiseBand{Fraction: 0.20, Absolute: 250 * time.Millisecond}

func (n NoiseBand) String() string {
	return fmt.Sprintf("%g %% and %v", n.Fraction*100, n.Absolute)
}

// Beyond reports whether a → b is outside the band.
func (n NoiseBand) Beyond(a, b float64) bool {
	d := math.Abs(b - a)
	return d > n.Absolute.Seconds() && d > n.Fraction*math.Abs(a)
}

// StatusChange is a check whose status differs; From or To is empty when
// the check is in one report only.
type StatusChange struct {
	ID       string
	From, To Status
}

// Regression reports a check that passed and no longer does.
func (c StatusChange) Regression() bool { return c.From == Pass && c.To != Pass && c.To != "" }

func (c StatusChange) String() string {
	return fmt.Sprintf("%s %s → %s", c.ID, orNone(string(c.From)), orNone(string(c.To)))
}

// ValueChange is an observed value that differs (a counter, a setting);
// From or To is nil when the value is in one report only.
type ValueChange struct {
	Path     string
	From, To any
}

// TimingChange is a wall time or observed timing, in seconds, that moved
// beyond the noise band.
type TimingChange struct {
	Name     string
	From, To float64
}

// IDSetChange is an id list that differs as a set.
type IDSetChange struct {
	Path           string
	Added, Removed []string
}

// DiffResult is what changed from report A to report B.
type DiffResult struct {
	A, B               Report
	Noise              NoiseBand
	VerdictA, VerdictB string
	Checks             []StatusChange
	Values             []ValueChange
	Timings            []TimingChange
	IDSets             []IDSetChange
}

// Regressions are the checks that went from PASS to FAIL or ERROR (or
// from PASS to absent-and-failing: a check that disappeared is listed in
// Checks but is not a regression).
func (d DiffResult) Regressions() []StatusChange {
	var out []StatusChange
	for _, c := range d.Checks {
		if c.Regression() {
			out = append(out, c)
		}
	}
	return out
}

// Empty reports that nothing changed beyond the noise band.
func (d DiffResult) Empty() bool {
	return d.VerdictA == d.VerdictB && len(d.Checks)+len(d.Values)+len(d.Timings)+len(d.IDSets) == 0
}

// Diff compares two reports of one lab: verdicts, check statuses, the
// observed values of checks and scenarios (counters and settings exactly,
// timings beyond noise, id lists as sets) and scenario wall times beyond
// noise.
func Diff(a, b Report, noise NoiseBand) DiffResult {
	d := DiffResult{A: a, B: b, Noise: noise, VerdictA: verdictOf(a), VerdictB: verdictOf(b)}

	statusA := map[string]Status{}
	for _, c := range a.Checks {
		statusA[c.ID] = c.Status
	}
	seen := map[string]bool{}
	for _, c := range b.Checks {
		seen[c.ID] = true
		if from := statusA[c.ID]; from != c.Status {
			d.Checks = append(d.Checks, StatusChange{c.ID, from, c.Status})
		}
	}
	for _, c := range a.Checks {
		if !seen[c.ID] {
			d.Checks = append(d.Checks, StatusChange{c.ID, c.Status, ""})
		}
	}

	va, vb := observedIndex(a), observedIndex(b)
	for _, path := range unionKeys(va, vb) {
		x, inA := va[path]
		y, inB := vb[path]
		switch {
		case inA && inB && x.Kind == KindTiming && y.Kind == KindTiming:
			if f, t := x.Value.(float64), y.Value.(float64); noise.Beyond(f, t) {
				d.Timings = append(d.Timings, TimingChange{path, f, t})
			}
		case (inA && x.Kind == KindIDSet) || (inB && y.Kind == KindIDSet):
			var from, to []string
			if inA {
				from, _ = x.Value.([]string)
			}
			if inB {
				to, _ = y.Value.([]string)
			}
			if added, removed := setDiff(from, to); len(added)+len(removed) > 0 {
				d.IDSets = append(d.IDSets, IDSetChange{path, added, removed})
			}
		case !inA:
			if y.Kind != KindTiming {
				d.Values = append(d.Values, ValueChange{path, nil, y.Value})
			}
		case !inB:
			if x.Kind != KindTiming {
				d.Values = append(d.Values, ValueChange{path, x.Value, nil})
			}
		case x.Value != y.Value:
			d.Values = append(d.Values, ValueChange{path, x.Value, y.Value})
		}
	}

	secsA := map[string]float64{}
	for _, s := range a.Scenarios {
		secsA[s.Name] = s.Seconds()
	}
	for _, s := range b.Scenarios {
		if from, ok := secsA[s.Name]; ok && noise.Beyond(from, s.Seconds()) {
			d.Timings = append(d.Timings, TimingChange{s.Name + " wall time", from, s.Seconds()})
		}
	}
	slices.SortStableFunc(d.Timings, func(x, y TimingChange) int { return strings.Compare(x.Name, y.Name) })
	return d
}

// observedIndex is every observed value of r's checks and scenarios by
// path ("VAL23-04.throttle_count", "S-B.final_status.throttle_count").
func observedIndex(r Report) map[string]ObservedValue {
	out := map[string]ObservedValue{}
	for _, c := range r.Checks {
		for _, v := range ObservedValues(c.ID, c.Observed) {
			out[v.Path] = v
		}
	}
	for _, s := range r.Scenarios {
		for _, v := range ObservedValues(s.Name, s.Observed) {
			out[v.Path] = v
		}
	}
	return out
}

func unionKeys(a, b map[string]ObservedValue) []string {
	keys := sortedKeys(a)
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// setDiff is what to has that from lacks (added) and the reverse
// (removed), each sorted and without repeats.
func setDiff(from, to []string) (added, removed []string) {
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	for _, s := range to {
		if !in(from, s) && !in(added, s) {
			added = append(added, s)
		}
	}
	for _, s := range from {
		if !in(to, s) && !in(removed, s) {
			removed = append(removed, s)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// Text is the diff as --diff prints it.
func (d DiffResult) Text(nameA, nameB string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s diff\n", cmp.Or(d.B.Lab, d.A.Lab))
	for _, side := range []struct {
		label, name string
		r           Report
		verdict     string
	}{{"A", nameA, d.A, d.VerdictA}, {"B", nameB, d.B, d.VerdictB}} {
		fmt.Fprintf(&b, "%s: %s — %s, started %s, git %s\n", side.label, side.name, side.verdict,
			side.r.Provenance.StartedAt.UTC().Format(time.RFC3339), revision(side.r.Provenance))
	}
	fmt.Fprintf(&b, "timings count as changed beyond the noise band: both %s\n", d.Noise)
	if d.VerdictA != d.VerdictB {
		fmt.Fprintf(&b, "verdict: %s → %s\n", d.VerdictA, d.VerdictB)
	} else {
		fmt.Fprintf(&b, "verdict: %s (unchanged)\n", d.VerdictA)
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	var lines []string
	for _, c := range d.Checks {
		lines = append(lines, c.String())
	}
	section("checks", lines)
	lines = nil
	for _, v := range d.Values {
		lines = append(lines, fmt.Sprintf("%s: %s → %s", v.Path, formatValue(v.From), formatValue(v.To)))
	}
	section("observed values", lines)
	lines = nil
	for _, t := range d.Timings {
		delta := t.To - t.From
		pct := ""
		if t.From != 0 {
			pct = fmt.Sprintf(", %+.0f %%", delta/t.From*100)
		}
		lines = append(lines, fmt.Sprintf("%s: %.3f s → %.3f s (%+.3f s%s)", t.Name, t.From, t.To, delta, pct))
	}
	section("timings beyond the noise band", lines)
	lines = nil
	for _, s := range d.IDSets {
		var parts []string
		for _, id := range s.Added {
			parts = append(parts, "+"+id)
		}
		for _, id := range s.Removed {
			parts = append(parts, "-"+id)
		}
		lines = append(lines, fmt.Sprintf("%s: %s", s.Path, strings.Join(parts, " ")))
	}
	section("id sets", lines)
	if d.Empty() {
		b.WriteString("no change beyond the noise band\n")
	}
	if reg := d.Regressions(); len(reg) > 0 {
		var ids []string
		for _, c := range reg {
			ids = append(ids, c.ID)
		}
		fmt.Fprintf(&b, "REGRESSION: %s went from PASS to %s\n", strings.Join(ids, ", "), regressedTo(reg))
	} else {
		b.WriteString("no check went from PASS to FAIL or ERROR\n")
	}
	return b.String()
}

func regressedTo(reg []StatusChange) string {
	var to []string
	for _, c := range reg {
		if !slices.Contains(to, string(c.To)) {
			to = append(to, string(c.To))
		}
	}
	return strings.Join(to, " or ")
}

func revision(p Provenance) string {
	rev := cmp.Or(p.GitRevision, "unknown")
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if p.GitDirty {
		rev += " (dirty)"
	}
	return rev
}

func orNone(s string) string { return cmp.Or(s, "(none)") }

// formatValue prints an observed value: integers without a fraction, nil
// as "(none)".
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	case string:
		return strconv.Quote(v)
	default:
		return fmt.Sprint(v)
	}
}
