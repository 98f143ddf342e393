#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The one BPF build rule for Kmesh: compile one C source to one BPF object.
#
#   kernel/build-bpf.sh SRC OUT [extra clang args...]
#
# - Headers: kernel/include (kmesh_abi.h, kmesh_maps.h, kmesh_common.h),
#   <linux/bpf.h> from linux-libc-dev, <bpf/bpf_helpers.h> from libbpf-dev.
#   Debian keeps <asm/...> under the multi-arch dir, which -target bpf does not
#   search by itself, so we add it.
# - -g is required: libbpf reads the BTF of .maps and the CO-RE relocations,
#   and the ABI test reads struct layouts from it.
# - -mcpu=v3: atomic fetch-and-add (round-robin cursor) needs BPF_FETCH.
# - Writes OUT atomically (temp file + rename), so a concurrent reader (a test,
#   a loader) never sees a half-written object. Fails loudly on any error.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 SRC OUT [extra clang args...]" >&2
  exit 2
fi
src=$1
out=$2
shift 2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "build-bpf: '$1' not found; install it (Debian: apt-get install $2)" >&2
    exit 1
  fi
}
need "${CLANG:-clang}" clang
if [[ ! -f /usr/include/bpf/bpf_helpers.h ]]; then
  echo "build-bpf: /usr/include/bpf/bpf_helpers.h missing; install libbpf-dev" >&2
  exit 1
fi
if [[ ! -f "$src" ]]; then
  echo "build-bpf: source '$src' does not exist" >&2
  exit 1
fi

# Multi-arch include dir (asm/types.h etc.). gcc knows the triplet; fall back
# to uname when gcc is absent.
if command -v gcc >/dev/null 2>&1; then
  triplet=$(gcc -dumpmachine)
else
  triplet="$(uname -m)-linux-gnu"
fi
case "$(uname -m)" in
  x86_64) target_arch=x86 ;;
  aarch64) target_arch=arm64 ;;
  *) target_arch=$(uname -m) ;;
esac

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

"${CLANG:-clang}" -O2 -g -target bpf -mcpu=v3 \
  -D__TARGET_ARCH_${target_arch} \
  -Wall -Werror \
  -I "$here/include" \
  -I "/usr/include/$triplet" \
  "$@" \
  -c "$src" -o "$tmp"

mv -f "$tmp" "$out"
trap - EXIT
echo "build-bpf: $src -> $out"
