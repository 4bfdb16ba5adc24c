package evidence

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandLine_GoRunIsShownAsTyped(t *testing.T) {
	tests := []struct {
		args, want []string
	}{
		{[]string{"/tmp/go-build3740594346/b001/exe/val23", "/tmp/ev"}, []string{"go", "run", "./labs/val23", "/tmp/ev"}},
		{[]string{"/home/u/.cache/tmp/go-build1/b001/exe/val24", "--check-only", "d"}, []string{"go", "run", "./labs/val24", "--check-only", "d"}},
		// A built binary, or a test binary, is what it is.
		{[]string{"./bin/val23", "d"}, []string{"./bin/val23", "d"}},
		{[]string{"/tmp/go-build1/b001/val23.test"}, []string{"/tmp/go-build1/b001/val23.test"}},
		{[]string{"val23"}, []string{"val23"}},
		{nil, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, CommandLine(tt.args), "%q", tt.args)
	}
}

func TestCollectProvenance_KeepsTheRealExecutable(t *testing.T) {
	args := []string{"/tmp/go-build9/b001/exe/val23", "dir"}
	p := CollectProvenance(context.Background(), t.TempDir(), args, time.Now())
	assert.Equal(t, []string{"go", "run", "./labs/val23", "dir"}, p.CommandLine)
	assert.Equal(t, args[0], p.Executable)
	assert.Positive(t, p.CPUCount)
	assert.NotEmpty(t, p.GoVersion)
	if _, err := os.Stat("/proc/loadavg"); err == nil {
		assert.Len(t, p.LoadStart, 3)
		assert.NotEmpty(t, p.Kernel)
	}

	p = CollectProvenance(context.Background(), t.TempDir(), []string{"./val23", "dir"}, time.Now())
	assert.Empty(t, p.Executable, "a command line kept as it is needs no executable beside it")
}

func TestApplyBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "edgelab", Version: "v0.0.0-20261202150000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-02T15:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	var p Provenance
	p.applyBuildInfo(stamped)
	assert.Equal(t, RevisionFromBuildInfo, p.RevisionSource)
	assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", p.GitRevision)
	assert.True(t, p.GitDirty)
	require.NotNil(t, p.VCSTime)
	assert.Equal(t, time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC), p.VCSTime.UTC())
	assert.Equal(t, "edgelab", p.ModulePath)
	assert.Equal(t, "v0.0.0-20261202150000-0123456789ab+dirty", p.ModuleVersion)

	// `go run` and -buildvcs=false stamp nothing: the revision is left to
	// git.
	var q Provenance
	q.applyBuildInfo(&debug.BuildInfo{Main: debug.Module{Path: "edgelab", Version: "(devel)"}})
	assert.Empty(t, q.RevisionSource)
	assert.Empty(t, q.GitRevision)
	assert.Equal(t, "(devel)", q.ModuleVersion)
	q.applyBuildInfo(nil)
}

func TestParseLoadAverageAndCPUModel(t *testing.T) {
	assert.Equal(t, []float64{3.86, 3, 1.87}, parseLoadAverage("3.86 3.00 1.87 10/170 16712\n"))
	assert.Nil(t, parseLoadAverage("garbage"))
	assert.Nil(t, parseLoadAverage("1 x 3"))
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	assert.Equal(t, "AMD EPYC 7B13", parseCPUModel(bufio.NewScanner(strings.NewReader(cpuinfo))))
	assert.Empty(t, parseCPUModel(bufio.NewScanner(strings.NewReader("processor: 0\n"))))
}

func TestHashBinaries(t *testing.T) {
	dir := t.TempDir()
	edged := filepath.Join(dir, "edged")
	require.NoError(t, os.WriteFile(edged, []byte("ELF"), 0o755))
	got := HashBinaries(map[string]string{"peer": filepath.Join(dir, "gone"), "edged": edged})
	require.Len(t, got, 2)
	sum := sha256.Sum256([]byte("ELF"))
	assert.Equal(t, Binary{Name: "edged", Path: edged, SHA256: hex.EncodeToString(sum[:])}, got[0])
	assert.Equal(t, "peer", got[1].Name)
	assert.Empty(t, got[1].SHA256)
	assert.NotEmpty(t, got[1].Error)
}

// gitRepo makes a repository with one commit.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	run("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644))
	run("add", "main.go")
	run("commit", "-q", "-m", "one")
	return dir
}

// The lab's own evidence directory in the tree is not a modification; a
// changed source file is.
func TestGitState_TheEvidenceDirectoryDoesNotMakeTheTreeDirty(t *testing.T) {
	repo := gitRepo(t)
	run := filepath.Join(repo, "myrun")
	require.NoError(t, os.MkdirAll(filepath.Join(run, "S-A"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(run, "S-A", "edged.log"), []byte("x"), 0o644))
	ctx := context.Background()

	st, err := gitState(ctx, repo, []string{run})
	require.NoError(t, err)
	assert.Len(t, st.rev, 40)
	assert.False(t, st.dirty, "status %q", st.status)
	assert.NotNil(t, st.time)

	// Without the exclusion the run's files would show.
	st, err = gitState(ctx, repo, nil)
	require.NoError(t, err)
	assert.True(t, st.dirty)
	assert.Equal(t, []string{"?? myrun/"}, st.status)

	// A directory outside the tree excludes nothing.
	st, err = gitState(ctx, repo, []string{t.TempDir()})
	require.NoError(t, err)
	assert.True(t, st.dirty)

	require.NoError(t, os.WriteFile(filepath.Join(repo, "main.go"), []byte("package main // edited\n"), 0o644))
	st, err = gitState(ctx, repo, []string{run})
	require.NoError(t, err)
	assert.True(t, st.dirty)
	assert.Equal(t, []string{" M main.go"}, st.status)

	p := CollectProvenance(ctx, repo, []string{"val23"}, time.Now(), run)
	if p.RevisionSource == RevisionFromGit {
		assert.True(t, p.GitDirty)
		assert.Equal(t, []string{" M main.go"}, p.GitStatus)
	}
}

// Generated runs under evidence/ are ignored by git, so a lab writing its
// default directory never dirties the tree; evidence/schema is source.
func TestGitignore_IgnoresGeneratedRunsNotTheSchema(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout")
	}
	ignored := func(path string) bool {
		cmd := exec.Command("git", "check-ignore", "-q", "--no-index", path)
		cmd.Dir = root
		return cmd.Run() == nil
	}
	assert.True(t, ignored(DefaultDir("", "val23-relay-bandwidth-local", time.Now())+"/report.json"))
	assert.True(t, ignored("evidence/latest"))
	assert.False(t, ignored("evidence/schema/report.schema.json"))
	assert.False(t, ignored("evidence/report.go"))
}

func TestCollectProvenance_AWrapperNamesItself(t *testing.T) {
	t.Setenv(EnvInvokedAs, "scripts/labs/run_relay_bandwidth_val23_lab.sh")
	args := []string{"/tmp/tmp.abc/val23", "/w/evidence/nightly"}
	p := CollectProvenance(context.Background(), t.TempDir(), args, time.Now())
	assert.Equal(t, []string{"scripts/labs/run_relay_bandwidth_val23_lab.sh", "/w/evidence/nightly"}, p.CommandLine)
	assert.Equal(t, "/tmp/tmp.abc/val23", p.Executable)
}
