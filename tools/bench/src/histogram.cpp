// SPDX-License-Identifier: MIT
#include "asiocache/bench/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace asiocache::bench {

void histogram::merge(histogram const& other) noexcept {
    for (std::size_t i = 0; i < slot_count; ++i) {
        counts_[i] += other.counts_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

void histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    sum_ = 0;
    min_ = ~std::uint64_t{0};
    max_ = 0;
}

auto histogram::value_at(double quantile) const noexcept -> std::uint64_t {
    if (count_ == 0) {
        return 0;
    }
    quantile = std::clamp(quantile, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    if (rank == count_) {
        return max_;
    }
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < slot_count; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::clamp(highest_of(i), min(), max_);
        }
    }
    return max_;
}

}  // namespace asiocache::bench
