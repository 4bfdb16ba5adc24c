package labrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
	"edgelab/labs/harness"
)

// fakeCLI records what the command line asked of the lab.
type fakeCLI struct {
	runs   []Config
	checks []CheckConfig
}

func (f *fakeCLI) cli() CLI {
	return CLI{
		Name: "lab1", Lab: "LAB1", Short: "LAB1 — a lab",
		Run:       func(_ context.Context, cfg Config) int { f.runs = append(f.runs, cfg); return 1 },
		CheckOnly: func(_ context.Context, cfg CheckConfig) int { f.checks = append(f.checks, cfg); return 0 },
	}
}

func execCLI(t *testing.T, f *fakeCLI, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = f.cli().Exec(context.Background(), append([]string{"lab1"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI_FlagsBeforeOrAfterTheDirectory(t *testing.T) {
	root, err := harness.ModuleRoot(context.Background())
	require.NoError(t, err)
	tests := []struct {
		name      string
		args      []string
		code      int
		dir       string
		history   string
		checkOnly bool
	}{
		{"no args: default dir, default history", nil, 1, "", evidence.DefaultHistory(root), false},
		{"a dir", []string{"ev"}, 1, "ev", evidence.DefaultHistory(root), false},
		{"history before", []string{"--history", "h.jsonl", "ev"}, 1, "ev", "h.jsonl", false},
		{"history after", []string{"ev", "--history=h.jsonl"}, 1, "ev", "h.jsonl", false},
		{"no history", []string{"ev", "--history="}, 1, "ev", "", false},
		{"check-only before", []string{"--check-only", "ev"}, 0, "ev", "", true},
		{"check-only after", []string{"ev", "--check-only"}, 0, "ev", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeCLI{}
			code, _, stderr := execCLI(t, f, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			if tt.checkOnly {
				require.Len(t, f.checks, 1)
				assert.Empty(t, f.runs)
				assert.Equal(t, tt.dir, f.checks[0].Dir)
				assert.Equal(t, append([]string{"lab1"}, tt.args...), f.checks[0].Args)
				return
			}
			require.Len(t, f.runs, 1)
			assert.Empty(t, f.checks)
			assert.Equal(t, tt.dir, f.runs[0].EvidenceDir)
			assert.Equal(t, tt.history, f.runs[0].History)
			assert.Equal(t, append([]string{"lab1"}, tt.args...), f.runs[0].Args)
		})
	}
}

func TestCLI_HelpAndVersionExit0(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"ev", "--help"}} {
		f := &fakeCLI{}
		code, stdout, _ := execCLI(t, f, args...)
		assert.Equal(t, 0, code, args)
		for _, want := range []string{"--check-only", "--diff", "--history", "--version", "Exit status:"} {
			assert.Contains(t, stdout, want, args)
		}
		assert.Empty(t, f.runs, "--help runs nothing")
	}
	f := &fakeCLI{}
	code, stdout, _ := execCLI(t, f, "--version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^lab1 \S.* go1\.`, stdout)
	assert.Empty(t, f.runs)
}

func TestCLI_UsageErrorsExit2(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "b"}, "at most one evidence directory, got 2"},
		{[]string{"--check-only"}, "--check-only takes one evidence directory, got 0"},
		{[]string{"--diff", "a"}, "--diff takes two evidence directories, got 1"},
		{[]string{"--check-only", "--diff", "a", "b"}, "none of the others can be"},
		{[]string{"--frobnicate"}, "unknown flag: --frobnicate"},
	} {
		f := &fakeCLI{}
		code, _, stderr := execCLI(t, f, tt.args...)
		assert.Equal(t, 2, code, tt.args)
		assert.Contains(t, stderr, tt.want, tt.args)
		assert.Contains(t, stderr, "Run 'lab1 --help' for usage.", tt.args)
		assert.Empty(t, f.runs, tt.args)
		assert.Empty(t, f.checks, tt.args)
	}
}

// writeReport saves r as dir's report.json (and its renderings).
func writeReport(t *testing.T, dir string, r evidence.Report) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, evidence.WriteReport(dir, r))
}

func TestCLI_DiffExits1OnlyWhenACheckStoppedPassing(t *testing.T) {
	base := t.TempDir()
	pass := evidence.Report{Lab: "LAB1", Checks: []evidence.Check{{ID: "LAB1-01", Status: evidence.Pass}, {ID: "LAB1-02", Status: evidence.Fail}}}
	fixed := evidence.Report{Lab: "LAB1", Checks: []evidence.Check{{ID: "LAB1-01", Status: evidence.Pass}, {ID: "LAB1-02", Status: evidence.Pass}}}
	broke := evidence.Report{Lab: "LAB1", Checks: []evidence.Check{{ID: "LAB1-01", Status: evidence.Error}, {ID: "LAB1-02", Status: evidence.Fail}}}
	other := evidence.Report{Lab: "LAB2"}
	for name, r := range map[string]evidence.Report{"pass": pass, "fixed": fixed, "broke": broke, "other": other} {
		writeReport(t, filepath.Join(base, name), r)
	}
	at := func(name string) string { return filepath.Join(base, name) }
	for _, tt := range []struct {
		a, b string
		code int
		want string
	}{
		{"pass", "pass", 0, "no check went from PASS to FAIL or ERROR"},
		{"pass", "fixed", 0, "LAB1-02 FAIL → PASS"},
		{"pass", "broke", 1, "REGRESSION: LAB1-01 went from PASS to ERROR"},
		{"pass", "other", 2, "holds a LAB2 report, not LAB1"},
		{"pass", "missing", 2, "read report"},
	} {
		f := &fakeCLI{}
		code, stdout, stderr := execCLI(t, f, "--diff", at(tt.a), at(tt.b))
		assert.Equal(t, tt.code, code, "%s → %s: %s", tt.a, tt.b, stderr)
		assert.Contains(t, stdout+stderr, tt.want, "%s → %s", tt.a, tt.b)
	}
	// The flag may follow the directories too.
	code, _, _ := execCLI(t, &fakeCLI{}, at("pass"), at("broke"), "--diff")
	assert.Equal(t, 1, code)
}
