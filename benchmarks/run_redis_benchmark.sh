#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Redis backend benchmark: starts a redis-server on a free 127.0.0.1 port (no persistence),
# then, REPS times in turn, runs redis-benchmark (-c 50 -P 1 and -P 16; GET and SET, 100-byte
# values) and redis_bench (asiocache and raw hiredis) against it, stops it, and prints the
# medians, ratios and verdicts as Markdown.
#
#   benchmarks/run_redis_benchmark.sh [build-dir] [reps] [min-time-seconds]
set -euo pipefail

build=${1:-build}
reps=${2:-5}
min_time=${3:-0.5}
bench="$build/benchmarks/redis_bench"
py=/usr/bin/python3
[[ -x "$bench" ]] || { echo "build redis_bench first: ninja -C $build redis_bench" >&2; exit 1; }

port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize no \
    --protected-mode no >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
done

for rep in $(seq "$reps"); do
    redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P 1 -t get,set -d 100 -n 200000 --csv \
        >"$out/rb_p1_$rep.csv"
    redis-benchmark -h 127.0.0.1 -p "$port" -c 50 -P 16 -t get,set -d 100 -n 1000000 --csv \
        >"$out/rb_p16_$rep.csv"
    ASIOCACHE_BENCH_REDIS="127.0.0.1:$port" "$bench" --benchmark_format=json \
        --benchmark_min_time="$min_time" >"$out/ours_$rep.json"
    echo "run $rep/$reps done" >&2
done

$py - "$out" "$reps" <<'EOF'
import csv, json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
med = statistics.median

def rb(kind, test, field):
    vals = []
    for r in range(1, reps + 1):
        for row in csv.DictReader(open(f"{out}/rb_{kind}_{r}.csv")):
            if row["test"] == test:
                vals.append(float(row[field]))
    return med(vals)

ours = {}
for r in range(1, reps + 1):
    for b in json.load(open(f"{out}/ours_{r}.json"))["benchmarks"]:
        ours.setdefault(b["name"], []).append(b)

def m(name, field):
    return med(b[field] for b in ours[name]) if field in ours[name][0] else float("nan")

print(f"Medians of {reps} interleaved runs.\n")
print("| client | op | ops/s | p50 µs | p99 µs | batch |")
print("|---|---|---:|---:|---:|---:|")
for op, code in (("GET", "GET"), ("SET", "SET")):
    print(f"| redis-benchmark -c 50 -P 1 | {op} | {rb('p1', code, 'rps'):,.0f} | "
          f"{rb('p1', code, 'p50_latency_ms')*1000:.0f} | {rb('p1', code, 'p99_latency_ms')*1000:.0f} | |")
    print(f"| redis-benchmark -c 50 -P 16 | {op} | {rb('p16', code, 'rps'):,.0f} | "
          f"{rb('p16', code, 'p50_latency_ms')*1000:.0f} | {rb('p16', code, 'p99_latency_ms')*1000:.0f} | |")
names = [("raw hiredis sync", "bm_hiredis_sync/set:{}/real_time"),
         ("raw hiredis pipelined x16 (p50/p99 per batch)", "bm_hiredis_pipelined16/set:{}/real_time"),
         ("asiocache c=1", "bm_asiocache<false>/set:{}/c:1/real_time"),
         ("asiocache c=64", "bm_asiocache<false>/set:{}/c:64/real_time"),
         ("asiocache c=512", "bm_asiocache<false>/set:{}/c:512/real_time"),
         ("asiocache facade c=64", "bm_asiocache_facade/set:{}/c:64/real_time")]
for label, pattern in names:
    for op, code in (("GET", 0), ("SET", 1)):
        n = pattern.format(code)
        if n not in ours:
            continue
        batch = m(n, "batch")
        bs = "" if batch != batch else f"{batch:.1f}"
        print(f"| {label} | {op} | {m(n, 'items_per_second'):,.0f} | {m(n, 'p50_us'):.0f} | "
              f"{m(n, 'p99_us'):.0f} | {bs} |")

print("\n| target | op | measured | verdict |")
print("|---|---|---|---|")
for op, code in (("GET", 0), ("SET", 1)):
    c64 = m(f"bm_asiocache<false>/set:{code}/c:64/real_time", "items_per_second")
    c512 = m(f"bm_asiocache<false>/set:{code}/c:512/real_time", "items_per_second")
    p1 = rb("p1", op, "rps")
    p16 = rb("p16", op, "rps")
    r1 = c64 / p1
    r2 = c512 / p16
    lat1 = m(f"bm_asiocache<false>/set:{code}/c:1/real_time", "p50_us")
    lat0 = m(f"bm_hiredis_sync/set:{code}/real_time", "p50_us")
    r3 = lat1 / lat0
    ok = lambda b: "met" if b else "**missed**"
    print(f"| c=64 >= redis-benchmark -c 50 -P 1 | {op} | {r1:.2f}x | {ok(r1 >= 1.0)} |")
    print(f"| c=512 >= 60% of redis-benchmark -P 16 | {op} | {r2*100:.0f}% | {ok(r2 >= 0.6)} |")
    print(f"| c=1 p50 latency <= 1.2x raw sync hiredis | {op} | {r3:.2f}x | {ok(r3 <= 1.2)} |")
EOF
