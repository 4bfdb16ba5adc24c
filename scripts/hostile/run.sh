#!/usr/bin/env bash
# Hostile senders (docs/PERFORMANCE.md, "Hostile senders"): starts a real
# edged with lab certificates on free loopback ports, then holds 1,000 idle
# HTTP/2 streams declaring 1 MiB each (two rounds), floods it with 300 TCP
# connections that never speak (re-opened as edged closes them) while a real
# sender PUTs, and PUTs under 3,000 distinct session ids and a few spoofing
# ones. Prints edged's peak RSS (VmHWM) and the sender's PUT latency.
# Targets: peak RSS < 128 MiB under the idle streams; p99 PUT < 100 ms under
# the flood.
#   usage: scripts/hostile/run.sh [--edged path/to/edged] [--json out.json] [flags of perf/cmd/hostile]
#   e.g. the figures before a change: build that commit's edged elsewhere and
#   pass it as --edged.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./perf/cmd/hostile "$@"
