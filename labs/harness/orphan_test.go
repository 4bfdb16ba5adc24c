package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanHelperEnv makes this test binary act as an orchestrator: it starts
// a long sleep through Start, prints the child's pid and waits to be
// killed.
const orphanHelperEnv = "EDGELAB_HARNESS_ORPHAN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) == "1" {
		p, err := Start(Spec{Name: "sleep", Path: "sleep", Args: []string{"600"}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		<-p.Done()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// An orchestrator killed with SIGKILL (a CI timeout) takes its children
// with it: none is left holding the lab's ports.
func TestStart_ChildDiesWithTheOrchestrator(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux's")
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep(1)")
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), orphanHelperEnv+"=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatalf("reading the helper's child pid: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("helper said %q, want a pid", buf[:n])
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	// The child is reparented and reaped by init once the kernel kills
	// it; poll until its pid is gone (or belongs to no sleep).
	_, err = Until(context.Background(), Poll{Timeout: 10 * time.Second, Interval: 20 * time.Millisecond},
		func(context.Context) (bool, error) {
			comm, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != "sleep" {
				return true, nil
			}
			stat, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
			return strings.Contains(string(stat), ") Z "), nil // a zombie awaiting its reaper is dead
		},
		func(gone bool) bool { return gone })
	if err != nil {
		_ = syscall.Kill(child, syscall.SIGKILL)
		t.Fatalf("the orchestrator's child (pid %d) outlived its SIGKILL: %v", child, err)
	}
}
