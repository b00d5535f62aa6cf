#!/usr/bin/env bash
# Render a run's reports/report.html in headless Chromium (offline: no network flags) and save a
# screenshot outside the repository. Needs Debian's chromium: apt-get install -y chromium
#   scripts/render_report.sh OUT_DIR [SCREENSHOT.png]
set -euo pipefail
out=${1:?usage: scripts/render_report.sh OUT_DIR [SCREENSHOT.png]}
shot=${2:-/tmp/refinery-report.png}
page="$(cd "$out" && pwd)/reports/report.html"
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1200,3000 \
  --screenshot="$shot" "file://$page" 2>/dev/null
rm -rf "$profile"
echo "rendered $page -> $shot ($(stat -c %s "$shot") bytes)"
