package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListen_Mode0600(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ctl.sock")
	l, err := Listen(sock)
	mustNoErr(t, err)
	defer l.Close()
	fi, err := os.Lstat(sock)
	mustNoErr(t, err)
	if fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s: got mode %s, want a socket", sock, fi.Mode())
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("%s: got permissions %o, want 600", sock, got)
	}
}

func TestListen_RefusesLiveSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ctl.sock")
	first, err := Listen(sock)
	mustNoErr(t, err)
	defer first.Close()

	second, err := Listen(sock)
	if err == nil {
		second.Close()
		t.Fatal("second Listen on a live socket: got nil error")
	}
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("got %T %v, want *InUseError", err, err)
	}
	if want := fmt.Sprintf("control socket %s is in use by a running daemon", sock); err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
	// The first daemon must still be reachable through the same file.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("the live socket was disturbed: %v", err)
	}
	conn.Close()
}

func TestListen_ReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(shortDir(t), "ctl.sock")
	// A crashed daemon leaves its socket file behind with nobody listening.
	crashed, err := net.Listen("unix", sock)
	mustNoErr(t, err)
	crashed.(*net.UnixListener).SetUnlinkOnClose(false)
	crashed.Close()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("stale socket file was not left behind: %v", err)
	}

	l, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	conn.Close()
	if err := <-accepted; err != nil {
		t.Errorf("the new listener did not accept: %v", err)
	}
}

func TestListen_RefusesNonSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "ctl.sock")
	mustNoErr(t, os.WriteFile(path, []byte("keep me"), 0o600))
	_, err := Listen(path)
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("got %v, want an error saying it is not a socket", err)
	}
	data, err := os.ReadFile(path)
	mustNoErr(t, err)
	if string(data) != "keep me" {
		t.Errorf("the regular file was changed: %q", data)
	}
}

func TestListen_PathTooLong(t *testing.T) {
	tests := []struct {
		n       int
		wantErr bool
	}{
		{MaxSocketPath, false},
		{MaxSocketPath + 1, true},
		{300, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			dir := shortDir(t)
			path := dir + "/" + strings.Repeat("s", tt.n-len(dir)-1)
			if len(path) != tt.n {
				t.Fatalf("built a path of %d bytes, want %d", len(path), tt.n)
			}
			l, err := Listen(path)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Listen(%d-byte path): %v", tt.n, err)
				}
				l.Close()
				return
			}
			want := fmt.Sprintf("control socket path %q is %d bytes; unix sockets allow at most 107", path, tt.n)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("got %v, want an error starting %q", err, want)
			}
		})
	}
}
