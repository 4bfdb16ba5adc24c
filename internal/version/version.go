// Package version says which build a program is, from the build info the
// Go toolchain embeds: what `--version` prints for edged, peer, setup and
// the labs.
package version

import (
	"fmt"
	"runtime/debug"
)

// String is "<module version> (<revision>[, modified], <time>) <go version>",
// with what the build info lacks left out ("(devel)" without a module
// version; no revision under -buildvcs=false).
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build info)"
	}
	return format(info)
}

func format(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		detail := rev
		if modified {
			detail += ", modified"
		}
		if at != "" {
			detail += ", " + at
		}
		v += " (" + detail + ")"
	}
	return fmt.Sprintf("%s %s", v, info.GoVersion)
}
