package received

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"edgelab/transport"
)

// Decode parses evidence JSON: exactly one JSON object. It checks syntax and
// types only; Validate checks that the content is consistent.
func Decode(data []byte) (Evidence, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return Evidence{}, errors.New("empty file; want a JSON object")
	}
	// null decodes without error into the zero value; a file holding it is
	// not evidence of anything.
	if trimmed[0] != '{' {
		return Evidence{}, fmt.Errorf("want a JSON object, got %q", head(trimmed))
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var ev Evidence
	if err := dec.Decode(&ev); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Evidence{}, fmt.Errorf("malformed JSON at byte %d: %w", syn.Offset, err)
		case errors.As(err, &typ):
			return Evidence{}, fmt.Errorf("field %s: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Evidence{}, fmt.Errorf("truncated: the JSON ends after %d bytes in the middle of a value", len(trimmed))
		}
		return Evidence{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Evidence{}, fmt.Errorf("more than one JSON value (the first ends at byte %d)", dec.InputOffset())
	}
	return ev, nil
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

// Validate reports the first inconsistency in ev that a Store could not
// have written: a bad or repeated segment id, a negative size, a digest
// that is not SHA-256 hex, a segment with no delivery, negative byte counts,
// or per-sender bytes that do not add up to the total. A peer refuses to
// resume from such a file rather than build on it.
func (ev Evidence) Validate() error {
	if err := transport.ValidateID(ev.PeerID); err != nil {
		return fmt.Errorf("peer_id %q: must match [A-Za-z0-9._-]{1,128}", ev.PeerID)
	}
	seen := make(map[string]int, len(ev.Segments))
	for i, s := range ev.Segments {
		where := fmt.Sprintf("segments[%d]", i)
		if err := transport.ValidateID(s.ID); err != nil {
			return fmt.Errorf("%s.id: %w", where, err)
		}
		if j, dup := seen[s.ID]; dup {
			return fmt.Errorf("%s.id: %q is listed twice (also segments[%d])", where, s.ID, j)
		}
		seen[s.ID] = i
		switch {
		case s.Bytes < 0:
			return fmt.Errorf("%s (%s).bytes: must not be negative, got %d", where, s.ID, s.Bytes)
		case !isSHA256Hex(s.SHA256):
			return fmt.Errorf("%s (%s).sha256: want 64 lowercase hex digits, got %q", where, s.ID, s.SHA256)
		case s.Deliveries < 1:
			return fmt.Errorf("%s (%s).deliveries: must be at least 1, got %d", where, s.ID, s.Deliveries)
		}
	}
	if ev.Ingress.Bytes < 0 {
		return fmt.Errorf("ingress.bytes: must not be negative, got %d", ev.Ingress.Bytes)
	}
	var sum int64
	for id, n := range ev.Ingress.ByPeer {
		if n < 0 {
			return fmt.Errorf("ingress.by_peer[%q]: must not be negative, got %d", id, n)
		}
		if sum > math.MaxInt64-n {
			return fmt.Errorf("ingress.by_peer: the counts overflow int64")
		}
		sum += n
	}
	if sum != ev.Ingress.Bytes {
		return fmt.Errorf("ingress.by_peer adds up to %d bytes, but ingress.bytes is %d", sum, ev.Ingress.Bytes)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
