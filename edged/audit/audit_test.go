package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/edged/api"
)

func TestAppendRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := []Event{
		{Time: at, Event: EventBandwidthConfigured, Bandwidth: api.Bandwidth{BytesPerSecond: 64, Source: api.SourceRuntime},
			Previous: api.Bandwidth{Source: api.SourceDefault}, Actor: "uid=1000 pid=42"},
		{Time: at.Add(time.Second), Event: EventBandwidthConfigured, Bandwidth: api.Bandwidth{DailyQuotaBytes: 128, Source: api.SourceRuntime},
			Previous: api.Bandwidth{BytesPerSecond: 64, Source: api.SourceRuntime}, Peer: "peer-val23", Actor: "uid=0 pid=7"},
	}
	for _, ev := range want {
		if err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("audit file permissions: got %o, want 600", got)
	}

	// The line format is a contract (DESIGN.md §2): check the first line's keys and values exactly.
	data, _ := os.ReadFile(path)
	first, _, _ := strings.Cut(string(data), "\n")
	wantLine := `{"time":"2025-03-01T12:00:00Z","event":"relay.bandwidth.configured","bandwidth":{"bytes_per_second":64,"burst_bytes":0,"daily_quota_bytes":0,"source":"runtime"},"previous":{"bytes_per_second":0,"burst_bytes":0,"daily_quota_bytes":0,"source":"default"},"peer":"","actor":"uid=1000 pid=42"}`
	if first != wantLine {
		t.Errorf("first line:\n got %s\nwant %s", first, wantLine)
	}
}

func TestAppendKeepsExistingLinesAndFillsTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for i := range 2 {
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(Event{Event: EventBandwidthConfigured, Actor: fmt.Sprint("run-", i)}); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Actor != "run-0" || got[1].Actor != "run-1" {
		t.Fatalf("got %+v, want the events of both opens in order", got)
	}
	for i, ev := range got {
		if ev.Time.IsZero() {
			t.Errorf("event %d: Time was not filled in", i)
		}
	}
}

func TestAppendAfterClose(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := l.Append(Event{Event: "x"}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Append after Close: got %v, want os.ErrClosed", err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	// Two Logs on one file, as if two writers shared it, plus concurrency within each.
	var logs [2]*Log
	for i := range logs {
		l, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		logs[i] = l
	}
	const perWriter = 50
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				ev := Event{Event: EventBandwidthConfigured, Actor: fmt.Sprintf("w%d-%03d", w, i), Peer: strings.Repeat("p", 500)}
				if err := logs[w%2].Append(ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range got {
		seen[ev.Actor] = true
	}
	want := map[string]bool{}
	for w := range 8 {
		for i := range perWriter {
			want[fmt.Sprintf("w%d-%03d", w, i)] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d", len(got), len(want))
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("actors mismatch (-want +got):\n%s", diff)
	}
}

func TestReadErrors(t *testing.T) {
	good, _ := json.Marshal(Event{Event: EventBandwidthConfigured, Actor: "uid=1"})
	tests := []struct {
		name    string
		content string
		wantN   int    // events returned before the error
		wantErr string // suffix after "<path>:"
	}{
		{"torn last line", string(good) + "\n" + `{"time":"2025-`, 1, `2: torn last line (no newline at the end): "{\"time\":\"2025-"`},
		{"bad JSON", string(good) + "\n" + "not json\n" + string(good) + "\n", 1, "2: not an audit event: invalid character 'o' in literal null (expecting 'u')"},
		{"empty line", "\n" + string(good) + "\n", 0, "1: empty line"},
		{"no event name", `{"actor":"x"}` + "\n", 0, `1: audit event has no "event" name`},
		{"wrong type", `{"event":"x","bandwidth":{"bytes_per_second":"fast"}}` + "\n", 0, "1: not an audit event: json: cannot unmarshal string into Go struct field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := Read(path)
			if err == nil {
				t.Fatalf("got %d events and no error, want error %q", len(got), tt.wantErr)
			}
			if want := path + ":" + tt.wantErr; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error:\n got %s\nwant prefix %s", err, want)
			}
			if len(got) != tt.wantN {
				t.Errorf("events before the error: got %d, want %d", len(got), tt.wantN)
			}
		})
	}
}

func TestReadEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o600)
	got, err := Read(empty)
	if err != nil || len(got) != 0 {
		t.Errorf("empty file: got %v, %v; want no events and no error", got, err)
	}
	if _, err := Read(filepath.Join(dir, "absent.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want an error wrapping os.ErrNotExist", err)
	}
}

