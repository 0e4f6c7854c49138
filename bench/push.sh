#!/usr/bin/env bash
# Push a ~1 GB, 5-layer image to an empty local registry with berth, with `skopeo copy` from an OCI layout
# of the same files, and with `podman push`, RUNS times each (the registry emptied before every run);
# prints medians, peak RSS and ratios from this one run. berth's image is built FROM scratch with one COPY
# per layer, so its first push compresses every layer (timed once, as "berth-first"); later pushes send
# the blobs kept from it. Needs root and BERTH_BENCH_DEPS=1 scripts/deps.sh (podman, skopeo, umoci).
# Traffic stays on 127.0.0.1; everything made lives under one temp dir, removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS="${RUNS:-3}"
LAYER_MB="${LAYER_MB:-200}"
build_berth
BERTH="$BERTH_BIN"

# Lowercase: podman names an image pulled from an OCI layout after its path.
work="/var/tmp/berth-bench-push-$$-$RANDOM"
mkdir "$work"
registry_pid=""
P=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay)
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  "${P[@]}" system reset -f >/dev/null 2>&1 || true
  umount -R "$work/podman/root/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Stops the registry (if running), empties its storage and starts it again.
fresh_registry() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work/registry"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/registry" "$port" > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
}

echo "making 5 layers of ~$LAYER_MB MB (half random, half text) as an OCI layout, in berth and in podman" >&2
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:big" >/dev/null
mkdir -p "$work/ctx"
dockerfile="FROM scratch"
for i in 1 2 3 4 5; do
  layer="$work/ctx/layer$i"
  mkdir -p "$layer/data$i"
  half=$((LAYER_MB / 2))
  for f in $(seq 1 "$half"); do head -c 1048576 /dev/urandom > "$layer/data$i/random-$f.bin"; done
  for f in $(seq 1 "$half"); do
    { yes "layer $i file $f: the quick brown fox jumps over the lazy dog $RANDOM" || true; } | head -c 1048576 > "$layer/data$i/text-$f.txt"
  done
  umoci insert --image "$work/oci:big" "$layer" / >/dev/null
  dockerfile="$dockerfile"$'\n'"COPY layer$i/ /"
done
printf '%s\n' "$dockerfile" > "$work/ctx/Dockerfile"
"$BERTH" --root "$work/berth" build -q -t bench/big:latest "$work/ctx" >/dev/null
rm -rf "$work/ctx"
"${P[@]}" pull -q "oci:$work/oci:big" >/dev/null
podman_image=$("${P[@]}" images -q | head -1)
ref="127.0.0.1:$port/bench/big:latest"

# Runs "$@" under GNU time; prints "seconds max_rss_kb".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  cat "$work/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A times rss
# run_tool NAME RUNS COMMAND...: the registry is emptied before each run.
run_tool() {
  local name=$1 runs=$2; shift 2
  local t=() m=()
  for r in $(seq "$runs"); do
    fresh_registry
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    read -r secs kb < <(measure "$@")
    t+=("$secs"); m+=("$kb")
    echo "$name run $r: ${secs}s, peak RSS $((kb / 1024)) MB" >&2
  done
  times[$name]=$(printf '%s\n' "${t[@]}" | median)
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -1)
}

"$BERTH" --root "$work/berth" tag bench/big:latest "$ref"
run_tool berth-first 1 "$BERTH" --root "$work/berth" push -q "$ref"
run_tool berth "$RUNS" "$BERTH" --root "$work/berth" push -q "$ref"
run_tool skopeo "$RUNS" skopeo copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://$ref"
run_tool podman "$RUNS" "${P[@]}" push -q --tls-verify=false "$podman_image" "docker://$ref"
compressed=$(du -sb "$work/registry" | cut -f1)

# save/load, berth vs podman: the archive helper's comparison goes here, timed with run_tool-style medians
# over the same image ("$BERTH" --root "$work/berth", image bench/big:latest; podman "${P[@]}", $podman_image),
# its rows added to `times`/`rss` and its names to the table below.

mb=$((compressed / 1000000))
echo
echo "image: 5 layers, ${mb} MB compressed in the registry, $RUNS runs each (berth-first: 1), medians"
printf '%-12s %9s %12s %14s\n' tool seconds "MB/s (out)" "peak RSS MB"
for name in berth-first berth skopeo podman; do
  printf '%-12s %9.2f %12.1f %14d\n' "$name" "${times[$name]}" "$(echo "$mb / ${times[$name]}" | bc -l)" \
    "$((rss[$name] / 1024))"
done
echo
printf 'podman / berth:        %.2fx (goal >= 2)\n' "$(echo "${times[podman]} / ${times[berth]}" | bc -l)"
printf 'berth / skopeo:        %.2fx (goal <= 1.5)\n' "$(echo "${times[berth]} / ${times[skopeo]}" | bc -l)"
printf 'podman / berth-first:  %.2fx\n' "$(echo "${times[podman]} / ${times[berth-first]}" | bc -l)"
