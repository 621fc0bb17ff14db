// SPDX-License-Identifier: MIT
#pragma once

/// Wake-ups: how a process that waits for a key learns at once that another process has
/// written it, instead of polling. The memoization layer's lease waiters use them (`cached`
/// with `.lease`): the holder of a lease wakes the key once it has stored the value and
/// released the lease (or released it without a value), and the waiters in every other process
/// look at the cache again at once. Polling stays the fallback: a waiter whose channel is not
/// `ready()` polls as before, and one that is watching still looks again every `poll_max`, so
/// a wake-up lost with its connection costs latency, never a result.
///
/// A backend offers wake-ups through `backend::wakeups()` (default: none). The Redis backend
/// has them (PUBLISH on `asiocache:wake:<key>`, one PSUBSCRIBE connection per backend; see
/// docs/wire-format.md); the memory backend (one process) and memcached (no pub/sub) have none.
///
/// @code
/// if (auto* w = cache.backend()->wakeups(); w != nullptr && w->ready()) {
///     auto watch = w->watch(full_key);      // registered first: no wake is lost ...
///     if (!co_await cache.exists(key)) {    // ... between this look ...
///         co_await watch.wait(50ms);        // ... and this wait
///     }
/// }
/// @endcode

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "asiocache/types.hpp"

namespace asiocache {

namespace detail {
struct wake_slot;
struct wake_hub_state;
}  // namespace detail

/// How a `wake_watch::wait` ended.
enum class wake_status {
    woken,    ///< The key was woken (since the watch was registered, maybe before the wait).
    expired,  ///< `max` passed with no wake-up: look again, as a poll would.
    lost,     ///< The channel went down: a wake-up may have been missed; look, then poll.
};

/// One registration for the wake-ups of one key, made by `wake_channel::watch`. It counts
/// every wake-up from its registration on, so a wake that arrives between the caller's look at
/// the cache and `wait` completes the wait at once. Unregistered when destroyed. Movable; one
/// `wait` at a time. A default-constructed watch is empty: its `wait` only sleeps.
class wake_watch {
public:
    wake_watch() noexcept = default;
    wake_watch(wake_watch&& other) noexcept = default;
    auto operator=(wake_watch&& other) noexcept -> wake_watch&;
    wake_watch(wake_watch const&) = delete;
    auto operator=(wake_watch const&) -> wake_watch& = delete;
    ~wake_watch();

    /**
     * Waits for a wake-up of the key, or for `max`, on the caller's executor.
     *
     * *Completes with* `woken` at once if the key was woken since the watch was made;
     * otherwise with the first of a wake-up (`woken`), the channel's loss (`lost`) or `max`
     * (`expired`). *Errors*: none of its own. *Cancellation*: the caller's cancellation
     * completes it with `expired`. *Lifetime*: the watch must outlive the wait.
     */
    auto wait(std::chrono::milliseconds max) -> task<wake_status>;

    /// What happened so far: `woken` or `lost` once the key was woken or the channel lost,
    /// `expired` before either.
    [[nodiscard]] auto status() const noexcept -> wake_status;
    /// The key watched; empty for an empty watch.
    [[nodiscard]] auto key() const noexcept -> std::string_view;

private:
    friend class wake_hub;
    wake_watch(std::shared_ptr<detail::wake_slot> slot,
               std::weak_ptr<detail::wake_hub_state> hub) noexcept;
    void unregister() noexcept;

    std::shared_ptr<detail::wake_slot> slot_;
    std::weak_ptr<detail::wake_hub_state> hub_;
};

/// A backend's wake-up channel, shared by every cache on that backend. Thread-safe.
class wake_channel {
public:
    wake_channel() = default;
    wake_channel(wake_channel const&) = delete;
    auto operator=(wake_channel const&) -> wake_channel& = delete;
    virtual ~wake_channel() = default;

    /// True while the subscription is up, so that a wake sent now reaches this process. A
    /// channel that subscribes lazily starts subscribing on the first call (and answers false
    /// until it is up); waiters then poll.
    [[nodiscard]] virtual auto ready() noexcept -> bool = 0;
    /// Registers for the wake-ups of `key`, as the backend stores it (namespaced: see
    /// `cache::build_key`). Register before looking at the cache, wait after.
    virtual auto watch(std::string key) -> wake_watch = 0;
    /**
     * Wakes the watchers of `key` in every process sharing the backend, this one included.
     *
     * *Completes* once the backend took the wake-up (Redis: PUBLISH answered). *Errors*: the
     * backend's, as any operation (`timeout` past `dl`); a failed wake-up only costs waiters
     * latency, so callers may ignore it. *Lifetime*: the backend must outlive it.
     */
    virtual auto wake(std::string key, deadline dl) -> task<void> = 0;
};

/// Counters of a wake hub, since it was made.
struct wake_stats {
    std::uint64_t watches = 0;  ///< Watches registered.
    std::uint64_t wakeups = 0;  ///< Wake-ups received (for any key, watched or not).
    std::uint64_t woken = 0;    ///< Watches they completed.
    std::uint64_t losses = 0;   ///< Times the channel was reported lost.
    std::size_t watching = 0;   ///< Watches registered now.
};

/// The watches of one process by key: what a wake channel hands the wake-ups it receives to.
/// Thread-safe: `notify` may run on the subscriber's thread while watches wait on others.
/// Copies share the same watches.
class wake_hub {
public:
    wake_hub();

    /// A watch of `key`, registered at once.
    [[nodiscard]] auto watch(std::string key) const -> wake_watch;
    /// Completes every watch of `key` with `woken`; returns how many.
    auto notify(std::string_view key) const -> std::size_t;
    /// Completes every watch with `lost` (the channel went down); returns how many.
    auto notify_lost() const -> std::size_t;
    [[nodiscard]] auto stats() const -> wake_stats;

private:
    std::shared_ptr<detail::wake_hub_state> state_;
};

}  // namespace asiocache
