#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the BPF objects: bpf/kmesh_l4.bpf.c -> dist/bpf/kmesh_l4.bpf.o (L4 routing) and
# bpf/kmesh_sockmap.bpf.c -> dist/bpf/kmesh_sockmap.bpf.o (same-node sockmap acceleration) and
# bpf/kmesh_l7.bpf.c -> dist/bpf/kmesh_l7.bpf.o (L7 HTTP/1.1 parser and router).
# Run from anywhere (paths are relative to this script). Idempotent: always
# rebuilds (about a second) and replaces the object atomically.
# Fails with a non-zero exit and clang's message on any error.
set -euo pipefail

pkg=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$pkg/../.." && pwd)

"$repo/kernel/build-bpf.sh" "$pkg/bpf/kmesh_l4.bpf.c" "$pkg/dist/bpf/kmesh_l4.bpf.o" "$@"
"$repo/kernel/build-bpf.sh" "$pkg/bpf/kmesh_sockmap.bpf.c" "$pkg/dist/bpf/kmesh_sockmap.bpf.o" "$@"
"$repo/kernel/build-bpf.sh" "$pkg/bpf/kmesh_l7_direct.bpf.c" "$pkg/dist/bpf/kmesh_l7_direct.bpf.o" "$@"
"$repo/kernel/build-bpf.sh" "$pkg/bpf/kmesh_l7.bpf.c" "$pkg/dist/bpf/kmesh_l7.bpf.o" "$@"
