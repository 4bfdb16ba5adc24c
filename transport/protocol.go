// Package transport is the segment transfer protocol shared by edged and the
// lab peer (DESIGN.md §3): HTTP/2 over mutual TLS 1.3, PUT /v1/segments/{id},
// identities in certificates, and per-sender ingress attribution.
package transport

import (
	"errors"
	"fmt"
	"regexp"
)

// Protocol headers.
const (
	HeaderPeerID     = "Edge-Peer-Id"
	HeaderSessionID  = "Edge-Session-Id"
	HeaderTargetPeer = "Edge-Target-Peer"
)

// SegmentsPath prefixes every segment URL: PUT /v1/segments/{id}.
const SegmentsPath = "/v1/segments/"

// MaxIDLen is the longest segment id accepted.
const MaxIDLen = 128

var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ErrBadID is wrapped by every segment id validation error.
var ErrBadID = errors.New("bad segment id")

// ValidateID checks a segment id against [A-Za-z0-9._-]{1,128}. "." and ".."
// match that pattern but name directories, so they are refused too.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrBadID)
	case len(id) > MaxIDLen:
		return fmt.Errorf("%w: %d characters, at most %d", ErrBadID, len(id), MaxIDLen)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q", ErrBadID, id)
	case !idPattern.MatchString(id):
		return fmt.Errorf("%w: %q has characters outside [A-Za-z0-9._-]", ErrBadID, id)
	}
	return nil
}
