#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Write kernel/generated/vmlinux.h from the running kernel's BTF, for BPF
# programs that read kernel structs with CO-RE (tracepoints in kmesh-probe).
# The L4 programs do not need it: they only use UAPI contexts.
#
#   kernel/gen-vmlinux.sh [BTF file, default /sys/kernel/btf/vmlinux]
#
# The output is generated per machine and not committed (.gitignore).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
btf=${1:-/sys/kernel/btf/vmlinux}
out="$here/generated/vmlinux.h"

if ! command -v bpftool >/dev/null 2>&1; then
  echo "gen-vmlinux: bpftool not found; install it (Debian: apt-get install bpftool)" >&2
  exit 1
fi
if [[ ! -r "$btf" ]]; then
  echo "gen-vmlinux: cannot read kernel BTF at $btf (kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2
  exit 1
fi

mkdir -p "$here/generated"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c > "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "gen-vmlinux: $btf -> $out"
