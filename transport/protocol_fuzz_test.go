package transport_test

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"edgelab/transport"
)

// specValid is the id rule restated independently of ValidateID:
// [A-Za-z0-9._-]{1,128}, and not "." or "..".
func specValid(id string) bool {
	if len(id) < 1 || len(id) > transport.MaxIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// FuzzValidateID: ValidateID accepts exactly the ids of the rule, every
// refusal wraps ErrBadID and says why, and an accepted id is safe where ids
// end up: one path element naming no directory, and a URL path segment
// that needs no escaping.
func FuzzValidateID(f *testing.F) {
	for _, seed := range []string{
		"val23-sa-001", "A.b_c-9", "..a", "a..", ".", "..", "", "../etc/passwd", "a/b", `a\b`,
		"sëg", "a b", "a\x00", "a\n", "%2e%2e", strings.Repeat("x", 128), strings.Repeat("x", 129),
		"\xff", "ﬀ", "K", // U+212A KELVIN SIGN: folds to k under Unicode case folding
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := transport.ValidateID(id)
		if want := specValid(id); (err == nil) != want {
			t.Fatalf("ValidateID(%q) = %v; the rule says valid=%v", id, err, want)
		}
		if err != nil {
			if !errors.Is(err, transport.ErrBadID) || !strings.HasPrefix(err.Error(), transport.ErrBadID.Error()+": ") {
				t.Fatalf("ValidateID(%q) = %q: does not wrap ErrBadID with a reason", id, err)
			}
			return
		}
		if filepath.Base(id) != id || filepath.Clean(id) != id || strings.ContainsAny(id, `/\`) {
			t.Fatalf("accepted id %q is not a plain path element", id)
		}
		if url.PathEscape(id) != id {
			t.Fatalf("accepted id %q needs escaping in a URL path (%q)", id, url.PathEscape(id))
		}
	})
}
