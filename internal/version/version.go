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

// Build is what the build info says of a binary.
type Build struct {
	Version   string // the module version, "(devel)" without one
	Revision  string // vcs.revision, "" when not stamped
	Modified  bool   // vcs.modified
	Time      string // vcs.time
	GoVersion string
}

// Info reads the running binary's build info; ok is false without one.
func Info() (b Build, ok bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{Version: "(devel)"}, false
	}
	return parse(info), true
}

func parse(info *debug.BuildInfo) Build {
	b := Build{Version: info.Main.Version, GoVersion: info.GoVersion}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func format(info *debug.BuildInfo) string {
	b := parse(info)
	v, rev, at, modified := b.Version, b.Revision, b.Time, b.Modified
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
	return fmt.Sprintf("%s %s", v, b.GoVersion)
}
