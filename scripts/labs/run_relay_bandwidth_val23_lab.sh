#!/usr/bin/env bash
# VAL23 relay bandwidth lab, for people used to the old entry point. The lab
# is the Go orchestrator (go run ./labs/val23 [evidence-dir]); this wrapper
# builds it and runs the binary instead of using `go run`, because `go run`
# turns every non-zero exit into 1 (golang/go#13440) and the lab's exit
# status means something: 0 all PASS, 1 a check FAILED, 2 the lab could not
# run.
set -euo pipefail
# Relative paths mean relative to where the caller stands, not to the
# repository root we move to; flags (--check-only) pass through.
args=()
for a in "$@"; do
	[[ "$a" != -* && "$a" != /* ]] && a="$PWD/$a"
	args+=("$a")
done
# The report's command line shows this script, not the temporary binary.
export EDGELAB_INVOKED_AS="${EDGELAB_INVOKED_AS:-$0}"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin_dir="$(mktemp -d)"
trap 'rm -rf "$bin_dir"' EXIT
go build -o "$bin_dir/val23" ./labs/val23
"$bin_dir/val23" "${args[@]}"
