#!/usr/bin/env bash
# Builds berth in release mode, installs it as /usr/local/bin/berth and opens it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
cargo build --release --locked --bin berth
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo install -m 0755 "$CARGO_TARGET_DIR/release/berth" /usr/local/bin/berth
exec /usr/local/bin/berth "$@"
