package labrun

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"edgelab/edged/control"
	"edgelab/evidence"
	"edgelab/labs/harness"
	"edgelab/labs/labtest"
)

// fakeRecorded is a scenario's evidence as a lab without evidence links
// reads it.
type fakeRecorded struct{ rec ScenarioRecord }

func (f *fakeRecorded) Record() ScenarioRecord { return f.rec }

// linkedRecorded names evidence files, as VAL23's Recorded does.
type linkedRecorded struct{ fakeRecorded }

func (l *linkedRecorded) EvidenceFiles(files []string, status evidence.Status) []string {
	return append([]string{string(status)}, files...)
}

func TestCheckDef_PanicIsError(t *testing.T) {
	d := CheckDef[*fakeRecorded]{ID: "X", Label: "boom", Eval: func(*fakeRecorded) (Outcome, error) { panic("nil map") }}
	c := d.Evaluate(&fakeRecorded{})
	if c.Status != evidence.Error || c.Detail != "check panicked: nil map" || c.Summary != "boom: n/a (check panicked)" {
		t.Errorf("got %s %q %q, want ERROR with the panic named", c.Status, c.Summary, c.Detail)
	}
}

func TestCheckDef_Evaluate(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	ran := ScenarioRecord{StartedAt: start, EndedAt: start.Add(1500 * time.Millisecond)}
	tests := []struct {
		name string
		rec  ScenarioRecord
		eval func() (Outcome, error)
		want evidence.Check
	}{
		{
			name: "pass",
			rec:  ran,
			eval: func() (Outcome, error) {
				return Outcome{Pass: true, Text: "4/4", Observed: map[string]any{"n": 4}}, nil
			},
			want: evidence.Check{ID: "X", Status: evidence.Pass, Summary: "lbl: 4/4", Observed: map[string]any{"n": 4}, Seconds: 1.5},
		},
		{
			name: "fail keeps its detail",
			rec:  ran,
			eval: func() (Outcome, error) { return Outcome{Text: "3/4", Detail: "diff"}, nil },
			want: evidence.Check{ID: "X", Status: evidence.Fail, Summary: "lbl: 3/4", Detail: "diff", Seconds: 1.5},
		},
		{
			name: "missing evidence is ERROR, one line in the summary",
			eval: func() (Outcome, error) { return Outcome{}, errors.New("evidence missing: S-A/x.json\nmore") },
			want: evidence.Check{ID: "X", Status: evidence.Error, Summary: "lbl: n/a (evidence missing: S-A/x.json …)", Detail: "evidence missing: S-A/x.json\nmore"},
		},
		{
			name: "a record ending before it started counts 0 s",
			rec:  ScenarioRecord{StartedAt: start, EndedAt: start.Add(-time.Second)},
			eval: func() (Outcome, error) { return Outcome{Pass: true, Text: "ok"}, nil },
			want: evidence.Check{ID: "X", Status: evidence.Pass, Summary: "lbl: ok"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := CheckDef[*fakeRecorded]{ID: "X", Label: "lbl", Eval: func(*fakeRecorded) (Outcome, error) { return tt.eval() }}
			if diff := cmp.Diff(tt.want, d.Evaluate(&fakeRecorded{tt.rec}), cmpopts.IgnoreFields(evidence.Check{}, "EvalSeconds")); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
		})
	}
}

// A check's time is its evaluation's (junit.xml's testcase time), apart
// from the scenario's wall time; a panicking check is timed too.
func TestCheckDef_TimesTheEvaluation(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	rec := &fakeRecorded{ScenarioRecord{StartedAt: start, EndedAt: start.Add(4 * time.Second)}}
	slow := CheckDef[*fakeRecorded]{Label: "slow", Eval: func(*fakeRecorded) (Outcome, error) {
		time.Sleep(30 * time.Millisecond)
		return Outcome{Pass: true}, nil
	}}
	c := slow.Evaluate(rec)
	if c.Seconds != 4 || c.EvalSeconds < 0.03 || c.EvalSeconds > 2 {
		t.Errorf("seconds %v eval %v; want the scenario's 4 s and about 0.03 s of evaluation", c.Seconds, c.EvalSeconds)
	}
	boom := CheckDef[*fakeRecorded]{Label: "boom", Eval: func(*fakeRecorded) (Outcome, error) {
		time.Sleep(10 * time.Millisecond)
		panic("x")
	}}
	if c := boom.Evaluate(rec); c.Status != evidence.Error || c.EvalSeconds < 0.01 {
		t.Errorf("panicking check: %s eval %v, want ERROR timed", c.Status, c.EvalSeconds)
	}
}

