#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Redis Cluster backend against a single Redis server, in one run, and its section of
# benchmarks/RESULTS.md (the rest of the file is left as it is).
#
#   bash benchmarks/redis_cluster.sh             # about 4 minutes on 2 cores (5 more to profile)
#   BENCH_RUNS=1 BENCH_DURATION=1s BENCH_RESULTS=/tmp/r.md bash benchmarks/redis_cluster.sh
#                                                  # a quick look, RESULTS.md left alone
#
# It builds asiocache-bench in Release (build/bench-release, as run_all.sh), starts on free
# 127.0.0.1 ports a Redis Cluster of 6 redis-server nodes (3 masters, 1 replica each, created
# with `redis-cli --cluster create`) and a single redis-server, all without persistence, and
# runs BENCH_RUNS times one `asiocache-bench` invocation over both URLs at concurrency 64 and
# 512, each with its raw-client baseline (hiredis pipelined on one connection; hiredis routed
# by slot, one connection per master), with run_all.sh's settings (bytes serializer, one
# thread, 3 s after 1 s warm-up). The servers are stopped on exit, whatever happens.
#
# make_results.py --cluster then writes the figures (medians over the runs; ratios taken
# within a run) into RESULTS.md's Redis Cluster section and its row of the Targets table. The
# raw outputs stay in build/bench-release/results-cluster.
#
# With BENCH_PROFILE=1 it then profiles the cache alone on each URL at each concurrency, with
# perf (system calls and context switches; cpu-clock samples) and callgrind (instructions), and
# profile_compare.py writes the comparison per operation to results-cluster/profile.md (the
# source of PROFILES.md's Redis Cluster section). Needs linux-perf and valgrind.
#
# Environment: BENCH_RUNS (default 5), BENCH_DURATION (default 3s), BENCH_WARMUP (default 1s),
# BENCH_THREADS (default 1), BENCH_SWEEP (default 64,512), BENCH_ARGS (extra asiocache-bench
# options), BENCH_PROFILE (1: the profiles too), BENCH_RESULTS (default benchmarks/RESULTS.md),
# BENCH_BUILD (build tree, default build/bench-release; an existing Release tree with the tools
# on will do), BENCH_JOBS (parallel compile jobs, default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results_md=${BENCH_RESULTS:-$root/benchmarks/RESULTS.md}
runs=${BENCH_RUNS:-5}
duration=${BENCH_DURATION:-3s}
warmup=${BENCH_WARMUP:-1s}
threads=${BENCH_THREADS:-1}
sweep=${BENCH_SWEEP:-64,512}
serializer=bytes
build=${BENCH_BUILD:-$root/build/bench-release}
raw=$build/results-cluster
py=/usr/bin/python3
masters=3

log_name=redis_cluster
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"  # configure_release, tmp, pids and their EXIT trap, start_server

bench=$build/tools/bench/asiocache-bench
if [[ ! -f $build/CMakeCache.txt ]]; then
    log "configuring a Release build in $build"
    configure_release "$build"
fi
log "building asiocache-bench in $build"
cmake --build "$build" -j "${BENCH_JOBS:-$(nproc)}" --target asiocache-bench >/dev/null
rm -rf "$raw" && mkdir -p "$raw"

start_redis
single_port=$server_port
log "single redis-server on 127.0.0.1:$single_port"

start_cluster "$masters"
log "cluster healthy: nodes ${cluster_nodes[*]}, masters ${cluster_masters[*]}"

seeds=127.0.0.1:${cluster_nodes[0]},127.0.0.1:${cluster_nodes[1]},127.0.0.1:${cluster_nodes[2]}
urls=("redis://127.0.0.1:$single_port/0" "redis-cluster://$seeds")
base=(--threads "$threads" --serializer "$serializer" --no-progress ${BENCH_ARGS:-})
common=("${base[@]}" --warmup "$warmup")
args=(--sweep "$sweep" --baseline -d "$duration" "${common[@]}" --json)
for run in $(seq "$runs"); do
    log "run $run/$runs: ${urls[*]} at concurrency $sweep with baselines"
    "$bench" "${urls[@]}" "${args[@]}" >"$raw/sweep_$run.json"
done
# The command as RESULTS.md shows it, with the ports named.
command="asiocache-bench redis://127.0.0.1:SINGLE/0 redis-cluster://127.0.0.1:N1,127.0.0.1:N2,127.0.0.1:N3 ${args[*]}"

# Where the keys went: every master should hold about a third of them.
{
    printf '{"masters": ['
    sep=
    for p in "${cluster_masters[@]}"; do
        printf '%s{"port": %s, "dbsize": %s}' "$sep" "$p" "$(cli -p "$p" DBSIZE)"
        sep=", "
    done
    printf '], "nodes": %s, "single_dbsize": %s,' "${#cluster_nodes[@]}" \
        "$(cli -p "$single_port" DBSIZE)"
    printf ' "redis_version": "%s", "command": "%s"}\n' \
        "$(redis-server --version | sed 's/ sha=.*//')" "$command"
} >"$raw/meta.json"

if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
    # The cache alone on each URL: perf from the end of the prefill and the warm-up on, then
    # callgrind over 20000 and 60000 operations (their difference is the cost per operation).
    delay=$(awk -v w="$warmup" 'BEGIN { v = w + 0; if (w ~ /ms$/) v /= 1000; print int(v * 1000) + 300 }')
    for c in ${sweep//,/ }; do
        for u in "${urls[@]}"; do
            kind=${u%%:*}
            log "profile: the cache on $kind at concurrency $c (perf stat, perf record, callgrind)"
            perf stat -x, -e raw_syscalls:sys_enter,context-switches -D "$delay" \
                -o "$raw/stat_${kind}_$c.txt" -- "$bench" "$u" -c "$c" -d "$duration" \
                "${common[@]}" --json >"$raw/stat_${kind}_$c.json" 2>/dev/null
            perf record -q -F 3999 -D "$delay" -o "$raw/perf_${kind}_$c.data" -- \
                "$bench" "$u" -c "$c" -d "$duration" "${common[@]}" --json \
                >"$raw/perf_${kind}_$c.json" 2>/dev/null
            for n in 20000 60000; do
                valgrind --tool=callgrind --callgrind-out-file="$raw/callgrind_${kind}_${c}_$n.out" \
                    "$bench" "$u" -c "$c" -n "$n" -w 0 "${base[@]}" --json \
                    >"$raw/callgrind_${kind}_${c}_$n.json" 2>/dev/null
            done
        done
        "$py" "$root/benchmarks/profile_compare.py" --raw "$raw" --concurrency "$c" \
            >>"$raw/profile.md"
    done
    log "profile: $raw/profile.md"
fi

log "writing the Redis Cluster section of $results_md"
"$py" "$root/benchmarks/make_results.py" --cluster --raw "$raw" --runs "$runs" \
    --duration "$duration" --warmup "$warmup" --results "$results_md"
log "done; raw outputs in $raw"
