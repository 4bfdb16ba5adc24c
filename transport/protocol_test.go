package transport_test

import (
	"errors"
	"strings"
	"testing"

	"edgelab/transport"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id   string
		want string // "" valid, else a part of the error
	}{
		{"val23-sa-001", ""},
		{"A.b_c-9", ""},
		{strings.Repeat("x", 128), ""},
		{"..a", ""}, // dots inside a name are just characters
		{"", "empty"},
		{".", `"."`},
		{"..", `".."`},
		{strings.Repeat("x", 129), "129 characters, at most 128"},
		{"a/b", "outside [A-Za-z0-9._-]"},
		{"../etc/passwd", "outside [A-Za-z0-9._-]"},
		{"sëg", "outside [A-Za-z0-9._-]"},
		{"a b", "outside [A-Za-z0-9._-]"},
		{"a\x00", "outside [A-Za-z0-9._-]"},
		{"a\n", "outside [A-Za-z0-9._-]"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			err := transport.ValidateID(tt.id)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ValidateID(%q) = %v, want nil", tt.id, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("ValidateID(%q) = %v, want an error containing %q", tt.id, err, tt.want)
			case tt.want != "" && !errors.Is(err, transport.ErrBadID):
				t.Errorf("ValidateID(%q) = %v, does not wrap ErrBadID", tt.id, err)
			}
		})
	}
}
