#!/usr/bin/env bash
# `save` and `load` of a ~1 GB, 5-layer image: berth vs podman, RUNS times each (medians, peak RSS).
# berth save writes Docker 25's archive from its layer store (exact tars from the tar indexes); podman save
# writes a docker-archive. Each load starts from an empty store. Needs root, docker-registry, podman,
# skopeo and umoci (BERTH_BENCH_DEPS=1 scripts/deps.sh). Traffic stays on 127.0.0.1; everything made lives
# under one temp dir, removed at exit.
#
# BERTH_BIN=PATH uses that berth binary instead of building one (as every bench does). BENCH_REF=
# 127.0.0.1:PORT/repo:tag benches an image already in a running local registry (bench/push.sh passes its
# own) instead of building and serving one.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
RUNS="${RUNS:-3}"
LAYER_MB="${LAYER_MB:-200}"
build_berth
BERTH="$BERTH_BIN"

work=$(mktemp -d /var/tmp/berth-bench-save.XXXXXX)
registry_pid=""
PODMAN=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay)
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  "${PODMAN[@]}" system reset -f >/dev/null 2>&1 || true
  umount -R "$work/podman/root/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

if [ -n "${BENCH_REF:-}" ]; then
  ref="$BENCH_REF"
else
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/registry" "$port" > "$work/registry.yml"
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
  ref="127.0.0.1:$port/bench/big:latest"
  skopeo copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://$ref"
fi

# Runs "$@" under GNU time; prints "seconds max_rss_kb".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  cat "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "pulling $ref into berth and podman" >&2
"$BERTH" --root "$work/berth" pull -q "$ref" >/dev/null
"${PODMAN[@]}" pull -q --tls-verify=false "$ref" >/dev/null

declare -A times rss
# Runs a step RUNS times: $1 names it, $2 prepares each run (untimed), the rest is timed.
run_step() {
  local name=$1 prepare=$2; shift 2
  local t=() m=()
  for r in $(seq "$RUNS"); do
    $prepare
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    read -r secs kb < <(measure "$@")
    t+=("$secs"); m+=("$kb")
    echo "$name run $r: ${secs}s, peak RSS $((kb / 1024)) MB" >&2
  done
  times[$name]=$(printf '%s\n' "${t[@]}" | median)
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -1)
}
fresh_archive() { rm -f "$work/archive.tar"; }
fresh_berth() { rm -rf "$work/berth-load"; }
fresh_podman() {
  PODMAN_LOAD=(podman --root "$work/podman-load/root" --runroot "$work/podman-load/run" --storage-driver overlay)
  "${PODMAN_LOAD[@]}" system reset -f >/dev/null 2>&1 || true
  umount -R "$work/podman-load/root/overlay" 2>/dev/null || true
  rm -rf "$work/podman-load"
}

run_step berth-save fresh_archive "$BERTH" --root "$work/berth" save -o "$work/archive.tar" "$ref"
size=$(stat -c %s "$work/archive.tar")
cp "$work/archive.tar" "$work/berth.tar"
run_step berth-load fresh_berth "$BERTH" --root "$work/berth-load" load -i "$work/berth.tar"
run_step podman-save fresh_archive "${PODMAN[@]}" save -o "$work/archive.tar" "$ref"
cp "$work/archive.tar" "$work/podman.tar"
rm -f "$work/archive.tar"
run_step podman-load fresh_podman podman --root "$work/podman-load/root" --runroot "$work/podman-load/run" \
  --storage-driver overlay load -i "$work/podman.tar"
fresh_podman

echo
echo "image: $ref, archive $((size / 1000000)) MB, $RUNS runs each, medians"
printf '%-12s %9s %14s\n' step seconds "peak RSS MB"
for name in berth-save podman-save berth-load podman-load; do
  printf '%-12s %9.2f %14d\n' "$name" "${times[$name]}" "$((rss[$name] / 1024))"
done
echo
printf 'save: podman / berth %.2fx\n' "$(echo "${times[podman-save]} / ${times[berth-save]}" | bc -l)"
printf 'load: podman / berth %.2fx\n' "$(echo "${times[podman-load]} / ${times[berth-load]}" | bc -l)"
