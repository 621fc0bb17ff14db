#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# asiocache's memory:// against Node's cache-manager 7 (its default store, keyv over a Map,
# which keeps values as objects: a hit decodes nothing), one thread at concurrency 1, in one run:
# gets of written keys, and memoized calls that hit (asiocache's `cached`, cache-manager's
# `wrap`). Targets: asiocache at least 2x Node's gets/s and 5x its memoized hits/s.
#
#   bash benchmarks/node_cache_manager.sh       # about 2 minutes
#   REPEATS=3 DURATION=2s bash benchmarks/node_cache_manager.sh
#
# It installs cache-manager (pinned below) with npm into a temporary folder, removed on exit,
# and runs REPEATS rounds, each one interleaving, so that both sides meet the same machine load:
# node_cache_manager.mjs get, `asiocache bench URL -c 1 -m get=100`, node_cache_manager.mjs memo,
# `asiocache bench URL -c 1 -m memo=100` (same keys, values, key sequence, warm-up and duration).
# It then prints the medians of each and the ratios asiocache / Node (medians of the per-round
# ratios) against the targets, and writes them to summary.json and summary.md next to the raw
# outputs. Without node or npm, or if the install fails (offline), it says so and exits 0.
#
# Environment: REPEATS (default 5), DURATION (per run, default 5s), WARMUP (default 1s),
# ASIOCACHE_BIN (default build/release/tools/asiocache), ASIOCACHE_URL (default memory://),
# ASIOCACHE_ARGS (extra `asiocache bench` options, e.g. --serializer bytes), BENCH_RAW (raw
# outputs, default results-node next to the binary's tools/ folder).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repeats=${REPEATS:-5}
duration=${DURATION:-5s}
warmup=${WARMUP:-1s}
bin=${ASIOCACHE_BIN:-$root/build/release/tools/asiocache}
url=${ASIOCACHE_URL:-memory://}
cache_manager=cache-manager@7.2.9  # the Node side's version: figures move with it
py=/usr/bin/python3
raw=${BENCH_RAW:-$(dirname "$(dirname "$bin")")/results-node}

log_name=node_cache_manager
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"  # tmp and its EXIT trap, log

skip() {
    log "skipped: npm unavailable or offline ($*)"
    exit 0
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    skip "no node or npm on PATH"
fi
# cache-manager 7 needs Node 18 or later.
(($(node -p 'process.versions.node.split(".")[0]') >= 18)) || skip "node $(node --version) < 18"
log "installing $cache_manager into $tmp"
if ! timeout 180 npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error \
    "$cache_manager" >"$tmp/npm.log" 2>&1; then
    skip "npm install failed: $(grep -m1 -i error "$tmp/npm.log" || tail -1 "$tmp/npm.log")"
fi
# Next to its node_modules, so that `import "cache-manager"` finds the install.
cp "$root/benchmarks/node_cache_manager.mjs" "$tmp/"
node=(node "$tmp/node_cache_manager.mjs" -d "$duration" -w "$warmup" --json)
read -ra extra <<<"${ASIOCACHE_ARGS:-}"
bench=("$bin" bench "$url" -c 1 -d "$duration" -w "$warmup" --json --no-progress "${extra[@]}")

# The binary may be relinked by a build while this runs: wait for it rather than fail.
wait_for_bin() {
    local deadline=$((SECONDS + 120))
    until [[ -x $bin ]]; do
        ((SECONDS < deadline)) || { log "no asiocache binary at $bin (ASIOCACHE_BIN)"; exit 1; }
        sleep 1
    done
}
wait_for_bin
rm -rf "$raw" && mkdir -p "$raw"
for round in $(seq "$repeats"); do
    log "round $round/$repeats: node get, asiocache get, node memo, asiocache memo"
    "${node[@]}" get >"$raw/node_get_$round.json"
    wait_for_bin
    "${bench[@]}" -m get=100 >"$raw/asiocache_get_$round.json"
    "${node[@]}" memo >"$raw/node_memo_$round.json"
    wait_for_bin
    "${bench[@]}" -m memo=100 >"$raw/asiocache_memo_$round.json"
done
# The commands as the summary shows them.
printf '%s\n' "node benchmarks/node_cache_manager.mjs {get,memo} ${node[*]:2}" \
    "asiocache bench ${bench[*]:2} -m {get=100,memo=100}" >"$raw/commands.txt"

"$py" - "$raw" "$repeats" "$cache_manager" <<'EOF'
import json, pathlib, statistics, sys

raw, repeats, package = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
targets = {"get": 2.0, "memo": 5.0}

def node(mode, r):
    doc = json.loads((raw / f"node_{mode}_{r}.json").read_text())
    x = doc["results"][0]
    return doc, {"ops": x["ops_per_s"], "p50": x["p50_ns"], "p99": x["p99_ns"]}

def asiocache(mode, r):
    x = json.loads((raw / f"asiocache_{mode}_{r}.json").read_text())["results"][0]["asiocache"]
    if not x["ok"] or x["misses"]:
        sys.exit(f"asiocache {mode} round {r}: not ok ({x['errors']} errors, {x['misses']} misses)")
    return {"ops": x["throughput"], "p50": x["latency_ns"]["p50"], "p99": x["latency_ns"]["p99"]}

def rate(x):
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.1f} k/s"

summary = {"package": package, "rounds": repeats, "modes": {}}
lines = []
for mode in ("get", "memo"):
    rounds = []
    for r in range(1, repeats + 1):
        doc, n = node(mode, r)
        a = asiocache(mode, r)
        rounds.append({"node": n, "asiocache": a, "ratio": a["ops"] / n["ops"]})
        print(f"{mode} round {r}: node {rate(n['ops'])} (p50 {n['p50']} ns, p99 {n['p99']} ns), "
              f"asiocache {rate(a['ops'])} (p50 {a['p50']} ns, p99 {a['p99']} ns), "
              f"{a['ops'] / n['ops']:.2f}x")
    med = lambda side, f: statistics.median(x[side][f] for x in rounds)
    ratio = statistics.median(x["ratio"] for x in rounds)
    ok = ratio >= targets[mode]
    summary["modes"][mode] = {"rounds": rounds, "ratio": ratio, "target": targets[mode], "met": ok,
                              **{f"{side}_{f}": med(side, f) for side in ("node", "asiocache")
                                 for f in ("ops", "p50", "p99")}}
    summary["node_version"] = doc["node_version"]
    summary["keyv_version"] = doc["keyv_version"]
    lines.append(f"| {mode} | {rate(med('node', 'ops'))} | {med('node', 'p50'):.0f} ns / "
                 f"{med('node', 'p99'):.0f} ns | {rate(med('asiocache', 'ops'))} | "
                 f"{med('asiocache', 'p50'):.0f} ns / {med('asiocache', 'p99'):.0f} ns | "
                 f"{ratio:.2f}x | {targets[mode]:.0f}x | {'met' if ok else '**missed**'} |")

table = ["| mode | cache-manager | p50 / p99 | asiocache | p50 / p99 | asiocache / node | target "
         "| verdict |", "|---|---:|---:|---:|---:|---:|---:|---|", *lines]
commands = (raw / "commands.txt").read_text().split("\n")
head = (f"Medians of {repeats} rounds; {package} (keyv {summary['keyv_version']}) on Node "
        f"{summary['node_version']}; ratios are medians of the per-round ratios. Each round: "
        f"`{commands[0]}` and `{commands[1]}`, interleaved.")
(raw / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
(raw / "summary.md").write_text(head + "\n\n" + "\n".join(table) + "\n")
print("\n" + head + "\n\n" + "\n".join(table))
EOF
log "done; raw outputs in $raw"
