#!/usr/bin/env bash
# The TUI's costs, measured in tmux against a temporary root: time to first frame, idle CPU over 30 s and RSS.
# Goals (issue 6): first frame < 100 ms, idle CPU < 0.5 % of a core, RSS < 50 MB.
# Usage: bench/tui.sh [path/to/berth]   (default: target/release/berth, built if missing)
set -euo pipefail

BERTH=${1:-${CARGO_TARGET_DIR:-target}/release/berth}
if [[ ! -x $BERTH ]]; then
    cargo build --release --bin berth
fi
IDLE_SECONDS=${IDLE_SECONDS:-30}
SOCKET="berth-bench-$$"
ROOT=$(mktemp -d)
cleanup() {
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    rm -rf "$ROOT"
}
trap cleanup EXIT

start=$(date +%s%N)
tmux -L "$SOCKET" new-session -d -s bench -x 120 -y 40 \
    "BERTH_TUI_CONFIG=$ROOT/none.toml $BERTH --root $ROOT/state"
until tmux -L "$SOCKET" capture-pane -p -t bench | grep -q "1 Containers"; do
    sleep 0.005
done
first_frame_ms=$(( ($(date +%s%N) - start) / 1000000 ))

pid=$(pgrep -P "$(tmux -L "$SOCKET" display-message -p -t bench '#{pane_pid}')" -x berth || \
      tmux -L "$SOCKET" display-message -p -t bench '#{pane_pid}')
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$IDLE_SECONDS"
t1=$(ticks)
idle_cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.2f", 100 * d / hz / s }')
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

printf 'first frame: %d ms (goal < 100, includes tmux polling)\n' "$first_frame_ms"
printf 'idle CPU:    %s %% of a core over %d s (goal < 0.5)\n' "$idle_cpu" "$IDLE_SECONDS"
printf 'RSS:         %d MB (goal < 50)\n' $((rss_kb / 1024))
