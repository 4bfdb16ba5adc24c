package version

import (
	"runtime/debug"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.8"}, "(devel) go1.26.8"},
		{"revision, modified", debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1c0ceba0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-02T16:00:00Z"},
		}}, "(devel) (1c0ceba01234, modified, 2026-12-02T16:00:00Z) go1.26.8"},
		{"a module version", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0 go1.26.8"},
	}
	for _, tt := range tests {
		if got := format(&tt.info); got != tt.want {
			t.Errorf("%s: format() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
