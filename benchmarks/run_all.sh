#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates benchmarks/report/: report.json, summary.md and the charts (throughput.png,
# latency.png), with the `asiocache bench` engine.
#
#   bash benchmarks/run_all.sh                 # about 2-3 minutes
#   BENCH_DURATION=10s bash benchmarks/run_all.sh
#
# It builds asiocache-bench in Release (build/bench-release), starts its own redis-server and
# memcached on free 127.0.0.1 ports (never 6379/11211), measures memory://, redis:// and
# memcached:// at concurrency 1, 64 and 512, each with its raw-client baseline (unordered_map +
# mutex, hiredis pipelined on one connection, libmemcached synchronous on one connection), and
# stops the servers. A backend that this build lacks is reported as "backend not built" and the
# others still run. It also measures the load generator's own cost per operation (a no-op mix).
#
# The cache uses the bytes serializer, so that it stores what the raw clients store and the
# ratio measures the framework, not JSON (the serializers have micro-benchmarks of their own).
#
# Environment: BENCH_DURATION (per point, default 3s), BENCH_WARMUP (default 1s),
# BENCH_THREADS (default 1), BENCH_SERIALIZER (default bytes), BENCH_ARGS (extra
# asiocache-bench options), BENCH_OUT (output directory, default benchmarks/report).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${BENCH_OUT:-$root/benchmarks/report}
duration=${BENCH_DURATION:-3s}
warmup=${BENCH_WARMUP:-1s}
threads=${BENCH_THREADS:-1}
serializer=${BENCH_SERIALIZER:-bytes}
build=$root/build/bench-release
tmp=$(mktemp -d)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

log() { printf 'run_all: %s\n' "$*" >&2; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a port in 20000-59999 that nothing listens on (the server's own bind is the
# final check: start_server retries on failure).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        if [[ $p != 6379 && $p != 11211 ]] && ! port_in_use "$p"; then
            echo "$p"
            return
        fi
    done
}

# start_server <name> <command with PORT placeholder...>: sets server_port to the port it
# listens on. Called directly (not in $(...)) so that its pid reaches the cleanup list.
server_port=
start_server() {
    local name=$1
    shift
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        local args=("${@//PORT/$port}")
        "${args[@]}" >"$tmp/$name.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            if port_in_use "$port"; then
                pids+=("$pid")
                server_port=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    log "$name did not start: $(tail -3 "$tmp/$name.log")"
    return 1
}

log "building asiocache-bench (Release) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DASIOCACHE_BUILD_TESTS=OFF \
    -DASIOCACHE_BUILD_BENCHMARKS=OFF -DASIOCACHE_BUILD_EXAMPLES=OFF -DASIOCACHE_BUILD_TOOLS=ON \
    >/dev/null
cmake --build "$build" -j "$(nproc)" --target asiocache-bench >/dev/null
bench=$build/tools/bench/asiocache-bench

urls=("memory://")
if command -v redis-server >/dev/null; then
    start_server redis redis-server --bind 127.0.0.1 --port PORT --save "" --appendonly no
    log "redis-server on 127.0.0.1:$server_port"
    urls+=("redis://127.0.0.1:$server_port/0")
else
    log "redis-server not found: redis:// skipped"
fi
if command -v memcached >/dev/null; then
    as_user=()
    [[ $(id -u) == 0 ]] && as_user=(-u root)  # memcached refuses root without -u
    start_server memcached memcached -l 127.0.0.1 -p PORT -U 0 -m 256 "${as_user[@]}"
    log "memcached on 127.0.0.1:$server_port"
    urls+=("memcached://127.0.0.1:$server_port")
else
    log "memcached not found: memcached:// skipped"
fi

common=(--threads "$threads" --warmup "$warmup" --serializer "$serializer" --no-progress
    ${BENCH_ARGS:-})

# The generator's own cost: the same loop with an operation that does nothing, next to a
# memory get, on one thread at concurrency 64.
log "measuring the load generator's own cost"
noop_json=$("$bench" memory:// -m noop=1 -c 64 -d "$duration" "${common[@]}" --json)
get_json=$("$bench" memory:// -m get=1 -c 64 -d "$duration" "${common[@]}" --json)
overhead=$(python3 - "$noop_json" "$get_json" <<'PY'
import json, sys
noop = json.loads(sys.argv[1])["results"][0]["asiocache"]
get = json.loads(sys.argv[2])["results"][0]["asiocache"]
n_wall, g_wall = 1e9 / noop["throughput"], 1e9 / get["throughput"]
n_cpu, g_cpu = 1e3 * noop["cpu_per_op_us"], 1e3 * get["cpu_per_op_us"]
print(f"Load generator cost, one thread at concurrency 64: a no-op operation costs {n_wall:.0f} ns "
      f"of wall time and {n_cpu:.0f} ns of CPU per operation (p50 {noop['latency_ns']['p50']} ns "
      f"between two clock reads), against {g_wall:.0f} ns wall and {g_cpu:.0f} ns CPU for a "
      f"memory `get` hit: the generator is {100 * n_cpu / g_cpu:.0f}% of the CPU of the cheapest "
      f"operation it measures.")
PY
)
log "$overhead"

log "sweep over ${urls[*]} at concurrency 1, 64, 512 with baselines"
status=0
"$bench" "${urls[@]}" --sweep 1,64,512 --baseline -d "$duration" "${common[@]}" \
    --report "$out" | tee "$tmp/table.txt" || status=$?
if [[ $status == 2 ]]; then
    log "some URLs did not run (see 'did not run' above: backend not built or not reachable)"
elif [[ $status != 0 ]]; then
    log "asiocache-bench failed ($status)"
    exit "$status"
fi

{
    echo "# asiocache bench report"
    echo
    echo "Produced by \`bash benchmarks/run_all.sh\` on $(date -u +%Y-%m-%d):" \
        "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))," \
        "$(redis-server --version 2>/dev/null | cut -d' ' -f1-3 || true)," \
        "memcached $(memcached -V 2>/dev/null | cut -d' ' -f2 || true), both on 127.0.0.1," \
        "started by the script, without persistence. Each point runs $duration after $warmup" \
        "of warm-up. One run on a machine that may be shared: compare within the run."
    echo
    echo "$overhead"
    echo
    cat "$out/summary.md"
} >"$tmp/summary.md"
mv "$tmp/summary.md" "$out/summary.md"
log "wrote $out/summary.md, report.json and the charts"
