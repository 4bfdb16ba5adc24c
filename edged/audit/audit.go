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
	"path/filepath"
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
	mu       sync.Mutex
	f        *os.File
	path     string
	repaired *TornTail
}

// ErrTornTail is what a *TornTail is (errors.Is).
var ErrTornTail = errors.New("torn last line")

// TornTail is a last line without its newline: an append a crash cut
// short. Read returns it, after every complete event, as its error; Open
// cuts it off (Log.Repaired).
type TornTail struct {
	Path   string
	Line   int    // 1-based line number of the torn line
	Offset int64  // where the torn bytes start
	Data   []byte // the torn bytes
	// SideFile is where Open kept the bytes it cut off ("" from Read).
	SideFile string
}

func (t *TornTail) Error() string {
	return fmt.Sprintf("%s:%d: %v (no newline at the end): %q", t.Path, t.Line, ErrTornTail, truncate(t.Data))
}

// Is makes errors.Is(err, ErrTornTail) hold for a *TornTail.
func (t *TornTail) Is(target error) bool { return target == ErrTornTail }

// TornSuffix names the side file beside an audit log where Open keeps torn
// tails it cut off (appended, one per line, as found).
const TornSuffix = ".torn"

// Open opens (creating, mode 0600) the audit file at path for appending. A
// torn last line (a crash during an append) is repaired first: its bytes
// are appended to path+TornSuffix and synced, then cut off the log, so the
// next event is not glued onto them; Repaired reports it.
func Open(path string) (*Log, error) {
	f, torn, err := openRepaired(path)
	if err != nil {
		return nil, err
	}
	return &Log{f: f, path: path, repaired: torn}, nil
}

// openRepaired opens path for appending and repairs a torn tail.
func openRepaired(path string) (*os.File, *TornTail, error) {
	_, statErr := os.Lstat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil && created {
		// A new file's name must survive a crash as its fsynced events do.
		if err = syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("open audit log %s: %w", path, err)
		}
	}
	if errors.Is(err, os.ErrPermission) {
		// A write-only file can still be appended to, just not repaired.
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			return f, nil, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	torn, err := repairTail(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, torn, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// follow reopens the log when its path no longer names the open file
// (moved away, removed, replaced): an event written to a file nobody can
// find again is not audited. A path that cannot be opened any more (say,
// a directory now) fails the append.
func (l *Log) follow() error {
	pfi, err := os.Stat(l.path)
	if err == nil {
		if ffi, ferr := l.f.Stat(); ferr == nil && os.SameFile(pfi, ffi) {
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("append to audit log %s: %w", l.path, err)
	}
	f, _, err := openRepaired(l.path)
	if err != nil {
		return fmt.Errorf("append to audit log %s: the file was moved or replaced and cannot be reopened: %w", l.path, err)
	}
	l.f.Close()
	l.f = f
	return nil
}

// Repaired is the torn tail Open cut off, or nil.
func (l *Log) Repaired() *TornTail { return l.repaired }

// repairTail cuts a torn last line off f, a regular file (a device such
// as /dev/full is left alone), after keeping it in the side file.
func repairTail(f *os.File, path string) (*TornTail, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("inspect audit log %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil, nil
	}
	size := fi.Size()
	// Find the last newline, reading backwards in blocks.
	const block = 64 << 10
	buf := make([]byte, block)
	end := size
	start := int64(0) // where the torn bytes start; 0 if no newline at all
	found := false
	for pos := size; pos > 0 && !found; {
		n := int64(block)
		if pos < n {
			n = pos
		}
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return nil, fmt.Errorf("read audit log %s: %w", path, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			start, found = pos+int64(i)+1, true
		}
	}
	if start == end {
		return nil, nil // ends with a newline: sound
	}
	data := make([]byte, end-start)
	if _, err := f.ReadAt(data, start); err != nil {
		return nil, fmt.Errorf("read the torn tail of audit log %s: %w", path, err)
	}
	line := 1
	if start > 0 {
		head := make([]byte, start)
		if _, err := f.ReadAt(head, 0); err != nil {
			return nil, fmt.Errorf("read audit log %s: %w", path, err)
		}
		line = bytes.Count(head, []byte{'\n'}) + 1
	}
	torn := &TornTail{Path: path, Line: line, Offset: start, Data: data, SideFile: path + TornSuffix}
	if err := keepTorn(torn); err != nil {
		return nil, err
	}
	if err := f.Truncate(start); err != nil {
		return nil, fmt.Errorf("cut the torn tail off audit log %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync audit log %s after cutting its torn tail: %w", path, err)
	}
	return torn, nil
}

// keepTorn appends the torn bytes, as a JSON string on a line of their
// own, to the side file and syncs it.
func keepTorn(t *TornTail) error {
	rec, err := json.Marshal(struct {
		Time   time.Time `json:"time"`
		Line   int       `json:"line"`
		Offset int64     `json:"offset"`
		Torn   string    `json:"torn"`
	}{time.Now().UTC(), t.Line, t.Offset, string(t.Data)})
	if err != nil {
		return fmt.Errorf("encode torn tail of %s: %w", t.Path, err)
	}
	side, err := os.OpenFile(t.SideFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("keep torn tail of audit log %s: %w", t.Path, err)
	}
	if _, err := side.Write(append(rec, '\n')); err != nil {
		side.Close()
		return fmt.Errorf("keep torn tail of audit log %s in %s: %w", t.Path, t.SideFile, err)
	}
	if err := side.Sync(); err != nil {
		side.Close()
		return fmt.Errorf("sync %s: %w", t.SideFile, err)
	}
	if err := side.Close(); err != nil {
		return fmt.Errorf("close %s: %w", t.SideFile, err)
	}
	return nil
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
	return l.appendLine(append(line, '\n'))
}

// appendLine writes one encoded line (with its newline) and syncs it, as
// AppendRevertible does for every kind of event.
func (l *Log) appendLine(line []byte) (revert func() error, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil, fmt.Errorf("append to audit log %s: %w", l.path, os.ErrClosed)
	}
	if err := l.follow(); err != nil {
		return nil, err
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
// that is not a JSON event is an error naming the file and the line. A last
// line without its newline (an append torn by a crash) is a *TornTail
// (errors.Is ErrTornTail) returned with every event before it: a reader
// may keep those and treat the log as whole but for its torn tail.
func Read(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	var events []Event
	var offset int64
	for n := 1; len(data) > 0; n++ {
		line, rest, found := bytes.Cut(data, []byte{'\n'})
		data = rest
		if !found {
			return events, &TornTail{Path: path, Line: n, Offset: offset, Data: line}
		}
		offset += int64(len(line)) + 1
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
