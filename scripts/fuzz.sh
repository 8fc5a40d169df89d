#!/usr/bin/env bash
# Runs every cargo fuzz target (fuzz/, its own workspace) for SECONDS each (default 20),
# starting from the committed seeds and corpus; new inputs go to a temporary directory, so the
# checkout is left as it was. A crash fails the script, naming the input that caused it.
#
# Needs cargo-fuzz (installed here with `cargo install --locked` when missing) and a nightly
# toolchain; without one, stable is used with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes unstable
# flags). No sanitizer: the fuzzed readers are Rust, and this keeps the build short; debug
# assertions are on, so an arithmetic overflow is a crash.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
fuzz=(cargo fuzz)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    echo "==> no nightly toolchain: building the fuzz targets with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
fi
flags=(--sanitizer none --debug-assertions)

"${fuzz[@]}" build "${flags[@]}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in $("${fuzz[@]}" list); do
    mkdir -p "$work/$target/new" "$work/$target/artifacts" "$work/$target/corpus"
    if [ -f "corpus/$target.tar.gz" ]; then
        tar -xzf "corpus/$target.tar.gz" -C "$work/$target/corpus"
    fi
    inputs=("$work/$target/corpus")
    for dir in seeds regressions; do
        if [ -d "$dir/$target" ]; then inputs+=("$dir/$target"); fi
    done
    echo "==> fuzz $target (${seconds}s)"
    if ! "${fuzz[@]}" run "${flags[@]}" "$target" "$work/$target/new" "${inputs[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$target/artifacts/" >"$work/$target/log" 2>&1; then
        tail -n 40 "$work/$target/log"
        for a in "$work/$target/artifacts"/*; do
            [ -e "$a" ] || continue
            echo "fuzz $target: crash input (base64): $(base64 -w0 "$a")"
        done
        exit 1
    fi
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/$target/log" | tr '\n' ' '
    echo
done
