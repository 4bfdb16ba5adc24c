//go:build !linux

package control

import (
	"errors"
	"net"
)

// peerCred is Linux-only (SO_PEERCRED); elsewhere callers are "unknown".
func peerCred(*net.UnixConn) (string, error) {
	return "", errors.New("peer credentials are only read on linux")
}