func TestCheckDef_LinksEvidenceWhenTheLabCan(t *testing.T) {
	d := CheckDef[*linkedRecorded]{Label: "lbl", Files: []string{"a.json"}, Eval: func(*linkedRecorded) (Outcome, error) { panic("x") }}
	if got, want := d.Evaluate(&linkedRecorded{}).Evidence, []string{"ERROR", "a.json"}; !cmp.Equal(got, want) {
		t.Errorf("evidence after a panic = %v, want %v", got, want)
	}
	plain := CheckDef[*fakeRecorded]{Label: "lbl", Files: []string{"a.json"}, Eval: func(*fakeRecorded) (Outcome, error) { return Outcome{Pass: true}, nil }}
	if got := plain.Evaluate(&fakeRecorded{}).Evidence; got != nil {
		t.Errorf("evidence of a lab that names no files = %v, want none", got)
	}
}

func TestReportEntry(t *testing.T) {
	reached := time.Date(2026, 3, 14, 9, 0, 1, 0, time.UTC)
	rec := ScenarioRecord{
		StartedAt: reached.Add(-time.Second), EndedAt: reached, EndCondition: "all terminal", ReachedAt: &reached,
		Problems: []string{"set-bandwidth failed"}, Phases: []evidence.Phase{{Name: "seed"}},
	}
	s, ran := rec.ReportEntry("S-A", "baseline", nil)
	want := evidence.Scenario{
		Name: "S-A", Title: "baseline", Summary: "S-A baseline: ", StartedAt: rec.StartedAt, EndedAt: reached,
		EndCondition: "all terminal", ReachedAt: &reached, Phases: rec.Phases,
		Observed: map[string]any{"problems": rec.Problems},
	}
	if diff := cmp.Diff(want, s); !ran || diff != "" {
		t.Errorf("ReportEntry of a run: ran=%v (-want +got):\n%s", ran, diff)
	}

	s, ran = ScenarioRecord{}.ReportEntry("S-B", "rate", errors.New("S-B did not record a run"))
	if ran || s.Error != "S-B did not record a run" || s.Summary != "S-B rate: not run (S-B did not record a run)" {
		t.Errorf("no record: ran=%v error %q summary %q", ran, s.Error, s.Summary)
	}
	// The record's own reason is the scenario's error, on one line in the
	// summary.
	s, _ = ScenarioRecord{Error: "build: exit status 1\nmain.go:3: syntax error"}.ReportEntry("S-C", "quota", errors.New("S-C could not run"))
	if s.Error != "build: exit status 1\nmain.go:3: syntax error" || s.Summary != "S-C quota: not run (build: exit status 1 …)" {
		t.Errorf("could not run: error %q summary %q", s.Error, s.Summary)
	}
}

// labScenario is a lab's scenario that carries more than a name.
type labScenario struct {
	Scenario
	Count int
}

func TestLookupAndDefs(t *testing.T) {
	list := []labScenario{{Scenario{Name: "S-A", Title: "a"}, 4}, {Scenario{Name: "S-B", Title: "b"}, 5}}
	if s, ok := Lookup(list, "S-B"); !ok || s.Count != 5 {
		t.Errorf("Lookup(S-B) = %+v, %v", s, ok)
	}
	if _, ok := Lookup(list, "S-Z"); ok {
		t.Errorf("Lookup(S-Z) found one")
	}
	if diff := cmp.Diff([]Scenario{{Name: "S-A", Title: "a"}, {Name: "S-B", Title: "b"}}, Defs(list)); diff != "" {
		t.Errorf("Defs (-want +got):\n%s", diff)
	}
}

func testEnv(t *testing.T) (*Env, *bytes.Buffer) {
	t.Helper()
	var progress bytes.Buffer
	return &Env{
		EvidenceDir: t.TempDir(), WorkRoot: t.TempDir(),
		Progress: &harness.Progress{W: &progress}, lab: "test",
	}, &progress
}

