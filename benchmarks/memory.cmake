# SPDX-License-Identifier: MIT
# The memory backend through the facade against a mutex-guarded std::unordered_map.
asiocache_add_benchmark(memory_vs_unordered_map
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/memory_vs_unordered_map.cpp
    LIBS asiocache::memory)
