#!/usr/bin/env bash
# Every figure of docs/PERFORMANCE.md in one run, each beside the baseline
# it is compared with, measured in the same run:
#   1. the VAL23 lab's wall time (scripts/bench/lab_walltime.sh; ports
#      19054-19055 must be free; SKIP_LAB=1 leaves it out);
#   2-9. edged's whole-process figures (go run ./perf/cmd/relaybench: real
#      edged, peer and sink processes on free ports), as one table; figure 8
#      against scripts/bench/build_before.sh's build of this tree;
#   and the in-process Go benchmarks (bare baselines, the relay path,
#      ingress attribution; the ledger's with BENCH_LEDGER=1) with -benchmem.
#   usage: scripts/bench/run.sh [--quick] [relaybench flags...]
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=$(mktemp -d /tmp/bench.XXXXXX)
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(go version), $(date -u +%FT%TZ)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
echo
status=0
if [ "${SKIP_LAB:-0}" != 1 ]; then
  echo "== figure 1: VAL23 lab wall time"
  scripts/bench/lab_walltime.sh 5 || status=1
  echo
fi
echo "== Go benchmarks (in-process)"
# The ledger's benchmarks (about a minute of seeding) only with BENCH_LEDGER=1.
pkgs=./perf
[ "${BENCH_LEDGER:-0}" = 1 ] && pkgs="./perf ./edged/ledger"
go test -run '^$' -bench . -benchmem -benchtime 500ms $pkgs 2>&1 | grep -E '^(Benchmark|ok|FAIL|---)' || status=1
echo
echo "== figures 2-9 (whole processes)"
scripts/bench/build_before.sh "$out/before" || status=1
go run ./perf/cmd/relaybench --figures 2,3,3b,4,5,6,7,8,9 --before "$out/before" --json "$out/relaybench.json" "$@" || status=1
echo "(rows as JSON: $out/relaybench.json)"
exit $status
