package labrun

import (
	"fmt"
	"strings"
	"time"

	"edgelab/evidence"
)

// Outcome is a check evaluated over evidence that was there. An error from
// the check instead means its evidence was missing: the check is ERROR.
type Outcome struct {
	Pass bool
	// Text is the observed values in report.txt ("4/4 delivered").
	Text     string
	Observed map[string]any
	// Detail explains a FAIL, e.g. a go-cmp diff of id sets.
	Detail string
}

// Recorded is one scenario's evidence, read back from disk, as a lab's
// checks take it.
type Recorded interface {
	// Record is the scenario's scenario.json (zero when it has none).
	Record() ScenarioRecord
}

// evidenceLinker is a Recorded that can name the files a reader should open
// for a check's verdict (relative to the evidence directory, only those
// that exist): files are the check's own (CheckDef.Files).
type evidenceLinker interface {
	EvidenceFiles(files []string, status evidence.Status) []string
}

// CheckDef is one row of a lab's check matrix; R is the lab's evidence of
// one scenario.
type CheckDef[R Recorded] struct {
	ID          string
	Scenario    string
	Description string
	Criterion   string
	// Label names the check in report.txt ("unlimited baseline").
	Label string
	// Files are the scenario's evidence files the check reads, the one
	// that best explains a FAIL first; the report links them when R can
	// name files (EvidenceFiles).
	Files []string
	// Eval judges the evidence; an error means the evidence it needs is
	// missing or unusable.
	Eval func(r R) (Outcome, error)
}

// Evaluate runs the check over r. A panic in the check is an ERROR, not a
// crash: the evidence is on disk already and the other checks still run.
func (d CheckDef[R]) Evaluate(r R) (c evidence.Check) {
	rec := r.Record()
	c = evidence.Check{
		ID: d.ID, Scenario: d.Scenario, Description: d.Description, Criterion: d.Criterion,
		Seconds: max(0, rec.EndedAt.Sub(rec.StartedAt).Seconds()),
	}
	defer func() {
		if p := recover(); p != nil {
			c.Status, c.Detail = evidence.Error, fmt.Sprintf("check panicked: %v", p)
			c.Summary = fmt.Sprintf("%s: n/a (check panicked)", d.Label)
		}
		if l, ok := any(r).(evidenceLinker); ok {
			c.Evidence = l.EvidenceFiles(d.Files, c.Status)
		}
	}()
	start := time.Now()
	defer func() { c.EvalSeconds = time.Since(start).Seconds() }()
	out, err := d.Eval(r)
	if err != nil {
		c.Status, c.Detail = evidence.Error, err.Error()
		c.Summary = fmt.Sprintf("%s: n/a (%s)", d.Label, OneLine(err.Error()))
		return c
	}
	if faults := rec.Faults(); len(faults) > 0 {
		// What the evidence shows may look right, but the scenario did not
		// run as planned: a PASS would have been earned by luck. A FAIL
		// names the faults too: they are often its cause.
		if out.Pass {
			out.Text += " (scenario fault)"
		}
		out.Pass = false
		out.Detail = strings.TrimSpace(out.Detail + "\nthe scenario did not run as planned:\n" + strings.Join(faults, "\n"))
	}
	c.Status = evidence.Fail
	if out.Pass {
		c.Status = evidence.Pass
	}
	c.Summary = fmt.Sprintf("%s: %s", d.Label, out.Text)
	c.Observed, c.Detail = out.Observed, out.Detail
	return c
}
