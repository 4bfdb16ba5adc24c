#!/usr/bin/env bash
# Soak the VAL23 lab: run it N times in a row and print the pass counts and
# the distribution of wall times (min, median, p90, max). With --load the
# runs share the machine with `stress-ng --cpu 2` (apt-get install -y
# stress-ng), which is how flakes that only show on a busy CI runner are
# found.
#   usage: scripts/labs/soak.sh N [--load]
# The orchestrator is built once; each run writes a fresh evidence
# directory, kept when the run did not pass. A run refused with "port 19054
# is in use" (another lab holds the ports) is a collision, not a flake: it is
# counted apart and retried once the ports are free.
# Exit status: 0 every run passed, 1 some run failed, 2 the soak could not run.
set -uo pipefail
usage() { echo "usage: $0 N [--load]" >&2; exit 2; }
[ $# -ge 1 ] && [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage
runs=$1; shift
load=0
for a in "$@"; do
  case "$a" in
    --load) load=1 ;;
    *) usage ;;
  esac
done
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
work="$(mktemp -d /tmp/soak.XXXXXX)"
stress_pid=""
cleanup() { [ -n "$stress_pid" ] && kill "$stress_pid" 2>/dev/null && wait "$stress_pid" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/val23" ./labs/val23 || { echo "soak: cannot build ./labs/val23" >&2; exit 2; }
if [ "$load" = 1 ]; then
  command -v stress-ng >/dev/null || { echo "soak: --load needs stress-ng (apt-get install -y stress-ng)" >&2; exit 2; }
  stress-ng --cpu 2 --quiet &
  stress_pid=$!
  echo "soak: $runs runs under load (stress-ng --cpu 2, pid $stress_pid); work dir $work"
else
  echo "soak: $runs runs; work dir $work"
fi

ports_busy() { ss -Hltn '( sport = :19054 or sport = :19055 )' 2>/dev/null | grep -q .; }
wait_ports() { # up to 10 minutes, for another lab to finish
  for _ in $(seq 1 600); do ports_busy || return 0; sleep 1; done
  return 1
}

pass=0 fail=0 err=0 collisions=0
times=()
for i in $(seq 1 "$runs"); do
  while :; do
    dir="$work/run-$i"; log="$work/run-$i.log"
    rm -rf "$dir"
    t0=$(date +%s.%N)
    "$work/val23" "$dir" >"$log" 2>&1; code=$?
    t1=$(date +%s.%N)
    if [ "$code" = 2 ] && grep -q "port 1905[45] is in use" "$log"; then
      collisions=$((collisions + 1))
      echo "run $i/$runs: port collision (another lab holds 19054/19055); retrying once they are free"
      # Who holds them: another lab's processes, or (a real bug) this one's.
      ss -Hltnp '( sport = :19054 or sport = :19055 )' 2>/dev/null | sed 's/^/    holder: /'
      wait_ports || { echo "soak: ports 19054/19055 still busy after 10 minutes" >&2; exit 2; }
      continue
    fi
    break
  done
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  times+=("$secs")
  case "$code" in
    0) pass=$((pass + 1)); verdict=PASS; rm -rf "$dir" ;;
    1) fail=$((fail + 1)); verdict=FAIL ;;
    *) err=$((err + 1)); verdict="ERROR (exit $code)" ;;
  esac
  echo "run $i/$runs: $verdict in ${secs} s"
  if [ "$code" != 0 ]; then
    grep -E "FAIL|ERROR" "$dir/report.txt" 2>/dev/null | sed 's/^/    /'
    tail -n 5 "$log" | sed 's/^/    | /'
    echo "    evidence kept in $dir, output in $log"
  fi
done

echo "soak summary: $runs runs$([ "$load" = 1 ] && echo " under stress-ng --cpu 2"): PASS $pass, FAIL $fail, ERROR $err; port collisions retried: $collisions"
printf '%s\n' "${times[@]}" | sort -n | awk '
  { t[NR] = $1 }
  END {
    # nearest-rank percentiles
    m = int((NR * 50 + 99) / 100); p = int((NR * 90 + 99) / 100)
    printf "wall time (s): min %.1f, median %.1f, p90 %.1f, max %.1f\n", t[1], t[m], t[p], t[NR]
  }'
[ "$fail" = 0 ] && [ "$err" = 0 ]
