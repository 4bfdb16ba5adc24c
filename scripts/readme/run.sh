#!/usr/bin/env bash
# Runs README's "Running edged by hand" walk-through exactly as written, from
# a clean clone's root, and fails on the first command that fails: the
# README's commands must work as shown. It uses the VAL23 ports (19054,
# 19055), so run it when no lab is running. The walk-through's own work
# directory is outside the tree; afterwards `git status` must be clean.
set -euo pipefail
cd "$(dirname "$0")/../.."
block=$(awk '/^## Running edged by hand/{f=1} f && /^```sh$/{b=1; next} b && /^```$/{exit} b' README.md)
if [ -z "$block" ]; then
  echo "readme: no sh block under '## Running edged by hand' in README.md" >&2
  exit 1
fi
before=$(git status --porcelain 2>/dev/null || true)
script=$(mktemp)
trap 'rm -f "$script"; pkill -P $$ 2>/dev/null || true' EXIT
{
  echo 'set -euo pipefail'
  # Whatever happens, the background edged and peer do not outlive it.
  echo 'trap "jobs -p | xargs -r kill 2>/dev/null || true" EXIT'
  echo "$block"
} >"$script"
echo "== README walk-through ($(echo "$block" | wc -l) lines)"
bash -x "$script"
after=$(git status --porcelain 2>/dev/null || true)
if [ "$before" != "$after" ]; then
  echo "readme: the walk-through changed the tree:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi
echo "README walk-through: every command ran; the tree is as it was"
