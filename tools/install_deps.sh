#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian 12 package asiocache needs to build, test and benchmark.
# Idempotent: packages already present are left alone. Run as root (or with sudo).
#
# Not installed on purpose: libmsgpack-cxx-dev / libmsgpack-dev. They pull in Boost 1.74, which
# conflicts with libboost1.81-dev; MsgPack comes from nlohmann-json instead.
set -euo pipefail

packages=(
    build-essential cmake pkg-config ninja-build
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libfmt-dev libhiredis-dev libmemcached-dev nlohmann-json3-dev libcli11-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    redis-server redis-tools memcached
    python3 python3-redis python3-pymemcache
    # The metrics tests parse the Prometheus exposition with the reference parser.
    python3-prometheus-client
    # The bench report's charts: gnuplot draws SVG, rsvg-convert turns it into PNG.
    gnuplot-nox librsvg2-bin
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if ((${#missing[@]} == 0)); then
    echo "install_deps: all ${#packages[@]} packages present"
    exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# --no-install-recommends keeps the image small; nothing here needs a recommended package.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the packaged services on install; the tests start their own on free ports.
for svc in redis-server memcached; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        "${sudo_cmd[@]}" systemctl stop "$svc" || true
    fi
done
echo "install_deps: installed ${missing[*]}"
