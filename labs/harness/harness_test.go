package harness

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestUntil(t *testing.T) {
	errNotYet := errors.New("not yet")
	tests := []struct {
		name      string
		observe   func(n int) (int, error)
		timeout   time.Duration
		wantLast  int
		wantCalls int // exact, or 0 for "at least 2"
		wantErr   func(error) bool
	}{
		{
			name:      "reached on the third observation",
			observe:   func(n int) (int, error) { return n, nil },
			timeout:   10 * time.Second,
			wantLast:  3,
			wantCalls: 3,
			wantErr:   func(err error) bool { return err == nil },
		},
		{
			name: "observation errors are retried",
			observe: func(n int) (int, error) {
				if n < 3 {
					return 0, errNotYet
				}
				return n, nil
			},
			timeout:   10 * time.Second,
			wantLast:  3,
			wantCalls: 3,
			wantErr:   func(err error) bool { return err == nil },
		},
		{
			name: "abort stops at once and keeps the last observation",
			observe: func(n int) (int, error) {
				if n == 2 {
					return 0, Abort(errNotYet)
				}
				return n, nil
			},
			timeout:   10 * time.Second,
			wantLast:  1,
			wantCalls: 2,
			wantErr:   func(err error) bool { return errors.Is(err, errNotYet) },
		},
		{
			name: "timeout reports the last observation and error",
			observe: func(n int) (int, error) {
				if n == 1 {
					return -7, nil
				}
				return 0, errNotYet
			},
			timeout:  150 * time.Millisecond,
			wantLast: -7,
			wantErr: func(err error) bool {
				var te *TimeoutError
				return errors.As(err, &te) && errors.Is(te.LastErr, errNotYet)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			last, err := Until(context.Background(), Poll{Timeout: tt.timeout, Interval: 10 * time.Millisecond},
				func(context.Context) (int, error) { calls++; return tt.observe(calls) },
				func(v int) bool { return v == 3 })
			if !tt.wantErr(err) {
				t.Errorf("Until() error = %v, not the one wanted", err)
			}
			if last != tt.wantLast {
				t.Errorf("Until() last = %d, want %d", last, tt.wantLast)
			}
			if tt.wantCalls > 0 && calls != tt.wantCalls {
				t.Errorf("observed %d times, want %d", calls, tt.wantCalls)
			}
			if tt.wantCalls == 0 && calls < 2 {
				t.Errorf("observed %d times before timing out, want at least 2", calls)
			}
		})
	}
}

func TestUntil_AnObservationAtTheDeadlineMayFinish(t *testing.T) {
	// Timeout 0: the only observation starts at the deadline. It must get a
	// live context, or every wait would end on a spurious failure.
	last, err := Until(context.Background(), Poll{Timeout: 0},
		func(ctx context.Context) (int, error) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			return 3, nil
		},
		func(v int) bool { return v == 3 })
	if err != nil || last != 3 {
		t.Errorf("Until() = %d, %v; want 3, nil", last, err)
	}
}

func TestUntil_StopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Until(ctx, Poll{Timeout: time.Minute, Interval: 10 * time.Millisecond},
		func(context.Context) (int, error) {
			calls++
			if calls == 2 {
				cancel()
			}
			return calls, nil
		},
		func(int) bool { return false })
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Errorf("Until() = %v after %d calls, want context.Canceled after 2", err, calls)
	}
}

func TestCheckPortsFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	err = CheckPortsFree(addr)
	var inUse *PortInUseError
	if !errors.As(err, &inUse) || !strings.HasPrefix(err.Error(), "port "+port+" is in use") {
		t.Fatalf("CheckPortsFree(%s) with a listener = %v, want \"port %s is in use…\"", addr, err, port)
	}
	// This process holds the port: the error names it, as it would name a
	// stale edged left by a killed lab.
	if want := "pid " + strconv.Itoa(os.Getpid()) + ": "; runtime.GOOS == "linux" && !strings.HasPrefix(inUse.Holder, want) {
		t.Errorf("PortInUseError.Holder = %q, want it to start %q (this test process)", inUse.Holder, want)
	}

	ln.Close()
	if err := WaitPortsFree(context.Background(), 5*time.Second, addr); err != nil {
		t.Errorf("WaitPortsFree(%s) after close = %v, want nil", addr, err)
	}
	if err := CheckPortsFree(addr); err != nil {
		t.Errorf("CheckPortsFree(%s) after close = %v, want nil", addr, err)
	}
}

// gone reports whether pid no longer runs (absent, or a zombie nobody has
// reaped yet: a container's init may be slow to reap orphans).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	_, err := Until(context.Background(), Poll{Timeout: 5 * time.Second, Interval: 10 * time.Millisecond},
		func(context.Context) (bool, error) { return gone(pid), nil },
		func(g bool) bool { return g })
	if err != nil {
		t.Errorf("pid %d still runs: %v", pid, err)
	}
}

func readPid(t *testing.T, p *Process, path string) int {
	t.Helper()
	if err := WaitFile(context.Background(), 5*time.Second, path, p); err != nil {
		t.Fatal(err)
	}
	var pid int
	_, err := Until(context.Background(), Poll{Timeout: 5 * time.Second, Interval: 10 * time.Millisecond},
		func(context.Context) (int, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(strings.TrimSpace(string(data)))
		},
		func(v int) bool { pid = v; return v > 0 })
	if err != nil {
		t.Fatalf("read pid from %s: %v", path, err)
	}
	return pid
}

