// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/plugin.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace asiocache::plugins {

/// Latency figures of one operation kind, as `timing::stats` reads them.
struct timing_stats {
    std::uint64_t count = 0;          ///< Operations completed, failed ones included.
    std::uint64_t errors = 0;         ///< Of those, the ones that failed.
    std::chrono::nanoseconds total{}; ///< Sum of their wall times.
    std::chrono::nanoseconds min{};   ///< Fastest; zero when `count` is 0.
    std::chrono::nanoseconds max{};   ///< Slowest.

    /// Mean wall time; zero when `count` is 0.
    [[nodiscard]] auto mean() const noexcept -> std::chrono::nanoseconds {
        if (count == 0) {
            return {};
        }
        return std::chrono::nanoseconds(total.count() / static_cast<std::int64_t>(count));
    }
};

/// The timing plugin (aiocache's `TimingPlugin`): per operation kind, the count, errors, total,
/// minimum, maximum and mean wall time, plus a log-linear histogram for percentiles.
///
/// `after` costs a handful of relaxed atomic updates and takes no lock, so the plugin can stay
/// on a hot cache and be read from any thread while operations run. Figures read while
/// operations complete may mix two instants (each counter is exact on its own).
///
/// The histogram has 4 buckets per power of two of nanoseconds (no HDR histogram library is
/// packaged for Debian 12, and this is all a cache needs): a percentile is reported as the
/// upper edge of its bucket, at most 25% above the true value.
///
/// @code
/// auto& timing = cache.add_plugin<asiocache::plugins::timing>();
/// ...
/// auto s = timing.stats(asiocache::op::get);
/// fmt::print("get: {} ops, mean {} ns, p99 <= {} ns\n", s.count, s.mean().count(),
///            timing.percentile(asiocache::op::get, 0.99).count());
/// @endcode
class timing final : public plugin {
public:
    void after(op_result const& event) noexcept override;

    /// The figures of operation `o` so far.
    [[nodiscard]] auto stats(op o) const noexcept -> timing_stats;
    /// An upper bound of the `q`-quantile (0 < q <= 1) of `o`'s wall times, within 25%; zero
    /// when no operation completed.
    [[nodiscard]] auto percentile(op o, double q) const noexcept -> std::chrono::nanoseconds;
    /// Starts every figure again from zero. Not atomic with respect to concurrent operations.
    void reset() noexcept;

    /// Histogram buckets per operation kind: 4 for 0-3 ns, then 4 per power of two up to
    /// 2^64 ns.
    static constexpr std::size_t buckets = 252;
    /// The bucket holding a wall time of `ns` nanoseconds.
    static auto bucket_of(std::uint64_t ns) noexcept -> std::size_t;
    /// The smallest wall time, in nanoseconds, that falls in bucket `b`.
    static auto bucket_floor(std::size_t b) noexcept -> std::uint64_t;

private:
    struct figures {
        std::atomic<std::uint64_t> count{0};
        std::atomic<std::uint64_t> errors{0};
        std::atomic<std::uint64_t> total_ns{0};
        std::atomic<std::uint64_t> min_ns{UINT64_MAX};
        std::atomic<std::uint64_t> max_ns{0};
        std::array<std::atomic<std::uint64_t>, buckets> histogram{};
    };
    std::array<figures, op_count> figures_{};
};

}  // namespace asiocache::plugins
