#!/usr/bin/env bash
# Unlimited end-to-end relay throughput: real edged and peer processes on
# free loopback ports, N segments of SIZE bytes seeded into the ledger
# before edged starts; prints segments/s and MiB/s from edged's start to the
# last DELIVERED mark.
#   usage: scripts/bench/relay_throughput.sh [count=2000] [size=64]
# The figures of docs/PERFORMANCE.md, with their baselines, come from
# scripts/bench/run.sh (go run ./perf/cmd/relaybench); this is a quick look.
set -euo pipefail
count=${1:-2000}
size=${2:-64}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/relaybench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/bin/" ./edged ./peer ./setup
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
peer_port=$(free_port); edge_port=$(free_port)
cd "$work"
bin/setup tls --dir tls >/dev/null
bin/setup config --out edge.toml --listen "127.0.0.1:$edge_port" --peer-addr "127.0.0.1:$peer_port" \
  --max-segment-bytes $((size > 1048576 ? size : 1048576)) >/dev/null
bin/setup seed --ledger ledger.db --prefix b --count "$count" --size "$size" --target peer-val23 >/dev/null
bin/peer --listen "127.0.0.1:$peer_port" --id peer-val23 --tls-dir tls --evidence ev.json \
  --ready-file peer.ready --max-segment-bytes $((size > 1048576 ? size : 1048576)) 2>peer.log &
until [ -s peer.ready ]; do sleep 0.05; done
start=$(date +%s.%N)
bin/edged run --config edge.toml 2>edged.log &
until delivered=$(bin/edged relay status --socket ctl.sock --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"]["delivered"])' 2>/dev/null) \
      && [ "$delivered" -ge "$count" ]; do sleep 0.05; done
end=$(date +%s.%N)
python3 - "$start" "$end" "$count" "$size" <<'PY'
import sys
start, end, count, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = end - start
print(f"relayed {count} x {size} B in {t:.2f} s: {count/t:.0f} segments/s, {count*size/t/2**20:.2f} MiB/s (includes edged start-up)")
PY
