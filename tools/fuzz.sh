#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets in tests/fuzz/ with clang-19 (-fsanitize=fuzzer,address,undefined)
# and runs each one, starting from its committed corpus tests/fuzz/corpus/<target>/.
#
#   bash tools/fuzz.sh                    every target, 60 s each, one after the other
#   FUZZ_TIME=600 bash tools/fuzz.sh url  one target for 10 minutes
#
# New inputs and crash artifacts go to a scratch directory (FUZZ_OUT, default
# /tmp/asiocache-fuzz/<target>/), never into the repository: minimize a crash with
# `build/fuzz/tests/fuzz/fuzz_<target> -minimize_crash=1 -runs=100000 <crash>` and commit the
# result to tests/fuzz/corpus/<target>/ along with the fix, where ctest replays it (label fuzz).
# Installs clang-19 and libclang-rt-19-dev from Debian's packages if they are missing; nothing
# else touches the network. Targets run one at a time: each is single-threaded.
#
# Environment: FUZZ_TIME (seconds per target, default 60), FUZZ_OUT (scratch directory),
# FUZZ_JOBS (build parallelism, default: the number of processors), FUZZ_NICE (default 19),
# FUZZ_ARGS (more libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1" to keep going past a known
# crash).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_time=${FUZZ_TIME:-60}
out_root=${FUZZ_OUT:-/tmp/asiocache-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
niceness=${FUZZ_NICE:-19}
build=$root/build/fuzz
all_targets=(url config serializers resp memcached_keys meta)
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")

# clang 14 (Debian's default) needs -fno-sanitize=function for UBSan and cannot compile
# std::views (llvm#52696); clang-19 from Debian 12's own archive has neither problem.
if ! command -v clang++-19 >/dev/null || [[ ! -d /usr/lib/llvm-19/lib/clang/19/lib/linux ]]; then
    echo "fuzz.sh: installing clang-19 and libclang-rt-19-dev"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang-19 libclang-rt-19-dev
fi

# The library itself is built with coverage instrumentation (fuzzer-no-link) and the same
# sanitizers, so libFuzzer sees inside the parsers; only the targets link libFuzzer's main.
cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++-19 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" \
    -DASIOCACHE_SANITIZE=address,undefined -DASIOCACHE_WERROR=OFF \
    -DASIOCACHE_FUZZ_ENGINE=libfuzzer \
    -DASIOCACHE_BUILD_BENCHMARKS=OFF -DASIOCACHE_BUILD_EXAMPLES=OFF \
    -DASIOCACHE_BUILD_TOOLS=OFF -DASIOCACHE_INSTALL=OFF >/dev/null
for t in "${targets[@]}"; do
    nice -n "$niceness" cmake --build "$build" -j "$jobs" --target "fuzz_$t"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
    out=$out_root/$t
    mkdir -p "$out/corpus" "$out/artifacts"
    echo "== fuzz_$t for ${fuzz_time}s (new inputs: $out/corpus, crashes: $out/artifacts)"
    # The first corpus directory receives new inputs; the committed one is only read.
    rc=0
    nice -n "$niceness" "$build/tests/fuzz/fuzz_$t" \
        -max_total_time="$fuzz_time" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$out/artifacts/" ${FUZZ_ARGS:-} \
        "$out/corpus" "$root/tests/fuzz/corpus/$t" >"$out/log.txt" 2>&1 || rc=$?
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|ERROR|SUMMARY|property broken' "$out/log.txt" || true
    if ((rc != 0)) || [[ -n $(ls -A "$out/artifacts") ]]; then
        echo "fuzz.sh: fuzz_$t found a problem: see $out/log.txt and $out/artifacts/" >&2
        status=1
    fi
done
exit $status
