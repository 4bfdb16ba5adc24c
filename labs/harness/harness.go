// Package harness is what every lab orchestrator needs around real
// processes: locate the module, build binaries once, check ports, start and
// stop processes in their own process groups with their logs in files, run
// one-shot commands and keep their output, and wait for conditions by
// polling under a deadline (never by sleeping a fixed time).
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot is the directory of the main module's go.mod, as `go env GOMOD`
// reports it from the current directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run the lab from the repository")
	}
	return filepath.Dir(gomod), nil
}

// Build compiles the main packages pkgs (e.g. "./edged") of the module at
// root into outDir with one `go build`, so shared dependencies compile once;
// flags go before the packages (e.g. "-ldflags=-s -w"). It returns each
// binary's path by its name (the package's last element).
func Build(ctx context.Context, root, outDir string, pkgs []string, flags ...string) (map[string]string, error) {
	if len(pkgs) == 0 {
		return nil, errors.New("build: no packages named")
	}
	// A trailing separator makes `go build -o` treat outDir as a directory
	// even for a single package.
	args := append([]string{"build", "-o", outDir + string(filepath.Separator)}, flags...)
	args = append(args, pkgs...)
	res := RunCommand(ctx, root, "go", args...)
	if res.Err() != nil {
		return nil, fmt.Errorf("build %s: %w", strings.Join(pkgs, " "), res.Err())
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		name := filepath.Base(p)
		path := filepath.Join(outDir, name)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("build %s: no binary at %s: %w", p, path, err)
		}
		bins[name] = path
	}
	return bins, nil
}
