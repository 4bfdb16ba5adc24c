package evidence

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	started  = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	finished = started.Add(12500 * time.Millisecond)
)

func sampleReport() Report {
	check := func(n int, scenario string, status Status, summary string) Check {
		return Check{
			ID: fmt.Sprintf("VAL23-%02d", n), Scenario: scenario, Description: "d", Criterion: "c",
			Status: status, Summary: summary, Seconds: 1.5,
		}
	}
	return Report{
		Schema: SchemaVersion, Lab: "VAL23", Title: "VAL23 — Relay Bandwidth Management Validation",
		EvidenceDir: "/repo/evidence/val23-relay-bandwidth-local-2026-03-14",
		Provenance: Provenance{
			OS: "linux", Arch: "amd64", GoVersion: "go1.26.8", Hostname: "lab",
			GitRevision: "abc123", StartedAt: started, FinishedAt: finished,
		},
		Scenarios: []Scenario{
			{Name: "S-A", Summary: "S-A unlimited baseline: 4/4 delivered, unlimited=true"},
			{Name: "S-B", Summary: "S-B rate only (64B/s): 5/5 delivered, throttle_count=10, quota_drop_count=0"},
			{Name: "S-C", Summary: "S-C quota only (128B): 2/6 delivered, quota_drop_count=12, daily_used=128B"},
			{Name: "S-D", Summary: "S-D hot-reload (8→∞ B/s): 6/6 delivered after unlimited applied"},
			{Name: "S-E", Summary: "S-E daily reset unit test: PASS"},
		},
		Checks: []Check{
			check(1, "S-A", Pass, "unlimited baseline: 4/4 delivered"),
			check(2, "S-A", Pass, "unlimited status: unlimited=true"),
			check(3, "S-B", Pass, "set-bandwidth audit: found"),
			check(4, "S-B", Pass, "rate throttle counters: throttle=10, quota_drops=0"),
			check(5, "S-B", Fail, "rate-limited delivery: 4/5 delivered"),
			check(6, "S-C", Pass, "quota enforcement: 2/6 delivered"),
			check(7, "S-C", Pass, "quota drop counters: quota_drops=12, daily_used=128B"),
			check(8, "S-D", Pass, "hot-reload applied: true"),
			check(9, "S-D", Pass, "post-hotreload delivery: 6/6"),
			check(10, "S-E", Error, "daily quota reset: not run"),
		},
	}
}

func TestText_FollowsTheSeedsFinalReportFormat(t *testing.T) {
	want := `VAL23 — Relay Bandwidth Management Validation
Date: 2026-03-14
Environment: linux/amd64, go1.26.8
Evidence dir: /repo/evidence/val23-relay-bandwidth-local-2026-03-14
Scenario summary:
S-A unlimited baseline: 4/4 delivered, unlimited=true
S-B rate only (64B/s): 5/5 delivered, throttle_count=10, quota_drop_count=0
S-C quota only (128B): 2/6 delivered, quota_drop_count=12, daily_used=128B
S-D hot-reload (8→∞ B/s): 6/6 delivered after unlimited applied
S-E daily reset unit test: PASS
10-check matrix:
VAL23-01 PASS unlimited baseline: 4/4 delivered
VAL23-02 PASS unlimited status: unlimited=true
VAL23-03 PASS set-bandwidth audit: found
VAL23-04 PASS rate throttle counters: throttle=10, quota_drops=0
VAL23-05 FAIL rate-limited delivery: 4/5 delivered
VAL23-06 PASS quota enforcement: 2/6 delivered
VAL23-07 PASS quota drop counters: quota_drops=12, daily_used=128B
VAL23-08 PASS hot-reload applied: true
VAL23-09 PASS post-hotreload delivery: 6/6
VAL23-10 ERROR daily quota reset: not run
Overall: PASS=8 FAIL=1 ERROR=1
`
	got := Text(sampleReport())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Text() mismatch (-want +got):\n%s", diff)
	}
}

