#!/usr/bin/env bash
# render-report.sh — render an HTML report from `trigger report --format html` to a PNG with headless
# Chromium, to look at it (or attach it to a ticket) without a browser.
#
#   scripts/render-report.sh REPORT.html [REPORT.png]
#
# The PNG defaults to the HTML's name with .png. Needs Debian's chromium:
#
#   sudo apt-get install chromium
#
# (CHROMIUM=/path/to/chrome overrides the binary.) The report is one self-contained file: Chromium loads
# nothing from the network, and the flags below keep it from trying (no background networking, component
# updates, sync or first-run pages, in a throwaway profile). The window is 1280 px wide and as tall as the
# report is estimated to be from its table rows (headless Chromium shoots the window, not the page);
# REPORT_HEIGHT=px overrides the estimate.
# A PDF for printing: chromium --headless --no-sandbox --print-to-pdf=REPORT.pdf REPORT.html
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
html=$1
png=${2:-${html%.html}.png}
[ -f "$html" ] || { echo "render-report: no such file: $html" >&2; exit 2; }
# Measured on the committed scenario reports: ~1100 px of headings, charts and facts, ~53 px a table row,
# ~49 px a detail line under a step. A little generous, at most Chromium's 16384 px.
rows=$(grep -o '<tr' "$html" | wc -l)
subs=$(grep -o 'class="sub' "$html" | wc -l)
estimate=$((1200 + 56 * rows + 52 * subs))
height=${REPORT_HEIGHT:-$((estimate > 16384 ? 16384 : estimate))}

chromium=${CHROMIUM:-}
if [ -z "$chromium" ]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then chromium=$c; break; fi
  done
fi
[ -n "$chromium" ] || { echo "render-report: chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
abs_png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")

"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1280,"$height" \
  --screenshot="$abs_png" "file://$abs_html" >/dev/null 2>&1
[ -s "$abs_png" ] || { echo "render-report: chromium wrote no screenshot" >&2; exit 1; }
echo "$png"
