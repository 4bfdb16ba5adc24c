package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// fileBytes: payloads larger than this are kept in files of their own, in
// the ledger's payload directory (PayloadDir), and the row names the file
// (segments.payload_file). Read from SQLite, a large payload costs a page
// read and a copy per 4 KiB page and one more copy out of the driver; read
// from a file it is one read straight into the sender's buffer. Every
// delivery (and retry) reads its payload, so that is the hot path:
// BenchmarkPayload reads a file 2.2 times as fast as the database at 64 KiB
// and 4.3 times at 1 MiB, but only 0.7 times at 16 KiB. Writing a file
// costs an fsync the database's commit does not make (WAL with
// synchronous=NORMAL), so inserting is slower up to about 1 MiB (3.7 times
// at 64 KiB, 1.3 at 256 KiB, the same at 1 MiB); each segment is inserted
// once. Smaller payloads stay in segment_payloads (or in their row, up to
// rowBytes).
const fileBytes = 64 << 10

// PayloadDir is the directory holding the payload files of the ledger at
// path: beside it, named like SQLite's own -wal and -shm files.
func PayloadDir(path string) string { return path + "-payloads" }

// fileName is the name of the file holding segment id's payload: a digest,
// so that any id makes a valid, fixed-length name on any file system, and
// two inserts of one id (of which at most one commits) use the same file.
func fileName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// isFileName tells names the ledger writes from anything else in the
// directory: only those are ever removed, and a row naming anything else
// (a hand-edited ledger) is refused rather than followed.
var isFileName = regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString

// payloadWrites are the payload files one insert transaction writes. They
// are written under the transaction's write lock, after their row is
// inserted, so a file exists only for a row being inserted or committed:
// removeOrphans, which takes the same lock, can tell a file whose insert a
// crash interrupted from one still being inserted. Before the transaction
// commits, sync makes the files and their names durable; if it does not
// commit, undo removes them.
type payloadWrites struct {
	dir     string
	names   []string
	created bool // the directory did not exist before this transaction
}

// write stores payload in the file name of a row just inserted. A file of
// that name can only be an orphan (no committed row names it), so it is
// replaced.
func (w *payloadWrites) write(name string, payload []byte) error {
	if len(w.names) == 0 {
		if _, err := os.Stat(w.dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(w.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create payload directory: %w", err)
			}
			w.created = true
		}
	}
	path := filepath.Join(w.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write payload file: %w", err)
	}
	w.names = append(w.names, name)
	_, err = f.Write(payload)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write payload file %s: %w", path, err)
	}
	if testHookFileWritten != nil {
		testHookFileWritten(name)
	}
	return nil
}

// testHookFileWritten, when set (by tests only), is called after each
// payload file is written and before its transaction commits: the window
// a crash leaves an orphan in.
var testHookFileWritten func(name string)

// sync makes the new files' directory entries durable (and the directory's
// own, when this transaction created it).
func (w *payloadWrites) sync() error {
	if len(w.names) == 0 {
		return nil
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	if w.created {
		return syncDir(filepath.Dir(w.dir))
	}
	return nil
}

// undo removes the files of a transaction that did not commit.
func (w *payloadWrites) undo() {
	for _, name := range w.names {
		os.Remove(filepath.Join(w.dir, name))
	}
	w.names = nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// removeOrphans deletes the payload files no row names: those of inserts
// a crash interrupted before they committed. A file that looks orphaned
// may also be one an insert is writing; the insert holds the write lock
// until it commits, so the candidates are looked at again under that lock
// before any is removed. Files the ledger did not name are left alone.
// With no candidate (the usual case) it takes no lock at all.
func (l *Ledger) removeOrphans(ctx context.Context) error {
	orphans, err := l.orphans(ctx, l.db)
	if err != nil || len(orphans) == 0 {
		return err
	}
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return fmt.Errorf("remove orphan payload files: %w", err)
	}
	defer tx.Rollback()
	if orphans, err = l.orphans(ctx, tx); err != nil {
		return err
	}
	for _, name := range orphans {
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove orphan payload file: %w", err)
		}
	}
	return nil
}

