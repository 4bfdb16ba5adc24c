package ledger

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// payloadOf is the deterministic content of a test segment: id's bytes
// repeated to size.
func payloadOf(id string, size int) []byte {
	return bytes.Repeat([]byte(id+"|"), size/(len(id)+1)+1)[:size]
}

// filesIn lists the payload directory of the ledger at path (nil when it
// does not exist).
func filesIn(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(PayloadDir(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Where each size of payload is kept, and that every reader gets it back
// byte for byte: in the row up to rowBytes, in segment_payloads up to
// fileBytes, in a file of its own (mode 0600) beyond.
func TestInsert_WhereThePayloadGoes_Files(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	sizes := map[string]int{"row": int(l.rowBytes), "apart": fileBytes, "file": fileBytes + 1, "big": 3 << 20}
	var segs []New
	for id, size := range sizes {
		segs = append(segs, New{ID: id, TargetPeer: "p", Payload: payloadOf(id, size)})
	}
	if err := l.Insert(ctx, t0, segs...); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id     string
		inFile bool
	}{{"row", false}, {"apart", false}, {"file", true}, {"big", true}} {
		want := payloadOf(tt.id, sizes[tt.id])
		var file sql.NullString
		var inRow int
		if err := l.db.QueryRow(`SELECT payload_file, length(payload) FROM segments WHERE id = ?`, tt.id).Scan(&file, &inRow); err != nil {
			t.Fatal(err)
		}
		if file.Valid != tt.inFile {
			t.Errorf("%s (%d bytes): payload_file %q, want a file: %v", tt.id, len(want), file.String, tt.inFile)
		}
		if tt.inFile {
			fi, err := os.Stat(filepath.Join(PayloadDir(path), file.String))
			if err != nil {
				t.Fatalf("%s: %v", tt.id, err)
			}
			if fi.Size() != int64(len(want)) || fi.Mode().Perm() != 0o600 || inRow != 0 {
				t.Errorf("%s: file of %d bytes mode %v, %d bytes in the row; want %d bytes, 0600, 0", tt.id, fi.Size(), fi.Mode().Perm(), inRow, len(want))
			}
		}
		if p, err := l.Payload(ctx, tt.id); err != nil || !bytes.Equal(p, want) {
			t.Errorf("Payload(%s): got %d bytes, %v; want the %d inserted", tt.id, len(p), err, len(want))
		}
		if g := get(t, l, tt.id); !bytes.Equal(g.Payload, want) {
			t.Errorf("Get(%s): got %d bytes, want the %d inserted", tt.id, len(g.Payload), len(want))
		}
		r, err := l.OpenPayload(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		// Twice, as a retrying client reads it: once through the reader,
		// once through a fresh one from Outer.
		first, _ := io.ReadAll(r)
		ra, off, n := r.Outer()
		second, _ := io.ReadAll(io.NewSectionReader(ra, off, n))
		r.Close()
		if !bytes.Equal(first, want) || !bytes.Equal(second, want) {
			t.Errorf("OpenPayload(%s): read %d then %d bytes, want the %d inserted both times", tt.id, len(first), len(second), len(want))
		}
	}
	if got := filesIn(t, path); len(got) != 2 {
		t.Errorf("payload directory: got %v, want the 2 files of file and big", got)
	}
}

// A duplicate insert, refused, leaves the first payload and its file as
// they were; a failed transaction leaves no file behind.
func TestInsert_FilesOfRefusedInserts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	first := payloadOf("first", fileBytes+10)
	if err := l.Insert(ctx, t0, New{ID: "a", TargetPeer: "p", Payload: first}); err != nil {
		t.Fatal(err)
	}
	other := payloadOf("other", fileBytes+20)
	var dup *DuplicateError
	if err := l.Insert(ctx, t0, New{ID: "b", TargetPeer: "p", Payload: other}, New{ID: "a", TargetPeer: "p", Payload: other}); !errors.As(err, &dup) || dup.ID != "a" {
		t.Fatalf("insert of a held id: got %v, want a DuplicateError naming a", err)
	}
	if created, err := l.InsertIfAbsent(ctx, t0, New{ID: "a", TargetPeer: "p", Payload: other}); err != nil || created {
		t.Fatalf("InsertIfAbsent of a held id: got created=%v, %v; want false, nil", created, err)
	}
	if p, err := l.Payload(ctx, "a"); err != nil || !bytes.Equal(p, first) {
		t.Errorf("a after refused inserts: got %d bytes, %v; want the first %d", len(p), err, len(first))
	}
	if _, err := l.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("b, inserted with a refused duplicate: got %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{fileName("a")}, filesIn(t, path)); diff != "" {
		t.Errorf("payload files (-want +got):\n%s", diff)
	}
}

// Opening a ledger removes the files no row names (an insert a crash
// interrupted) and leaves the others, and files it did not write, alone.
func TestOpen_RemovesOrphanPayloadFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kept := payloadOf("kept", fileBytes+1)
	if err := l.Insert(ctx, t0, New{ID: "kept", TargetPeer: "p", Payload: kept}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	dir := PayloadDir(path)
	for _, name := range []string{fileName("orphan"), "NOTES.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l = open(t, path)
	want := []string{fileName("kept"), "NOTES.txt"}
	sort.Strings(want)
	if diff := cmp.Diff(want, filesIn(t, path)); diff != "" {
		t.Errorf("payload files after open (-want +got):\n%s", diff)
	}
	if p, err := l.Payload(ctx, "kept"); err != nil || !bytes.Equal(p, kept) {
		t.Errorf("kept: got %d bytes, %v", len(p), err)
	}
}

// A payload file that went missing, was cut short or that a hand-edited
// row points elsewhere is an error naming it, never a short segment.
func TestOpenPayload_BadFiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	size := fileBytes + 100
	for _, id := range []string{"gone", "short", "elsewhere"} {
		if err := l.Insert(ctx, t0, New{ID: id, TargetPeer: "p", Payload: payloadOf(id, size)}); err != nil {
			t.Fatal(err)
		}
	}
	dir := PayloadDir(path)
	if err := os.Remove(filepath.Join(dir, fileName("gone"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, fileName("short")), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.Exec(`UPDATE segments SET payload_file = '../../etc/passwd' WHERE id = 'elsewhere'`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ id, want string }{
		{"gone", filepath.Join(dir, fileName("gone")) + ": no such file or directory"},
		{"short", filepath.Join(dir, fileName("short")) + fmt.Sprintf(": the file holds 10 bytes, the ledger records %d", size)},
		{"elsewhere", `../../etc/passwd: not a name the ledger writes`},
	} {
		_, err := l.OpenPayload(ctx, tt.id)
		var perr *PayloadError
		if !errors.As(err, &perr) || perr.ID != tt.id || !strings.Contains(err.Error(), "payload of segment "+tt.id+": "+tt.want) {
			t.Errorf("OpenPayload(%s): got %v, want a *PayloadError saying %q", tt.id, err, tt.want)
		}
		if _, err := l.Get(ctx, tt.id); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Get(%s): got %v, want an error saying %q", tt.id, err, tt.want)
		}
	}
}

// A ledger a newer edged wrote is refused, not misread: it may keep
// payloads where this one would not look.
func TestOpen_RefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "newer than this edged knows") {
		t.Fatalf("open of a newer ledger: got %v, want it refused as newer", err)
	}
}

// crashChildEnv makes the test binary the child of TestInsert_KilledMidway:
// it inserts batches of large segments into the ledger named by the
// variable and, in the second batch, stops after its third file and waits
// to be killed.
const crashChildEnv = "EDGELAB_LEDGER_CRASH_CHILD"

const (
	crashBatch = 8
	crashSize  = fileBytes + 1000
)

func crashID(batch, i int) string { return fmt.Sprintf("crash-%d-%02d", batch, i) }

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path))
	}
	os.Exit(m.Run())
}

