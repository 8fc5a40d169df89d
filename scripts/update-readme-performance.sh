#!/usr/bin/env bash
# Regenerates the README's Performance section from the benchmarks' own output, so the figures
# there are never typed by hand: every harness writes its table (with the date, CPU count and
# load average) to bench/results/NAME.md when it runs; this splices them, in a fixed order,
# between the performance markers of README.md. It does not run the benchmarks (they take
# minutes and want a quiet machine): run the ones whose figures should change first, e.g.
#   cargo build --release && cargo run --release -p rechunk-bench --bin from-bench
set -euo pipefail
cd "$(dirname "$0")/.."

# name: how to produce it
results=(
  "build:cargo run --release -p rechunk-bench --bin build-bench -- --runs 5"
  "from:cargo run --release -p rechunk-bench --bin from-bench"
  "build-layer:cargo bench -p rechunk-bench --bench build"
  "scan:cargo bench -p rechunk-bench --bench scan"
  "load_packages:cargo bench -p rechunk-bench --bench load_packages"
  "strategies:cargo bench -p rechunk-bench --bench strategies"
  "scale:cargo run --release -p rechunk-bench --bin scale-bench -- --runs 1"
  "scale-zstd:cargo run --release -p rechunk-bench --bin scale-bench -- --runs 3 --trees small,desktop --modes zstd:3 --result scale-zstd"
  "agreement:scripts/agreement.sh"
)
grep -q '<!-- performance:begin -->' README.md || { echo "README.md has no performance markers" >&2; exit 1; }
section=$(mktemp)
trap 'rm -f "$section"' EXIT
missing=0
for entry in "${results[@]}"; do
  name=${entry%%:*}
  file=bench/results/$name.md
  if [ ! -f "$file" ]; then
    echo "missing $file: run \`${entry#*:}\`" >&2
    missing=1
    continue
  fi
  cat "$file" >> "$section"
  echo >> "$section"
done
[ "$missing" -eq 0 ] || exit 1
awk -v section="$section" '
  /<!-- performance:begin -->/ {
    print
    while ((getline line < section) > 0) buffer[n++] = line
    while (n > 0 && buffer[n - 1] == "") n--
    for (i = 0; i < n; i++) print buffer[i]
    skipping = 1
    next
  }
  /<!-- performance:end -->/ { skipping = 0 }
  !skipping { print }
' README.md > README.md.new
mv README.md.new README.md
echo "README.md Performance updated from bench/results/"