// orphans lists the files in the payload directory with a name the ledger
// writes that no row names.
func (l *Ledger) orphans(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // no payload was ever large enough
	}
	if err != nil {
		return nil, fmt.Errorf("list payload files: %w", err)
	}
	var candidates []string
	for _, e := range entries {
		if isFileName(e.Name()) {
			candidates = append(candidates, e.Name())
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	named := map[string]bool{}
	rows, err := q.QueryContext(ctx, `SELECT payload_file FROM segments WHERE payload_file IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("list payload files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list payload files: %w", err)
		}
		named[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list payload files: %w", err)
	}
	var out []string
	for _, name := range candidates {
		if !named[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// PayloadReader reads one segment's payload, from its file or from the
// database, in one or more passes: Size bytes from offset 0, and Outer
// gives a fresh reader of the same bytes (as a retrying HTTP client needs).
// Close it when done.
type PayloadReader struct {
	*io.SectionReader
	file *os.File // nil when the payload came from the database
}

// Close releases the payload's file, if it has one.
func (p *PayloadReader) Close() error {
	if p.file == nil {
		return nil
	}
	return p.file.Close()
}

// MemoryPayload reads b.
func MemoryPayload(b []byte) *PayloadReader {
	return &PayloadReader{SectionReader: io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))}
}

// PayloadError reports a payload file that cannot give its segment's
// bytes: missing, unreadable, of another size than its row records, or a
// name the ledger does not write. Unlike a database error it does not go
// away by trying again.
type PayloadError struct {
	ID   string // the segment
	Path string // the file the row names
	Err  error
}

func (e *PayloadError) Error() string {
	return fmt.Sprintf("payload of segment %s: %s: %v", e.ID, e.Path, e.Err)
}

func (e *PayloadError) Unwrap() error { return e.Err }

// withoutPath is err without the *fs.PathError that repeats the path a
// PayloadError gives already.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openFile opens a payload file named by a row, checking it holds the
// size the row records: a short file would otherwise go out as a short
// segment.
func (l *Ledger) openFile(id, name string, size int64) (*PayloadReader, error) {
	if !isFileName(name) {
		return nil, &PayloadError{ID: id, Path: name, Err: errors.New("not a name the ledger writes")}
	}
	path := filepath.Join(l.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, &PayloadError{ID: id, Path: path, Err: withoutPath(err)}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &PayloadError{ID: id, Path: path, Err: withoutPath(err)}
	}
	if fi.Size() != size {
		f.Close()
		return nil, &PayloadError{ID: id, Path: path, Err: fmt.Errorf("the file holds %d bytes, the ledger records %d", fi.Size(), size)}
	}
	return &PayloadReader{SectionReader: io.NewSectionReader(f, 0, size), file: f}, nil
}

// readFile reads a whole payload file named by a row.
func (l *Ledger) readFile(id, name string, size int64) ([]byte, error) {
	p, err := l.openFile(id, name, size)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return readAll(id, p)
}

func readAll(id string, p *PayloadReader) ([]byte, error) {
	b := make([]byte, p.Size())
	if _, err := io.ReadFull(p, b); err != nil {
		return nil, fmt.Errorf("read payload of %s: %w", id, err)
	}
	return b, nil
}

// OpenPayload opens one segment's payload for reading.
func (l *Ledger) OpenPayload(ctx context.Context, id string) (*PayloadReader, error) {
	p, err := l.openPayload(ctx, id)
	var perr *PayloadError
	if err != nil && !errors.As(err, &perr) { // a PayloadError names the segment already
		return nil, fmt.Errorf("read payload of %s: %w", id, err)
	}
	return p, err
}

func (l *Ledger) openPayload(ctx context.Context, id string) (*PayloadReader, error) {
	rows, err := l.stmts.payload.QueryContext(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, ErrNotFound
	}
	// RawBytes rather than *[]byte, which would copy the payload once
	// more. The driver (modernc.org/sqlite) hands every row a slice of its
	// own, so the bytes stay valid after the rows are closed;
	// TestPayload_SurvivesLaterReads guards that on a driver upgrade.
	var (
		size int64
		file sql.NullString
		raw  sql.RawBytes
	)
	if err := rows.Scan(&size, &file, &raw); err != nil {
		return nil, err
	}
	if file.Valid {
		return l.openFile(id, file.String, size)
	}
	return MemoryPayload(raw), nil
}

// Payload reads one segment's payload whole.
func (l *Ledger) Payload(ctx context.Context, id string) ([]byte, error) {
	p, err := l.OpenPayload(ctx, id)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return readAll(id, p)
}
