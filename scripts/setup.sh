#!/usr/bin/env bash
# Brings a Debian 12 machine (as root) to where ctrd builds and runs (and, with --test, to where its tests and
# benchmarks run): Debian packages, npm packages, then the build. Each step is skipped when it is already
# done, so `npm start` and `npm test` stay quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the build toolchain for native modules; with --test, the real peers the tests drive.
packages=(
  build-essential python3 # node-gyp: better-sqlite3 and ctrd's addon
  libseccomp-dev          # the addon compiles seccomp profiles with libseccomp
  containernetworking-plugins iptables iproute2 # containers' networks: CNI bridge, host-local, portmap, firewall
)
if [ "${1:-}" = --test ]; then
  packages+=(
    containerd      # the stock `ctr` client; its daemon runs only in bench/pull, as the reference
    docker-registry # a real OCI registry (distribution v2) on 127.0.0.1 for pull/push tests
    skopeo umoci    # reference image tools: push test images, unpack them for comparison
    openssl         # the test token server signs its tokens
    zstd            # zstd-compressed test layers
    busybox-static  # the test images' userland
    runc            # the OCI runtime behind containerd-shim-runc-v2 in the task tests
    crun            # the second OCI runtime ctrd's shim drives (where the cgroup layout lets it run)
    buildah         # bench/build's reference builder
  )
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages enable services of their own; ctrd's tests start what they need themselves.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now containerd docker-registry >/dev/null 2>&1 || true
  fi
fi

# npm packages, when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  # npm ci refuses lock files that lack the optional packages of other platforms (npm 11); install keeps to the lock.
  npm install --no-audit --no-fund --loglevel=error
fi

bash scripts/build.sh
