// SPDX-License-Identifier: MIT
#pragma once

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace asiocache {

/// The cache operations, as plugins see them.
enum class op {
    get,
    multi_get,
    set,
    multi_set,
    add,
    remove,
    exists,
    increment,
    expire,
    ttl,
    clear,
    clear_all,
    gets,
    cas,
    raw,
    close,
};

/// The name of an operation, for logs and reports: "get", "multi_get", ...
auto to_string(op o) noexcept -> std::string_view;

/// How many operations `op` has; handy for per-op arrays in plugins.
inline constexpr std::size_t op_count = static_cast<std::size_t>(op::close) + 1;

/// What an operation is about to do.
struct op_start {
    op operation;
    std::string_view key;   ///< The built key (namespace joined); the first one for multi ops.
    std::size_t key_count;  ///< 1, or the batch size for multi ops.
};

/// How an operation ended.
struct op_result {
    op operation;
    std::string_view key;               ///< As in `op_start`.
    std::size_t key_count;              ///< As in `op_start`.
    std::chrono::nanoseconds took;      ///< Wall time from `before` to `after`.
    std::size_t hits;                   ///< Keys found (get, multi_get, exists, gets); else 0.
    boost::system::error_code error;    ///< Set when the operation failed.
};

/// Something the memoization layer reports beyond the cache operations it makes (which plugins
/// see as operations anyway).
struct memo_event {
    enum class kind {
        /// A `multi_cached` function returned keys it was not asked for; they were dropped.
        unrequested_keys,
        /// Fail-safe (`cached_options::fail_safe_max`): the function failed, or its call timed
        /// out, and the caller was served the last good value, logically expired, instead of
        /// the error.
        fail_safe,
        /// A background refresh (stale-while-revalidate, eager refresh) failed; the stored
        /// value was kept.
        refresh_failed,
    };
    kind what;
    std::string_view function;  ///< The memoized function's key prefix.
    std::size_t count;          ///< How many (keys, for `unrequested_keys`; else 1).
    std::string_view key{};     ///< The key concerned (before the namespace); empty for batches.
};

/// A plugin: hooks that run around every operation of the caches it is added to (aiocache's
/// `pre_<cmd>` / `post_<cmd>`, with a typed operation instead of a method name).
///
/// Hooks run inline on the caller's thread, synchronously and possibly from several threads at
/// once, so they must be cheap, thread-safe and must not throw. A plugin that needs to do I/O
/// should hand the event to a queue of its own. Plugins are added before the cache is used.
///
/// `before` sees every operation as it starts; `after` sees it end, on every path (success,
/// failure, timeout, cancellation), with its wall time and, for failures, the error. Operations
/// the memoization layer makes (`cached`, the locks) go through the same facade, so plugins see
/// them too, fail-open failures included; the one exception is the lease lock's release, a
/// `backend::remove_if_equal` that has no `op` of its own. Built-ins: `plugins::timing`,
/// `plugins::hit_miss`.
///
/// @code
/// // Counts failed operations per kind; lock-free, so it may stay on a hot cache.
/// struct error_counter final : asiocache::plugin {
///     void after(asiocache::op_result const& e) noexcept override {
///         if (e.error) {
///             errors[static_cast<std::size_t>(e.operation)].fetch_add(1,
///                                                                     std::memory_order_relaxed);
///         }
///     }
///     std::array<std::atomic<std::uint64_t>, asiocache::op_count> errors{};
/// };
/// auto& counter = cache.add_plugin<error_counter>();
/// @endcode
class plugin {
public:
    virtual ~plugin() = default;
    virtual void before(op_start const& /*event*/) noexcept {}
    virtual void after(op_result const& /*event*/) noexcept {}
    /// What a memoized function built on this cache reports (`memo_event`).
    virtual void on_memo(memo_event const& /*event*/) noexcept {}
};

}  // namespace asiocache
