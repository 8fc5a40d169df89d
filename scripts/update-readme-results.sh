#!/usr/bin/env bash
# Regenerates the README's Results tables from the main job, so the figures there are always
# the command's own output: runs `rechunk compare` on FCOS stable (the default run, the stream
# `cluster` was tuned on) and on FCOS testing (not used for tuning), and splices each
# summary.md (minus its title) between its markers in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run --release --quiet -- compare --output reports/out >/dev/null
cargo run --release --quiet -- compare --history fcos-testing --output reports/out/fcos-testing >/dev/null

# splice MARKER SUMMARY: replaces the lines between <!-- MARKER:begin --> and <!-- MARKER:end -->.
splice() {
  local marker=$1 summary=$2
  grep -q "<!-- $marker:begin -->" README.md || { echo "README.md has no $marker markers" >&2; exit 1; }
  awk -v summary="$summary" -v begin="<!-- $marker:begin -->" -v end="<!-- $marker:end -->" '
    $0 == begin {
      print
      while ((getline line < summary) > 0) {
        if (!started && (line ~ /^# / || line == "")) continue
        started = 1
        print line
      }
      skipping = 1
      next
    }
    $0 == end { skipping = 0 }
    !skipping { print }
  ' README.md > README.md.new
  mv README.md.new README.md
  echo "README.md $marker updated from $summary"
}

splice results reports/out/summary.md
splice results-testing reports/out/fcos-testing/summary.md
