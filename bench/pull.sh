#!/usr/bin/env bash
# Pull a ~1 GB, 5-layer image from a local registry with berth (once per layer store: EROFS images and
# unpacked dirs), with `podman pull`, and with `skopeo copy` + `umoci unpack`, each from an empty store, RUNS
# times each; prints medians, peak RSS, berth's `rmi` time and ratios from this one run. Needs root and BERTH_BENCH_DEPS=1 scripts/deps.sh (podman, skopeo, umoci).
# Traffic stays on 127.0.0.1; everything made lives under one temp dir, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
LAYER_MB="${LAYER_MB:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
cargo build --release --locked --bin berth >&2
BERTH="$CARGO_TARGET_DIR/release/berth"

work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
registry_pid=""
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  umount -R "$work/store/root/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
log:
  level: error
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

echo "building a 5-layer image of ~$((LAYER_MB * 5)) MB (half random, half text per layer)" >&2
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:big" >/dev/null
for i in 1 2 3 4 5; do
  layer="$work/layer$i"
  mkdir -p "$layer/data$i"
  half=$((LAYER_MB / 2))
  for f in $(seq 1 "$half"); do head -c 1048576 /dev/urandom > "$layer/data$i/random-$f.bin"; done
  for f in $(seq 1 "$half"); do
    { yes "layer $i file $f: the quick brown fox jumps over the lazy dog $RANDOM" || true; } | head -c 1048576 > "$layer/data$i/text-$f.txt"
  done
  umoci insert --image "$work/oci:big" "$layer" / >/dev/null
  rm -rf "$layer"
done
skopeo copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://127.0.0.1:$port/bench/big:latest"
compressed=$(du -sb "$work/registry" | cut -f1)
ref="127.0.0.1:$port/bench/big:latest"

# Runs "$@" under GNU time; prints "seconds max_rss_kb".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  cat "$work/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A times rss rmi
run_tool() {
  local name=$1; shift
  local t=() m=()
  for r in $(seq "$RUNS"); do
    rm -rf "$work/store" && mkdir -p "$work/store"
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    read -r secs kb < <("$@")
    t+=("$secs"); m+=("$kb")
    echo "$name run $r: ${secs}s, peak RSS $((kb / 1024)) MB" >&2
  done
  times[$name]=$(printf '%s\n' "${t[@]}" | median)
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -1)
}

# berth with layer_store = $1; then the rmi of the pulled image is timed (its median lands in rmi[berth-$1]).
# The pull's "seconds rss" line is printed last: run_tool reads one line and moves on.
berth_pull() {
  printf 'layer_store = "%s"\n' "$1" > "$work/berth-$1.toml"
  local pulled start end
  pulled=$(BERTH_CONFIG="$work/berth-$1.toml" measure "$BERTH" --root "$work/store" pull -q "$ref")
  start=$(date +%s.%N)
  BERTH_CONFIG="$work/berth-$1.toml" "$BERTH" --root "$work/store" rmi "$ref" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc >> "$work/rmi-$1"
  echo "$pulled"
}
podman_pull() {
  measure podman --root "$work/store/root" --runroot "$work/store/run" --storage-driver overlay \
    pull -q --tls-verify=false "$ref"
  podman --root "$work/store/root" --runroot "$work/store/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  # podman leaves its storage bind-mounted on itself; the next run starts from an empty store.
  umount -R "$work/store/root/overlay" 2>/dev/null || true
}
skopeo_umoci() {
  local a b
  read -r a ka < <(measure skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/store/oci:big")
  read -r b kb < <(measure umoci unpack --image "$work/store/oci:big" "$work/store/bundle")
  echo "$(echo "$a + $b" | bc) $(( ka > kb ? ka : kb ))"
}

run_tool berth-erofs berth_pull erofs
run_tool berth-dir berth_pull dir
for store in erofs dir; do rmi[berth-$store]=$(median < "$work/rmi-$store"); done
run_tool podman podman_pull
run_tool skopeo+umoci skopeo_umoci

mb=$((compressed / 1000000))
echo
echo "image: 5 layers, ${mb} MB compressed in the registry, $RUNS runs each, medians"
printf '%-14s %9s %12s %14s %9s\n' tool seconds "MB/s (in)" "peak RSS MB" "rmi s"
for name in berth-erofs berth-dir podman skopeo+umoci; do
  printf '%-14s %9.2f %12.1f %14d %9s\n' "$name" "${times[$name]}" "$(echo "$mb / ${times[$name]}" | bc -l)" \
    "$((rss[$name] / 1024))" "${rmi[$name]:--}"
done
echo
for store in erofs dir; do
  printf 'podman / berth-%-6s %.2fx\n' "$store:" "$(echo "${times[podman]} / ${times[berth-$store]}" | bc -l)"
  printf 'skopeo+umoci / berth-%-6s %.2fx\n' "$store:" "$(echo "${times[skopeo+umoci]} / ${times[berth-$store]}" | bc -l)"
done
