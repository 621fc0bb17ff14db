// SPDX-License-Identifier: MIT
#pragma once

/// What `cached` and `multi_cached` share: per-call switches, statistics, and the fail-open
/// policy that decides which cache failures a memoized call survives.

#include "asiocache/cache.hpp"

#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace asiocache {

/// Per-call switches of a memoized function: `memo.call_with({.cache_read = false}, args...)`.
struct memo_call {
    /// Look the result up in the cache first. Default true. False always calls the function:
    /// a refresh.
    bool cache_read = true;
    /// Store the function's result in the cache. Default true.
    bool cache_write = true;
    // Only calls with both switches on share a call in flight (single-flight, lease); the
    // others run the function on their own.
};

/// Counters of a memoized function, since it was created (relaxed reads of atomic counters).
struct memo_stats {
    std::uint64_t hits = 0;            ///< Results served from the cache (keys, for multi).
    std::uint64_t misses = 0;          ///< Results not found in the cache (keys, for multi).
    std::uint64_t upstream_calls = 0;  ///< Times the wrapped function ran.
    std::uint64_t shared = 0;          ///< Calls that joined a computation already in flight.
    std::uint64_t lease_waits = 0;     ///< Computations that waited for another holder's lease.
    std::uint64_t cache_errors = 0;    ///< Cache operations that failed (fail-open or not).
    std::uint64_t call_timeouts = 0;   ///< Flights failed by `call_timeout` (function too slow).
    std::uint64_t fail_opens = 0;      ///< Of `cache_errors`, the ones the call survived.
    std::uint64_t lease_renewals = 0;  ///< Times a long computation's lease was extended.
    /// Keys a batch function returned that were not asked for, or answered a second time
    /// (`multi_cached`; dropped).
    std::uint64_t unrequested_keys = 0;
    /// Calls served the last good value, logically expired, because the function failed
    /// (fail-safe, `cached_options::fail_safe_max`).
    std::uint64_t fail_safe = 0;
    /// Background refreshes that called the function (stale-while-revalidate, eager refresh).
    std::uint64_t background_refreshes = 0;
    /// Of `background_refreshes`, the ones whose function failed (the stored value was kept).
    std::uint64_t refresh_failures = 0;
    /// Lease waits ended by a wake-up from the holder's process rather than by a poll (a
    /// backend with `wakeups()`, as Redis; see wake.hpp).
    std::uint64_t lease_wakeups = 0;
};

/// Called for every cache failure a memoized call survives (fail-open): the error and the key.
/// Runs inline on the caller's thread; it must be cheap and must not throw.
using cache_error_fn = std::function<void(boost::system::error_code, std::string_view key)>;

namespace detail {

/// `task<T>` -> `T`.
template <class T>
struct task_value {
    static constexpr bool is_task = false;
};
template <class T>
struct task_value<task<T>> {
    static constexpr bool is_task = true;
    using type = T;
};

/// Settings every memoized function has, whatever its signature.
struct memo_settings {
    std::string key_prefix;
    std::optional<std::string> ns;
    std::optional<std::chrono::milliseconds> cache_timeout;
    bool fail_open = true;
    cache_error_fn on_cache_error;
};

/// The untyped part of a memoized function: its cache, key prefix, counters and fail-open
/// policy. Shared by every copy of the memoized function, and safe to use from several threads.
class memo_base {
public:
    memo_base(cache c, memo_settings s);

    /// `<key_prefix>:<part>`, or `part` alone when there is no prefix.
    [[nodiscard]] auto full_key(std::string_view part) const -> std::string;
    /// `<key_prefix>:` with room reserved for the arguments that follow.
    [[nodiscard]] auto key_head() const -> std::string;
    /// A thread's buffer for a hit's key; its capacity stays, so building a key in it
    /// allocates nothing. `busy` while a call holds it.
    struct scratch_buffer {
        std::string key;
        bool busy = false;
    };
    /// Holds this thread's buffer for one synchronous stretch of a call, and frees it.
    class scratch_hold {
    public:
        explicit scratch_hold(scratch_buffer& b) noexcept : b_(b) { b_.busy = true; }
        scratch_hold(scratch_hold const&) = delete;
        auto operator=(scratch_hold const&) -> scratch_hold& = delete;
        ~scratch_hold() { b_.busy = false; }

    private:
        scratch_buffer& b_;
    };
    /// This thread's buffer, holding the key head, and before it the cache's stored-key head
    /// when `scratch_is_stored()`; or nullptr while a call on this thread holds it (a plugin
    /// hook that runs another memoized call inline): that call then builds a key of its own.
    [[nodiscard]] auto scratch_key() const -> scratch_buffer*;
    [[nodiscard]] auto scratch_is_stored() const noexcept -> bool { return read_head_stored_; }
    /// The key `scratch` (from `scratch_key()`, the arguments appended) holds, as `key_of`
    /// builds it: without the cache's stored-key head, with room for the namespace in front.
    [[nodiscard]] auto key_from_scratch(std::string const& scratch) const -> std::string;

    /// Handles an exception thrown by a cache operation on `key`. Rethrows it unless fail-open
    /// lets the call go on: then counts it, reports it to `on_cache_error`, and returns whether
    /// the cache is still worth writing to: true when only the stored bytes were bad
    /// (`serialization_failed`: the fresh result overwrites them), false when the backend
    /// itself failed.
    ///
    /// Never swallowed: anything but `system_error`, a cancellation of the caller
    /// (`operation_aborted`), and configuration errors (`not_supported`, `invalid_argument`).
    auto cache_failed(std::exception_ptr const& error, std::string_view key) -> bool;

    [[nodiscard]] auto stats() const noexcept -> memo_stats;
    /// The key prefix, which names the function.
    [[nodiscard]] auto prefix() const noexcept -> std::string const& { return prefix_; }

    cache cache_;
    call_options call_;

    struct counters {
        std::atomic<std::uint64_t> hits{0};
        std::atomic<std::uint64_t> misses{0};
        std::atomic<std::uint64_t> upstream_calls{0};
        std::atomic<std::uint64_t> shared{0};
        std::atomic<std::uint64_t> lease_waits{0};
        std::atomic<std::uint64_t> cache_errors{0};
        std::atomic<std::uint64_t> call_timeouts{0};
        std::atomic<std::uint64_t> fail_opens{0};
        std::atomic<std::uint64_t> lease_renewals{0};
        std::atomic<std::uint64_t> unrequested_keys{0};
        std::atomic<std::uint64_t> fail_safe{0};
        std::atomic<std::uint64_t> background_refreshes{0};
        std::atomic<std::uint64_t> refresh_failures{0};
        std::atomic<std::uint64_t> lease_wakeups{0};
    };
    counters counters_;

    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }

private:
    std::string prefix_;
    bool fail_open_;
    cache_error_fn on_cache_error_;
    /// What `scratch_key` starts with: the key head, after the cache's stored-key head when
    /// the cache has one (`cache::plain_key_head`).
    std::string read_head_;
    bool read_head_stored_ = false;
};

}  // namespace detail
}  // namespace asiocache
