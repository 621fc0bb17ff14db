# SPDX-License-Identifier: MIT
# Memoization: a memoized call on a warm key against a direct facade get of the same key.
asiocache_add_benchmark(memo_bench
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/memo_cached.cpp
    LIBS asiocache::core asiocache::memory)
# Lease wake-ups (issue 13): the delay from a leased value landing to a waiter in another
# process having it, polling against woken. A plain program (two forked processes on one
# redis-server), not a Google Benchmark: it measures one delay per round, not a loop.
if(TARGET asiocache::redis)
    add_executable(lease_wake_bench ${CMAKE_CURRENT_LIST_DIR}/lease_wake.cpp)
    target_link_libraries(lease_wake_bench PRIVATE asiocache::redis asiocache_warnings)
endif()