func TestText_OverallOmitsErrorWhenThereIsNone(t *testing.T) {
	r := sampleReport()
	for i := range r.Checks {
		r.Checks[i].Status = Pass
	}
	r.Checks[3].Status = Fail
	got := Text(r)
	if !strings.HasSuffix(got, "\nOverall: PASS=9 FAIL=1\n") {
		t.Errorf("Text() ends with %q, want the line %q", got[strings.LastIndex(got[:len(got)-1], "\n"):], "Overall: PASS=9 FAIL=1")
	}
	if strings.Contains(got, "ERROR") {
		t.Errorf("Text() mentions ERROR without an ERROR check:\n%s", got)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name     string
		statuses []Status
		labError string
		want     int
	}{
		{"all pass", []Status{Pass, Pass}, "", 0},
		{"one fail", []Status{Pass, Fail}, "", 1},
		{"error wins over fail", []Status{Fail, Error}, "", 2},
		{"lab error", []Status{Error, Error}, "port 19054 is in use", 2},
		{"no checks at all", nil, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Report{Error: tt.labError}
			for _, s := range tt.statuses {
				r.Checks = append(r.Checks, Check{Status: s})
			}
			if got := r.ExitCode(); got != tt.want {
				t.Errorf("ExitCode() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestJUnit_OneSuitePerScenarioOneCasePerCheck(t *testing.T) {
	r := sampleReport()
	r.Scenarios[1].Title = "rate only (64B/s)"
	r.Scenarios[1].StartedAt = started
	r.Scenarios[1].EndedAt = started.Add(4117 * time.Millisecond)
	for i := range r.Checks {
		r.Checks[i].EvalSeconds = float64(i+1) / 1000
	}
	data, err := JUnit(r)
	if err != nil {
		t.Fatalf("JUnit() error: %v", err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, data)
	}
	type suite struct {
		Name, Time, Timestamp   string
		Tests, Failures, Errors int
	}
	var suites []suite
	for _, s := range doc.Suites {
		suites = append(suites, suite{s.Name, s.Time, s.Timestamp, s.Tests, s.Failures, s.Errors})
	}
	wantSuites := []suite{
		{"VAL23 S-A", "0.000", "", 2, 0, 0},
		{"VAL23 S-B: rate only (64B/s)", "4.117", "2026-03-14T09:26:53", 3, 1, 0},
		{"VAL23 S-C", "0.000", "", 2, 0, 0},
		{"VAL23 S-D", "0.000", "", 2, 0, 0},
		{"VAL23 S-E", "0.000", "", 1, 0, 1},
	}
	if diff := cmp.Diff(wantSuites, suites); diff != "" {
		t.Errorf("suites (-want +got):\n%s", diff)
	}
	if doc.Tests != 10 || doc.Failures != 1 || doc.Errors != 1 || doc.Time != "12.500" {
		t.Errorf("testsuites tests=%d failures=%d errors=%d time=%s, want 10, 1, 1, 12.500", doc.Tests, doc.Failures, doc.Errors, doc.Time)
	}

	type row struct {
		Name, Classname, Time string
		Failure, Error        string
	}
	var got []row
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			r := row{Name: c.Name, Classname: c.Classname, Time: c.Time}
			if c.Failure != nil {
				r.Failure = c.Failure.Message
			}
			if c.Error != nil {
				r.Error = c.Error.Message
			}
			got = append(got, r)
		}
	}
	// Each case's time is its check's evaluation, not the scenario's 1.5 s.
	want := []row{
		{"VAL23-01 d", "S-A", "0.001000", "", ""},
		{"VAL23-02 d", "S-A", "0.002000", "", ""},
		{"VAL23-03 d", "S-B", "0.003000", "", ""},
		{"VAL23-04 d", "S-B", "0.004000", "", ""},
		{"VAL23-05 d", "S-B", "0.005000", "rate-limited delivery: 4/5 delivered", ""},
		{"VAL23-06 d", "S-C", "0.006000", "", ""},
		{"VAL23-07 d", "S-C", "0.007000", "", ""},
		{"VAL23-08 d", "S-D", "0.008000", "", ""},
		{"VAL23-09 d", "S-D", "0.009000", "", ""},
		{"VAL23-10 d", "S-E", "0.010000", "", "daily quota reset: not run"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("junit cases mismatch (-want +got):\n%s", diff)
	}
}

func TestJUnit_ACheckOfAnUnknownScenarioGetsItsOwnSuite(t *testing.T) {
	r := Report{Lab: "L", Scenarios: []Scenario{{Name: "S-A"}}, Checks: []Check{{ID: "1", Scenario: "S-Z", Status: Fail}}}
	data, err := JUnit(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Tests != 0 || doc.Suites[1].Name != "L S-Z" || doc.Suites[1].Failures != 1 {
		t.Errorf("suites %+v; want S-A empty and S-Z holding the failure", doc.Suites)
	}
}

func TestWriteReport_RendersEveryFileFromTheReport(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	if err := WriteReport(dir, r); err != nil {
		t.Fatalf("WriteReport() error: %v", err)
	}

	back, err := ReadReport(filepath.Join(dir, ReportJSON))
	if err != nil {
		t.Fatalf("ReadReport() error: %v", err)
	}
	// report.json states the verdict its checks amount to.
	r.Verdict, r.Tally, r.ExitStatus = Error, CheckCounts{Pass: 8, Fail: 1, Error: 1}, 2
	if diff := cmp.Diff(r, back); diff != "" {
		t.Errorf("report.json round trip mismatch (-want +got):\n%s", diff)
	}

	text, err := os.ReadFile(filepath.Join(dir, ReportText))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Text(r), string(text)); diff != "" {
		t.Errorf("report.txt mismatch (-want +got):\n%s", diff)
	}

	var env Environment
	if err := ReadJSON(filepath.Join(dir, EnvironmentFile), &env); err != nil {
		t.Fatal(err)
	}
	wantEnv := Environment{
		Lab: "VAL23", OS: "linux", Arch: "amd64", GoVersion: "go1.26.8", Hostname: "lab",
		GitRevision: "abc123", EvidenceDir: r.EvidenceDir, StartedAt: started, FinishedAt: finished,
	}
	if diff := cmp.Diff(wantEnv, env); diff != "" {
		t.Errorf("environment.json mismatch (-want +got):\n%s", diff)
	}

	html, err := os.ReadFile(filepath.Join(dir, IndexHTML))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := HTML(r); string(html) != string(want) {
		t.Errorf("index.html is not HTML(report)")
	}

	junit, err := os.ReadFile(filepath.Join(dir, JUnitXML))
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(junit, &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if doc.Tests != 10 {
		t.Errorf("junit.xml tests = %d, want 10", doc.Tests)
	}
}

func TestReadReport_RefusesAnotherSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	if err := os.WriteFile(path, []byte(`{"schema":"other/v9"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadReport(path)
	if err == nil || !strings.Contains(err.Error(), `schema "other/v9"`) {
		t.Errorf("ReadReport() error = %v, want one naming schema \"other/v9\"", err)
	}
}

// Each check is counted once: an all-ERROR run is PASS=0 FAIL=0 ERROR=10,
// never FAIL=10 ERROR=10.
func TestText_OverallCountsEachCheckOnce(t *testing.T) {
	r := sampleReport()
	for i := range r.Checks {
		r.Checks[i].Status = Error
	}
	if got := Text(r); !strings.HasSuffix(got, "\nOverall: PASS=0 FAIL=0 ERROR=10\n") {
		t.Errorf("Text() ends with %q, want PASS=0 FAIL=0 ERROR=10", got[strings.LastIndex(got[:len(got)-1], "\n"):])
	}
}
