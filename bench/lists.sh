#!/usr/bin/env bash
# The everyday read verbs, side by side with podman in one run (RUNS >= 20 each, medians and ratios):
#   1. `ps -a` with PS_CONTAINERS (default 500) containers, PS_RUNNING (default 50) of them running;
#   2. `images` with IMAGES (default 200) image names;
#   3. `logs --tail 100` of a container whose log holds LOG_MB (default 1024) MB;
#   4. `stats --no-stream` of the running containers (PS_RUNNING).
# Goals (issue 16): ps -a < 20 ms, images < 20 ms, logs --tail 100 < 20 ms, stats --no-stream of 50 < 100 ms.
# Needs root and BERTH_BENCH_DEPS=1 scripts/deps.sh (podman, crun, runc, hyperfine). Traffic stays on
# 127.0.0.1; everything lives under one temp dir, removed at exit with every container.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-20}"
PS_CONTAINERS="${PS_CONTAINERS:-500}"
PS_RUNNING="${PS_RUNNING:-50}"
IMAGES="${IMAGES:-200}"
LOG_MB="${LOG_MB:-1024}"
build_berth

work=$(mktemp -d /var/tmp/berth-bench-lists.XXXXXX)
bench_bridge="bl$$"
bench_table="berth_lbench$$"
bench_network_config "$bench_bridge" "$bench_table" 249 250
B="$BERTH_BIN --root $work/berth-root"
bench_podman
registry_pid=""
trap bench_cleanup EXIT
trap "exit 130" INT TERM

start_busybox_registry
$B pull -q "$ref" >/dev/null
$P pull -q --tls-verify=false "$ref" >/dev/null
runtime=crun
(cd /tmp && crun --version >/dev/null 2>&1) || runtime=runc
# As in bench/run.sh: podman 4.3 asks for rlimits root may not grant here, and crun may refuse this host's
# hybrid cgroups (then runc).
PR="$P --runtime $runtime"
podman_limits="--network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
if ! $PR run --rm $podman_limits "$ref" true >/dev/null 2>&1; then
  PR="$P --runtime runc"
fi

echo "making $PS_CONTAINERS containers ($PS_RUNNING running) and $IMAGES image names in each engine ..." >&2
for i in $(seq "$PS_RUNNING"); do
  $B run -d --network none "$ref" sleep 3600 >/dev/null
  $PR run -d $podman_limits "$ref" sleep 3600 >/dev/null
done
for i in $(seq $((PS_CONTAINERS - PS_RUNNING))); do
  $B create --network none "$ref" true >/dev/null
  $PR create $podman_limits "$ref" true >/dev/null
done
for i in $(seq "$IMAGES"); do
  $B tag "$ref" "bench/image$i:latest"
  $P tag "$ref" "bench/image$i:latest"
done

echo "writing a $LOG_MB MB log in each engine ..." >&2
flood="yes \$(printf '%0099d' 0) | head -c ${LOG_MB}m; echo END"
$B run -d --name flood --network none --log-opt max-size=$((LOG_MB * 2))m "$ref" sh -c "$flood" >/dev/null
$PR run -d --name flood $podman_limits --log-driver k8s-file "$ref" sh -c "$flood" >/dev/null
$B wait flood >/dev/null
$P wait flood >/dev/null
$B logs --tail 1 flood | grep -q END || { echo "berth's flood log does not end with END" >&2; exit 1; }

# A podman verb that fails here (stats on this host's cgroups, say) is left out and shown as n/a.
cmds=()
for verb in "ps -a" "images" "logs --tail 100 flood" "stats --no-stream"; do
  cmds+=(-n "berth ${verb% flood}" "$B $verb")
  if $P $verb >/dev/null 2>&1; then
    cmds+=(-n "podman ${verb% flood}" "$P $verb")
  else
    echo "podman $verb fails here; left out" >&2
  fi
done
hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/lists.json" "${cmds[@]}" >/dev/null

python3 - "$work/lists.json" "$PS_CONTAINERS" "$PS_RUNNING" "$IMAGES" "$LOG_MB" <<'PY'
import json, statistics, sys
res = {r["command"]: statistics.median(r["times"]) * 1000 for r in json.load(open(sys.argv[1]))["results"]}
containers, running, images, log_mb = sys.argv[2:6]
rows = [
    ("ps -a", f"{containers} containers", 20),
    ("images", f"{images} image names", 20),
    ("logs --tail 100", f"{log_mb} MB log", 20),
    ("stats --no-stream", f"{running} running", 100),
]
print(f"{'verb':<20} {'with':<18} {'berth':>9} {'podman':>9} {'podman/berth':>13}  goal")
for verb, what, goal in rows:
    b, p = res[f"berth {verb}"], res.get(f"podman {verb}")
    ok = "ok" if b < goal else "MISSED"
    podman = f"{p:7.1f}ms {p / b:12.1f}x" if p else f"{'n/a':>9} {'':>13}"
    print(f"{verb:<20} {what:<18} {b:7.1f}ms {podman}  < {goal} ms {ok}")
PY