func crashChild(path string) int {
	l, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	written := 0
	testHookFileWritten = func(string) {
		if written++; written == crashBatch+3 {
			fmt.Println("in the window")
			// Killed here, between three written files and the commit.
			// (A signal wait, unlike select {}, is not taken for a
			// deadlock by the runtime.)
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGTERM)
			<-c
			os.Exit(1)
		}
	}
	for b := range 2 {
		var segs []New
		for i := range crashBatch {
			segs = append(segs, New{ID: crashID(b, i), TargetPeer: "p", Payload: payloadOf(crashID(b, i), crashSize)})
		}
		if err := l.Insert(context.Background(), t0, segs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 1 // the hook never returned: unreachable
}

// A process killed (SIGKILL) between writing payload files and committing
// their rows leaves orphans; the next open removes exactly those, and
// every committed segment reads back whole.
func TestInsert_KilledMidway(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "in the window\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q, want it in the window", s)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not reach the window in 30 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if got := len(filesIn(t, path)); got != crashBatch+3 {
		t.Fatalf("files before reopening: got %d, want %d (a committed batch and 3 orphans)", got, crashBatch+3)
	}

	l := open(t, path)
	var want []string
	for i := range crashBatch {
		want = append(want, fileName(crashID(0, i)))
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, filesIn(t, path)); diff != "" {
		t.Errorf("files after reopening (-want +got):\n%s", diff)
	}
	segs, err := l.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != crashBatch {
		t.Fatalf("rows: got %d, want the %d of the committed batch", len(segs), crashBatch)
	}
	for _, s := range segs {
		if p, err := l.Payload(ctx, s.ID); err != nil || !bytes.Equal(p, payloadOf(s.ID, crashSize)) {
			t.Errorf("%s: got %d bytes, %v; want its %d", s.ID, len(p), err, crashSize)
		}
	}
	if v, err := l.IntegrityCheck(ctx); err != nil || v != "ok" {
		t.Errorf("integrity check: %q, %v", v, err)
	}
	// The ids of the interrupted batch can be inserted again.
	if err := l.Insert(ctx, t0, New{ID: crashID(1, 0), TargetPeer: "p", Payload: payloadOf("again", crashSize)}); err != nil {
		t.Fatal(err)
	}
	if p, err := l.Payload(ctx, crashID(1, 0)); err != nil || !bytes.Equal(p, payloadOf("again", crashSize)) {
		t.Errorf("re-inserted %s: got %d bytes, %v", crashID(1, 0), len(p), err)
	}
}

// Opening a ledger whose payload files are all named takes no write lock:
// edged starts while a long `setup seed` holds it.
func TestOpen_NoWriteLockWithoutOrphans(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	l := open(t, path)
	if err := l.Insert(ctx, t0, New{ID: "big", TargetPeer: "p", Payload: payloadOf("big", fileBytes+1)}); err != nil {
		t.Fatal(err)
	}
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	opened := make(chan error, 1)
	go func() {
		l2, err := Open(path)
		if err == nil {
			l2.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open while another connection writes: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("open waited 5 s for the write lock")
	}
}
