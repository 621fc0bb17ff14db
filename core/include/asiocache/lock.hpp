// SPDX-License-Identifier: MIT
#pragma once

/// Locks over any cache: the lease lock (distributed mutual exclusion with a token-checked
/// release, what aiocache's RedLock means to be) and the optimistic lock (compare-and-set).
///
/// Both work through the `cache` facade, so they work on every backend that has the operations
/// they need; the built-in backends (memory, Redis, memcached) have them all. A backend without
/// them (a user backend that keeps the defaults) fails with `errc::not_supported`:
/// - the lease lock takes the lock with `add` (Redis `SET NX PX`, memcached `add`) and releases
///   it with `backend::remove_if_equal` (a Lua compare-and-delete on Redis, a gets/cas pair on
///   memcached);
/// - the optimistic lock needs `gets`/`cas` (memcached CAS; on Redis a Lua script comparing a
///   hash of the value).

#include "asiocache/cache.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace asiocache {

/// Settings of a lease lock.
struct lease_options {
    /// How long the lease lasts once taken: if its holder dies or hangs, the lock frees itself
    /// after this. Pick it longer than the work it protects. Default 10 s.
    std::chrono::milliseconds ttl{10000};
    /// How long `acquire` keeps trying before it fails with `errc::lock_not_acquired`; zero
    /// tries once. Default 10 s.
    std::chrono::milliseconds wait{10000};
    /// First pause between two attempts; it doubles up to `poll_max`, with jitter so that
    /// waiters do not poll in step. Default 2 ms.
    std::chrono::milliseconds poll_min{2};
    /// Longest pause between two attempts. Default 50 ms.
    std::chrono::milliseconds poll_max{50};
    /// `cached` only: when the backend has a wake channel (`backend::wakeups()`, Redis), the
    /// holder wakes the waiters once the value is stored (or the lease released without one),
    /// and the waiters, subscribed, look again at once; they still look every `poll_max`, in
    /// case a wake-up was lost. False polls only, with backoff, and publishes nothing.
    /// Default true.
    bool wakeups = true;
};

class lease_lock;

namespace detail {

class lease_keeper;

/// A fresh random token naming one holder of a lease (128 bits, hex): unique across processes
/// and hosts in practice, so that only the holder can release its lease.
auto make_lock_token() -> std::string;

/// Bounded exponential backoff with jitter, on real time (it paces requests to a backend).
class backoff {
public:
    backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) noexcept;
    /// Waits for the next pause on the caller's executor.
    auto wait() -> task<void>;

private:
    std::chrono::milliseconds next_;
    std::chrono::milliseconds max_;
};

}  // namespace detail

/// A distributed lock held as a lease in the cache: `add(key, token, ttl)` takes it (Redis
/// `SET key token NX PX ttl`), and `release` deletes it only if it still holds this lock's
/// token (a compare-and-delete), so a holder whose lease has expired and been taken over can
/// never release the next holder's lock.
///
/// A `lease_lock` is one attempt to hold one key, by one coroutine at a time: it is not safe
/// to share between threads. If it is destroyed while held (a forgotten release), it starts a
/// detached release on the executor that acquired it; `with_lease_lock` releases on every path.
///
/// Errors: `lock_not_acquired` when `acquire` gives up; `not_supported` from `release` on a
/// backend without `remove_if_equal`; any error of the cache itself.
class lease_lock {
public:
    /// A lock on `key` (namespaced by the cache as any key), not yet taken. `o` applies to the
    /// cache operations the lock makes (namespace, timeout).
    lease_lock(cache c, std::string key, lease_options opts = {}, call_options o = {});
    lease_lock(lease_lock&& other) noexcept;
    auto operator=(lease_lock&&) -> lease_lock& = delete;
    lease_lock(lease_lock const&) = delete;
    auto operator=(lease_lock const&) -> lease_lock& = delete;
    ~lease_lock();

    /// Tries once to take the lease. True if this lock now holds it.
    auto try_acquire() -> task<bool>;
    /// Takes the lease, retrying with backoff for up to `lease_options::wait`.
    /// Errors: `lock_not_acquired` if it is still held by someone else by then.
    auto acquire() -> task<void>;
    /// Gives the lease back if this lock still holds it. True if it did; false if the lease
    /// had expired (and maybe been taken by another holder, whose lock is left alone).
    auto release() -> task<bool>;
    /// Extends the lease to a full `ttl` from now if this lock still holds it (a token-checked
    /// expire: Redis `PEXPIRE` in a script comparing the token, a CAS on memcached). True if
    /// it did; false if the lease was lost (expired, maybe taken by another holder): then
    /// `held()` turns false. Errors: `not_supported` on a backend without `expire_if_equal`.
    auto renew() -> task<bool>;

    /// True between a successful acquire and the release.
    [[nodiscard]] auto held() const noexcept -> bool { return held_; }
    /// The key, as given (before the cache's namespace).
    [[nodiscard]] auto key() const noexcept -> std::string const& { return key_; }
    /// This lock's token, the value stored under the key while it is held.
    [[nodiscard]] auto token() const noexcept -> std::string const& { return token_; }

private:
    friend class detail::lease_keeper;

    cache cache_;
    std::string key_;
    lease_options opts_;
    call_options call_;
    std::string token_;
    bool held_ = false;
    std::optional<boost::asio::any_io_executor> executor_;
};

