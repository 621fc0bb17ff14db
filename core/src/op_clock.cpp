// SPDX-License-Identifier: MIT
#include "asiocache/detail/op_clock.hpp"

#include <fstream>
#include <string>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace asiocache::detail {

namespace {

using steady = std::chrono::steady_clock;

auto steady_ns() noexcept -> std::uint64_t {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
            .count());
}

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

// Decided once, on first use (never by a static initialiser, which a cache used from another
// one could run before).
auto use_tsc() noexcept -> bool {
    static bool const yes = kernel_trusts_tsc();
    return yes;
}

auto read_tsc() noexcept -> std::uint64_t {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return 0;
#endif
}

struct paired {
    std::uint64_t tsc;
    std::uint64_t ns;
};

// A steady_clock reading and the counter at the same instant: the reading bracketed by two
// counter reads, the narrowest bracket of a few tries, taken at its middle. A thread
// preempted inside one try only makes that try lose.
auto paired_read() noexcept -> paired {
    paired best{};
    std::uint64_t narrowest = UINT64_MAX;
    for (int i = 0; i < 8; ++i) {
        auto const a = read_tsc();
        auto const ns = steady_ns();
        auto const b = read_tsc();
        if (b >= a && b - a < narrowest) {
            narrowest = b - a;
            best = {a + (b - a) / 2, ns};
        }
    }
    return best;
}

// Nanoseconds per tick, measured over 2 ms of steady_clock on first use.
auto ns_per_tick() noexcept -> double {
    static double const rate = [] {
        auto const p0 = paired_read();
        while (steady_ns() - p0.ns < 2'000'000) {
        }
        auto const p1 = paired_read();
        return p1.tsc > p0.tsc && p1.ns > p0.ns
                   ? static_cast<double>(p1.ns - p0.ns) / static_cast<double>(p1.tsc - p0.tsc)
                   : 1.0;
    }();
    return rate;
}

}  // namespace

auto op_clock::uses_tsc() noexcept -> bool { return use_tsc(); }

auto op_clock::now() noexcept -> ticks { return use_tsc() ? read_tsc() : steady_ns(); }

auto op_clock::between(ticks from, ticks to) noexcept -> std::chrono::nanoseconds {
    if (to <= from) {
        return std::chrono::nanoseconds(0);
    }
    auto const d = to - from;
    if (!use_tsc()) {
        return std::chrono::nanoseconds(static_cast<std::int64_t>(d));
    }
    return std::chrono::nanoseconds(
        static_cast<std::int64_t>(static_cast<double>(d) * ns_per_tick()));
}

}  // namespace asiocache::detail