func readRecord(t *testing.T, r *Run, v any) {
	t.Helper()
	if err := evidence.ReadJSON(filepath.Join(r.Dir, FileScenario), v); err != nil {
		t.Fatal(err)
	}
}

func TestRun_ExecuteRecordsHowTheStepsEnded(t *testing.T) {
	tests := []struct {
		name         string
		steps        func(context.Context) error
		wantError    string
		wantProblems []string
	}{
		{"done", func(context.Context) error { return nil }, "", nil},
		{"could not run", func(context.Context) error { return SetupErr("edged not ready: %w", errors.New("timeout")) }, "edged not ready: timeout", nil},
		{"a problem while running", func(context.Context) error { return errors.New("end condition not reached") }, "", []string{"end condition not reached"}},
		{"a panic", func(context.Context) error { panic("nil map") }, "orchestrator panic: nil map", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, progress := testEnv(t)
			r := NewRun(env, Scenario{Name: "S-A", Title: "baseline"})
			finished := false
			r.Execute(context.Background(), tt.steps, func() { finished = true; r.Finish(nil, "") })
			if !finished {
				t.Fatal("finish did not run")
			}
			var got ScenarioRecord
			readRecord(t, r, &got)
			if got.Name != "S-A" || got.Title != "baseline" || got.Error != tt.wantError || !cmp.Equal(got.Problems, tt.wantProblems) {
				t.Errorf("scenario.json: name %q title %q error %q problems %q; want error %q problems %q",
					got.Name, got.Title, got.Error, got.Problems, tt.wantError, tt.wantProblems)
			}
			if got.EndedAt.Before(got.StartedAt) || got.Workdir != r.Work {
				t.Errorf("scenario.json: %v..%v in %q", got.StartedAt, got.EndedAt, got.Workdir)
			}
			if !strings.Contains(progress.String(), "[S-A] ") {
				t.Errorf("no progress line for S-A:\n%s", progress.String())
			}
		})
	}
}

func TestRun_KeepRecordInWritesTheLabsRecord(t *testing.T) {
	type labRecord struct {
		ScenarioRecord
		Extra string `json:"extra"`
	}
	env, _ := testEnv(t)
	r := NewRun(env, Scenario{Name: "S-B", Title: "rate"})
	rec := &labRecord{}
	r.KeepRecordIn(&rec.ScenarioRecord, rec)
	r.Execute(context.Background(), func(context.Context) error {
		rec.Extra = "kept"
		return r.Step("seed", func() error { return errors.New("ledger locked") })
	}, func() { r.Finish(nil, "") })
	var got labRecord
	readRecord(t, r, &got)
	if got.Name != "S-B" || got.Extra != "kept" || len(got.Phases) != 1 || got.Phases[0].Error != "ledger locked" || got.Phases[0].ReachedAt != nil {
		t.Errorf("scenario.json = %+v; want S-B with extra and the failed seed phase", got)
	}
}

func TestMain_PortInUseRecordsEveryScenarioNotRun(t *testing.T) {
	busy, inUse := labtest.BusyAddr(t)
	dir := filepath.Join(t.TempDir(), "evidence")
	var stdout, stderr bytes.Buffer
	ran := false
	code := Main(context.Background(), Config{Args: []string{"lab", dir}, EvidenceDir: dir, Stdout: &stdout, Stderr: &stderr}, Spec{
		Name: "LAB1", Title: "LAB1 — a lab", DirName: "lab1",
		Scenarios: []Scenario{{Name: "S-A", Title: "a"}, {Name: "S-B", Title: "b"}},
		Ports:     []string{labtest.FreeAddr(t), busy},
		Run:       func(context.Context, *Env, Scenario) { ran = true },
		Evaluate: func(evidenceDir string) ([]evidence.Scenario, []evidence.Check) {
			var checks []evidence.Check
			for _, name := range []string{"S-A", "S-B"} {
				var rec ScenarioRecord
				if err := evidence.ReadJSON(filepath.Join(evidenceDir, name, FileScenario), &rec); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				checks = append(checks, evidence.Check{ID: "LAB1-" + name, Scenario: name, Status: evidence.Error, Detail: rec.Error})
			}
			return nil, checks
		},
	})
	if code != 2 || ran {
		t.Errorf("exit %d, a scenario ran: %v; want 2 and none", code, ran)
	}
	if !strings.Contains(stderr.String(), "lab1: "+inUse) {
		t.Errorf("stderr does not say %q:\n%s", "lab1: "+inUse, stderr.String())
	}
	report, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if report.Lab != "LAB1" || report.Title != "LAB1 — a lab" || report.Error != inUse || len(report.Checks) != 2 {
		t.Errorf("report: lab %q title %q error %q, %d checks", report.Lab, report.Title, report.Error, len(report.Checks))
	}
	for _, c := range report.Checks {
		if c.Detail != inUse {
			t.Errorf("%s: scenario.json says %q, want %q", c.ID, c.Detail, inUse)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, evidence.ReportText))
	if stdout.String() != string(text) {
		t.Errorf("stdout is not report.txt:\n%s\n%s", stdout.String(), text)
	}
}

