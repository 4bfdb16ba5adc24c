package evidence

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"
	"time"
)

// Text renders report.txt: the seed's §9 "Final Report Format", line for
// line. An ERROR check prints "ERROR" where PASS/FAIL would be; the Overall
// line counts each check once, so PASS+FAIL+ERROR is the number of checks,
// and keeps the seed's exact "Overall: PASS=N FAIL=M" when there is no
// ERROR (" ERROR=K" is added only when K > 0).
func Text(r Report) string {
	var b strings.Builder
	fmt.Fprintln(&b, r.Title)
	fmt.Fprintf(&b, "Date: %s\n", r.Date())
	fmt.Fprintf(&b, "Environment: %s\n", EnvironmentLine(r.Provenance))
	fmt.Fprintf(&b, "Evidence dir: %s\n", r.EvidenceDir)
	fmt.Fprintln(&b, "Scenario summary:")
	for _, s := range r.Scenarios {
		fmt.Fprintln(&b, s.Summary)
	}
	fmt.Fprintf(&b, "%s:\n", matrixHeading(len(r.Checks)))
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%s %s %s\n", c.ID, c.Status, c.Summary)
	}
	pass, fail, errs := r.Counts()
	fmt.Fprintf(&b, "Overall: PASS=%d FAIL=%d", pass, fail)
	if errs > 0 {
		fmt.Fprintf(&b, " ERROR=%d", errs)
	}
	b.WriteString("\n")
	return b.String()
}

func matrixHeading(n int) string { return fmt.Sprintf("%d-check matrix", n) }

// EnvironmentLine is report.txt's "<OS, Go version>".
func EnvironmentLine(p Provenance) string {
	return fmt.Sprintf("%s/%s, %s", p.OS, p.Arch, p.GoVersion)
}

