// SPDX-License-Identifier: MIT
#include "asiocache/detail/op_clock.hpp"

#include <fstream>
#include <string>

namespace asiocache::detail {

constinit std::atomic<int> op_clock::mode_{op_clock::unknown_mode};
constinit std::atomic<double> op_clock::ns_per_tick_{0.0};

namespace {

auto kernel_trusts_tsc() noexcept -> bool {
#if defined(__x86_64__) && defined(__linux__)
    try {
        std::ifstream in("/sys/devices/system/clocksource/clocksource0/current_clocksource");
        std::string name;
        return static_cast<bool>(in >> name) && name == "tsc";
    } catch (...) {
        return false;
    }
#else
    return false;
#endif
}

auto read_tsc() noexcept -> std::uint64_t {
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}

}  // namespace

// The mode is decided once (every thread that gets here first decides the same), never by a
// static initialiser, which a cache used from another one could run before.
auto op_clock::first_now() noexcept -> ticks {
    static int const decided = kernel_trusts_tsc() ? tsc_mode : steady_mode;
    mode_.store(decided, std::memory_order_relaxed);
    return decided == tsc_mode ? read_tsc() : steady_ns();
}

auto op_clock::uses_tsc() noexcept -> bool {
    if (mode_.load(std::memory_order_relaxed) == unknown_mode) {
        (void)first_now();
    }
    return mode_.load(std::memory_order_relaxed) == tsc_mode;
}

namespace {

struct paired {
    std::uint64_t tsc;
    std::uint64_t ns;
};

auto steady_now_ns() noexcept -> std::uint64_t {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// A steady_clock reading and the counter at the same instant: the reading bracketed by two
// counter reads, the narrowest bracket of a few tries, taken at its middle. A thread
// preempted inside one try only makes that try lose.
auto paired_read() noexcept -> paired {
    paired best{};
    std::uint64_t narrowest = UINT64_MAX;
    for (int i = 0; i < 8; ++i) {
        auto const a = read_tsc();
        auto const ns = steady_now_ns();
        auto const b = read_tsc();
        if (b >= a && b - a < narrowest) {
            narrowest = b - a;
            best = {a + (b - a) / 2, ns};
        }
    }
    return best;
}

}  // namespace

// Nanoseconds per tick: 1 on steady_clock; for the counter, measured over 2 ms of
// steady_clock, once.
auto op_clock::calibrate() noexcept -> double {
    static double const rate = [] {
        if (!uses_tsc()) {
            return 1.0;
        }
        auto const p0 = paired_read();
        while (steady_now_ns() - p0.ns < 2'000'000) {
        }
        auto const p1 = paired_read();
        return p1.tsc > p0.tsc && p1.ns > p0.ns
                   ? static_cast<double>(p1.ns - p0.ns) / static_cast<double>(p1.tsc - p0.tsc)
                   : 1.0;
    }();
    ns_per_tick_.store(rate, std::memory_order_relaxed);
    return rate;
}

}  // namespace asiocache::detail
