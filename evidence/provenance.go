package evidence

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// CollectProvenance records the revision, machine and command line of a run
// starting now. The git revision comes from the git binary in moduleRoot;
// when git cannot tell, GitError says why and the run goes on.
func CollectProvenance(ctx context.Context, moduleRoot string, args []string, now time.Time) Provenance {
	p := Provenance{
		CommandLine: append([]string(nil), args...),
		ModuleRoot:  moduleRoot,
		GoVersion:   goVersion(ctx),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		StartedAt:   now,
	}
	p.WorkingDir, _ = os.Getwd()
	p.Hostname, _ = os.Hostname()
	rev, dirty, err := gitState(ctx, moduleRoot)
	p.GitRevision, p.GitDirty = rev, dirty
	if err != nil {
		p.GitError = err.Error()
	}
	return p
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

func gitState(ctx context.Context, dir string) (rev string, dirty bool, err error) {
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
		return "", false, err
	}
	rev = strings.TrimSpace(out)
	status, err := git("status", "--porcelain")
	if err != nil {
		return rev, false, err
	}
	return rev, strings.TrimSpace(status) != "", nil
}
