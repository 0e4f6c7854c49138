#!/usr/bin/env bash
# The docker CLI against `berth serve` vs the same CLI against `podman system service`, side by side in one run
# (RUNS each, default 20; medians and ratios): `docker ps -a` with 50 containers, `docker run --rm busybox
# true`, `docker exec web true`, `docker inspect web`; then the idle server's resident memory and CPU.
# Goals (issue 13): each at least 3x faster than podman's service; idle RSS under 20 MB and idle CPU 0.
# Needs root, hyperfine, podman, runc, umoci, skopeo, docker-registry (BERTH_BENCH_DEPS=1 scripts/deps.sh)
# and the docker CLI. Everything lives under one temp dir, removed at exit. PROFILE=debug times a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-20}"
DOCKER="${DOCKER:-/usr/local/bin/docker}"
[ -x "$DOCKER" ] || { echo "the docker CLI is missing at $DOCKER" >&2; exit 1; }
build_berth

work=$(mktemp -d /var/tmp/berth-bench-api.XXXXXX)
bench_bridge="bba$$"
bench_table="berth_bapi$$"
bench_network_config "$bench_bridge" "$bench_table" 247 248
B="$BERTH_BIN --root $work/berth-root"
# Podman's service with the settings this host needs: runc (crun refuses hybrid cgroups), cgroupfs, no
# journald, and a nofile limit root may grant.
cat > "$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
EOF
export CONTAINERS_CONF="$work/containers.conf"
bench_podman
registry_pid="" berth_pid="" podman_pid=""
cleanup() {
  set +e
  DOCKER_HOST="unix://$work/berth.sock" "$DOCKER" rm -f $(DOCKER_HOST="unix://$work/berth.sock" "$DOCKER" ps -aq) >/dev/null 2>&1
  [ -n "$berth_pid" ] && kill "$berth_pid" 2>/dev/null && wait "$berth_pid" 2>/dev/null
  [ -n "$podman_pid" ] && kill "$podman_pid" 2>/dev/null && wait "$podman_pid" 2>/dev/null
  bench_cleanup
}
trap cleanup EXIT
trap "exit 130" INT TERM

start_busybox_registry
$B pull -q "$ref" >/dev/null
$B tag "$ref" busybox >/dev/null
$P pull -q --tls-verify=false "$ref" >/dev/null
$P tag "$ref" busybox >/dev/null

$B serve -H "unix://$work/berth.sock" >"$work/berth-serve.log" 2>&1 &
berth_pid=$!
$P system service --time 0 "unix://$work/podman.sock" >"$work/podman-service.log" 2>&1 &
podman_pid=$!
for sock in berth podman; do
  for _ in $(seq 100); do [ -S "$work/$sock.sock" ] && break; sleep 0.1; done
  [ -S "$work/$sock.sock" ] || { echo "the $sock server did not listen" >&2; exit 1; }
done
DB="env DOCKER_HOST=unix://$work/berth.sock $DOCKER"
DP="env DOCKER_HOST=unix://$work/podman.sock $DOCKER"
for D in "$DB" "$DP"; do
  for i in $(seq 50); do $D create --name "c$i" busybox sleep 1000 >/dev/null; done
  $D run -d --name web busybox sleep 1000 >/dev/null
  for cmd in "ps -a" "run --rm busybox true" "exec web true" "inspect web"; do
    $D $cmd >/dev/null || { echo "this command fails here, so it cannot be timed: $D $cmd" >&2; exit 1; }
  done
done

i=0
for cmd in "ps -a" "run --rm busybox true" "exec web true" "inspect web"; do
  i=$((i + 1))
  hyperfine --warmup 2 --runs "$RUNS" --export-json "$work/$i.json" \
    -n "berth: docker $cmd" "$DB $cmd" -n "podman: docker $cmd" "$DP $cmd" >&2
done

# The idle server: resident memory, and CPU ticks over 5 s of nothing.
sleep 2
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$berth_pid/status")
ticks() { awk '{print $14 + $15}' "/proc/$berth_pid/stat"; }
before=$(ticks); sleep 5; after=$(ticks)

python3 - "$work" "$rss_kb" "$((after - before))" <<'PY'
import json, statistics, sys
work, rss_kb, idle_ticks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("docker CLI against berth serve and podman system service, medians")
for i in range(1, 5):
    (b, p) = json.load(open(f"{work}/{i}.json"))["results"]
    mb, mp = statistics.median(b["times"]), statistics.median(p["times"])
    print(f"  {b['command']:<36} {mb*1000:8.1f} ms   {p['command']:<38} {mp*1000:8.1f} ms   podman / berth = {mp/mb:.1f}x (goal >= 3x)")
print(f"idle berth serve: RSS {rss_kb/1024:.1f} MB (goal < 20 MB), CPU {idle_ticks} ticks in 5 s (goal 0)")
PY
