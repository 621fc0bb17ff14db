// SPDX-License-Identifier: MIT
#include "asiocache/plugins/hit_miss.hpp"

namespace asiocache::plugins {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

}  // namespace

void hit_miss::after(op_result const& event) noexcept {
    if (event.operation != op::get && event.operation != op::multi_get) {
        return;
    }
    if (event.error) {
        errors_.fetch_add(1, relaxed);
        return;
    }
    lookups_.fetch_add(event.key_count, relaxed);
    hits_.fetch_add(event.hits, relaxed);
}

auto hit_miss::stats() const noexcept -> hit_miss_stats {
    // Hits first: a reader never sees more hits than lookups.
    auto hits = hits_.load(std::memory_order_acquire);
    auto lookups = lookups_.load(std::memory_order_acquire);
    return {lookups < hits ? hits : lookups, hits, errors_.load(relaxed)};
}

void hit_miss::reset() noexcept {
    hits_.store(0, relaxed);
    lookups_.store(0, relaxed);
    errors_.store(0, relaxed);
}

}  // namespace asiocache::plugins
