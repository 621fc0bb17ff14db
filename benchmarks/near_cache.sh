#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The near cache's targets, one thread at concurrency 1, in one run against a local
# redis-server: a tiered L1 hit against a plain redis:// get (target 20x), a memoized hit on
# tiered+redis:// (target 2M/s), and a memoized hit on memory://, which keeps objects by
# default (target 5M/s, and within 1.5x a get of the same cache).
#
#   bash benchmarks/near_cache.sh             # about 2 minutes
#   REPEATS=3 DURATION=2s bash benchmarks/near_cache.sh
#
# Each of REPEATS rounds runs, interleaved, `asiocache bench URL -c 1 -m get=100` and
# `-m memo=100` on redis://, tiered+redis:// and memory:// (every key written first, so every
# read hits; the JSON serializer on the Redis URLs, objects on memory://), then prints the
# medians and the same-round ratios. Raw outputs go to BENCH_RAW.
#
# Environment: REPEATS (default 5), DURATION (default 5s), WARMUP (default 1s), ASIOCACHE_BIN
# (default build/release/tools/asiocache), BENCH_RAW (default results-near next to tools/).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repeats=${REPEATS:-5}
duration=${DURATION:-5s}
warmup=${WARMUP:-1s}
bin=${ASIOCACHE_BIN:-$root/build/release/tools/asiocache}
py=/usr/bin/python3
raw=${BENCH_RAW:-$(dirname "$(dirname "$bin")")/results-near}

log_name=near_cache
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"  # tmp and its EXIT trap, log, start_redis

start_redis
redis="redis://127.0.0.1:$server_port/0?serializer=json"
tiered="tiered+redis://127.0.0.1:$server_port/0?serializer=json&l1_max_entries=20000"
bench=("$bin" bench -c 1 -d "$duration" -w "$warmup" --json --no-progress)
rm -rf "$raw" && mkdir -p "$raw"
for round in $(seq "$repeats"); do
    log "round $round/$repeats"
    for mix in get memo; do
        "${bench[@]}" "$redis" -m "$mix=100" >"$raw/redis_${mix}_$round.json"
        "${bench[@]}" "$tiered" -m "$mix=100" >"$raw/tiered_${mix}_$round.json"
        "${bench[@]}" memory:// -m "$mix=100" >"$raw/memory_${mix}_$round.json"
    done
done
printf '%s\n' "asiocache bench {redis://,tiered+redis://,memory://} ${bench[*]:2} -m {get,memo}=100" \
    >"$raw/commands.txt"

"$py" - "$raw" "$repeats" <<'EOF'
import json, pathlib, statistics, sys

raw, repeats = pathlib.Path(sys.argv[1]), int(sys.argv[2])

def ops(name, mix, r):
    x = json.loads((raw / f"{name}_{mix}_{r}.json").read_text())["results"][0]["asiocache"]
    # A get must hit (every key was written); a memoized call misses on its first call of a
    # key only, which the warm-up covers on the fast caches but not on redis://.
    if not x["ok"] or x["errors"] or (mix == "get" and x["misses"]):
        sys.exit(f"{name} {mix} round {r}: not ok ({x['errors']} errors, {x['misses']} misses)")
    return x["throughput"]

def rate(x):
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.1f} k/s"

rounds = range(1, repeats + 1)
med = lambda name, mix: statistics.median(ops(name, mix, r) for r in rounds)
ratio = lambda a, b: statistics.median(ops(*a, r) / ops(*b, r) for r in rounds)
rows = [
    ("tiered L1 hit / redis:// get", f"{ratio(('tiered', 'get'), ('redis', 'get')):.1f}x", ">= 20x",
     ratio(('tiered', 'get'), ('redis', 'get')) >= 20),
    ("memoized hit, tiered+redis://", rate(med("tiered", "memo")), ">= 2 M/s",
     med("tiered", "memo") >= 2e6),
    ("memoized hit, memory:// (objects)", rate(med("memory", "memo")), ">= 5 M/s",
     med("memory", "memo") >= 5e6),
    ("memory:// get / memoized hit", f"{ratio(('memory', 'get'), ('memory', 'memo')):.2f}x",
     "<= 1.5x", ratio(('memory', 'get'), ('memory', 'memo')) <= 1.5),
]
def misses(name, r):
    x = json.loads((raw / f"{name}_memo_{r}.json").read_text())["results"][0]["asiocache"]
    return x["misses"] / max(1, x["operations"])

print("| cache | get | memoized call | of which first calls (misses) |\n|---|---:|---:|---:|")
for name in ("redis", "tiered", "memory"):
    share = statistics.median(misses(name, r) for r in rounds)
    print(f"| {name} | {rate(med(name, 'get'))} | {rate(med(name, 'memo'))} | {share:.1%} |")
print("\n| target | measured | target | verdict |\n|---|---:|---:|---|")
for what, got, target, ok in rows:
    print(f"| {what} | {got} | {target} | {'met' if ok else '**missed**'} |")
print("\n" + (raw / "commands.txt").read_text().strip())
EOF
log "done; raw outputs in $raw"
