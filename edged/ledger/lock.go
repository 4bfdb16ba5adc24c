package ledger

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// LockPath is the lock file of the ledger at path: the daemon that runs
// the ledger holds an exclusive flock on it for its whole life.
func LockPath(path string) string { return path + ".lock" }

// Lock is a held exclusive lock on a ledger (TryLock). Other writers
// (setup seed, crashtest) open the ledger without it: SQLite serialises
// their transactions; the lock only keeps a second executor off it.
type Lock struct {
	f *os.File
}

// LockedError is a ledger another process holds the lock on.
type LockedError struct {
	Ledger string
	PID    int // 0 when the lock file names none
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("ledger %s is in use by another edged (lock %s held)", e.Ledger, LockPath(e.Ledger))
	}
	return fmt.Sprintf("ledger %s is in use by another edged, pid %d (lock %s held)", e.Ledger, e.PID, LockPath(e.Ledger))
}

// TryLock takes the exclusive lock of the ledger at path, without waiting,
// and writes this process's pid in the lock file. It fails with a
// *LockedError when another process holds it. The lock goes with the
// process: a crash leaves the file, not the lock.
func TryLock(path string) (*Lock, error) {
	name := LockPath(path)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock ledger %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Ledger: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock ledger %s: flock %s: %w", path, name, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock ledger %s: write pid to %s: %w", path, name, err)
	}
	return &Lock{f: f}, nil
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// Unlock releases the lock. The file stays (removing it would race with a
// daemon starting meanwhile, which could lock the unlinked file).
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}
