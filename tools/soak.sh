#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the soak (tests/faults/soak.cpp) for a chosen length: a mixed workload over memory, redis
# and memcached while chaos proxies inject latency, stalls, resets, black holes, bandwidth limits,
# truncation and refusals. It starts its own servers on free 127.0.0.1 ports.
#
#   bash tools/soak.sh [seconds]    default 300; CI runs 30 s through ctest (test "soak")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-300}
bash "$root/tools/install_deps.sh" >/dev/null
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" --target asiocache_soak
exec "$root/build/release/tests/faults/asiocache_soak" "$seconds"
