#!/usr/bin/env bash
# Container start-up and bookkeeping, side by side in one run (RUNS >= 20 each, medians and ratios):
#   1. `berth run --rm busybox true` vs `podman run --rm --network none busybox true` vs bare `crun run`,
#      then berth without networking and on its default bridge (one hyperfine run, so load drift does not
#      count as networking cost) vs podman on its default network
#      (runc where crun refuses this host's hybrid cgroups) of the same rootfs bundle;
#   2. `berth ps -a` with 500 containers present, 100 of them running;
#   3. monitor memory per running container: berth's monitor vs podman's conmon.
#   4. `run -d` of DETACHED (default 50) containers in a row, berth vs podman.
# Goals (issues 3 and 16): run --rm <= 1/5 of podman's time and within 3x of the bare runtime, networking
# adding <= 10 ms, 50 `run -d` >= 5x faster than podman's; ps -a < 20 ms; monitor RSS < 2 MB. Needs root and BERTH_BENCH_DEPS=1 scripts/deps.sh (podman, crun, runc, hyperfine).
# Traffic stays on 127.0.0.1; everything lives under one temp dir, removed at exit with every container.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS="${RUNS:-20}"
PS_CONTAINERS="${PS_CONTAINERS:-500}"
PS_RUNNING="${PS_RUNNING:-100}"
build_berth

work=$(mktemp -d /var/tmp/berth-bench-run.XXXXXX)
# berth's default bridge network, on a bridge, subnet and nftables table of this run only.
bench_bridge="bb$$"
bench_table="berth_bench$$"
bench_network_config "$bench_bridge" "$bench_table" 251 252
B="$BERTH_BIN --root $work/berth-root"
bench_podman
registry_pid=""
trap bench_cleanup EXIT
trap "exit 130" INT TERM

# A busybox image in a local registry, pulled by both engines.
start_busybox_registry
$B pull -q "$ref" >/dev/null
$P pull -q --tls-verify=false "$ref" >/dev/null

# The same rootfs as a bare OCI bundle for the low-level runtime.
umoci unpack --image "$work/oci:busybox" "$work/bundle" >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
json.dump(spec, open(path, "w"))
PY
runtime=crun
if ! (cd "$work/bundle" && crun run bench-probe >/dev/null 2>&1); then
  echo "crun cannot run containers on this host (hybrid cgroups); using runc as the bare runtime" >&2
  runtime=runc
fi
podman_runtime=$runtime

# Podman 4.3 asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, which root here may not grant (no
# CAP_SYS_RESOURCE): ask for what it may have.
podman_run="$P --runtime $podman_runtime run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 $ref true"
for cmd in "$B run --rm --network none $ref true" "$podman_run" "cd $work/bundle && $runtime run bench-probe2"; do
  bash -c "$cmd" >/dev/null || { echo "this command fails here, so it cannot be timed: $cmd" >&2; exit 1; }
done
hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/run.json" \
  -n "berth run --rm --network none" "$B run --rm --network none $ref true" \
  -n "podman run --rm --network none ($podman_runtime)" "$podman_run" \
  -n "$runtime run (bare bundle)" "cd $work/bundle && $runtime run bench-\$RANDOM\$RANDOM" >&2

# With networking: berth on its default bridge vs podman on its default network (skipped when podman has
# no working network backend here).
podman_net_run="$P --runtime $podman_runtime run --rm --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 $ref true"
if bash -c "$podman_net_run" >/dev/null 2>&1; then
  # berth without networking again, right before with it: the difference is then not the machine's load
  # drifting between the two hyperfine runs.
  hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/net.json" \
    -n "berth run --rm --network none (again)" "$B run --rm --network none $ref true" \
    -n "berth run --rm (default bridge)" "$B run --rm $ref true" \
    -n "podman run --rm (default network)" "$podman_net_run" >&2
else
  echo "podman run with its default network fails here; networked comparison skipped" >&2
  echo '{"results": []}' > "$work/net.json"
fi

