#!/usr/bin/env bash
# Installs what Kmesh needs and builds it. Idempotent and quick when everything is already there:
#   1. Debian packages (toolchain for BPF and the addon, lab and benchmark tools), only the missing ones;
#   2. npm packages, only when package-lock.json changed since the last install;
#   3. the build of every package through nx (BPF objects, native addon, TypeScript), cached by nx.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool cmake make g++ pkg-config
              iproute2 nftables curl wrk nginx haproxy python3)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing Debian packages: ${missing[*]}"
    say "install them as root: apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # policy-rc.d 101 keeps the packaged nginx/haproxy services from starting on the host.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

stamp=node_modules/.kmesh-install-stamp
if [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund >&2
  touch "$stamp"
fi

export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false
say "building (nx, cached)"
npx nx run-many -t build --outputStyle=static >&2
