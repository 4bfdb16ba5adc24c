package evidence

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Revision sources: where Provenance's revision came from.
const (
	// RevisionFromBuildInfo: the binary's own VCS stamp
	// (debug.ReadBuildInfo), which says what was built.
	RevisionFromBuildInfo = "buildinfo"
	// RevisionFromGit: the git binary in the module root, when the binary
	// carries no stamp (`go run`, or -buildvcs=false as .ci/run sets).
	RevisionFromGit = "git"
)

// EnvInvokedAs, when set, is what the command line shows instead of the
// binary's path: scripts/labs/run_relay_bandwidth_val23_lab.sh sets it to
// itself.
const EnvInvokedAs = "EDGELAB_INVOKED_AS"

// maxGitStatus bounds how many `git status` lines the provenance keeps.
const maxGitStatus = 20

// CollectProvenance records the revision, machine and command line of a run
// starting now. The revision comes from the binary's build info when it
// carries a VCS stamp, else from the git binary in moduleRoot; when neither
// can tell, GitError says why and the run goes on. exclude are paths (the
// evidence directory being written) whose changes do not make the tree
// dirty: the lab's own output is not a modification of the code.
func CollectProvenance(ctx context.Context, moduleRoot string, args []string, now time.Time, exclude ...string) Provenance {
	p := Provenance{
		CommandLine: CommandLine(args),
		ModuleRoot:  moduleRoot,
		GoVersion:   goVersion(ctx),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		StartedAt:   now,
		CPUCount:    runtime.NumCPU(),
		Kernel:      kernelRelease(ctx),
		CPUModel:    cpuModel(),
		LoadStart:   LoadAverage(),
	}
	if len(args) > 0 && !slices.Equal(p.CommandLine, args) {
		p.Executable = args[0]
	}
	p.WorkingDir, _ = os.Getwd()
	p.Hostname, _ = os.Hostname()
	bi, _ := debug.ReadBuildInfo()
	p.applyBuildInfo(bi)
	if p.RevisionSource == "" {
		st, err := gitState(ctx, moduleRoot, exclude)
		p.GitRevision, p.GitDirty, p.GitStatus, p.VCSTime = st.rev, st.dirty, st.status, st.time
		p.RevisionSource = RevisionFromGit
		if err != nil {
			p.GitError = err.Error()
			if st.rev == "" {
				p.RevisionSource = ""
			}
		}
	}
	return p
}

// applyBuildInfo takes the module version and, when the binary was stamped,
// the VCS revision, modified flag and commit time.
func (p *Provenance) applyBuildInfo(bi *debug.BuildInfo) {
	if bi == nil {
		return
	}
	p.ModulePath, p.ModuleVersion = bi.Main.Path, bi.Main.Version
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if rev == "" {
		return
	}
	p.GitRevision, p.RevisionSource = rev, RevisionFromBuildInfo
	p.GitDirty = settings["vcs.modified"] == "true"
	if t, err := time.Parse(time.RFC3339, settings["vcs.time"]); err == nil {
		p.VCSTime = &t
	}
}

// CommandLine is args as the user typed it: a program that `go run` built
// into its go-build cache (/tmp/go-build…/b001/exe/val23) is shown as
// `go run ./labs/val23`, the way every lab is started; a wrapper script
// that builds the lab and runs the binary names itself in
// $EDGELAB_INVOKED_AS; anything else is kept as it is.
func CommandLine(args []string) []string {
	out := append([]string(nil), args...)
	if len(out) == 0 {
		return out
	}
	if inv := os.Getenv(EnvInvokedAs); inv != "" {
		out[0] = inv
		return out
	}
	exe := filepath.ToSlash(out[0])
	dir, name := filepath.Split(filepath.FromSlash(exe))
	if strings.Contains(exe, "/go-build") && filepath.Base(filepath.Clean(dir)) == "exe" && name != "" {
		return append([]string{"go", "run", "./labs/" + name}, out[1:]...)
	}
	return out
}

// goVersion is the toolchain that builds the lab's binaries (`go env
// GOVERSION`), which is what matters; the orchestrator's own runtime
// version is the fallback.
func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return runtime.Version()
}

// kernelRelease is `uname -r`.
func kernelRelease(ctx context.Context) string {
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		return strings.TrimSpace(string(data))
	}
	out, err := exec.CommandContext(ctx, "uname", "-r").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// cpuModel is the first "model name" of /proc/cpuinfo (Linux); empty
// elsewhere.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return parseCPUModel(bufio.NewScanner(f))
}

func parseCPUModel(sc *bufio.Scanner) string {
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// LoadAverage is the 1, 5 and 15 minute load average (/proc/loadavg); nil
// where it cannot be read. A loaded machine explains a slow scenario.
func LoadAverage() []float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	return parseLoadAverage(string(data))
}

func parseLoadAverage(s string) []float64 {
	fields := strings.Fields(s)
	if len(fields) < 3 {
		return nil
	}
	out := make([]float64, 0, 3)
	for _, f := range fields[:3] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

type gitResult struct {
	rev    string
	dirty  bool
	status []string
	time   *time.Time
}

// gitState asks git for HEAD, its commit time and the working tree's
// status, leaving out the exclude paths (inside dir) from the status.
func gitState(ctx context.Context, dir string, exclude []string) (gitResult, error) {
	var res gitResult
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return string(out), nil
	}
	out, err := git("rev-parse", "HEAD")
	if err != nil {
		return res, err
	}
	res.rev = strings.TrimSpace(out)
	if out, err := git("show", "-s", "--format=%cI", "HEAD"); err == nil {
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(out)); err == nil {
			res.time = &t
		}
	}
	args := []string{"status", "--porcelain", "--", "."}
	for _, path := range exclude {
		if rel, ok := inside(dir, path); ok {
			args = append(args, ":(exclude)"+rel)
		}
	}
	status, err := git(args...)
	if err != nil {
		return res, err
	}
	for _, line := range strings.Split(strings.TrimRight(status, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		res.dirty = true
		if len(res.status) < maxGitStatus {
			res.status = append(res.status, line)
		}
	}
	return res, nil
}

// inside is path relative to root, when path is within root.
func inside(root, path string) (string, bool) {
	rootAbs, err1 := filepath.Abs(root)
	pathAbs, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return "", false
	}
	// The module root may be reached through a symlink (e.g. /tmp on
	// macOS); compare the resolved paths where they exist.
	if r, err := filepath.EvalSymlinks(rootAbs); err == nil {
		rootAbs = r
	}
	if p, err := filepath.EvalSymlinks(pathAbs); err == nil {
		pathAbs = p
	}
	rel, err := filepath.Rel(rootAbs, pathAbs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// HashBinaries records the sha256 of the programs a lab built, by name.
func HashBinaries(bins map[string]string) []Binary {
	var out []Binary
	for _, name := range slices.Sorted(maps.Keys(bins)) {
		b := Binary{Name: name, Path: bins[name]}
		if sum, err := hashFile(b.Path); err != nil {
			b.Error = err.Error()
		} else {
			b.SHA256 = sum
		}
		out = append(out, b)
	}
	return out
}