func TestCheckDef_ScenarioFaultsNeverPass(t *testing.T) {
	pass := func(*fakeRecorded) (Outcome, error) { return Outcome{Pass: true, Text: "4/4"}, nil }
	missing := func(*fakeRecorded) (Outcome, error) { return Outcome{}, errors.New("evidence missing: S-A/x.json") }
	tests := []struct {
		name       string
		rec        ScenarioRecord
		eval       func(*fakeRecorded) (Outcome, error)
		want       evidence.Status
		wantDetail string
	}{
		{name: "clean run", eval: pass, want: evidence.Pass},
		{name: "end condition timed out", rec: ScenarioRecord{TimedOut: true, EndCondition: "all 4 delivered"}, eval: pass,
			want: evidence.Fail, wantDetail: "the end condition timed out: all 4 delivered"},
		{name: "a CLI call failed", rec: ScenarioRecord{Problems: []string{"set-bandwidth rate-64: exit 1, want 0"}}, eval: pass,
			want: evidence.Fail, wantDetail: "set-bandwidth rate-64: exit 1, want 0"},
		{name: "a process died", rec: ScenarioRecord{Problems: []string{"edged exited before the lab stopped it: signal: killed"}}, eval: pass,
			want: evidence.Fail, wantDetail: "edged exited before the lab stopped it"},
		{name: "nothing to judge stays ERROR", rec: ScenarioRecord{TimedOut: true}, eval: missing, want: evidence.Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := CheckDef[*fakeRecorded]{ID: "X", Label: "lbl", Eval: tt.eval}
			c := d.Evaluate(&fakeRecorded{rec: tt.rec})
			if c.Status != tt.want {
				t.Fatalf("status = %s, want %s (detail %q)", c.Status, tt.want, c.Detail)
			}
			if !strings.Contains(c.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to name %q", c.Detail, tt.wantDetail)
			}
		})
	}
}

// A fake edged: it records its arguments and stays up; the control API
// StartEdged waits for is a test server on the socket.
func TestRun_StartEdgedPassesExtraFlags(t *testing.T) {
	env, _ := testEnv(t)
	argsFile := filepath.Join(t.TempDir(), "args")
	env.Edged = filepath.Join(t.TempDir(), "edged")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\nexec sleep 30\n"
	if err := os.WriteFile(env.Edged, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"node_id":"fake","clock":"lab"}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()

	r := NewRun(env, Scenario{Name: "S-A"})
	if err := os.MkdirAll(r.Work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := r.StartEdged(context.Background(), "edge.toml", &control.Client{Socket: sock}, FileEdgedLog, "--lab-clock")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Group.StopAll()
	if _, err := harness.Until(context.Background(), harness.Poll{Timeout: 5 * time.Second, Interval: 10 * time.Millisecond},
		func(context.Context) ([]byte, error) { return os.ReadFile(argsFile) },
		func(b []byte) bool { return len(b) > 0 }); err != nil {
		t.Fatalf("the fake edged (pid %d) wrote no arguments: %v", p.Pid(), err)
	}
	got, _ := os.ReadFile(argsFile)
	if want := "run --config edge.toml --lab-clock\n"; string(got) != want {
		t.Errorf("edged ran with %q, want %q", got, want)
	}
}
