// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>

namespace asiocache::detail {

/// The timestamps behind `op_result::took`: two per operation on a cache with plugins, so their
/// cost is the plugins' floor. On x86-64, when the kernel itself keeps time with the CPU's
/// time-stamp counter (`current_clocksource` is `tsc`: invariant and synchronised across
/// cores), a read is one `rdtsc` (10 ns here, against 25 ns for `steady_clock` through the
/// vDSO), converted to nanoseconds at a rate measured once against `steady_clock` (2 ms, on
/// the first conversion). Elsewhere, `steady_clock`.
class op_clock {
public:
    using ticks = std::uint64_t;

    static auto now() noexcept -> ticks;
    /// The time from `from` to `to` (zero if `to` is earlier).
    static auto between(ticks from, ticks to) noexcept -> std::chrono::nanoseconds;
    /// Whether the time-stamp counter is in use.
    static auto uses_tsc() noexcept -> bool;
};

}  // namespace asiocache::detail
