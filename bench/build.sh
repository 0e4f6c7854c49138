#!/usr/bin/env bash
# `berth build` vs `podman build`, side by side in one run (RUNS >= 5 each, medians and ratios), on busybox:
#   1. a 4-step Dockerfile (COPY, RUN, COPY, RUN), cold (--no-cache) and fully cached;
#   2. a RUN step's overhead: `RUN true` against `ENV A=1`, both --no-cache, the difference of medians of
#      STEP_RUNS (25) builds each; with --network none (as podman is timed) and on berth's default bridge
#      network, as a plain `build` runs.
# Goals (issue 11): cold at least 4x faster than podman, cached at least 10x faster and <= 40 ms, a RUN
# step's overhead beyond its command < 30 ms. Needs root, hyperfine, podman, runc or crun, umoci, skopeo
# and docker-registry (BERTH_BENCH_DEPS=1 scripts/deps.sh). Everything lives under one temp dir, removed
# at exit. PROFILE=debug times a debug build (quicker to make, slower to run).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-5}"
# The RUN step's overhead is a difference of two ~40 ms berth-only timings: a median of 5 moved by several
# ms between runs minutes apart on this VM, so it takes more (they cost ~2 s each).
STEP_RUNS="${STEP_RUNS:-25}"
build_berth

work=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
bench_bridge="bbb$$"
bench_table="berth_bbench$$"
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
if ! $P --runtime crun run --rm --network none --ulimit nofile=1024:1024 "$ref" true >/dev/null 2>&1; then
  echo "crun cannot run containers on this host (hybrid cgroups); podman build uses runc" >&2
  runtime=runc
fi
# Podman 4.3 asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, which root here may not grant.
PB="$P build --runtime $runtime --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --network none -q"

ctx="$work/ctx"
mkdir -p "$ctx/app"
head -c 65536 /dev/urandom > "$ctx/app/data.bin"
printf 'config\n' > "$ctx/app.conf"
printf 'FROM %s\nCOPY app /app\nRUN echo built > /app/built\nCOPY app.conf /etc/app.conf\nRUN wc -c /app/data.bin > /app/size\n' \
  "$ref" > "$ctx/Dockerfile"
printf 'FROM %s\nRUN true\n' "$ref" > "$work/run.Dockerfile"
printf 'FROM %s\nENV A=1\n' "$ref" > "$work/env.Dockerfile"
for cmd in "$B build -q --network none $ctx" "$PB $ctx"; do
  bash -c "$cmd" >/dev/null || { echo "this command fails here, so it cannot be timed: $cmd" >&2; exit 1; }
done

hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/cold.json" \
  -n "berth build --no-cache" "$B build -q --no-cache --network none $ctx" \
  -n "podman build --no-cache ($runtime)" "$PB --no-cache $ctx" >&2
hyperfine --warmup 2 --runs "$RUNS" --export-json "$work/cached.json" \
  -n "berth build (cached)" "$B build -q --network none $ctx" \
  -n "podman build (cached)" "$PB $ctx" >&2
hyperfine --warmup 2 --runs "$STEP_RUNS" --export-json "$work/step.json" \
  -n "berth build RUN true" "$B build -q --no-cache --network none -f $work/run.Dockerfile $ctx" \
  -n "berth build ENV A=1" "$B build -q --no-cache --network none -f $work/env.Dockerfile $ctx" \
  -n "berth build RUN true (bridge)" "$B build -q --no-cache -f $work/run.Dockerfile $ctx" >&2

python3 - "$work/cold.json" "$work/cached.json" "$work/step.json" <<'PY'
import json, statistics, sys
def medians(path):
    return [(r["command"], statistics.median(r["times"])) for r in json.load(open(path))["results"]]
cold, cached, step = (medians(p) for p in sys.argv[1:4])
print("4-step Dockerfile (COPY, RUN, COPY, RUN), medians")
for name, t in cold + cached:
    print(f"  {name:<40} {t*1000:8.1f} ms")
print(f"  cold:   podman / berth = {cold[1][1]/cold[0][1]:.1f}x  (goal >= 4x)")
print(f"  cached: podman / berth = {cached[1][1]/cached[0][1]:.1f}x  (goal >= 10x), berth {cached[0][1]*1000:.1f} ms (goal <= 40 ms)")
run, env, bridged = step[0][1], step[1][1], step[2][1]
print(f"RUN step overhead beyond its command: {(run-env)*1000:.1f} ms  (goal < 30 ms)")
print(f"  on the default bridge network: {(bridged-env)*1000:.1f} ms")
PY