namespace detail {

/// Renews a held lease in the background, every third of its TTL less the backend's TTL
/// granularity (memcached's whole seconds), until it is stopped (or destroyed) or the lease is
/// found lost: what keeps a long computation's lease alive. The renewals run on a strand of
/// `ex`, so `stop` may be called from any thread; a renewal in flight when it is stopped may
/// still land, which is harmless: it checks the token, and a released lease no longer has it.
class lease_keeper {
public:
    /// Starts renewing `lock`'s lease on `ex`. `wanted`, when set, is asked before each
    /// renewal (on the keeper's strand): false stops the keeper, e.g. once the result is no
    /// longer wanted, so that a hung computation cannot hold the lease for good.
    lease_keeper(boost::asio::any_io_executor ex, lease_lock const& lock,
                 std::function<bool()> wanted = {});
    ~lease_keeper();
    lease_keeper(lease_keeper const&) = delete;
    auto operator=(lease_keeper const&) -> lease_keeper& = delete;

    void stop() noexcept;
    /// Renewals that extended the lease so far.
    [[nodiscard]] auto renewals() const noexcept -> std::uint64_t;
    /// True once a renewal found the lease gone (the keeper then stopped).
    [[nodiscard]] auto lost() const noexcept -> bool;

    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace detail

namespace detail {
/// Releases `lock` on an error path: the function's own error is the one to report, so a
/// failed release is swallowed (the lease then expires on its own after its TTL).
inline auto release_quietly(lease_lock& lock) -> task<void> {
    try {
        co_await lock.release();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the caller rethrows the first error
    }
}
}  // namespace detail

/**
 * Runs `fn()` (a callable returning `task<R>`) while holding the lease lock on `key`, and
 * releases the lock on every path: success, exception and cancellation.
 *
 * *Completes with* what `fn` returns. *Errors*: what `fn` throws; `lock_not_acquired` if the
 * lock could not be taken within `opts.wait` (then `fn` is not called); a failed release is
 * reported only when `fn` succeeded (the lease expires on its own after `opts.ttl`).
 * *Cancellation*: cancelling the caller while `fn` runs cancels `fn`, then the lock is still
 * released before the cancellation is reported.
 */
template <class Fn>
auto with_lease_lock(cache c, std::string key, lease_options opts, Fn fn)
    -> std::invoke_result_t<Fn&> {
    using result_t = typename std::invoke_result_t<Fn&>::value_type;
    lease_lock lock(std::move(c), std::move(key), opts);
    co_await lock.acquire();
    std::exception_ptr error;
    if constexpr (std::is_void_v<result_t>) {
        try {
            co_await fn();
        } catch (...) {
            error = std::current_exception();
        }
        // A cancelled caller would have every later operation refused: release first.
        co_await boost::asio::this_coro::reset_cancellation_state();
        if (error) {
            co_await detail::release_quietly(lock);
            std::rethrow_exception(error);
        }
        co_await lock.release();
    } else {
        std::optional<result_t> result;
        try {
            result.emplace(co_await fn());
        } catch (...) {
            error = std::current_exception();
        }
        co_await boost::asio::this_coro::reset_cancellation_state();
        if (error) {
            co_await detail::release_quietly(lock);
            std::rethrow_exception(error);
        }
        co_await lock.release();
        co_return std::move(*result);
    }
}

/**
 * An optimistic lock (aiocache's `OptimisticLock`): read a value with its version, compute,
 * then write it back only if nobody changed it in between, over the cache's `gets`/`cas`.
 *
 * @code
 * asiocache::optimistic_lock<int> lock(cache, "counter");
 * auto current = co_await lock.read();              // nullopt if absent
 * co_await lock.commit(current.value_or(0) + 1);    // errc::cas_mismatch if it changed
 * @endcode
 *
 * If the key was absent at `read`, `commit` stores only if it is still absent (`add`). Not
 * safe to share between threads; one read/commit pair per object at a time.
 * Errors: `cas_mismatch` from `commit`; `not_supported` on backends without `gets`/`cas`.
 */
template <class T>
class optimistic_lock {
public:
    optimistic_lock(cache c, std::string key, call_options o = {})
        : cache_(std::move(c)), key_(std::move(key)), call_(std::move(o)) {}

    /// Reads the value and remembers its version; `nullopt` if the key is absent.
    auto read() -> task<std::optional<T>> {
        auto v = co_await cache_.gets<T>(key_, call_);
        read_ = true;
        if (!v) {
            token_.reset();
            co_return std::nullopt;
        }
        token_ = v->token;
        co_return std::move(v->value);
    }

    /// Stores `value` if the key still holds what `read` saw. Errors: `cas_mismatch` if it
    /// changed, vanished or appeared; `invalid_argument` if `read` was not called.
    auto commit(T value, std::optional<expiry> ttl = {}) -> task<void> {
        if (!read_) {
            throw_error(errc::invalid_argument, "optimistic_lock: commit() before read()");
        }
        read_ = false;
        if (token_) {
            bool stored = co_await cache_.cas(key_, std::move(value), *token_, ttl, call_);
            if (!stored) {
                throw_error(errc::cas_mismatch, "optimistic_lock: '" + key_ + "' changed");
            }
            co_return;
        }
        bool raced = false;
        try {
            co_await cache_.add(key_, std::move(value), ttl, call_);
        } catch (boost::system::system_error const& e) {
            if (e.code() != errc::key_exists) {
                throw;
            }
            raced = true;
        }
        if (raced) {
            throw_error(errc::cas_mismatch, "optimistic_lock: '" + key_ + "' was created");
        }
    }

private:
    cache cache_;
    std::string key_;
    call_options call_;
    std::optional<std::uint64_t> token_;
    bool read_ = false;
};

}  // namespace asiocache
