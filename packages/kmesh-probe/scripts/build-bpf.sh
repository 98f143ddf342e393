#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds dist/bpf/kmesh_probe.bpf.o with the shared rule. The probe reads kernel structs (tp_btf, CO-RE),
# so it needs kernel/generated/vmlinux.h: generated from the running kernel's BTF when missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kernel="$here/../../kernel"
if [[ ! -f "$kernel/generated/vmlinux.h" ]]; then
  "$kernel/gen-vmlinux.sh"
fi
"$kernel/build-bpf.sh" "$here/bpf/kmesh_probe.bpf.c" "$here/dist/bpf/kmesh_probe.bpf.o" \
  -I "$kernel/generated" -I "$here/bpf"
