package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// MaxSocketPath is the longest unix socket path Linux accepts: sun_path holds
// 108 bytes including the terminating NUL.
const MaxSocketPath = 107

// InUseError says a live daemon answers on the control socket. Listen never
// removes such a socket: stealing it would leave that daemon unreachable.
type InUseError struct {
	Path string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("control socket %s is in use by a running daemon", e.Path)
}

// staleProbeTimeout bounds the dial that tells a live socket from a stale one;
// a live daemon accepts at once (the kernel completes unix connects in the
// backlog), so a short bound only matters for a wedged process.
const staleProbeTimeout = 2 * time.Second

// Listener is the control socket's listener. Its socket file is removed
// only while it is still the file Listen created (same device and inode):
// a successor that made its own socket at the path, after this one's was
// removed, keeps it.
type Listener struct {
	*net.UnixListener
	path     string
	dev, ino uint64
}

// Listen opens the control API's unix socket at path, mode 0600. A socket file
// left by a crashed daemon (connection refused) is replaced; one that a live
// daemon answers on is refused with *InUseError and left in place.
func Listen(path string) (*Listener, error) {
	if path == "" {
		return nil, errors.New("control socket path is empty")
	}
	if n := len(path); n > MaxSocketPath {
		return nil, fmt.Errorf("control socket path %q is %d bytes; unix sockets allow at most %d (put control_socket in a shorter directory; a relative one is resolved against the config's directory first)", path, n, MaxSocketPath)
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on control socket: %w", err)
	}
	// net.UnixListener unlinks its path on Close whatever file is there by
	// then; Close below removes it only if it is still ours.
	ul.SetUnlinkOnClose(false)
	l := &Listener{UnixListener: ul, path: path}
	// The socket is created under the umask; tighten it before serving. The
	// short window is acceptable because every request is also attributed to
	// its caller's uid in the audit log.
	if err := os.Chmod(path, 0o600); err != nil {
		ul.Close()
		os.Remove(path) // made a moment ago, by us
		return nil, fmt.Errorf("restrict control socket %s to mode 0600: %w", path, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ul.Close()
		os.Remove(path)
		return nil, fmt.Errorf("inspect control socket %s: %w", path, err)
	}
	l.dev, l.ino = fileID(fi)
	return l, nil
}

// Path is the socket file's path.
func (l *Listener) Path() string { return l.path }

// Close stops listening and removes the socket file if it is still ours.
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	if _, rerr := l.RemoveSocket(); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// RemoveSocket removes the socket file if it is the one Listen created and
// reports whether it did. An absent file, or another file at the path (a
// successor's socket), is left alone and is no error. Between the check and
// the removal a successor could still slip in; the window is a few
// microseconds, against the seconds of a shutdown it closed before.
func (l *Listener) RemoveSocket() (bool, error) {
	fi, err := os.Lstat(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect control socket %s before removing it: %w", l.path, err)
	}
	if dev, ino := fileID(fi); dev != l.dev || ino != l.ino || l.ino == 0 {
		return false, nil
	}
	if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("remove control socket %s: %w", l.path, err)
	}
	return true, nil
}

// fileID is the device and inode of fi (0, 0 where the system has none).
func fileID(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}

// checkSocketDir refuses a directory in which another user could replace
// the socket: one owned by another user, or writable by everyone. There a
// stranger could remove the daemon's socket (or take its name first) and
// answer every client in its place; mode 0600 on the socket does not
// prevent that. The sticky bit of /tmp does not either: a name taken first
// cannot be reclaimed. Group-writable is allowed: with per-user groups
// (umask 002) it is the norm.
func checkSocketDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("control socket directory %s is owned by uid %d, not by this daemon's uid %d: that user could replace the socket; put control_socket in a directory of your own", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o002 != 0 {
		// Without the type bits but with sticky, setuid and setgid: a 1777
		// directory reads trwxrwxrwx, not as a plain 0777 one.
		return fmt.Errorf("control socket directory %s is writable by everyone (mode %s): anyone could replace the socket; put control_socket in a directory of your own", dir, fi.Mode()&^fs.ModeType)
	}
	return nil
}

// clearStale removes path when it is a socket nobody listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect control socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket path %s exists and is not a socket (%s); refusing to remove it", path, fi.Mode().Type())
	}
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err == nil {
		conn.Close()
		return &InUseError{Path: path}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// Permission denied, a timeout: we cannot tell it is stale, so keep it.
		return fmt.Errorf("control socket %s exists and its state is unknown: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale control socket %s: %w", path, err)
	}
	return nil
}
