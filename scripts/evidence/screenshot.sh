#!/usr/bin/env bash
# Renders an evidence directory's index.html (or another page of it, such
# as trend.html) in headless Chromium and keeps the picture as DIR/index.png
# (DIR/trend.png), to check (and show) that the page and its charts render. Needs Debian's `chromium` package (or chromium-browser /
# google-chrome); CI does not need it, the nightly job installs it.
#
#   scripts/evidence/screenshot.sh DIR [PAGE [OUT]]     PAGE defaults to index.html
#
# OUT defaults to DIR/<page>.png. A lab run ends by sealing DIR
# (manifest.sha256 lists every file): a picture added to a sealed DIR is a
# file the manifest does not list, and `--check-only DIR` then refuses DIR
# as altered. Give an OUT outside DIR to keep the seal (the nightly job
# does), or re-check with --ignore-manifest, which records the addition
# and seals DIR again.
#
# Exit status: 0 screenshot written, 1 Chromium failed or wrote nothing,
# 2 usage error, no index.html, or no Chromium installed.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 3 ]]; then
	echo "usage: $0 EVIDENCE-DIR [PAGE [OUT.png]]" >&2
	exit 2
fi
dir="$(cd "$1" 2>/dev/null && pwd)" || { echo "screenshot: $1: no such directory" >&2; exit 2; }
name="${2:-index.html}"
page="$dir/$name"
if [[ ! -f "$page" ]]; then
	echo "screenshot: $page does not exist (run the lab or --check-only first)" >&2
	exit 2
fi

browser="${CHROMIUM:-}"
if [[ -z "$browser" ]]; then
	for candidate in chromium chromium-browser google-chrome; do
		if command -v "$candidate" >/dev/null 2>&1; then
			browser="$candidate"
			break
		fi
	done
fi
if [[ -z "$browser" ]]; then
	echo "screenshot: Chromium is not installed (Debian/Ubuntu: apt-get install -y chromium); set CHROMIUM=/path/to/browser to use another" >&2
	exit 2
fi

out="${3:-$dir/${name%.html}.png}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
if [[ "$out" == "$dir/"* && -f "$dir/manifest.sha256" ]]; then
	echo "screenshot: warning: $dir is sealed; $out will be a file its manifest.sha256 does not list (give OUT outside it to keep the seal)" >&2
fi
mkdir -p "$(dirname "$out")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
# A wedged headless browser must not hang a CI job.
limit=()
if command -v timeout >/dev/null 2>&1; then
	limit=(timeout 120)
fi
# The flags keep Chromium from touching the network or a profile: the page
# is self-contained, and a CI runner has no display and runs as root.
"${limit[@]}" "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$profile" \
	--screenshot="$out" --window-size=1280,2400 "file://$page" \
	>"$profile/chromium.log" 2>&1 || {
	echo "screenshot: $browser failed:" >&2
	tail -n 20 "$profile/chromium.log" >&2
	exit 1
}
if [[ ! -s "$out" ]]; then
	echo "screenshot: $browser wrote no $out:" >&2
	tail -n 20 "$profile/chromium.log" >&2
	exit 1
fi
echo "screenshot: $out"