# run -d of DETACHED (default 50) containers in a row, each engine, whole loops timed (then removed).
DETACHED="${DETACHED:-50}"
detached_loop() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$DETACHED"); do "$@" >/dev/null; done
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
berth_detached_ms=$(detached_loop $B run -d --network none "$ref" sleep 600)
podman_detached_ms=$(detached_loop $P --runtime "$podman_runtime" run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref" sleep 600)
for id in $($B ps -q --no-trunc); do $B rm -f "$id" >/dev/null; done
$P rm -af -t 0 >/dev/null
echo "{\"berth\": $berth_detached_ms, \"podman\": $podman_detached_ms, \"count\": $DETACHED}" > "$work/detached.json"

# ps -a with many containers, some running.
for _ in $(seq "$PS_RUNNING"); do $B run -d "$ref" sleep 600 >/dev/null; done
for _ in $(seq $((PS_CONTAINERS - PS_RUNNING))); do $B create "$ref" true >/dev/null; done
hyperfine --warmup 3 --runs "$RUNS" --export-json "$work/ps.json" -n "berth ps -a ($PS_CONTAINERS containers)" "$B ps -a" >&2

# Memory per running container: every berth monitor, and conmon for a few podman containers. A monitor sheds
# its start-up's pages once idle for 5 s (engine/src/footprint.rs): sampled before that, the most recently
# started ones count the binary's code they ran, and the median moved with how fast the steps above went.
sleep 6
berth_rss=$(for pid in $(pgrep -f "__monitor $work/berth-root"); do awk '/^VmRSS/{print $2}' "/proc/$pid/status"; done | sort -n)
berth_pss=$(for pid in $(pgrep -f "__monitor $work/berth-root"); do awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup"; done | sort -n)
berth_anon=$(for pid in $(pgrep -f "__monitor $work/berth-root"); do awk '/^RssAnon/{print $2}' "/proc/$pid/status"; done | sort -n)
for _ in 1 2 3 4 5; do $P --runtime "$podman_runtime" run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$ref" sleep 600 >/dev/null; done
conmon_rss=$(for pid in $(pgrep -f "conmon.*$work/podman-run"); do awk '/^VmRSS/{print $2}' "/proc/$pid/status"; done | sort -n)
conmon_pss=$(for pid in $(pgrep -f "conmon.*$work/podman-run"); do awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup"; done | sort -n)

python3 - "$work/run.json" "$work/ps.json" "$berth_rss" "$berth_anon" "$conmon_rss" "$work/net.json" "$berth_pss" "$conmon_pss" "$work/detached.json" <<'PY'
import json, statistics, sys
run = json.load(open(sys.argv[1]))["results"]
net = json.load(open(sys.argv[6]))["results"]
if len(net) == 3:
    none, b, p = (statistics.median(r["times"]) for r in net)
    print("container start with networking (median)")
    for r in net[1:]:
        print(f"  {r['command']:<48} {statistics.median(r['times'])*1000:8.1f} ms")
    print(f"  berth / podman = {b/p:.2f}  (goal <= 0.33)")
    print(f"  berth with networking - without = {(b - none)*1000:+.1f} ms  (goal <= +10 ms)")
d = json.load(open(sys.argv[9]))
print(f"run -d of {d['count']} in a row: berth {d['berth']} ms, podman {d['podman']} ms, "
      f"podman / berth = {d['podman']/d['berth']:.1f}x  (goal >= 5x)")
ps = json.load(open(sys.argv[2]))["results"][0]
med = {r["command"]: statistics.median(r["times"]) for r in run}
names = [r["command"] for r in run]
berth, podman, bare = (med[n] for n in names)
print("container start (median of %d runs)" % len(run[0]["times"]))
for n in names:
    print(f"  {n:<48} {med[n]*1000:8.1f} ms")
print(f"  berth / podman = {berth/podman:.2f}  (goal <= 0.2)")
print(f"  berth / bare   = {berth/bare:.2f}  (goal <= 3)")
print(f"berth ps -a: {statistics.median(ps['times'])*1000:.1f} ms median  (goal < 20 ms)")
def kb(text):
    return [int(x) for x in text.split()]
rss, anon, conmon = kb(sys.argv[3]), kb(sys.argv[4]), kb(sys.argv[5])
pss, conmon_pss = kb(sys.argv[7]), kb(sys.argv[8])
# RSS counts the berth binary's shared pages in every monitor; PSS splits them among the monitors sharing them.
if rss:
    print(f"berth monitor: RSS median {statistics.median(rss)/1024:.2f} MB, PSS {statistics.median(pss)/1024:.2f} MB, "
          f"private (anon) {statistics.median(anon)/1024:.2f} MB, over {len(rss)} monitors  (goal < 2 MB)")
if conmon:
    print(f"conmon: RSS median {statistics.median(conmon)/1024:.2f} MB, PSS {statistics.median(conmon_pss)/1024:.2f} MB "
          f"over {len(conmon)}")
PY
