// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/types.hpp"

#include <atomic>
#include <chrono>

namespace asiocache::test {

/// A time source that moves only when told to, so TTL tests advance time instead of sleeping.
class manual_clock final : public time_source {
public:
    auto now() const noexcept -> clock::time_point override {
        return clock::time_point(clock::duration(ticks_.load(std::memory_order_acquire)));
    }
    void advance(clock::duration d) noexcept {
        ticks_.fetch_add(d.count(), std::memory_order_acq_rel);
    }

private:
    // Starts well away from zero so that "now - ttl" never underflows.
    std::atomic<clock::rep> ticks_{std::chrono::duration_cast<clock::duration>(
                                       std::chrono::hours(24 * 365))
                                       .count()};
};

}  // namespace asiocache::test
