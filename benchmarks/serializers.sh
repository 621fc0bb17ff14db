#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The JSON serializer's typed path against its document path (serializers_bench's `*_typed`
# benchmarks) and its section of benchmarks/RESULTS.md (the rest of the file is left as it is).
#
#   bash benchmarks/serializers.sh              # about a minute once serializers_bench is built
#   BENCH_REPS=1 BENCH_RESULTS=/tmp/r.md bash benchmarks/serializers.sh
#                                                 # a quick look, RESULTS.md left alone
#
# It builds serializers_bench in Release (build/bench-release, as run_all.sh) and runs it once
# on the structured and typed benchmarks with BENCH_REPS repetitions interleaved at random, as
# run_all.sh runs its micro-benchmarks. make_results.py --json-typed then writes the medians and
# their ratios into RESULTS.md's "JSON serializer: typed path against the document path"
# section and its row of the Targets table; run_all.sh rewrites both from its own run. The raw
# output stays in build/bench-release/results-serializers.
#
# Environment: BENCH_REPS (Google Benchmark repetitions, default 5), BENCH_RESULTS (default
# benchmarks/RESULTS.md), BENCH_BUILD (build tree, default build/bench-release; an existing
# Release tree with the benchmarks on will do), BENCH_JOBS (parallel compile jobs, default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results_md=${BENCH_RESULTS:-$root/benchmarks/RESULTS.md}
reps=${BENCH_REPS:-5}
build=${BENCH_BUILD:-$root/build/bench-release}
raw=$build/results-serializers
py=/usr/bin/python3

log_name=serializers
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"  # configure_release, log

if [[ ! -f $build/CMakeCache.txt ]]; then
    log "configuring a Release build in $build"
    configure_release "$build"
fi
log "building serializers_bench in $build"
cmake --build "$build" -j "${BENCH_JOBS:-$(nproc)}" --target serializers_bench >/dev/null
rm -rf "$raw" && mkdir -p "$raw"

filter='structured|typed'
args=(--benchmark_filter="$filter" --benchmark_repetitions="$reps"
    --benchmark_report_aggregates_only=true --benchmark_enable_random_interleaving=true
    --benchmark_format=json)
log "serializers_bench, $reps repetitions"
"$build/benchmarks/serializers_bench" "${args[@]}" >"$raw/serializers.json"
# The command as RESULTS.md shows it: the build tree relative to the source tree.
command="${build#"$root"/}/benchmarks/serializers_bench --benchmark_filter='$filter' ${args[*]:1}"

log "writing the JSON typed-path section of $results_md"
"$py" "$root/benchmarks/make_results.py" --json-typed --input "$raw/serializers.json" \
    --command "$command" --results "$results_md"
log "done; raw output in $raw"
