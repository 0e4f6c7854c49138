#!/usr/bin/env bash
# Runs every berth test: installs what the tests need, builds, then runs unit and integration tests.
# Privileged tests (containers, mounts, networks) need root; under CI=true a skipped one is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# A target dir outside the clone is a cache that survives fresh clones; a machine without it builds anew.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
export CARGO_TERM_COLOR=never
cargo build --workspace --all-targets --locked
# Off root a privileged test skips and says so; the harness hides a passing test's output, so show it there.
show=()
[ "$(id -u)" -eq 0 ] || show=(--show-output)
cargo test --workspace --locked --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-4}" "${show[@]}"
