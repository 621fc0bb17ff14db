// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace asiocache::detail {

/// The timestamps behind `op_result::took`: two per operation on a cache with plugins, so their
/// cost is the plugins' floor. On x86-64, when the kernel itself keeps time with the CPU's
/// time-stamp counter (`current_clocksource` is `tsc`: invariant and synchronised across
/// cores), a read is one `rdtsc` (10 ns here, against 25 ns for `steady_clock` through the
/// vDSO), converted to nanoseconds at a rate measured once against `steady_clock` (2 ms, on
/// the first conversion). Elsewhere, `steady_clock`. Both reads are inline: the mode and the
/// rate are constant-initialised atomics, settled by the first call.
class op_clock {
public:
    using ticks = std::uint64_t;

    static auto now() noexcept -> ticks {
        auto const m = mode_.load(std::memory_order_relaxed);
#if defined(__x86_64__)
        if (m == tsc_mode) {
            return __builtin_ia32_rdtsc();
        }
#endif
        if (m == steady_mode) {
            return steady_ns();
        }
        return first_now();
    }

    /// The time from `from` to `to` (zero if `to` is earlier).
    static auto between(ticks from, ticks to) noexcept -> std::chrono::nanoseconds {
        if (to <= from) {
            return std::chrono::nanoseconds(0);
        }
        auto rate = ns_per_tick_.load(std::memory_order_relaxed);
        if (rate == 0.0) {
            rate = calibrate();
        }
        return std::chrono::nanoseconds(
            static_cast<std::int64_t>(static_cast<double>(to - from) * rate));
    }

    /// Whether the time-stamp counter is in use.
    static auto uses_tsc() noexcept -> bool;

private:
    static constexpr int unknown_mode = 0;
    static constexpr int tsc_mode = 1;
    static constexpr int steady_mode = 2;

    static auto steady_ns() noexcept -> ticks {
        return static_cast<ticks>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                      std::chrono::steady_clock::now().time_since_epoch())
                                      .count());
    }
    static auto first_now() noexcept -> ticks;
    static auto calibrate() noexcept -> double;

    static constinit std::atomic<int> mode_;
    static constinit std::atomic<double> ns_per_tick_;
};

}  // namespace asiocache::detail
