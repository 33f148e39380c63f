#!/usr/bin/env bash
# Regenerates docs/report-kms-sp4.png, the README's picture of the HTML report of the
# kms-sp4 sample (needs chromium: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo run --quiet -- analyze samples/kms-sp4 -o "$work/report.html" || [ $? -eq 1 ]
chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
  --user-data-dir="$work/profile" --window-size=1100,1900 \
  --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
mv "$work/report.png" docs/report-kms-sp4.png
echo "docs/report-kms-sp4.png written"
