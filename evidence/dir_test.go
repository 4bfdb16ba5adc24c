package evidence

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAllocate(t *testing.T) {
	mkdir := func(t *testing.T, p string) {
		t.Helper()
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(t *testing.T, p string) {
		t.Helper()
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		prepare   func(t *testing.T, want string)
		wantName  string
		wantMoved bool
	}{
		{"absent", func(*testing.T, string) {}, "run", false},
		{"empty directory is used", func(t *testing.T, want string) { mkdir(t, want) }, "run", false},
		{"non-empty directory gets -2", func(t *testing.T, want string) {
			mkdir(t, want)
			touch(t, filepath.Join(want, "report.txt"))
		}, "run-2", true},
		{"taken suffixes are skipped", func(t *testing.T, want string) {
			mkdir(t, want)
			touch(t, filepath.Join(want, "x"))
			mkdir(t, want+"-2") // empty, but another run may be filling it
			mkdir(t, want+"-3")
		}, "run-4", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			want := filepath.Join(base, "run")
			tt.prepare(t, want)

			got, moved, err := Allocate(want)
			if err != nil {
				t.Fatalf("Allocate() error: %v", err)
			}
			if wantPath := filepath.Join(base, tt.wantName); got != wantPath || moved != tt.wantMoved {
				t.Errorf("Allocate() = %s, moved=%v; want %s, moved=%v", got, moved, wantPath, tt.wantMoved)
			}
			if info, err := os.Stat(got); err != nil || !info.IsDir() {
				t.Errorf("allocated path %s is not a directory (err %v)", got, err)
			}
		})
	}
}

func TestAllocate_CreatesParents(t *testing.T) {
	want := filepath.Join(t.TempDir(), "evidence", "val23-x")
	got, moved, err := Allocate(want)
	if err != nil || got != want || moved {
		t.Errorf("Allocate() = %s, %v, %v; want %s, false, nil", got, moved, err, want)
	}
}

func TestDefaultDir(t *testing.T) {
	got := DefaultDir("/repo", "val23-relay-bandwidth-local", time.Date(2026, 1, 2, 23, 0, 0, 0, time.UTC))
	if want := "/repo/evidence/val23-relay-bandwidth-local-2026-01-02"; got != want {
		t.Errorf("DefaultDir() = %s, want %s", got, want)
	}
}

func TestCollectProvenance_ReadsGitRevisionAndDirtyFlag(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(repo, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "a")
	git("commit", "-q", "-m", "a")
	head := git("rev-parse", "HEAD")

	ctx := context.Background()
	p := CollectProvenance(ctx, repo, []string{"val23", "dir"}, started)
	if p.GitRevision != head || p.GitDirty || p.GitError != "" {
		t.Errorf("clean checkout: revision=%q dirty=%v err=%q; want %q, false, none", p.GitRevision, p.GitDirty, p.GitError, head)
	}
	if len(p.CommandLine) != 2 || p.CommandLine[1] != "dir" || !p.StartedAt.Equal(started) {
		t.Errorf("command line %q, started %v; want [val23 dir], %v", p.CommandLine, p.StartedAt, started)
	}

	if err := os.WriteFile(filepath.Join(repo, "a"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := CollectProvenance(ctx, repo, nil, started); !p.GitDirty {
		t.Errorf("modified checkout: dirty=false, want true")
	}
}

func TestCollectProvenance_OutsideAGitCheckoutSaysWhy(t *testing.T) {
	p := CollectProvenance(context.Background(), t.TempDir(), nil, started)
	if p.GitRevision != "" || !strings.Contains(p.GitError, "git rev-parse HEAD") {
		t.Errorf("revision=%q err=%q; want none and an error naming git rev-parse HEAD", p.GitRevision, p.GitError)
	}
}

func TestUpdateLatest(t *testing.T) {
	tests := []struct {
		name     string
		run      string // relative to the module root
		existing func(t *testing.T, link string)
		wantLink string // "" means no link
		wantErr  string
	}{
		{"default run", "evidence/val23-relay-bandwidth-local-2026-11-22", nil, "val23-relay-bandwidth-local-2026-11-22", ""},
		{"named run under evidence", "evidence/nightly", nil, "nightly", ""},
		{"replaces the previous link", "evidence/run-2", func(t *testing.T, link string) {
			if err := os.Symlink("run-1", link); err != nil {
				t.Fatal(err)
			}
		}, "run-2", ""},
		{"a run elsewhere leaves it alone", "tmp/run", nil, "", ""},
		{"a run nested deeper leaves it alone", "evidence/ci/run", nil, "", ""},
		{"someone's file is never replaced", "evidence/run", func(t *testing.T, link string) {
			if err := os.WriteFile(link, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "", "is not a symlink"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			run := filepath.Join(root, filepath.FromSlash(tt.run))
			if err := os.MkdirAll(run, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(root, "evidence"), 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(root, "evidence", LatestLink)
			if tt.existing != nil {
				tt.existing(t, link)
			}
			err := UpdateLatest(root, run)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("UpdateLatest() = %v, want an error containing %q", err, tt.wantErr)
				}
				if data, _ := os.ReadFile(link); string(data) != "mine" {
					t.Errorf("the file at %s was changed: %q", link, data)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateLatest() = %v", err)
			}
			got, err := os.Readlink(link)
			switch {
			case tt.wantLink == "" && err == nil:
				t.Errorf("latest -> %s, want no link", got)
			case tt.wantLink != "" && got != tt.wantLink:
				t.Errorf("latest -> %q (%v), want %q", got, err, tt.wantLink)
			}
			if tt.wantLink != "" {
				if info, err := os.Stat(link); err != nil || !info.IsDir() {
					t.Errorf("latest does not resolve to the run directory: %v", err)
				}
			}
			if left, _ := filepath.Glob(link + ".tmp-*"); len(left) > 0 {
				t.Errorf("temporary links left behind: %v", left)
			}
		})
	}
}

func TestAllocate_RefusesAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, _, err := Allocate(file)
	if err == nil || !strings.Contains(err.Error(), "exists and is not a directory") {
		t.Fatalf("Allocate(a file) = %q, %v; want an error saying it is not a directory", dir, err)
	}
	if _, err := os.Stat(file + "-2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Allocate(a file) made %s-2 (stat: %v), want nothing made", file, err)
	}
}
