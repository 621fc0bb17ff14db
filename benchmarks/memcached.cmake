# SPDX-License-Identifier: MIT
# The memcached backend against raw libmemcached, and on pools with a stalled or dead server.
# Starts its own servers through the test support library, so it needs ASIOCACHE_BUILD_TESTS
# (the default) and the memcached backend.
if(TARGET asiocache_memcached AND TARGET asiocache_test_support)
    pkg_check_modules(MEMCACHED_BENCH REQUIRED IMPORTED_TARGET libmemcached)
    asiocache_add_benchmark(memcached_bench SOURCES memcached_bench.cpp
        LIBS asiocache::memcached asiocache_test_support PkgConfig::MEMCACHED_BENCH
            Threads::Threads)
endif()
