#!/usr/bin/env bash
# The TUI's layer explorer on a large image: a 5-layer image of FILES (default 65000) files and ~SIZE_MB (default
# 1000) MB, whose top layer also rewrites and removes some files of the lower ones, is pulled from a registry on
# 127.0.0.1; the TUI runs in tmux, opens the explorer on it, and this prints the time until the tree shows, the
# time to walk to its last line, and the TUI's peak RSS. Goals (issue 15): the tree within 2 s, RSS < 100 MB.
# Usage: bench/explore.sh [path/to/berth]   (default: $CARGO_TARGET_DIR/release/berth, built if missing)
# Needs root, tmux, docker-registry, skopeo and umoci. Everything lives under one temp dir, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
BERTH=${1:-$CARGO_TARGET_DIR/release/berth}
if [[ ! -x $BERTH ]]; then
    cargo build --release --locked --bin berth >&2
fi
BERTH=$(realpath "$BERTH")
FILES=${FILES:-65000}
SIZE_MB=${SIZE_MB:-1000}
SOCKET="berth-bench-explore-$$"

work=$(mktemp -d /var/tmp/berth-bench-explore.XXXXXX)
B="$BERTH --root $work/state"
registry_pid=""
cleanup() {
    set +e
    tmux -L "$SOCKET" kill-server 2>/dev/null
    [[ -n $registry_pid ]] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/registry" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

echo "building a 5-layer image of $FILES files, ~$SIZE_MB MB ..." >&2
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:big" >/dev/null
per_layer=$((FILES / 5))
file_bytes=$((SIZE_MB * 1000000 / FILES))
for i in 1 2 3 4 5; do
    # 100 files a directory, half random bytes and half text; the top layer also rewrites every 20th file
    # of layer 1 and removes every 20th of layer 2 (wasted space for the score).
    python3 - "$work/layer.tar" "$i" "$per_layer" "$file_bytes" <<'PY'
import io, os, sys, tarfile
out, layer, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
text = (f"layer {layer}: the quick brown fox jumps over the lazy dog\n" * (size // 50 + 1)).encode()[:size]
dirs = set()
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
    def add(path, data):
        for d in [path.rsplit("/", 2)[0], path.rsplit("/", 1)[0]]:
            if d not in dirs:
                dirs.add(d)
                info = tarfile.TarInfo(d); info.type = tarfile.DIRTYPE; info.mode = 0o755
                tar.addfile(info)
        info = tarfile.TarInfo(path); info.size = len(data); info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    for n in range(count):
        add(f"data{layer}/d{n // 100:03}/f{n:05}", os.urandom(size) if n % 2 == 0 else text)
    if layer == 5:
        for n in range(0, count, 20):
            add(f"data1/d{n // 100:03}/f{n:05}", os.urandom(size))
            add(f"data2/d{n // 100:03}/.wh.f{n:05}", b"")
PY
    umoci raw add-layer --image "$work/oci:big" "$work/layer.tar" >/dev/null
    rm -f "$work/layer.tar"
done
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://127.0.0.1:$port/bench/big:latest"
$B pull -q "127.0.0.1:$port/bench/big:latest" >/dev/null

tmux -L "$SOCKET" new-session -d -s bench -x 120 -y 40 "exec env TERM=xterm-256color $B"
pid=$(tmux -L "$SOCKET" list-panes -t bench -F '#{pane_pid}')
wait_for() {
    local deadline=$((SECONDS + 120))
    until tmux -L "$SOCKET" capture-pane -p -t bench | grep -q -- "$1"; do
        ((SECONDS < deadline)) || { echo "no '$1' on screen" >&2; tmux -L "$SOCKET" capture-pane -p -t bench >&2; exit 1; }
        sleep 0.02
    done
}
wait_for "2 Images"
tmux -L "$SOCKET" send-keys -t bench 2
wait_for "bench/big"
start=$(date +%s%N)
tmux -L "$SOCKET" send-keys -t bench x
# The tree is there (built off the UI thread after the layers are read) when its title counts its rows.
wait_for "Files ([1-9][0-9]*) [━─]"
shown=$(( ($(date +%s%N) - start) / 1000000 ))
screen=$(tmux -L "$SOCKET" capture-pane -p -t bench)
start=$(date +%s%N)
tmux -L "$SOCKET" send-keys -t bench Tab G
wait_for "f$(printf '%05d' $((per_layer - 1)))"
walked=$(( ($(date +%s%N) - start) / 1000000 ))
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "$screen" | sed -n 2,3p
echo "explorer: tree shown ${shown} ms after the key (goal < 2000), last line reached in ${walked} ms, TUI peak RSS $((rss / 1024)) MB (goal < 100)"
