#!/usr/bin/env bash
# Regenerates the README's Results tables from the main job, so the figures there are always
# the command's own output: runs `rechunk compare` (the default run) and splices
# reports/out/summary.md (minus its title) between the results markers of README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run --release --quiet -- compare --output reports/out >/dev/null
summary=reports/out/summary.md
grep -q '<!-- results:begin -->' README.md || { echo "README.md has no results markers" >&2; exit 1; }
awk -v summary="$summary" '
  /<!-- results:begin -->/ {
    print
    while ((getline line < summary) > 0) {
      if (!started && (line ~ /^# / || line == "")) continue
      started = 1
      print line
    }
    skipping = 1
    next
  }
  /<!-- results:end -->/ { skipping = 0 }
  !skipping { print }
' README.md > README.md.new
mv README.md.new README.md
echo "README.md Results updated from $summary"
