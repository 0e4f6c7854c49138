#!/usr/bin/env bash
# `compose up -d` and `compose down` of a 5-service project (busybox services on the project network,
# one with a named volume; `init: true` so each stops on SIGTERM rather than after the stop timeout), berth vs podman-compose, RUNS (default 5) of each, medians and ratios.
# Goal (issue 14): berth at least 5x faster for each. Needs root and BERTH_BENCH_DEPS=1 scripts/deps.sh
# (podman, podman-compose). Everything lives under one temp dir, removed at exit with what was made.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-5}"
build_berth

work=$(mktemp -d /var/tmp/berth-bench-compose.XXXXXX)
bench_bridge="bq$$"
bench_table="berth_benchq$$"
bench_network_config "$bench_bridge" "$bench_table" 253 254
B="$BERTH_BIN --root $work/berth-root"
bench_podman
PC="podman-compose --podman-args=$(printf %q "$podman_args")"
registry_pid=""
cleanup() {
  set +e
  (cd "$work/project" 2>/dev/null && $B compose down -v >/dev/null 2>&1)
  bench_cleanup
}
trap cleanup EXIT
trap "exit 130" INT TERM

start_busybox_registry
$B pull -q "$ref" >/dev/null
$P pull -q --tls-verify=false "$ref" >/dev/null

mkdir -p "$work/project"
cat > "$work/project/compose.yaml" <<YAML
name: benchq$$
services:
  web: {image: "$ref", init: true, command: httpd -f -p 8080}
  api: {image: "$ref", init: true, command: sleep 600}
  worker: {image: "$ref", init: true, command: sleep 600}
  cache: {image: "$ref", init: true, command: sleep 600}
  db: {image: "$ref", init: true, command: sleep 600, volumes: [data:/data]}
volumes:
  data: {}
YAML

# Milliseconds one command takes, printed; the command's output is dropped, a failure stops the bench.
ms() {
  local start end
  start=$(date +%s%N)
  bash -c "$1" >/dev/null 2>&1 || { echo "this command fails here, so it cannot be timed: $1" >&2; exit 1; }
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

cd "$work/project"
berth_up=(); berth_down=(); podman_up=(); podman_down=()
for _ in $(seq "$RUNS"); do
  berth_up+=("$(ms "$B compose up -d")")
  berth_down+=("$(ms "$B compose down -v")")
done
podman_ok=1
if ! bash -c "$PC up -d" >/dev/null 2>&1; then
  echo "podman-compose up fails here; podman side skipped" >&2
  podman_ok=0
fi
bash -c "$PC down -v" >/dev/null 2>&1 || true
if [ "$podman_ok" = 1 ]; then
  for _ in $(seq "$RUNS"); do
    podman_up+=("$(ms "$PC up -d")")
    podman_down+=("$(ms "$PC down -v")")
  done
fi

bu=$(printf '%s\n' "${berth_up[@]}" | median); bd=$(printf '%s\n' "${berth_down[@]}" | median)
echo "compose of 5 services, median of $RUNS runs"
echo "  berth compose up -d          ${bu} ms"
echo "  berth compose down -v        ${bd} ms"
if [ "$podman_ok" = 1 ]; then
  pu=$(printf '%s\n' "${podman_up[@]}" | median); pd=$(printf '%s\n' "${podman_down[@]}" | median)
  echo "  podman-compose up -d         ${pu} ms"
  echo "  podman-compose down -v       ${pd} ms"
  echo "  podman / berth: up $(echo "scale=1; $pu / $bu" | bc)x, down $(echo "scale=1; $pd / $bd" | bc)x  (goal >= 5x each)"
fi
