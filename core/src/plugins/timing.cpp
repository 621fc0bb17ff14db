// SPDX-License-Identifier: MIT
#include "asiocache/plugins/timing.hpp"

#include <bit>
#include <cmath>

namespace asiocache::plugins {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

}  // namespace

// Values below 4 ns have a bucket each; from there on, each power of two [2^e, 2^(e+1)) is cut
// into 4 equal buckets, indexed by the two bits below the leading one.
auto timing::bucket_of(std::uint64_t ns) noexcept -> std::size_t {
    if (ns < 4) {
        return static_cast<std::size_t>(ns);
    }
    auto e = static_cast<std::size_t>(std::bit_width(ns) - 1);  // >= 2
    auto sub = static_cast<std::size_t>((ns >> (e - 2)) & 3U);
    return (e - 1) * 4 + sub;
}

auto timing::bucket_floor(std::size_t b) noexcept -> std::uint64_t {
    if (b < 4) {
        return b;
    }
    auto e = b / 4 + 1;
    auto sub = b % 4;
    return (std::uint64_t{4} + sub) << (e - 2);
}

void timing::after(op_result const& event) noexcept {
    auto& f = figures_[static_cast<std::size_t>(event.operation)];
    auto ns = static_cast<std::uint64_t>(event.took.count() < 0 ? 0 : event.took.count());
    f.count.fetch_add(1, relaxed);
    if (event.error) {
        f.errors.fetch_add(1, relaxed);
    }
    f.total_ns.fetch_add(ns, relaxed);
    auto lo = f.min_ns.load(relaxed);
    while (ns < lo && !f.min_ns.compare_exchange_weak(lo, ns, relaxed)) {
    }
    auto hi = f.max_ns.load(relaxed);
    while (ns > hi && !f.max_ns.compare_exchange_weak(hi, ns, relaxed)) {
    }
    f.histogram[bucket_of(ns)].fetch_add(1, relaxed);
}

auto timing::stats(op o) const noexcept -> timing_stats {
    auto const& f = figures_[static_cast<std::size_t>(o)];
    timing_stats s;
    s.count = f.count.load(relaxed);
    s.errors = f.errors.load(relaxed);
    s.total = std::chrono::nanoseconds(f.total_ns.load(relaxed));
    auto lo = f.min_ns.load(relaxed);
    s.min = std::chrono::nanoseconds(lo == UINT64_MAX ? 0 : lo);
    s.max = std::chrono::nanoseconds(f.max_ns.load(relaxed));
    return s;
}

auto timing::percentile(op o, double q) const noexcept -> std::chrono::nanoseconds {
    auto const& f = figures_[static_cast<std::size_t>(o)];
    std::uint64_t total = 0;
    for (auto const& b : f.histogram) {
        total += b.load(relaxed);
    }
    if (total == 0) {
        return {};
    }
    q = q <= 0.0 ? 0.0 : (q > 1.0 ? 1.0 : q);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
    rank = rank == 0 ? 1 : rank;
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
        seen += f.histogram[b].load(relaxed);
        if (seen >= rank) {
            auto upper = b + 1 < buckets ? bucket_floor(b + 1) - 1 : UINT64_MAX;
            // Never above the slowest operation actually seen.
            auto hi = f.max_ns.load(relaxed);
            return std::chrono::nanoseconds(static_cast<std::int64_t>(upper < hi ? upper : hi));
        }
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(f.max_ns.load(relaxed)));
}

void timing::reset() noexcept {
    for (auto& f : figures_) {
        f.count.store(0, relaxed);
        f.errors.store(0, relaxed);
        f.total_ns.store(0, relaxed);
        f.min_ns.store(UINT64_MAX, relaxed);
        f.max_ns.store(0, relaxed);
        for (auto& b : f.histogram) {
            b.store(0, relaxed);
        }
    }
}

}  // namespace asiocache::plugins
