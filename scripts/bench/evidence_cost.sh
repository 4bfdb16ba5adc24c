#!/usr/bin/env bash
# Figure 8 of docs/PERFORMANCE.md (issue #17 item 8): what the attempt
# history and the hostile-sender bounds cost the relay of figure 3,
# measured before/after in one run: relaybench runs figure 3's relays to
# the sink with this build and with build_before.sh's in interleaved rounds.
#   usage: scripts/bench/evidence_cost.sh [relaybench flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
bin=$(mktemp -d /tmp/evidence-cost.XXXXXX)
trap 'rm -rf "$bin"' EXIT
scripts/bench/build_before.sh "$bin"
go run ./perf/cmd/relaybench --figures 8 --before "$bin" "$@"
