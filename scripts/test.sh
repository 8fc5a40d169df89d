#!/usr/bin/env bash
# The whole test suite, as CI runs it on a fresh Debian machine: installs the real tools the
# tests check against (rpm, umoci, skopeo, ostree, pigz, zstd, and a real SELinux policy with
# matchpathcon) and libostree-dev for the `ostree` feature, then fmt, clippy and every test;
# then the feature's own clippy and tests (reading ostree repositories links libostree, which
# the default build does not); last, each fuzz target briefly (scripts/fuzz.sh; FUZZ_SECONDS
# per target, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rpm umoci skopeo ostree libostree-dev pkg-config pigz zstd selinux-policy-default selinux-utils)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "==> installing test tools: ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
echo "==> cargo clippy, feature ostree"
cargo clippy -p rechunk -p rechunk-ostree --all-targets --locked \
    --features rechunk/ostree,rechunk-ostree/libostree -- -D warnings
echo "==> cargo test, feature ostree"
cargo test --locked -p rechunk-ostree --features libostree --test read_repo
cargo test --locked -p rechunk --features ostree --test ostree_input
echo "==> fuzz targets"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
