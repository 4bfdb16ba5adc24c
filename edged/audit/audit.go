// Package audit is edged's append-only audit log: one JSON object per line,
// each written with a single write and fsynced before Append returns, so an
// acknowledged change is on disk and a crash can tear at most the last line.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"edgelab/edged/api"
)

// EventBandwidthConfigured records a bandwidth change made over the control API.
const EventBandwidthConfigured = "relay.bandwidth.configured"

// Event is one audit line.
type Event struct {
	Time      time.Time     `json:"time"`
	Event     string        `json:"event"`
	Bandwidth api.Bandwidth `json:"bandwidth"`
	Previous  api.Bandwidth `json:"previous"`
	Peer      string        `json:"peer"`
	Actor     string        `json:"actor"`
}

// Log appends events to an audit file. It is safe for concurrent use.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// Open opens (creating, mode 0600) the audit file at path for appending.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &Log{f: f, path: path}, nil
}

// Path is the file the log appends to.
func (l *Log) Path() string { return l.path }

// Append writes ev as one line and syncs it to disk. A zero Time is set to
// now (UTC). When it fails, no part of the line is left in the file.
func (l *Log) Append(ev Event) error {
	_, err := l.AppendRevertible(ev)
	return err
}

// AppendRevertible is Append for an event written before the change it
// records: revert takes the line back (truncates the file to where it was
// and syncs) when the change then fails. revert refuses once another line
// has been appended after it, and on a file that is not a regular file.
func (l *Log) AppendRevertible(ev Event) (revert func() error, err error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	line, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode audit event %s: %w", ev.Event, err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil, fmt.Errorf("append to audit log %s: %w", l.path, os.ErrClosed)
	}
	start, regular := l.size()
	// One write per line: with O_APPEND the kernel places it at the end as a
	// unit, so lines from concurrent writers never interleave.
	if _, err := l.f.Write(line); err != nil {
		// A short write (a disk filling up) would leave a torn line that
		// the next event is glued onto: cut it off.
		if regular {
			if terr := l.f.Truncate(start); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut off the partial line: %w", terr))
			}
		}
		return nil, fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		if regular {
			l.f.Truncate(start) // the line may be lost anyway; do not count on it
		}
		return nil, fmt.Errorf("sync audit log %s: %w", l.path, err)
	}
	end := start + int64(len(line))
	return func() error { return l.revert(start, end, regular) }, nil
}

// size is the file's length and whether it is a regular file (one that
// can be truncated).
func (l *Log) size() (int64, bool) {
	fi, err := l.f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

func (l *Log) revert(start, end int64, regular bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("take back audit event in %s: %w", l.path, os.ErrClosed)
	}
	if !regular {
		return fmt.Errorf("take back audit event in %s: not a regular file", l.path)
	}
	if size, _ := l.size(); size != end {
		return fmt.Errorf("take back audit event in %s: the file is %d bytes, not the %d it had after the event", l.path, size, end)
	}
	if err := l.f.Truncate(start); err != nil {
		return fmt.Errorf("take back audit event in %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("take back audit event in %s: sync: %w", l.path, err)
	}
	return nil
}

// Close closes the file; later Appends fail.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("close audit log %s: %w", l.path, err)
	}
	return nil
}

// Read returns every event in the audit file at path, in file order. A line
// that is not a JSON event, or a last line without its newline (a write torn
// by a crash), is an error naming the file and the line.
func Read(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	var events []Event
	for n := 1; len(data) > 0; n++ {
		line, rest, found := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !found {
			return events, fmt.Errorf("%s:%d: torn last line (no newline at the end): %q", path, n, truncate(line))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return events, fmt.Errorf("%s:%d: empty line", path, n)
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return events, fmt.Errorf("%s:%d: not an audit event: %w", path, n, err)
		}
		if ev.Event == "" {
			return events, fmt.Errorf("%s:%d: %w", path, n, errors.New(`audit event has no "event" name`))
		}
		events = append(events, ev)
	}
	return events, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
