#!/usr/bin/env bash
# Installs what berth needs to build and what its tests and benchmarks use, from Debian's packages.
# Only missing packages are installed; needs root (or sudo).
set -euo pipefail

packages=(
  build-essential pkg-config libseccomp-dev   # building berth (libcontainer links libseccomp)
  busybox-static                              # the rootfs of test images
  catatonit                                   # the init process `run --init` bind-mounts
  docker-registry skopeo umoci                # a real registry, image copying, a reference unpacker
  nftables iproute2 tmux apache2-utils        # networking, terminal tests, htpasswd
  podman runc conmon                          # the build test that compares with `podman build`
  openssl                                     # the push tests' CA and certificates for a TLS registry
  python3-docker                              # a real Docker SDK client of `berth serve` (tests/api.rs)
  docker-compose                              # Debian's docker-compose 1.29 against `berth serve` (tests/api.rs)
  bzip2 xz-utils                              # bzip2- and xz-compressed archives for `load` (tests/archive.rs)
)
if [ "${BERTH_BENCH_DEPS:-0}" = 1 ]; then
  packages+=(crun hyperfine bc curl time)
  packages+=(podman-compose)   # bench/compose.sh
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "Installing the Rust toolchain with rustup (Debian's rustc is too old for berth)" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

# tests/multiarch.rs: QEMU's aarch64 emulator and an arm64 busybox, unpacked into a cache, never installed:
# installing qemu-user-static registers binfmt handlers host-wide (its postinst, systemd-binfmt). The
# arm64 busybox-static is the amd64 one's version, fetched by its pool path (no foreign dpkg architecture).
qemu_cache="${BERTH_QEMU_CACHE:-/var/cache/berth-test/qemu}"
if [ "$(dpkg --print-architecture)" = amd64 ] &&
  { [ ! -x "$qemu_cache/usr/bin/qemu-aarch64-static" ] || [ ! -x "$qemu_cache/arm64/bin/busybox" ]; }; then
  work="$(mktemp -d)"
  chmod 755 "$work"
  (cd "$work" && apt-get download -qq qemu-user-static)
  url="$(apt-get download --print-uris busybox-static | awk '{print $1}' | tr -d "'")"
  /usr/lib/apt/apt-helper download-file "${url%_amd64.deb}_arm64.deb" "$work/busybox-static-arm64.deb"
  mkdir -p "$qemu_cache/arm64"
  dpkg-deb -x "$work"/qemu-user-static_*.deb "$qemu_cache"
  dpkg-deb -x "$work/busybox-static-arm64.deb" "$qemu_cache/arm64"
  rm -rf "$work"
fi
