#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates benchmarks/RESULTS.md and benchmarks/report/ (report.json, summary.md and the
# charts throughput.png/svg and latency.png/svg): every figure the project quotes, from one
# command, with the verdict against each target.
#
#   bash benchmarks/run_all.sh                  # about 15 minutes on 2 cores
#   BENCH_RUNS=1 BENCH_REPS=1 BENCH_DURATION=1s BENCH_RESULTS=/tmp/r.md bash benchmarks/run_all.sh
#                                                 # a quick look, RESULTS.md left alone
#
# It builds the benchmarks in Release (build/bench-release), starts its own redis-server and
# memcached on free 127.0.0.1 ports (never 6379/11211) without persistence, and then runs, each
# BENCH_RUNS times so that the results are medians:
# - `asiocache-bench` over memory://, redis:// and memcached:// at concurrency 1, 64 and 512,
#   each with its raw-client baseline (unordered_map + mutex, hiredis pipelined on one
#   connection, libmemcached synchronous on one connection);
# - redis-benchmark (-c 50 -P 1 and -P 16) and `redis_bench` (asiocache against raw hiredis);
# - the Python floors under aiocache (python_asyncio_bound.py: aiocache is not packaged here);
# and once each, with BENCH_REPS repetitions, the Google Benchmark micro-benchmarks (memory
# against unordered_map, memoized call against facade get, memcached against libmemcached and
# on pools of 2 and 4 memcached with one stopped or killed (it starts those servers itself),
# serializers and keys). make_results.py then writes RESULTS.md from the raw outputs, which are
# kept in build/bench-release/results, the JSON typed-path section (which
# benchmarks/serializers.sh also writes alone) from this run's serializers_bench; the Redis
# Cluster section, which benchmarks/redis_cluster.sh writes, is carried over from the current
# RESULTS.md.
#
# The cache uses the bytes serializer in the sweep, so that it stores what the raw clients store
# and the ratio measures the framework, not JSON (the serializers have micro-benchmarks).
#
# Environment: BENCH_RUNS (default 3), BENCH_REPS (Google Benchmark repetitions, default 5),
# BENCH_DURATION (per sweep point, default 3s), BENCH_WARMUP (default 1s), BENCH_THREADS
# (default 1), BENCH_ARGS (extra asiocache-bench options), BENCH_OUT (charts directory, default
# benchmarks/report), BENCH_RESULTS (default benchmarks/RESULTS.md), BENCH_BUILD (build tree,
# default build/bench-release; an existing Release tree with tests and benchmarks on will do).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${BENCH_OUT:-$root/benchmarks/report}
results_md=${BENCH_RESULTS:-$root/benchmarks/RESULTS.md}
runs=${BENCH_RUNS:-3}
reps=${BENCH_REPS:-5}
duration=${BENCH_DURATION:-3s}
warmup=${BENCH_WARMUP:-1s}
threads=${BENCH_THREADS:-1}
serializer=bytes
build=${BENCH_BUILD:-$root/build/bench-release}
raw=$build/results
py=/usr/bin/python3  # Debian's, with python3-redis
log_name=run_all
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"  # configure_release, tmp, pids and their EXIT trap, start_server

log "building the benchmarks (Release) in $build"
configure_release "$build"
cmake --build "$build" -j "$(nproc)" --target asiocache-bench memory_vs_unordered_map memo_bench \
    serializers_bench redis_bench memcached_bench >/dev/null
bench=$build/tools/bench/asiocache-bench
rm -rf "$raw"
mkdir -p "$raw"

start_redis
redis_port=$server_port
log "redis-server on 127.0.0.1:$redis_port"
as_user=()
[[ $(id -u) == 0 ]] && as_user=(-u root)  # memcached refuses root without -u
start_server memcached memcached -l 127.0.0.1 -p PORT -U 0 -m 256 "${as_user[@]}"
memcached_port=$server_port
log "memcached on 127.0.0.1:$memcached_port"
urls=("memory://" "redis://127.0.0.1:$redis_port/0" "memcached://127.0.0.1:$memcached_port")

