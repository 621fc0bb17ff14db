// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/plugin.hpp"

#include <atomic>
#include <cstdint>

namespace asiocache::plugins {

/// Lookups of one cache, as `hit_miss::stats` reads them.
struct hit_miss_stats {
    std::uint64_t lookups = 0;  ///< Keys looked up by `get` and `multi_get` that completed.
    std::uint64_t hits = 0;     ///< Of those, the keys found (a stored null counts as a hit).
    std::uint64_t errors = 0;   ///< `get` and `multi_get` calls that failed (not counted above).

    [[nodiscard]] auto misses() const noexcept -> std::uint64_t { return lookups - hits; }
    /// hits / lookups; 0 when nothing was looked up.
    [[nodiscard]] auto hit_ratio() const noexcept -> double {
        return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
    }
};

/// The hit/miss ratio plugin (aiocache's `HitMissRatioPlugin`), for the cache it is added to:
/// every key of every completed `get` and `multi_get` is a lookup, and a hit when it was found
/// (from `op_result::hits` and `key_count`). Failed reads are counted apart, as errors, so
/// that an unreachable backend does not show up as a run of misses. Lock-free; readable from
/// any thread at any time.
///
/// @code
/// auto& ratio = cache.add_plugin<asiocache::plugins::hit_miss>();
/// ...
/// fmt::print("hit ratio {:.1f}%\n", 100 * ratio.stats().hit_ratio());
/// @endcode
class hit_miss final : public plugin {
public:
    void after(op_result const& event) noexcept override;

    [[nodiscard]] auto stats() const noexcept -> hit_miss_stats;
    /// Starts again from zero. Not atomic with respect to concurrent operations.
    void reset() noexcept;

private:
    std::atomic<std::uint64_t> lookups_{0};
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> errors_{0};
};

}  // namespace asiocache::plugins
