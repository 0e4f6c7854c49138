#!/usr/bin/env bash
# The TUI's costs with CONTAINERS (default 50) running busybox containers, measured in tmux against a
# temporary root: time to first frame and to the full list, idle CPU over IDLE_SECONDS (default 30) and RSS.
# Goals (issues 6 and 15): first frame < 100 ms, idle CPU < 0.2 % of a core, RSS < 50 MB.
# Usage: bench/tui.sh [path/to/berth]   (default: $CARGO_TARGET_DIR/release/berth, built if missing)
# Needs root, tmux, docker-registry, skopeo and umoci. The image comes from a registry on 127.0.0.1 this
# script starts; containers use a bridge and nftables table of this run only. Everything lives under one
# temp dir, removed at exit with every container, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
BERTH=${1:-$CARGO_TARGET_DIR/release/berth}
if [[ ! -x $BERTH ]]; then
    cargo build --release --locked --bin berth >&2
fi
BERTH=$(realpath "$BERTH")
IDLE_SECONDS=${IDLE_SECONDS:-30}
CONTAINERS=${CONTAINERS:-50}
SOCKET="berth-bench-$$"

work=$(mktemp -d /var/tmp/berth-bench-tui.XXXXXX)
bench_bridge="bt$$"
bench_table="berth_tuibench$$"
bench_network_config "$bench_bridge" "$bench_table" 253 254
B="$BERTH --root $work/state"
registry_pid=""
cleanup() {
    set +e
    tmux -L "$SOCKET" kill-server 2>/dev/null
    bench_cleanup
}
trap cleanup EXIT
trap "exit 130" INT TERM

# A busybox image (the host's static busybox) in a local registry.
start_busybox_registry
$B pull -q "$ref" >/dev/null

echo "starting $CONTAINERS containers ..." >&2
for i in $(seq "$CONTAINERS"); do $B run -d --name "bench-$i" "$ref" sleep 3600 >/dev/null; done
running=$($B ps -q | wc -l)
[[ $running -eq $CONTAINERS ]] || { echo "only $running of $CONTAINERS containers run" >&2; exit 1; }

start=$(date +%s%N)
tmux -L "$SOCKET" new-session -d -s bench -x 120 -y 40 \
    "exec env BERTH_CONFIG=$work/config.toml BERTH_TUI_CONFIG=$work/none.toml $B"
screen() { tmux -L "$SOCKET" capture-pane -p -t bench; }
until screen | grep -q "1 Containers"; do sleep 0.005; done
first_frame_ms=$(( ($(date +%s%N) - start) / 1000000 ))
until screen | grep -q "Containers ($CONTAINERS)"; do sleep 0.005; done
listed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

pid=$(tmux -L "$SOCKET" display-message -p -t bench '#{pane_pid}')
sleep 2
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$IDLE_SECONDS"
t1=$(ticks)
idle_cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$IDLE_SECONDS" 'BEGIN { printf "%.2f", 100 * d / hz / s }')
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

printf 'with %d running containers (%s)\n' "$CONTAINERS" "$BERTH"
printf 'first frame: %d ms (goal < 100, includes tmux polling)\n' "$first_frame_ms"
printf 'full list:   %d ms\n' "$listed_ms"
printf 'idle CPU:    %s %% of a core over %d s (goal < 0.2)\n' "$idle_cpu" "$IDLE_SECONDS"
printf 'RSS:         %d MB (goal < 50)\n' $((rss_kb / 1024))

# Following a flood: a container writes FLOOD_MB (default 1024) MB of output in 1000-byte lines while the
# Logs pane follows it; the TUI's peak RSS (VmHWM, over the whole run) must stay under 50 MB.
FLOOD_MB=${FLOOD_MB:-1024}
$B run -d --name flood "$ref" sh -c \
    "sleep 2; yes \$(printf '%0999d' 0) | head -c ${FLOOD_MB}m >/dev/stdout; echo; echo END-OF-FLOOD; sleep 3600" >/dev/null
tmux -L "$SOCKET" send-keys -t bench / && tmux -L "$SOCKET" send-keys -t bench -l flood && tmux -L "$SOCKET" send-keys -t bench Enter
until screen | grep -q " /flood ━"; do sleep 0.05; done
tmux -L "$SOCKET" send-keys -t bench 3
flood_start=$(date +%s%N)
until screen | grep -q END-OF-FLOOD; do
    sleep 0.2
    (( $(date +%s%N) - flood_start < 600000000000 )) || { echo "END-OF-FLOOD not on screen after 600 s" >&2; screen >&2; exit 1; }
done
flood_s=$(( ($(date +%s%N) - flood_start) / 1000000000 ))
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
printf 'following a %d MB flood: done in %d s, peak RSS over the run %d MB (goal < 50)\n' "$FLOOD_MB" "$flood_s" $((hwm_kb / 1024))
