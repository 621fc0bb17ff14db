// SPDX-License-Identifier: MIT
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <ratio>
#include <string>
#include <vector>

namespace asiocache {

/// Every cache operation is a lazily started coroutine on the caller's executor.
/// `co_await` it, or start it from plain code with `boost::asio::co_spawn(ex, op, token)`.
template <class T>
using task = boost::asio::awaitable<T>;

/// The monotonic clock behind deadlines and the memory backend's TTLs.
using clock = std::chrono::steady_clock;

/// How long a stored entry lives: a positive duration (millisecond precision), or never.
///
/// A duration of zero means "never expires", as in aiocache and for Redis `PERSIST`. A duration
/// that is positive but shorter than a millisecond rounds up to 1 ms rather than to "never".
class expiry {
public:
    /// An entry that never expires.
    constexpr expiry() noexcept = default;

    template <class Rep, class Period>
    constexpr expiry(std::chrono::duration<Rep, Period> d)  // NOLINT: implicit by design
        : ms_(d <= d.zero() ? std::chrono::milliseconds::zero() : saturated_ms(d)),
          negative_(d < d.zero()) {}

    static constexpr auto never() noexcept -> expiry { return {}; }

    [[nodiscard]] constexpr auto is_never() const noexcept -> bool { return ms_.count() == 0; }
    /// The duration; zero when `is_never()`.
    [[nodiscard]] constexpr auto duration() const noexcept -> std::chrono::milliseconds {
        return ms_;
    }
    /// True when it was built from a negative duration; the facade rejects those.
    [[nodiscard]] constexpr auto is_negative() const noexcept -> bool { return negative_; }

    friend constexpr auto operator==(expiry, expiry) noexcept -> bool = default;

private:
    // ceil<milliseconds> overflows for durations in coarser units past milliseconds::max()
    // (hours::max() is about 3.6e6 times that); such a TTL saturates instead.
    template <class Rep, class Period>
    static constexpr auto saturated_ms(std::chrono::duration<Rep, Period> d)
        -> std::chrono::milliseconds {
        if constexpr (std::ratio_greater_v<Period, std::milli>) {
            // Compared as long double: the limit need not fit `Rep` (int minutes, say).
            using wide = std::chrono::duration<long double, Period>;
            if (wide(d) >= std::chrono::duration_cast<wide>(std::chrono::milliseconds::max())) {
                return std::chrono::milliseconds::max();
            }
        }
        return std::chrono::ceil<std::chrono::milliseconds>(d);
    }

    std::chrono::milliseconds ms_{0};
    bool negative_ = false;
};

/// An absolute point on the monotonic clock by which an operation must finish.
///
/// Deadlines are handed down to backends instead of racing every operation against a timer of
/// its own: the memory backend completes at once and never looks at one, and a network backend
/// arms a timer only where it really waits on I/O.
struct deadline {
    clock::time_point at = clock::time_point::max();

    static auto never() noexcept -> deadline { return {}; }
    /// `timeout` of zero means no deadline. A timeout past the clock's range (about 292 years
    /// of nanoseconds) is no deadline too, rather than an overflow into the past.
    static auto after(std::chrono::milliseconds timeout) noexcept -> deadline {
        if (timeout.count() <= 0) {
            return never();
        }
        auto now = clock::now();
        if (timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(
                           clock::time_point::max() - now)) {
            return never();
        }
        return deadline{now + timeout};
    }
    [[nodiscard]] auto is_never() const noexcept -> bool { return at == clock::time_point::max(); }
    [[nodiscard]] auto expired(clock::time_point now = clock::now()) const noexcept -> bool {
        return now >= at;
    }
    /// Time left, clamped at zero; `milliseconds::max()` for `never()`.
    [[nodiscard]] auto remaining(clock::time_point now = clock::now()) const noexcept
        -> std::chrono::milliseconds {
        if (is_never()) {
            return std::chrono::milliseconds::max();
        }
        if (now >= at) {
            return std::chrono::milliseconds::zero();
        }
        return std::chrono::ceil<std::chrono::milliseconds>(at - now);
    }
};

/// A source of monotonic time, injectable so that tests advance time instead of sleeping.
class time_source {
public:
    virtual ~time_source() = default;
    [[nodiscard]] virtual auto now() const noexcept -> clock::time_point = 0;
};

/// The process-wide source reading `std::chrono::steady_clock`.
auto steady_time_source() -> std::shared_ptr<time_source const>;

/// A value read together with its compare-and-set token (memcached `gets`, or a backend's own
/// version counter). The token is opaque and valid only for `cas` on the same key and backend.
struct versioned_bytes {
    std::string value;
    std::uint64_t token = 0;
};

/// A reply to a backend-native command passed through `raw`. Redis replies map one to one;
/// memcached text replies arrive as `string`/`status` lines.
struct raw_reply {
    enum class kind { nil, integer, string, status, error, array };
    kind type = kind::nil;
    std::int64_t integer = 0;
    std::string str;                 ///< For `string`, `status` and `error`.
    std::vector<raw_reply> elements; ///< For `array`.
};

}  // namespace asiocache
