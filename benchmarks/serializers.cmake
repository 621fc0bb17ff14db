# SPDX-License-Identifier: MIT
# Serializers and key building: the hot paths under every cache operation.
asiocache_add_benchmark(serializers_bench
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/serializers_keys.cpp
    LIBS asiocache::core asiocache::memory)
