# SPDX-License-Identifier: MIT
# Memoization: a memoized call on a warm key against a direct facade get of the same key.
asiocache_add_benchmark(memo_bench
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/memo_cached.cpp
    LIBS asiocache::core asiocache::memory)
