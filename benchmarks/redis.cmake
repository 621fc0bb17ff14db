# SPDX-License-Identifier: MIT
# Redis backend vs raw hiredis on the same server; run_redis_benchmark.sh drives it and adds
# redis-benchmark's figures.
if(TARGET asiocache::redis)
    asiocache_add_benchmark(redis_bench SOURCES ${CMAKE_CURRENT_LIST_DIR}/redis_bench.cpp
        LIBS asiocache::redis PkgConfig::HIREDIS)
endif()
