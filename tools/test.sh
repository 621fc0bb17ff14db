#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds asiocache and runs every test. The integration tests start their own redis-server and
# memcached on free 127.0.0.1 ports (a Redis Cluster of six redis-server processes too) and
# stop them; nothing else needs to be running.
#
#   bash tools/test.sh            release build + ASan/UBSan build + TSan build (what CI runs)
#   bash tools/test.sh --quick    release build only
#
# Build trees: build/release, build/asan, build/tsan. ASIOCACHE_REQUIRE_SERVERS=1 makes a test
# that cannot find a server binary fail instead of skip (CI sets it). In the release tree the
# library, tools and benchmarks compile at -O3 and the test sources at -O1
# (ASIOCACHE_TEST_OPTIMIZATION), which takes a third less compile time.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=0
[[ ${1:-} == --quick ]] && quick=1

bash "$root/tools/install_deps.sh"

jobs=$(nproc)
total_passed=0
total_failed=0

# configure <dir> <cmake args...>
configure() {
    local dir=$1
    shift
    cmake -S "$root" -B "$root/build/$dir" -G Ninja -DASIOCACHE_WERROR=ON "$@" >/dev/null
}

# run_ctest <dir> <ctest args...>: runs ctest, keeping its output in build/<dir>/ctest.log and
# its exit status in build/<dir>/ctest.status.
run_ctest() {
    local dir=$1
    shift
    local status=0
    ctest --test-dir "$root/build/$dir" --output-on-failure -j "$jobs" --timeout 300 "$@" \
        >"$root/build/$dir/ctest.log" 2>&1 || status=$?
    echo "$status" >"$root/build/$dir/ctest.status"
}

# report <dir>: prints a finished run's output and adds its counts to the totals; stops on
# failure, or when ctest ran no test.
report() {
    local dir=$1
    cat "$root/build/$dir/ctest.log"
    local status line failed total
    status=$(cat "$root/build/$dir/ctest.status")
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$root/build/$dir/ctest.log" |
        tail -1 || true)
    if [[ -z $line ]]; then
        echo "test.sh: ctest in build/$dir ran no test" >&2
        exit 1
    fi
    failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    total_passed=$((total_passed + total - failed))
    total_failed=$((total_failed + failed))
    if ((status != 0 || failed != 0)); then
        echo "test.sh: failures in build/$dir" >&2
        echo "test: ${total_passed} passed, ${total_failed} failed"
        exit 1
    fi
}

# Each stage's tests run while the next stage compiles: many tests wait on servers and TTLs,
# which leaves the processor to the compiler, and this keeps the whole run near 20 minutes on
# two cores.
stage() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

stage "release build: library, tests, examples, tools, benchmarks"
configure release -DCMAKE_BUILD_TYPE=Release
cmake --build "$root/build/release" -j "$jobs"

if ((quick == 1)); then
    run_ctest release
    report release
    echo "test: ${total_passed} passed, ${total_failed} failed"
    exit 0
fi

run_ctest release &
release_tests=$!

# Sanitizer builds compile only the tests, at -Og with light debug info: on this code base -Og
# compiles a quarter faster than -O1 under ASan (coroutine-heavy test sources), and it keeps
# every memory access the sanitizers check.
sanitizer_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1"
    -DASIOCACHE_BUILD_BENCHMARKS=OFF -DASIOCACHE_BUILD_EXAMPLES=OFF -DASIOCACHE_BUILD_TOOLS=OFF)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

stage "ASan + UBSan build: every test"
configure asan -DASIOCACHE_SANITIZE=address,undefined "${sanitizer_args[@]}"
cmake --build "$root/build/asan" -j "$jobs"
wait "$release_tests" || true
stage "release tests"
report release

run_ctest asan &
asan_tests=$!

stage "TSan build: the tests that run several threads"
configure tsan -DASIOCACHE_SANITIZE=thread "${sanitizer_args[@]}"
cmake --build "$root/build/tsan" -j "$jobs" --target asiocache_threads_tests
wait "$asan_tests" || true
stage "ASan + UBSan tests"
report asan

stage "TSan tests"
run_ctest tsan -L threads
report tsan

echo "test: ${total_passed} passed, ${total_failed} failed"
