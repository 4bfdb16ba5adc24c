package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(LockPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid %d", got, os.Getpid())
	}
	// flock locks belong to the open file description: a second open, even
	// in this process, is refused as another daemon would be.
	_, err = TryLock(path)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() {
		t.Fatalf("second TryLock: got %v, want a LockedError naming pid %d", err, os.Getpid())
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the ledger and the pid", msg)
	}
	// The ledger itself still opens for other writers.
	led, err := Open(path)
	if err != nil {
		t.Fatalf("open a locked ledger directly: %v", err)
	}
	led.Close()
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	l2.Unlock()
}

// A lock left by a process that is gone does not hold.
func TestTryLock_StaleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(LockPath(path), []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("a stale lock file refused the lock: %v", err)
	}
	l.Unlock()
}
