package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// CommandResult is everything a one-shot command left behind. It is saved
// as evidence as is, so its JSON field names are part of the evidence
// layout.
type CommandResult struct {
	Args      []string  `json:"args"`
	Dir       string    `json:"dir,omitempty"`
	ExitCode  int       `json:"exit_code"`
	Stdout    string    `json:"stdout"`
	Stderr    string    `json:"stderr"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	// StartError says why the command could not run at all (ExitCode -1).
	StartError string `json:"start_error,omitempty"`
}

// Err is nil when the command ran and exited 0, else an error naming the
// command, its exit status and the tail of its stderr.
func (r CommandResult) Err() error {
	cmd := strings.Join(r.Args, " ")
	switch {
	case r.StartError != "":
		return fmt.Errorf("%s: %s", cmd, r.StartError)
	case r.ExitCode != 0:
		return fmt.Errorf("%s: exit status %d: %s", cmd, r.ExitCode, tail(r.Stderr, 2000))
	}
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// RunCommand runs name with args in dir to completion and records it. It
// never returns an error itself: a command that could not start or failed is
// evidence too, and Err tells the two apart from success.
func RunCommand(ctx context.Context, dir, name string, args ...string) CommandResult {
	res := CommandResult{Args: append([]string{name}, args...), Dir: dir, StartedAt: time.Now()}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res.Seconds = time.Since(res.StartedAt).Seconds()
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		res.ExitCode = -1
		res.StartError = err.Error()
	}
	return res
}
