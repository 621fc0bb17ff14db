// SPDX-License-Identifier: MIT
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace asiocache::bench {

/// A log-linear latency histogram in the manner of HdrHistogram (no HDR library is packaged
/// for Debian 12, so this is a small one of our own).
///
/// Values (nanoseconds, but any unit works) below `sub_bucket_count` are counted exactly.
/// Above that, each power of two is split into `sub_bucket_count` equal slots, so a slot's
/// width is at most `max_relative_error` of the values it holds. Every 64-bit value fits: there
/// is no configured range to overflow. Recording is a few instructions and never allocates;
/// the counters (58 KiB) are allocated once at construction.
///
/// Percentiles walk the counters: nothing is sorted and memory does not grow with the number
/// of samples. A reported percentile is the highest value of the slot that holds the sample of
/// that rank (as HdrHistogram's `valueAtPercentile`), clamped to the exact minimum and maximum,
/// so it never under-reports and is within `max_relative_error` above the exact order
/// statistic. Histograms merge exactly (counter-wise sums): each thread records into its own
/// and the totals are merged at the end.
class histogram {
public:
    /// log2 of the slots per power of two. 7 bits: 128 slots, 1/128 = 0.78% relative error.
    static constexpr unsigned sub_bucket_bits = 7;
    static constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;
    /// Bucket 0 holds the exact values below `sub_bucket_count`; bucket b >= 1 holds the values
    /// whose highest set bit is `sub_bucket_bits + b - 1`.
    static constexpr std::size_t bucket_count = 64 - sub_bucket_bits + 1;
    static constexpr std::size_t slot_count = bucket_count * sub_bucket_count;
    /// Upper bound of (reported - exact) / exact for any percentile.
    static constexpr double max_relative_error = 1.0 / static_cast<double>(sub_bucket_count);

    histogram() : counts_(slot_count, 0) {}

    /// Counts one value. Never allocates, never throws.
    void record(std::uint64_t v) noexcept {
        ++counts_[slot_of(v)];
        ++count_;
        sum_ += v;
        if (v < min_) {
            min_ = v;
        }
        if (v > max_) {
            max_ = v;
        }
    }

    /// Adds every count of `other` to this histogram.
    void merge(histogram const& other) noexcept;
    /// Forgets every value.
    void reset() noexcept;

    [[nodiscard]] auto count() const noexcept -> std::uint64_t { return count_; }
    /// The exact smallest value; 0 when empty.
    [[nodiscard]] auto min() const noexcept -> std::uint64_t { return count_ == 0 ? 0 : min_; }
    /// The exact largest value; 0 when empty.
    [[nodiscard]] auto max() const noexcept -> std::uint64_t { return max_; }
    /// The exact mean; 0 when empty.
    [[nodiscard]] auto mean() const noexcept -> double {
        return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
    }
    /// The value at `quantile` (0..1, e.g. 0.999): the value of rank ceil(quantile * count),
    /// at least rank 1, reported as described above. 0 when empty.
    [[nodiscard]] auto value_at(double quantile) const noexcept -> std::uint64_t;

    /// The slot that counts `v`.
    static constexpr auto slot_of(std::uint64_t v) noexcept -> std::size_t {
        if (v < sub_bucket_count) {
            return static_cast<std::size_t>(v);
        }
        auto const msb = static_cast<unsigned>(std::bit_width(v)) - 1;
        auto const bucket = msb - sub_bucket_bits + 1;
        auto const sub = (v >> (bucket - 1)) - sub_bucket_count;
        return static_cast<std::size_t>(bucket * sub_bucket_count + sub);
    }
    /// The smallest value counted by `slot`.
    static constexpr auto lowest_of(std::size_t slot) noexcept -> std::uint64_t {
        auto const bucket = slot >> sub_bucket_bits;
        auto const sub = static_cast<std::uint64_t>(slot & (sub_bucket_count - 1));
        if (bucket == 0) {
            return sub;
        }
        return (sub_bucket_count + sub) << (bucket - 1);
    }
    /// The largest value counted by `slot`.
    static constexpr auto highest_of(std::size_t slot) noexcept -> std::uint64_t {
        auto const bucket = slot >> sub_bucket_bits;
        if (bucket == 0) {
            return lowest_of(slot);
        }
        return lowest_of(slot) + ((std::uint64_t{1} << (bucket - 1)) - 1);
    }

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
    std::uint64_t max_ = 0;
};

}  // namespace asiocache::bench
