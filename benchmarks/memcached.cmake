# SPDX-License-Identifier: MIT
# The memcached backend against raw libmemcached, and on pools with a stalled or dead server.
# Starts its own servers: one through the test support library (so it needs
# ASIOCACHE_BUILD_TESTS, the default, and the memcached backend), and the pools' servers
# itself, from the memcached binary the tests found (ASIOCACHE_MEMCACHED), because it needs
# their pids for SIGSTOP and SIGKILL.
if(TARGET asiocache_memcached AND TARGET asiocache_test_support)
    pkg_check_modules(MEMCACHED_BENCH REQUIRED IMPORTED_TARGET libmemcached)
    asiocache_add_benchmark(memcached_bench SOURCES memcached_bench.cpp
        LIBS asiocache::memcached asiocache_test_support PkgConfig::MEMCACHED_BENCH
            Threads::Threads)
    target_compile_definitions(memcached_bench PRIVATE
        ASIOCACHE_BENCH_MEMCACHED_BIN="${ASIOCACHE_MEMCACHED}")
endif()
