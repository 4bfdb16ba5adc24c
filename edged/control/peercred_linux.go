package control

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

func peerCred(c *net.UnixConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return "", fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return "", fmt.Errorf("peer credentials: SO_PEERCRED: %w", credErr)
	}
	return fmt.Sprintf("uid=%d pid=%d", cred.Uid, cred.Pid), nil
}