func TestProcess_StopEndsTheWholeGroupAndKeepsTheLog(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "sh.log")
	childFile := filepath.Join(dir, "child.pid")
	p, err := Start(Spec{
		Name: "sh", Path: "/bin/sh", Dir: dir, Log: log,
		Args: []string{"-c", `echo hello; sleep 30 & echo $! > child.pid.tmp; mv child.pid.tmp child.pid; wait`},
	})
	if err != nil {
		t.Fatal(err)
	}
	child := readPid(t, p, childFile)

	if err := p.Stop(5 * time.Second); err != nil {
		t.Errorf("Stop() = %v, want nil (sh exits on SIGTERM)", err)
	}
	select {
	case <-p.Done():
	default:
		t.Errorf("Done not closed after Stop")
	}
	waitGone(t, p.Pid())
	waitGone(t, child)
	got, err := os.ReadFile(log)
	if err != nil || string(got) != "hello\n" {
		t.Errorf("log = %q, %v; want %q", got, err, "hello\n")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop() = %v, want nil", err)
	}
}

func TestProcess_StopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Spec{
		Name: "stubborn", Path: "/bin/sh", Dir: dir,
		Args: []string{"-c", `trap "" TERM; touch ready; while :; do sleep 0.05; done`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitFile(context.Background(), 5*time.Second, filepath.Join(dir, "ready"), p); err != nil {
		t.Fatal(err)
	}
	err = p.Stop(100 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stop stubborn: no exit within 100ms of SIGTERM, killed") {
		t.Errorf("Stop() = %v, want the kill reported", err)
	}
	waitGone(t, p.Pid())
}

func TestProcess_AliveReportsTheExit(t *testing.T) {
	p, err := Start(Spec{Name: "quitter", Path: "/bin/sh", Args: []string{"-c", "exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	err = p.Alive()
	if err == nil || err.Error() != "quitter exited: exit status 3" {
		t.Errorf("Alive() = %v, want \"quitter exited: exit status 3\"", err)
	}
	// A wait on a dead process's file gives up at once instead of timing out.
	err = WaitFile(context.Background(), time.Minute, filepath.Join(t.TempDir(), "never"), p)
	if err == nil || !strings.Contains(err.Error(), "quitter exited") {
		t.Errorf("WaitFile() = %v, want the exit named", err)
	}
}

func TestGroup_StopAllStopsEveryMember(t *testing.T) {
	g := &Group{Grace: 5 * time.Second}
	var pids []int
	for range 3 {
		p, err := g.Start(Spec{Name: "sleeper", Path: "/bin/sleep", Args: []string{"30"}})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.Pid())
	}
	if err := g.StopAll(); err != nil {
		t.Errorf("StopAll() = %v, want nil", err)
	}
	for _, pid := range pids {
		waitGone(t, pid)
	}
	if err := g.StopAll(); err != nil {
		t.Errorf("second StopAll() = %v, want nil", err)
	}
}

func TestRunCommand(t *testing.T) {
	res := RunCommand(context.Background(), t.TempDir(), "/bin/sh", "-c", "echo out; echo err >&2; exit 4")
	got := []any{res.ExitCode, res.Stdout, res.Stderr, res.StartError}
	want := []any{4, "out\n", "err\n", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunCommand() mismatch (-want +got):\n%s", diff)
	}
	if err := res.Err(); err == nil || err.Error() != "/bin/sh -c echo out; echo err >&2; exit 4: exit status 4: err" {
		t.Errorf("Err() = %v", err)
	}

	res = RunCommand(context.Background(), "", filepath.Join(t.TempDir(), "missing"))
	if res.ExitCode != -1 || res.StartError == "" || res.Err() == nil {
		t.Errorf("missing binary: exit %d, start error %q; want -1 and an error", res.ExitCode, res.StartError)
	}
}

func TestModuleRootAndBuild(t *testing.T) {
	root, err := ModuleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("ModuleRoot() = %s without a go.mod: %v", root, err)
	}

	mod := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mod, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module tiny\n\ngo 1.22\n")
	write("hello/main.go", "package main\n\nfunc main() { println(\"hi\") }\n")
	out := t.TempDir()
	bins, err := Build(context.Background(), mod, out, []string{"./hello"}, "-ldflags=-s -w")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"hello": filepath.Join(out, "hello")}, bins); diff != "" {
		t.Errorf("Build() mismatch (-want +got):\n%s", diff)
	}
	res := RunCommand(context.Background(), "", bins["hello"])
	if res.ExitCode != 0 || res.Stderr != "hi\n" {
		t.Errorf("built binary: exit %d, stderr %q; want 0, \"hi\\n\"", res.ExitCode, res.Stderr)
	}

	if _, err := Build(context.Background(), mod, out, []string{"./nope"}); err == nil || !strings.Contains(err.Error(), "build ./nope") {
		t.Errorf("Build(./nope) = %v, want an error naming it", err)
	}
}

func TestProgress_ThrottlesRepeatsButNotPhaseChanges(t *testing.T) {
	var b strings.Builder
	p := &Progress{W: &b, Every: time.Hour}
	p.Update("S-B", "wait-delivery", 2300*time.Millisecond, "delivered=3/5")
	p.Update("S-B", "wait-delivery", 2400*time.Millisecond, "delivered=4/5") // within Every: dropped
	p.Update("S-B", "collect", 5*time.Second, "")
	p.Printf("S-B", "end condition reached after %s", "4.1s")
	want := "[S-B] phase=wait-delivery elapsed=2.3s delivered=3/5\n" +
		"[S-B] phase=collect elapsed=5.0s\n" +
		"[S-B] end condition reached after 4.1s\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("progress output mismatch (-want +got):\n%s", diff)
	}
}
