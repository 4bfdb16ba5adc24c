#!/usr/bin/env bash
# Runs every Go fuzz target in turn, each for SECONDS (default 60), one at a
# time (each uses every core). For each it prints the command, the result
# and the corpus: the inputs the fuzzer found interesting, cached in
# $(go env GOCACHE)/fuzz/<package>/<target>, plus the seeds (f.Add and
# testdata/fuzz/<target>). A crasher is written by `go test` to
# <package>/testdata/fuzz/<target>/ and from then on replays as a regression
# case in every `go test`; keep it, fix the cause.
#   usage: scripts/fuzz/run.sh [seconds=60]
set -uo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
targets=(
  "./edged/control FuzzDecodeBandwidthRequest"
  "./transport FuzzValidateID"
  "./edged/config FuzzParse"
  "./peer/received FuzzDecode"
  "./evidence FuzzParseManifest"
)
cache="$(go env GOCACHE)/fuzz"
module="$(go list -m)"
failed=0
for t in "${targets[@]}"; do
  read -r pkg fn <<<"$t"
  # Interesting inputs are minimized by default for up to 60 s each, and
  # the progress line reads 0 execs/s meanwhile; a short bound keeps the
  # fuzzing time for fuzzing.
  cmd=(go test -run '^$' -fuzz "^${fn}\$" -fuzztime "${secs}s" -fuzzminimizetime 5s "$pkg")
  echo "== ${cmd[*]}"
  out=$("${cmd[@]}" 2>&1); status=$?
  printf '%s\n' "$out" | tail -n 4
  dir="$cache/$module/${pkg#./}/$fn"
  cached=$(find "$dir" -type f 2>/dev/null | wc -l)
  kept=$(find "${pkg}/testdata/fuzz/$fn" -type f 2>/dev/null | wc -l)
  total=$(printf '%s\n' "$out" | grep -o 'total: [0-9]*' | tail -n 1)
  echo "-- $fn: exit $status; corpus: $cached cached interesting inputs in $dir, $kept kept in ${pkg#./}/testdata/fuzz/$fn; fuzzer's last count: ${total:-n/a} (seeds included)"
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
