#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the dependencies, builds the library and the demo, and runs the demo on the
# in-process memory backend (no server needed). Extra arguments go to the demo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/install_deps.sh"
cmake -S "$root" -B "$root/build/demo" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DASIOCACHE_BUILD_TESTS=OFF -DASIOCACHE_BUILD_BENCHMARKS=OFF -DASIOCACHE_BUILD_TOOLS=OFF \
    >/dev/null
cmake --build "$root/build/demo" -j "$(nproc)" --target slack_replies_demo
exec "$root/build/demo/examples/slack_replies_demo" "$@"