common=(--threads "$threads" --warmup "$warmup" --serializer "$serializer" --no-progress
    ${BENCH_ARGS:-})

# The generator's own cost: the same loop with an operation that does nothing, next to a
# memory get, on one thread at concurrency 64.
log "measuring the load generator's own cost"
"$bench" memory:// -m noop=1 -c 64 -d "$duration" "${common[@]}" --json >"$raw/generator_noop.json"
"$bench" memory:// -m get=1 -c 64 -d "$duration" "${common[@]}" --json >"$raw/generator_get.json"

# The memoized-call path through the bench tool, next to a get of the same workload.
log "memoized calls (memory://, concurrency 1 and 64)"
"$bench" memory:// -m memo=1 --sweep 1,64 -d "$duration" "${common[@]}" --baseline --json \
    >"$raw/memo_sweep.json"

for run in $(seq "$runs"); do
    log "run $run/$runs: sweep over ${urls[*]} at concurrency 1, 64, 512 with baselines"
    "$bench" "${urls[@]}" --sweep 1,64,512 --baseline -d "$duration" "${common[@]}" \
        --json --report "$raw/report_$run" >"$raw/sweep_$run.json"
    log "run $run/$runs: Python floors under aiocache"
    for c in 1 64; do
        "$py" "$root/benchmarks/python_asyncio_bound.py" redis 127.0.0.1 "$redis_port" "$c" \
            "$duration" >>"$raw/python_$run.jsonl"
    done
    "$py" "$root/benchmarks/python_asyncio_bound.py" memory - 0 1 "$duration" \
        >>"$raw/python_$run.jsonl"
    log "run $run/$runs: redis-benchmark and redis_bench"
    redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 50 -P 1 -t get,set -d 100 -n 200000 --csv \
        >"$raw/redis_benchmark_p1_$run.csv"
    redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 50 -P 16 -t get,set -d 100 -n 1000000 \
        --csv >"$raw/redis_benchmark_p16_$run.csv"
    ASIOCACHE_BENCH_REDIS="127.0.0.1:$redis_port" "$build/benchmarks/redis_bench" \
        --benchmark_min_time=0.5 --benchmark_format=json >"$raw/redis_bench_$run.json"
done

# Redis's own memory per key, for the memory backend's per-entry target: a key the sweep wrote
# (16 bytes, with a 100-byte value).
redis-cli -h 127.0.0.1 -p "$redis_port" MEMORY USAGE key:000000000000 SAMPLES 0 \
    >"$raw/redis_memory_usage.txt"

# Repetitions interleaved at random across a program's benchmarks, so that a slow spell of a
# shared machine spreads over all of them instead of skewing one.
gbench=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true
    --benchmark_enable_random_interleaving=true --benchmark_format=json)
log "micro-benchmarks: memory against unordered_map"
"$build/benchmarks/memory_vs_unordered_map" "${gbench[@]}" >"$raw/memory.json"
log "micro-benchmarks: memoized call against facade get"
"$build/benchmarks/memo_bench" "${gbench[@]}" >"$raw/memo.json"
log "micro-benchmarks: serializers and keys"
"$build/benchmarks/serializers_bench" "${gbench[@]}" >"$raw/serializers.json"
# The command as the JSON typed-path section shows it.
echo "${build#"$root"/}/benchmarks/serializers_bench ${gbench[*]}" >"$raw/serializers.command"
log "micro-benchmarks: memcached against libmemcached, and pools with a stalled or dead server (their own memcached processes)"
"$build/benchmarks/memcached_bench" "${gbench[@]}" --benchmark_min_time=0.3 >"$raw/memcached.json"

log "writing $results_md"
mkdir -p "$out"
# The Redis Cluster section (benchmarks/redis_cluster.sh) of the current file is kept; so is
# the JSON typed-path one if this run's serializers_bench has no `*_typed` benchmarks.
"$py" "$root/benchmarks/make_results.py" --raw "$raw" --runs "$runs" --reps "$reps" \
    --duration "$duration" --warmup "$warmup" --report-out "$out" --keep "$results_md" \
    >"$tmp/results.md"
mv "$tmp/results.md" "$results_md"
log "wrote $results_md and $out"
