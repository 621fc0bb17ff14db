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

// Nanoseconds per tick, measured over 2 ms of steady_clock on first use.
auto ns_per_tick() noexcept -> double {
    static double const rate = [] {
        auto const t0 = read_tsc();
        auto const s0 = steady_ns();
        std::uint64_t s1 = s0;
        while (s1 - s0 < 2'000'000) {
            s1 = steady_ns();
        }
        auto const t1 = read_tsc();
        return t1 > t0 ? static_cast<double>(s1 - s0) / static_cast<double>(t1 - t0) : 1.0;
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
