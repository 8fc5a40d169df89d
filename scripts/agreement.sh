#!/usr/bin/env bash
# The agreement table of the README (Performance, "Built images against the simulator"): the
# last 5 FCOS stable versions synthesized, built with every strategy at 12, 64 and 127 layers and
# measured, next to the simulator (`rechunk compare --build`). Needs root, rpm and about 5 GB
# free in OUT; takes about 15 minutes on an idle 2-CPU machine. Writes bench/results/agreement.md with the
# command, the date and `uptime`, and copies the measured compression ratios the run wrote
# (OUT/compression-ratios.csv, with the command, date and versions in its comment lines) to
# datasets/data/compression-ratios.csv, which `rechunk compare` applies to its compressed
# column; then run scripts/update-readme-performance.sh and scripts/update-readme-results.sh.
#   scripts/agreement.sh                 # build, measure, write the result
#   scripts/agreement.sh --format-only   # only write the result from OUT's agreement.md
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-/var/tmp/rechunk-agreement}
command=(rechunk compare --build --history fcos-stable --last 5 --max-layers 64
  --sweep max-layers=12,64,127 --compression zstd:3 --output "$out")
if [ "${1:-}" != "--format-only" ]; then
  cargo build --release --locked --bin rechunk
  "target/release/${command[0]}" "${command[@]:1}"
fi
[ -f "$out/agreement.md" ] || { echo "no $out/agreement.md: run without --format-only" >&2; exit 1; }
{
  echo "### Built images against the simulator"
  echo
  # One heading level down: these tables sit under the section's heading.
  sed 's/^### /#### /' "$out/agreement.md"
  echo
  echo "Made by \`${command[*]}\` (scripts/agreement.sh) on $(date -u +%Y-%m-%d), $(nproc) CPUs; \`uptime\` when this file was written (the run ended $(date -u -r "$out/agreement.md" +%H:%M) UTC): \`$(uptime)\`."
} > bench/results/agreement.md
echo "wrote bench/results/agreement.md"
[ -f "$out/compression-ratios.csv" ] || { echo "no $out/compression-ratios.csv: run without --format-only" >&2; exit 1; }
cp "$out/compression-ratios.csv" datasets/data/compression-ratios.csv
echo "wrote datasets/data/compression-ratios.csv"