// An event written ahead of its change is taken back when the change fails,
// but never once another event follows it.
func TestAppendRevertible(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev := Event{Event: EventBandwidthConfigured, Actor: "uid=1"}
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	revert, err := l.AppendRevertible(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := revert(); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("after revert the file is %q, want %q", after, before)
	}

	revert, err = l.AppendRevertible(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	if err := revert(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("revert after a later event: got %v, want a refusal naming %s", err, path)
	}
	if events, err := Read(path); err != nil || len(events) != 3 {
		t.Errorf("Read: %d events, %v; want 3 and no error", len(events), err)
	}
}

// A write that fails (a full disk) names the file and the cause.
func TestAppend_FullDisk(t *testing.T) {
	l, err := Open("/dev/full")
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer l.Close()
	err = l.Append(Event{Event: EventBandwidthConfigured})
	if err == nil || !strings.Contains(err.Error(), "/dev/full") || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Append to /dev/full: got %v, want an error naming the file and ENOSPC", err)
	}
}

// A last line torn by a crash is a *TornTail (errors.Is ErrTornTail), with
// every complete event before it returned: a reader can keep them.
func TestRead_TornTailIsTyped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	good, _ := json.Marshal(Event{Event: EventBandwidthConfigured, Actor: "uid=1"})
	content := string(good) + "\n" + string(good) + "\n" + `{"time":"2025-`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	events, err := Read(path)
	if len(events) != 2 {
		t.Errorf("got %d events, want the 2 complete ones", len(events))
	}
	if !errors.Is(err, ErrTornTail) {
		t.Fatalf("got %v, want an error that is ErrTornTail", err)
	}
	var torn *TornTail
	if !errors.As(err, &torn) {
		t.Fatalf("got %T, want *TornTail", err)
	}
	if torn.Path != path || torn.Line != 3 || torn.Offset != int64(2*(len(good)+1)) || string(torn.Data) != `{"time":"2025-` {
		t.Errorf("got %+v, want line 3 at offset %d of %s", torn, 2*(len(good)+1), path)
	}
	// Other damage stays an ordinary error.
	if err := os.WriteFile(path, []byte("not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || errors.Is(err, ErrTornTail) {
		t.Errorf("a bad line: got %v, want an error that is not ErrTornTail", err)
	}
}

// Open repairs a torn last line: the torn bytes are kept in a side file and
// cut off, so the next event starts a line of its own and the whole log
// reads back.
func TestOpen_RepairsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	good, _ := json.Marshal(Event{Event: EventBandwidthConfigured, Actor: "uid=1"})
	torn := `{"time":"2025-03-01T12:00:00Z","event":"relay.bandw`
	if err := os.WriteFile(path, []byte(string(good)+"\n"+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep := l.Repaired()
	if rep == nil {
		t.Fatal("Repaired() = nil, want the torn tail that was cut off")
	}
	if string(rep.Data) != torn || rep.Offset != int64(len(good)+1) || rep.SideFile != path+".torn" {
		t.Errorf("Repaired() = %+v", rep)
	}
	side, err := os.ReadFile(path + ".torn")
	var kept struct {
		Line int    `json:"line"`
		Torn string `json:"torn"`
	}
	if err != nil || json.Unmarshal(side, &kept) != nil || kept.Torn != torn || kept.Line != 2 {
		t.Errorf("side file: %q, %v; want a JSON line holding the torn bytes of line 2", side, err)
	}
	if err := l.Append(Event{Event: EventBandwidthConfigured, Actor: "uid=2"}); err != nil {
		t.Fatal(err)
	}
	events, err := Read(path)
	if err != nil || len(events) != 2 || events[1].Actor != "uid=2" {
		t.Fatalf("Read after the repair and one append: %+v, %v; want 2 events, no error", events, err)
	}

	// A sound log is left alone.
	l2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if rep := l2.Repaired(); rep != nil {
		t.Errorf("a sound log: Repaired() = %+v, want nil", rep)
	}
	// A log of nothing but a torn line becomes empty.
	only := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(only, []byte(torn), 0o600); err != nil {
		t.Fatal(err)
	}
	l3, err := Open(only)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if fi, _ := os.Stat(only); l3.Repaired() == nil || fi.Size() != 0 {
		t.Errorf("only a torn line: Repaired() = %+v, size %d; want repaired to empty", l3.Repaired(), fi.Size())
	}
}

// An audit file moved away or removed under a running log is followed by
// name: the next event lands in a file at the path, never only in one
// nobody finds again; a path that cannot be opened any more fails the
// append, naming it.
func TestAppend_FollowsThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev := Event{Event: EventBandwidthConfigured, Actor: "uid=1"}
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]int{path: 1, path + ".1": 1} {
		if events, err := Read(file); err != nil || len(events) != want {
			t.Errorf("%s: %d events, %v; want %d", file, len(events), err, want)
		}
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	err = l.Append(ev)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("append with a directory at the path: got %v, want an error naming %s and saying it is a directory", err, path)
	}
}
