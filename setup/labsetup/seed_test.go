package labsetup_test

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/setup/labsetup"
)

func TestSegmentIDs(t *testing.T) {
	tests := []struct {
		prefix       string
		start, count int
		want         []string
	}{
		{"val23-sb", 1, 5, []string{"val23-sb-001", "val23-sb-002", "val23-sb-003", "val23-sb-004", "val23-sb-005"}},
		{"p", 7, 1, []string{"p-007"}},
		{"p", 998, 3, []string{"p-0998", "p-0999", "p-1000"}},
		{"p", 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d/%d", tt.prefix, tt.start, tt.count), func(t *testing.T) {
			if diff := cmp.Diff(tt.want, labsetup.SegmentIDs(tt.prefix, tt.start, tt.count)); diff != "" {
				t.Errorf("SegmentIDs (-want +got):\n%s", diff)
			}
		})
	}
	ids := labsetup.SegmentIDs("q", 1, 1000)
	if got, want := ids[0], "q-0001"; got != want {
		t.Errorf("first of 1000 = %q, want %q", got, want)
	}
	if got, want := ids[999], "q-1000"; got != want {
		t.Errorf("last of 1000 = %q, want %q", got, want)
	}
}

func TestPayload_Deterministic(t *testing.T) {
	for _, size := range []int{0, 1, 31, 32, 33, 64, 1000} {
		a, b := labsetup.Payload("val23-sa-001", size), labsetup.Payload("val23-sa-001", size)
		if len(a) != size {
			t.Errorf("len(Payload(_, %d)) = %d", size, len(a))
		}
		if string(a) != string(b) {
			t.Errorf("Payload(_, %d) differs between calls", size)
		}
	}
	if string(labsetup.Payload("a", 64)) == string(labsetup.Payload("b", 64)) {
		t.Error("different ids give the same payload")
	}
	if got, want := labsetup.PayloadSHA256("a", 64), fmt.Sprintf("%x", sha256.Sum256(labsetup.Payload("a", 64))); got != want {
		t.Errorf("PayloadSHA256 = %s, want %s", got, want)
	}
}
