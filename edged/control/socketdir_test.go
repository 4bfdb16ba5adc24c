package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The control socket lives only in a directory no other user can write
// to: elsewhere a stranger could swap it for their own.
func TestListen_SocketDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" accepted
	}{
		{"private directory", func(*testing.T, string) {}, ""},
		{"group-writable directory", func(t *testing.T, dir string) { chmod(t, dir, 0o770) }, ""},
		{"world-writable directory", func(t *testing.T, dir string) { chmod(t, dir, 0o777) }, "is writable by everyone (mode -rwxrwxrwx)"},
		{"sticky world-writable directory", func(t *testing.T, dir string) { chmod(t, dir, 0o777|os.ModeSticky) }, "is writable by everyone (mode trwxrwxrwx)"},
		{"another user's directory", func(t *testing.T, dir string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid 65534, not by this daemon's uid 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "d")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			l, err := Listen(filepath.Join(dir, "ctl.sock"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Listen: %v, want accepted", err)
				}
				l.Close()
				return
			}
			if err == nil {
				l.Close()
				t.Fatalf("Listen accepted the socket, want a refusal containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Listen: %v, want an error naming %s and containing %q", err, dir, tt.want)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestNewServer_Timeouts(t *testing.T) {
	srv := NewServer(nil, nil)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s = %v, want a positive bound", name, d)
		}
	}
}