// JUnit types: the subset of the JUnit XML schema CI tools read.
type (
	JUnitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []JUnitSuite `xml:"testsuite"`
	}
	JUnitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Hostname   string          `xml:"hostname,attr,omitempty"`
		Properties []JUnitProperty `xml:"properties>property,omitempty"`
		Cases      []JUnitCase     `xml:"testcase"`
	}
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	JUnitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *JUnitProblem `xml:"failure,omitempty"`
		Error     *JUnitProblem `xml:"error,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	JUnitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

// JUnit renders junit.xml: one <testsuite> per scenario (named "<lab>
// <S-X>: <title>", its time the scenario's wall time), one testcase per
// check (classname = scenario, time = the check's evaluation time), a
// <failure> for FAIL and an <error> for ERROR.
func JUnit(r Report) ([]byte, error) {
	pass, fail, errs := r.Counts()
	total := r.Provenance.FinishedAt.Sub(r.Provenance.StartedAt).Seconds()
	if total < 0 {
		total = 0
	}
	props := []JUnitProperty{
		{Name: "evidence_dir", Value: r.EvidenceDir},
		{Name: "git_revision", Value: r.Provenance.GitRevision},
		{Name: "git_dirty", Value: fmt.Sprint(r.Provenance.GitDirty)},
		{Name: "go_version", Value: r.Provenance.GoVersion},
	}
	// Suites in the report's scenario order; a check naming a scenario the
	// report lacks gets a suite of its own after them.
	var suites []*JUnitSuite
	byName := map[string]*JUnitSuite{}
	suiteFor := func(name string, s *Scenario) *JUnitSuite {
		if su, ok := byName[name]; ok {
			return su
		}
		su := &JUnitSuite{Name: r.Lab + " " + name, Hostname: r.Provenance.Hostname, Properties: props, Time: seconds(0)}
		if s != nil {
			if s.Title != "" {
				su.Name += ": " + s.Title
			}
			su.Time = seconds(s.Seconds())
			if !s.StartedAt.IsZero() {
				// UTC without a zone designator: the Ant schema's timestamp
				// pattern allows none, and every reader accepts it.
				su.Timestamp = s.StartedAt.UTC().Format("2006-01-02T15:04:05")
			}
		}
		byName[name] = su
		suites = append(suites, su)
		return su
	}
	for i := range r.Scenarios {
		suiteFor(r.Scenarios[i].Name, &r.Scenarios[i])
	}
	for _, c := range r.Checks {
		tc := JUnitCase{
			Name:      c.ID + " " + c.Description,
			Classname: c.Scenario,
			// Microseconds: a check judges evidence already read.
			Time:      fmt.Sprintf("%.6f", c.EvalSeconds),
			SystemOut: c.Summary,
		}
		su := suiteFor(c.Scenario, nil)
		su.Tests++
		msg := c.Summary
		switch c.Status {
		case Pass:
		case Fail:
			su.Failures++
			tc.Failure = &JUnitProblem{Message: msg, Type: string(Fail), Text: problemText(c)}
		default:
			su.Errors++
			tc.Error = &JUnitProblem{Message: msg, Type: string(Error), Text: problemText(c)}
		}
		su.Cases = append(su.Cases, tc)
	}
	doc := JUnitSuites{Name: r.Title, Tests: pass + fail + errs, Failures: fail, Errors: errs, Time: seconds(total)}
	for _, su := range suites {
		doc.Suites = append(doc.Suites, *su)
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render junit: %w", err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

// problemText is the body of a <failure> or <error>: what was required,
// what was observed, why it is not a PASS and where to look, so a CI viewer
// shows the cause without opening the artifact.
func problemText(c Check) string {
	var b strings.Builder
	fmt.Fprintf(&b, "criterion: %s\n", c.Criterion)
	if len(c.Observed) > 0 {
		if obs, err := json.Marshal(c.Observed); err == nil {
			fmt.Fprintf(&b, "observed: %s\n", obs)
		}
	}
	if c.Detail != "" {
		fmt.Fprintf(&b, "detail:\n%s\n", strings.TrimRight(c.Detail, "\n"))
	}
	if len(c.Evidence) > 0 {
		fmt.Fprintf(&b, "evidence: %s\n", strings.Join(c.Evidence, ", "))
	}
	return b.String()
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

// Environment is environment.json: the machine and revision the run used.
type Environment struct {
	Lab         string    `json:"lab"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	GoVersion   string    `json:"go_version"`
	Hostname    string    `json:"hostname"`
	GitRevision string    `json:"git_revision"`
	GitDirty    bool      `json:"git_dirty"`
	GitError    string    `json:"git_error,omitempty"`
	CommandLine []string  `json:"command_line"`
	WorkingDir  string    `json:"working_dir"`
	ModuleRoot  string    `json:"module_root"`
	EvidenceDir string    `json:"evidence_dir"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`

	RevisionSource string     `json:"revision_source,omitempty"`
	VCSTime        *time.Time `json:"vcs_time,omitempty"`
	ModulePath     string     `json:"module_path,omitempty"`
	ModuleVersion  string     `json:"module_version,omitempty"`
	Executable     string     `json:"executable,omitempty"`
	Kernel         string     `json:"kernel,omitempty"`
	CPUModel       string     `json:"cpu_model,omitempty"`
	CPUCount       int        `json:"cpu_count,omitempty"`
	LoadStart      []float64  `json:"load_average_start,omitempty"`
	LoadEnd        []float64  `json:"load_average_end,omitempty"`
	Binaries       []Binary   `json:"binaries,omitempty"`
}

// EnvironmentJSON renders environment.json.
func EnvironmentJSON(r Report) ([]byte, error) {
	p := r.Provenance
	env := Environment{
		Lab: r.Lab, OS: p.OS, Arch: p.Arch, GoVersion: p.GoVersion, Hostname: p.Hostname,
		GitRevision: p.GitRevision, GitDirty: p.GitDirty, GitError: p.GitError,
		CommandLine: p.CommandLine, WorkingDir: p.WorkingDir, ModuleRoot: p.ModuleRoot,
		EvidenceDir: r.EvidenceDir, StartedAt: p.StartedAt, FinishedAt: p.FinishedAt,
		RevisionSource: p.RevisionSource, VCSTime: p.VCSTime, ModulePath: p.ModulePath, ModuleVersion: p.ModuleVersion,
		Executable: p.Executable, Kernel: p.Kernel, CPUModel: p.CPUModel, CPUCount: p.CPUCount,
		LoadStart: p.LoadStart, LoadEnd: p.LoadEnd, Binaries: p.Binaries,
	}
	return marshal(env)
}

func marshal(v any) ([]byte, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return append(out, '\n'), nil
}
