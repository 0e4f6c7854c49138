# Shared by the benches (sourced): building berth, a network config of the run's own and a busybox image in a local
# registry.

# Builds berth in $PROFILE (release unless set) under $CARGO_TARGET_DIR and sets BERTH_BIN to it. A BERTH_BIN
# given by the caller names an already built berth, which is used as it is.
build_berth() {
  [ -z "${BERTH_BIN:-}" ] || return 0
  PROFILE="${PROFILE:-release}"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/berth-target}"
  if [ "$PROFILE" = release ]; then
    cargo build --release --locked --bin berth >&2
  else
    cargo build --locked --bin berth >&2
  fi
  BERTH_BIN="$CARGO_TARGET_DIR/$PROFILE/berth"
}

# Writes $work/config.toml giving berth's default network a bridge, subnets and nftables table of this run
# only, and exports BERTH_CONFIG. Usage: bench_network_config BRIDGE TABLE SUBNET_OCTET POOL_OCTET
bench_network_config() {
  printf 'network_default_bridge = "%s"\nnetwork_default_subnet = "10.%d.%d.0/24"\nnetwork_pool = "10.%d.%d.0/24"\nnetwork_firewall_table = "%s"\n' \
    "$1" "$3" $(( $$ % 250 )) "$4" $(( $$ % 250 )) "$2" > "$work/config.toml"
  export BERTH_CONFIG="$work/config.toml"
}

# Starts docker-registry on a free 127.0.0.1 port (its pid in registry_pid, for the caller's cleanup) and
# pushes a busybox image made from the host's static busybox (OCI layout in $work/oci, tag busybox); sets ref.
start_busybox_registry() {
  local port rootfs applet
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/registry" "$port" > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  rootfs="$work/busybox-rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\n' > "$rootfs/etc/group"
  umoci init --layout "$work/oci" >/dev/null
  umoci new --image "$work/oci:busybox" >/dev/null
  umoci insert --image "$work/oci:busybox" "$rootfs" / >/dev/null
  umoci config --image "$work/oci:busybox" --config.cmd sh \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  ref="127.0.0.1:$port/bench/busybox:latest"
  skopeo copy -q --dest-tls-verify=false "oci:$work/oci:busybox" "docker://$ref"
}

# Sets P (and podman_args, for podman-compose) to a podman whose storage, run state and temporary files all live
# under $work: its default /run/libpod is shared with every other podman on the machine, and a concurrent
# `system reset` there makes this run's podman fail ("creating runtime status file"). cgroupfs and no events
# journal, as this machine runs podman without systemd.
bench_podman() {
  podman_args="--root $work/podman-root --runroot $work/podman-run --tmpdir $work/podman-tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend none"
  P="podman $podman_args"
}

# What every bench leaves to its exit trap (called last by a bench's own cleanup, or as the trap itself): this
# run's berth containers ($B), podman's state ($P), the registry, the bridge and nftables table, then $work.
# Whatever the bench did not make is skipped.
bench_cleanup() {
  set +e
  if [ -n "${B:-}" ]; then
    for id in $($B ps -aq --no-trunc 2>/dev/null); do $B rm -f "$id" >/dev/null 2>&1; done
  fi
  if [ -n "${P:-}" ]; then
    $P rm -af >/dev/null 2>&1
    $P system reset -f >/dev/null 2>&1
    umount -R "$work/podman-root/overlay" 2>/dev/null
  fi
  [ -n "${registry_pid:-}" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  [ -n "${bench_bridge:-}" ] && ip link del "$bench_bridge" 2>/dev/null
  [ -n "${bench_table:-}" ] && nft delete table inet "$bench_table" 2>/dev/null
  rm -rf "$work"
}
