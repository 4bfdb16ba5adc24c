// Package transport is the segment transfer protocol shared by edged and the
// lab peer (DESIGN.md §3): HTTP/2 over mutual TLS 1.3, PUT /v1/segments/{id},
// identities in certificates, and per-sender ingress attribution.
package transport

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
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

// SessionKeyPrefix is the namespace of the series credited to a legacy
// sender by its session id (DESIGN.md §3): "session:<uuid>" can never be a
// peer id, nor the overflow series.
const SessionKeyPrefix = "session:"

// MaxSessionIDLen is the length of a session id: a UUID in its 36-character
// hyphenated form.
const MaxSessionIDLen = 36

// ErrBadSession is wrapped by every session id validation error.
var ErrBadSession = errors.New("bad session id")

var sessionPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidateSessionID checks that an Edge-Session-Id is a UUID in its
// hyphenated 36-character form.
func ValidateSessionID(s string) error {
	switch {
	case len(s) > MaxSessionIDLen:
		return fmt.Errorf("%w: %d characters, want a %d-character UUID", ErrBadSession, len(s), MaxSessionIDLen)
	case !sessionPattern.MatchString(s):
		return fmt.Errorf("%w: %q is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ErrBadSession, s)
	}
	return nil
}

// SessionKey is the attribution key of a valid session id.
func SessionKey(session string) string { return SessionKeyPrefix + strings.ToLower(session) }

// KeyKind says what an attribution key is: KindPeer, KindSession or
// KindOverflow.
func KeyKind(key string) string {
	switch {
	case key == OverflowPeer:
		return KindOverflow
	case strings.HasPrefix(key, SessionKeyPrefix):
		return KindSession
	}
	return KindPeer
}

// Kinds of attribution keys.
const (
	KindPeer     = "peer"
	KindSession  = "session"
	KindOverflow = "overflow"
)

// ReservedIdentity reports a peer id that a certificate must not claim:
// one in the session namespace or the overflow series.
func ReservedIdentity(id string) bool { return KeyKind(id) != KindPeer }
