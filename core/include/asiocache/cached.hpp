// SPDX-License-Identifier: MIT
#pragma once

/// `cached`: memoization of an async function over any cache (aiocache's `@cached` and
/// `@cached_stampede`).
///
/// @code
/// // fetch_replies(std::shared_ptr<slack_client>, std::string channel, std::string ts)
/// //     -> asiocache::task<replies>
/// auto replies = asiocache::cached(cache, fetch_replies,
///                                  {.key_prefix = "replies",
///                                   .key_builder = asiocache::key_from_args<1, 2>(),
///                                   .ttl = 60s});
/// auto thread = co_await replies(client, channel, ts);  // "replies:<channel>:<ts>"
/// @endcode
///
/// A call looks the key up; on a hit it returns the stored result. On a miss, concurrent
/// callers of the same key share one call of the function (single-flight), and with
/// `lease` set, so do callers in other processes sharing the backend. The result is stored
/// with its TTL and returned to every caller. The function's exceptions reach every caller
/// that shared the call and are never cached. If the cache fails, the call still returns the
/// function's result (fail-open, on by default).

#include "asiocache/cache.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/key.hpp"
#include "asiocache/lock.hpp"
#include "asiocache/memo.hpp"
#include "asiocache/memo_envelope.hpp"
#include "asiocache/single_flight.hpp"
#include "asiocache/types.hpp"
#include "asiocache/wake.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <type_traits>
#include <utility>

namespace asiocache {

namespace detail {

/// The default key builder of `cached`: every argument, formatted with fmt (see key.hpp).
/// Instantiated only when a memoized function uses it, so that a key builder of your own can
/// leave out arguments fmt cannot format.
template <class... Args>
struct default_memo_key {
    auto operator()(Args const&... args) const -> std::string {
        static_assert((key_formattable_v<Args> && ...),
                      "asiocache::cached: the default key formats every argument with fmt, and "
                      "at least one argument type cannot be formatted, or is a pointer (an "
                      "address is not a stable key) or a hash container (its order is not "
                      "stable; pass a std::set or std::map). Specialize fmt::formatter for it, or set "
                      "`.key_builder` to one that leaves it out, e.g. "
                      "asiocache::key_from_args<1, 2>() or asiocache::noself().");
        return format_key_args(args...);
    }
};

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

/// The default test for a negative result: an empty `std::optional`, or an empty container
/// or string. Anything else is never negative.
template <class R>
auto default_is_negative(R const& r) -> bool {
    if constexpr (is_optional_v<R>) {
        return !r.has_value();
    } else if constexpr (requires { { r.empty() } -> std::convertible_to<bool>; }) {
        return r.empty();
    } else {
        return false;
    }
}

}  // namespace detail

/// Options of a function memoized with `cached`, for a function returning `task<R>` and taking
/// `Args...` (decayed). Built with designated initializers, in this order:
/// `{.key_prefix = "replies", .key_builder = ..., .ttl = 60s, ...}`.
template <class R, class... Args>
struct cached_options {
    /// The function's name or tag, the first part of every key: `<key_prefix>:<args>`. It is
    /// what tells two memoized functions apart in a shared cache, so it is required
    /// (`invalid_argument` otherwise). No default.
    std::string key_prefix;
    /// Builds the argument part of the key. Default: every argument formatted with fmt,
    /// escaped and joined with `:` (stable across runs and processes, never an address);
    /// unformattable argument types are a compile-time error. See `key_from_args`, `noself`,
    /// and `memo_key_builder` for what it may hold.
    memo_key_builder<Args...> key_builder = detail::default_memo_key<Args...>{};
    /// TTL of stored results. Default: none, which means the cache's default TTL.
    std::optional<expiry> ttl;
    /// Computes the TTL from the result; overrides `ttl` when set. Default: unset.
    std::function<expiry(R const&)> ttl_for;
    /// TTL of negative results (see `is_negative`), which are cached and served as hits like
    /// any other. Default: none, which means the same TTL as other results.
    std::optional<expiry> negative_ttl;
    /// Which results are negative. Default: an empty `std::optional`, container or string.
    std::function<bool(R const&)> is_negative;
    /// Results for which this returns true are returned but not stored. Default: unset.
    std::function<bool(R const&)> skip_cache;
    /// Namespace of the keys, overriding the cache's. Default: the cache's.
    std::optional<std::string> ns;
    /// Timeout of each cache operation, overriding the cache's (default 5 s). With fail-open,
    /// this bounds how long a slow cache can delay a call. Default: the cache's.
    std::optional<std::chrono::milliseconds> cache_timeout;
    /// Fail-open: when a cache operation fails or times out, count it, report it to plugins and
    /// `on_cache_error`, and go on without the cache (call the function, return its result).
    /// False propagates the cache's error to the caller. Default true.
    bool fail_open = true;
    /// Called for each cache failure that fail-open survives. Default: unset.
    cache_error_fn on_cache_error;
    /// Single-flight: concurrent callers of one key in this process share one call of the
    /// function. Default true.
    bool single_flight = true;
    /// Distributed stampede protection: before calling the function, take a lease lock on the
    /// key in the cache (`<key>\lease`), so that across processes one caller computes while
    /// the others wait for the value: woken by the holder when the backend has a wake channel
    /// (Redis; wake.hpp), else polling with backoff. Needs `single_flight`. The waiters give up
    /// with `errc::lock_not_acquired` after `lease->wait`. Default: off (`nullopt`).
    std::optional<lease_options> lease;
    /// Bounds one shared call of the function (a flight). When it passes, every caller of the
    /// flight fails with `errc::timeout`, the key is freed (the next caller starts a new call),
    /// and the function's late result is neither returned nor stored. Without it, a function
    /// that never completes holds its key for good: every later caller in the process joins
    /// the stuck flight. Default (`nullopt`): the lease's `ttl` when `lease` is set (a holder
    /// past it would let another process compute), otherwise no bound; 0 disables. A lease is
    /// renewed while its function runs and the flight still wants the result, so a function
    /// longer than the lease's TTL keeps its lease when `call_timeout` allows it the time; with
    /// 0 (no bound) it is not renewed, so that a hung function cannot hold it for good. Calls that share no
    /// flight (`single_flight` off, refresh, no-write calls, `multi_cached`) are the caller's
    /// own to bound, with its cancellation.
    std::optional<std::chrono::milliseconds> call_timeout;

    // Resilience policies (FusionCache's set), all opt-in. With any of them on, results are
    // stored in a `memo_envelope` (memo_envelope.hpp, docs/wire-format.md) that carries their
    // expiries, which Python aiocache cannot read; without them, the stored bytes are the
    // serializer's alone, as always. They need the result's TTL to be finite (`ttl`, `ttl_for`
    // or the cache's default; `invalid_argument` at construction otherwise), except
    // `soft_ttl`. `multi_cached` has none of them.

    /// Fail-safe: each result is kept in the cache `fail_safe_max` past its TTL (its logical
    /// expiry). A call that finds it logically expired calls the function as on a miss; if the
    /// function throws, or the shared call times out or waits for another process's lease in
    /// vain, the caller is served that last good value instead of the error (counted in
    /// `memo_stats::fail_safe`, reported as `memo_event::kind::fail_safe`). The stale value is
    /// not stored again, and the next call tries the function again; the first success stores
    /// the new value. Past `fail_safe_max` the error propagates. When the cache read itself
    /// fails there is no last value to serve (no copy is kept in the process): the function's
    /// error propagates. Positive; default off (`nullopt`).
    std::optional<std::chrono::milliseconds> fail_safe_max;
    /// Stale-while-revalidate: `soft_ttl` after a result is stored, the first call that reads
    /// it still gets it at once, and starts one refresh of the function in the background (on
    /// its executor); other callers keep getting the stored value until the refresh lands.
    /// One refresh per key at a time in a process (the refresh is the key's call in flight),
    /// and across processes a refresh lease (`add` of `<key>\refresh`, released by token)
    /// with a look at the stored value once it is held, so that a soft expiry is refreshed
    /// once. A refresh that fails keeps the stored value (`memo_stats::refresh_failures`,
    /// `memo_event::kind::refresh_failed`); the next call past the soft expiry tries again.
    /// Shorter than `ttl`; without a TTL, values never expire and are refreshed every
    /// `soft_ttl`. Positive; default off.
    std::optional<std::chrono::milliseconds> soft_ttl;
    /// Eager refresh: stale-while-revalidate with a soft TTL of this fraction of each result's
    /// TTL (0.8: refresh in the background once 80% of the TTL has passed). In (0, 1), and not
    /// together with `soft_ttl`; default off.
    std::optional<double> eager_refresh;
};

namespace detail {

template <class Ret, class... A>
struct signature {
    using result = Ret;
    using args = std::tuple<std::decay_t<A>...>;
    template <template <class...> class T, class... Front>
    using apply = T<Front..., std::decay_t<A>...>;
};

template <class F>
struct member_signature;
template <class C, class Ret, class... A>
struct member_signature<Ret (C::*)(A...) const> : signature<Ret, A...> {};
template <class C, class Ret, class... A>
struct member_signature<Ret (C::*)(A...) const noexcept> : signature<Ret, A...> {};
template <class C, class Ret, class... A>
struct member_signature<Ret (C::*)(A...) const&> : signature<Ret, A...> {};

template <class F>
concept has_call_operator = requires { &F::operator(); };

/// The signature of a callable with one, const, call operator, or of a function pointer.
template <class F>
struct callable_signature {
    static_assert(has_call_operator<F>,
                  "asiocache::cached: the function must have one non-template signature "
                  "(a function, a lambda with typed parameters, or std::function); wrap a "
                  "generic lambda in one with explicit parameter types");
    using type = member_signature<decltype(&F::operator())>;
};
template <class Ret, class... A>
struct callable_signature<Ret (*)(A...)> {
    using type = signature<Ret, A...>;
};
template <class Ret, class... A>
struct callable_signature<Ret (*)(A...) noexcept> {
    using type = signature<Ret, A...>;
};

template <class R, class Fn, class... Args>
class memo_state;

}  // namespace detail

/// A memoized function, as returned by `cached`: callable like the function it wraps, and
/// cheap to copy (copies share the cache, the counters and the calls in flight).
///
/// Safe to call from several threads at once, provided the wrapped function is.
template <class R, class Fn, class... Args>
class memoized {
public:
    using result_type = R;
    using options_type = cached_options<R, Args...>;

    memoized(cache c, Fn fn, options_type opts)
        : state_(std::make_shared<detail::memo_state<R, Fn, Args...>>(std::move(c), std::move(fn),
                                                                     std::move(opts))) {}

    /// The function's result for `args`: from the cache, from a call already in flight, or
    /// from a new call of the function (then stored).
    /// *Errors*: what the function throws; cache errors only without fail-open;
    /// `lock_not_acquired` when waiting for another process's lease timed out; `timeout` when
    /// the shared call ran past `call_timeout`.
    /// *Cancellation*: cancels this caller's wait only; the function's call goes on for the
    /// others and its result is still stored.
    auto operator()(Args... args) const -> task<R> {
        return state_type::call(state_, memo_call{}, std::move(args)...);
    }

    /// A call with per-call switches, e.g. `{.cache_read = false}`.
    auto call_with(memo_call how, Args... args) const -> task<R> {
        return state_type::call(state_, how, std::move(args)...);
    }

    /// Calls the function again, whatever the cache holds, and stores the new result.
    auto refresh(Args... args) const -> task<R> {
        return state_type::call(state_, memo_call{.cache_read = false}, std::move(args)...);
    }

    /// Removes the stored result for `args`; true if there was one. Cache errors propagate.
    auto invalidate(Args... args) const -> task<bool> {
        return state_type::invalidate(state_, std::move(args)...);
    }

    /// The key a call with `args` uses, before the cache's namespace.
    [[nodiscard]] auto key(Args const&... args) const -> std::string {
        return state_->key_of(args...);
    }

    [[nodiscard]] auto stats() const noexcept -> memo_stats { return state_->stats(); }
    /// How many keys have a call of the function in flight now.
    [[nodiscard]] auto in_flight() const -> std::size_t { return state_->flights_.size(); }

private:
    using state_type = detail::memo_state<R, Fn, Args...>;
    std::shared_ptr<state_type> state_;
};

namespace detail {

template <class Fn>
struct memo_types {
    using sig = typename callable_signature<Fn>::type;
    using ret = typename sig::result;
    static_assert(task_value<ret>::is_task,
                  "asiocache::cached: the function must return asiocache::task<R> "
                  "(boost::asio::awaitable<R>)");
    using value = typename task_value<ret>::type;
    static_assert(!std::is_void_v<value>, "asiocache::cached: a task<void> has nothing to cache");
    using options = typename sig::template apply<cached_options, value>;
    using type = typename sig::template apply<memoized, value, Fn>;
};

/// Everything a memoized function owns; shared by its copies and by the calls in flight.
template <class R, class Fn, class... Args>
class memo_state : public memo_base {
public:
    using options_type = cached_options<R, Args...>;

    memo_state(cache c, Fn fn, options_type opts)
        : memo_base(c, settings_of(opts)), fn_(std::move(fn)), opts_(std::move(opts)) {
        if (!opts_.key_builder) {
            throw_error(errc::invalid_argument, "cached: key_builder is empty");
        }
        if (opts_.lease && !opts_.single_flight) {
            throw_error(errc::invalid_argument, "cached: lease needs single_flight");
        }
        if (!opts_.is_negative) {
            opts_.is_negative = [](R const& r) { return default_is_negative(r); };
        }
        // Naming the type does not instantiate its call operator, which holds the static_assert.
        default_key_ = opts_.key_builder.template target<default_memo_key<Args...>>() != nullptr;
        check_policies();
    }

    /// `<key_prefix>:<part>`, built in one buffer. With the default key builder the arguments
    /// are formatted straight into it rather than through the `std::function`.
    auto key_of(Args const&... args) const -> std::string {
        std::string key = key_head();
        append_key_part(key, args...);
        return key;
    }

    /// Appends the arguments' part of the key to `key`.
    void append_key_part(std::string& key, Args const&... args) const {
        if constexpr ((key_formattable_v<Args> && ...)) {
            if (default_key_) {
                append_key_args(key, args...);
                return;
            }
        }
        if (auto append = opts_.key_builder.appender()) {
            append(key, args...);
            return;
        }
        key += opts_.key_builder(args...);
    }

    /// A call: plain, or through the envelope when a resilience policy is on.
    /// Takes the arguments by reference to move them once, into the call's frame.
    static auto call(std::shared_ptr<memo_state> self, memo_call how, Args&&... args) -> task<R> {
        if (self->enveloped_) {
            return call_enveloped(std::move(self), how, std::move(args)...);
        }
        if (how.cache_read && self->cache_.answers_at_once()) {
            return call_at_once(std::move(self), how, std::move(args)...);
        }
        return call_plain(std::move(self), how, first_read{}, std::move(args)...);
    }

    /// What a call's first read found before `call_plain` took over.
    struct first_read {
        bool done = false;         ///< The cache answered (a miss) or failed.
        std::exception_ptr error;  ///< Its failure, if it failed.
        std::string key;           ///< The call's key (`key_of`), when already built.
    };

    /// A plain call on a cache that answers at once (the memory store): a hit is served in
    /// this small frame; a miss goes on in `call_plain` with the key the hit attempt built.
    static auto call_at_once(std::shared_ptr<memo_state> self, memo_call how, Args... args)
        -> task<R> {
        first_read read;
        if (auto hit = self->hit_at_once(read, args...)) {
            bump(self->counters_.hits);
            co_return std::move(*hit);
        }
        co_return co_await call_plain(std::move(self), how, std::move(read),
                                      std::move(args)...);
    }

    /// The synchronous part of `call_at_once`: the hit, with its key built in this thread's
    /// buffer (no heap key), or nullopt and in `read` what `call_plain` needs. The key is built
    /// once either way, so a key builder that throws fails the call at its first run. While
    /// the buffer is held no coroutine can suspend, so no other call on the thread can see it,
    /// but one that a plugin hook runs inline: that one finds it held and builds its own key.
    auto hit_at_once(first_read& read, Args const&... args) -> std::optional<R> {
        auto* scratch = scratch_key();
        if (scratch == nullptr) {
            return std::nullopt;  // `read` as it came: call_plain reads and builds the key
        }
        scratch_hold hold(*scratch);
        append_key_part(scratch->key, args...);
        read.done = true;
        try {
            auto now = scratch_is_stored()
                           ? cache_.template get_stored_at_once<R>(scratch->key)
                           : cache_.template get_at_once<R>(scratch->key, call_);
            if (now && *now) {
                return std::move(*now);
            }
            read.done = now.has_value();
        } catch (...) {
            read.error = std::current_exception();
        }
        read.key = key_from_scratch(scratch->key);
        return std::nullopt;
    }

    static auto call_plain(std::shared_ptr<memo_state> self, memo_call how, first_read read,
                           Args... args) -> task<R> {
        // A key is never empty: it starts with the key prefix.
        auto key = read.key.empty() ? self->key_of(args...) : std::move(read.key);
        bool cache_ok = true;
        bool error_seen = false;
        if (how.cache_read) {
            std::exception_ptr error = std::move(read.error);
            if (!read.done && !error) {
                std::optional<R> hit;
                try {
                    hit = co_await self->cache_.template get<R>(key, self->call_);
                } catch (...) {
                    error = std::current_exception();
                }
                if (hit) {
                    bump(self->counters_.hits);
                    co_return std::move(*hit);
                }
            }
            if (error) {
                error_seen = true;
                cache_ok = self->cache_failed(error, key);
            }
        }
        bump(self->counters_.misses);
        // Only plain calls share flights: a refresh or a no-write call runs on its own.
        if (how.cache_read && how.cache_write && self->opts_.single_flight) {
            bool clean_miss = cache_ok && !error_seen;
            co_return co_await join(std::move(self), std::move(key), cache_ok, clean_miss,
                                    std::move(args)...);
        }
        bool write = how.cache_write && cache_ok;
        co_return co_await self->compute(key, write, nullptr, nullptr, args...);
    }

    /// A call under a resilience policy: the stored envelope is fresh (served; a background
    /// refresh starts past its soft expiry), logically expired but kept for fail-safe (the
    /// fallback if the function fails), or missing (a plain miss).
    static auto call_enveloped(std::shared_ptr<memo_state> self, memo_call how, Args... args)
        -> task<R> {
        auto key = self->key_of(args...);
        std::optional<memo_envelope<R>> stale;
        bool cache_ok = true;
        bool error_seen = false;
        if (how.cache_read) {
            std::optional<memo_envelope<R>> hit;
            std::exception_ptr error;
            try {
                hit = co_await self->cache_.template get<memo_envelope<R>>(key, self->call_);
            } catch (...) {
                error = std::current_exception();
            }
            if (error) {
                error_seen = true;
                cache_ok = self->cache_failed(error, key);
            } else if (hit) {
                auto const now = unix_ms_now();
                if (fresh(*hit, now)) {
                    bump(self->counters_.hits);
                    if (hit->soft_ms != 0 && now >= hit->soft_ms && how.cache_write) {
                        auto ex = co_await boost::asio::this_coro::executor;
                        start_refresh(self, ex, key, hit->soft_ms, args...);
                    }
                    co_return std::move(hit->value);
                }
                if (self->opts_.fail_safe_max &&
                    now < saturating_add(hit->expires_ms, self->opts_.fail_safe_max->count())) {
                    stale = std::move(hit);
                }
            }
        }
        bump(self->counters_.misses);
        std::exception_ptr failure;
        try {
            if (how.cache_read && how.cache_write && self->opts_.single_flight) {
                bool clean_miss = cache_ok && !error_seen;
                co_return co_await join(self, key, cache_ok, clean_miss, args...);
            }
            bool write = how.cache_write && cache_ok;
            co_return co_await self->compute(key, write, nullptr, nullptr, args...);
        } catch (...) {
            failure = std::current_exception();
        }
        if (!stale || is_cancellation(failure)) {
            std::rethrow_exception(failure);
        }
        bump(self->counters_.fail_safe);
        self->cache_.report({memo_event::kind::fail_safe, self->prefix(), 1, key});
        co_return std::move(stale->value);
    }

    static auto invalidate(std::shared_ptr<memo_state> self, Args... args) -> task<bool> {
        auto key = self->key_of(args...);
        auto removed = co_await self->cache_.remove(std::move(key), self->call_);
        co_return removed > 0;
    }

    flight_group<R> flights_;

private:
    static auto settings_of(options_type const& o) -> memo_settings {
        if (o.key_prefix.empty()) {
            throw_error(errc::invalid_argument, "cached: key_prefix must name the function");
        }
        return {o.key_prefix, o.ns, o.cache_timeout, o.fail_open, o.on_cache_error};
    }

    /// Joins the flight of `key`, starting it if there is none. The function runs in a
    /// coroutine of its own, so that no caller's cancellation reaches it.
    static auto join(std::shared_ptr<memo_state> self, std::string key, bool cache_ok,
                     bool clean_miss, Args... args) -> task<R> {
        auto joined = self->flights_.join(key);
        auto f = std::move(joined.first);
        if (joined.second) {
            auto ex = co_await boost::asio::this_coro::executor;
            auto timer = arm_call_timer(self, ex, key, f);
            auto work = lead(self, key, f, std::move(timer), cache_ok, clean_miss,
                             std::move(args)...);
            boost::asio::co_spawn(ex, std::move(work), boost::asio::detached);
        } else {
            bump(self->counters_.shared);
        }
        auto value = co_await f->async_wait(boost::asio::use_awaitable);
        co_return R(*value);
    }

    /// Arms the call timeout of flight `f` on `key`, if there is one. Armed before the flight
    /// starts: the flight cancels it when it ends, from any thread of `ex`, and that must be
    /// the only call on the timer from then on.
    static auto arm_call_timer(std::shared_ptr<memo_state> const& self,
                               boost::asio::any_io_executor const& ex, std::string const& key,
                               std::shared_ptr<flight<R>> const& f)
        -> std::shared_ptr<boost::asio::steady_timer> {
        std::shared_ptr<boost::asio::steady_timer> timer;
        if (auto limit = self->call_limit(); limit.count() > 0) {
            timer = std::make_shared<boost::asio::steady_timer>(ex, limit);
            timer->async_wait([self, key, f, limit](boost::system::error_code ec) {
                if (ec || f->done()) {
                    return;
                }
                bump(self->counters_.call_timeouts);
                self->flights_.fail(
                    key, f,
                    std::make_exception_ptr(boost::system::system_error(
                        make_error_code(errc::timeout),
                        "cached: '" + key + "' not computed within the call timeout of " +
                            std::to_string(limit.count()) + " ms")));
            });
        }
        return timer;
    }

    /// Starts the background refresh of `key`, whose stored value passed its soft expiry
    /// `seen_soft`, unless the key already has a call in flight in this process (which brings a
    /// new value anyway). The refresh is the key's flight: callers that miss meanwhile join it.
    /// It runs on `ex`, the caller's executor, and holds the state and the arguments itself,
    /// so it may outlive the caller and every copy of the memoized function.
    static void start_refresh(std::shared_ptr<memo_state> const& self,
                              boost::asio::any_io_executor const& ex, std::string const& key,
                              std::int64_t seen_soft, Args const&... args) {
        auto joined = self->flights_.join(key);
        if (!joined.second) {
            return;
        }
        auto f = std::move(joined.first);
        auto timer = arm_call_timer(self, ex, key, f);
        auto work = refresh_in_background(self, key, f, std::move(timer), seen_soft, args...);
        boost::asio::co_spawn(ex, std::move(work), boost::asio::detached);
    }

    /// The background refresh: under the refresh lease `<key>\refresh` (one process at a
    /// time), looks at the stored value again, since a refresh that held the lease before may
    /// have stored a new one for this soft expiry already; if not, calls the function and stores
    /// its result. Without the lease (another process refreshes), the flight ends with what the
    /// cache holds, or as a plain miss would. A failure keeps the stored value.
    static auto refresh_in_background(std::shared_ptr<memo_state> self, std::string key,
                                      std::shared_ptr<flight<R>> f,
                                      std::shared_ptr<boost::asio::steady_timer> timer,
                                      std::int64_t seen_soft, Args... args) -> task<void> {
        std::shared_ptr<R const> value;
        std::exception_ptr error;
        try {
            value = co_await self->refresh_once(key, f.get(), seen_soft, args...);
        } catch (...) {
            error = std::current_exception();
        }
        end_flight(*self, key, f, timer.get(), std::move(value), std::move(error));
    }

    auto refresh_once(std::string const& key, flight<R> const* f, std::int64_t seen_soft,
                      Args&... args) -> task<std::shared_ptr<R const>> {
        lease_options lo{.ttl = refresh_lease_ttl(), .wait = std::chrono::milliseconds(0)};
        lease_lock lock(cache_, key + "\\refresh", lo, call_);
        bool mine = false;
        bool cache_ok = true;
        std::exception_ptr error;
        try {
            mine = co_await lock.try_acquire();
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            cache_ok = cache_failed(error, lock.key());
        }
        if (!mine) {
            // Another process refreshes (or the cache fails): the stored value stays; callers
            // that joined this flight after a miss get what a miss would give them.
            co_return co_await produce(key, f, cache_ok, cache_ok, args...);
        }
        std::shared_ptr<R const> value;
        try {
            auto current = co_await read_envelope(key, cache_ok);
            auto const now = unix_ms_now();
            if (current && fresh(*current, now) && current->soft_ms != seen_soft) {
                // Refreshed by the holder before us: this soft expiry is done.
                value = std::make_shared<R const>(std::move(current->value));
            } else {
                bump(counters_.background_refreshes);
                try {
                    auto r = co_await compute(key, cache_ok, f, nullptr, args...);
                    value = std::make_shared<R const>(std::move(r));
                } catch (...) {
                    error = std::current_exception();
                }
                if (error && !is_cancellation(error)) {
                    bump(counters_.refresh_failures);
                    cache_.report({memo_event::kind::refresh_failed, prefix(), 1, key});
                }
            }
        } catch (...) {
            error = std::current_exception();
        }
        std::exception_ptr release_error;
        try {
            co_await lock.release();
        } catch (...) {
            release_error = std::current_exception();
        }
        if (error) {
            std::rethrow_exception(error);
        }
        if (release_error) {
            cache_failed(release_error, lock.key());  // the lease expires on its own
        }
        co_return value;
    }

    /// Ends flight `f` of `key` with `value`, or with `error` when set, after stopping its call
    /// timer. A flight the timer has failed already ignores the end.
    static void end_flight(memo_state& self, std::string const& key,
                           std::shared_ptr<flight<R>> const& f, boost::asio::steady_timer* timer,
                           std::shared_ptr<R const> value, std::exception_ptr error) {
        if (timer != nullptr) {
            timer->cancel();
        }
        if (error) {
            self.flights_.fail(key, f, std::move(error));
        } else {
            self.flights_.complete(key, f, std::move(value));
        }
    }

    /// Runs the flight of `key` and completes it, with a value or the function's exception.
    /// A flight that timed out (`timer` fired) is already failed; its result is then dropped.
    static auto lead(std::shared_ptr<memo_state> self, std::string key,
                     std::shared_ptr<flight<R>> f, std::shared_ptr<boost::asio::steady_timer> timer,
                     bool cache_ok, bool clean_miss, Args... args) -> task<void> {
        std::shared_ptr<R const> value;
        std::exception_ptr error;
        try {
            value = co_await self->produce(key, f.get(), cache_ok, clean_miss, args...);
        } catch (...) {
            error = std::current_exception();
        }
        end_flight(*self, key, f, timer.get(), std::move(value), std::move(error));
    }

    /// Reads `key`; a cache failure gives `nullopt` under fail-open and clears `cache_ok`.
    /// Under a resilience policy, a value past its logical expiry is not one.
    auto read(std::string const& key, bool& cache_ok) -> task<std::optional<R>> {
        if (enveloped_) {
            auto env = co_await read_envelope(key, cache_ok);
            if (env && fresh(*env, unix_ms_now())) {
                co_return std::move(env->value);
            }
            co_return std::nullopt;
        }
        std::optional<R> hit;
        std::exception_ptr error;
        try {
            hit = co_await cache_.template get<R>(key, call_);
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            cache_ok = cache_failed(error, key);
        }
        co_return hit;
    }

    /// Reads the envelope under `key`, as `read` reads a plain value.
    auto read_envelope(std::string const& key, bool& cache_ok)
        -> task<std::optional<memo_envelope<R>>> {
        std::optional<memo_envelope<R>> hit;
        std::exception_ptr error;
        try {
            hit = co_await cache_.template get<memo_envelope<R>>(key, call_);
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            cache_ok = cache_failed(error, key);
        }
        co_return hit;
    }

    /// The flight's work: a late look at the cache, then the function, under the lease if any.
    /// The call timeout of a flight: the option, else the lease's TTL.
    [[nodiscard]] auto call_limit() const -> std::chrono::milliseconds {
        if (opts_.call_timeout) {
            return *opts_.call_timeout;
        }
        return opts_.lease ? opts_.lease->ttl : std::chrono::milliseconds(0);
    }

    /// `f`, the flight this work completes: once it is done (failed by its call timeout), the
    /// result is no longer stored.
    auto produce(std::string const& key, flight<R> const* f, bool cache_ok, bool clean_miss,
                 Args&... args) -> task<std::shared_ptr<R const>> {
        if (clean_miss) {
            // A flight that ended between this caller's miss and the start of this one has
            // stored the value: look again rather than call the function twice.
            auto late = co_await read(key, cache_ok);
            if (late) {
                co_return std::make_shared<R const>(std::move(*late));
            }
        }
        if (cache_ok && opts_.lease) {
            co_return co_await produce_leased(key, f, args...);
        }
        auto r = co_await compute(key, cache_ok, f, nullptr, args...);
        co_return std::make_shared<R const>(std::move(r));
    }

    /// DESIGN.md section 6: one holder of the lease computes; the others wait for the value
    /// until it lands, or until the lease is gone (released without a value, or expired with
    /// its holder), when the next `add` decides who takes over. Never all at once. They are
    /// woken by the holder when the backend has a wake channel that is up, and poll with
    /// backoff otherwise.
    auto produce_leased(std::string const& key, flight<R> const* f, Args&... args)
        -> task<std::shared_ptr<R const>> {
        auto const& lo = *opts_.lease;
        std::string lock_key = key + "\\lease";
        lease_lock lock(cache_, lock_key, lo, call_);
        auto const until = clock::now() + lo.wait;
        backoff pause(lo.poll_min, lo.poll_max);
        bool cache_ok = true;
        bool waited = false;
        for (;;) {
            bool mine = false;
            std::exception_ptr error;
            try {
                mine = co_await lock.try_acquire();
            } catch (...) {
                error = std::current_exception();
            }
            if (error) {
                cache_failed(error, lock_key);
                break;  // the cache is failing: compute without it
            }
            if (mine) {
                co_return co_await compute_leased(key, lock, f, args...);
            }
            if (!waited) {
                waited = true;
                bump(counters_.lease_waits);
            }
            // Until the value lands or the lease is gone. With a wake channel that is up, a
            // watch of the key is registered before each look at the cache, so that the
            // holder's wake-up (sent once it has stored and released) cannot slip between the
            // look and the wait; a fresh watch looks first. The wait still ends every
            // `poll_max`: a wake-up lost with its connection costs latency, not the result.
            auto watch = watch_key(key);
            bool look = watch.has_value();
            for (;;) {
                if (!look) {
                    if (clock::now() >= until) {
                        throw_error(errc::lock_not_acquired,
                                    "cached: '" + key + "' still being computed by another " +
                                        "lease holder after " + std::to_string(lo.wait.count()) +
                                        " ms");
                    }
                    if (watch) {
                        auto left = std::chrono::ceil<std::chrono::milliseconds>(until -
                                                                                  clock::now());
                        auto most = std::clamp(left, std::chrono::milliseconds(1),
                                               std::max(lo.poll_max, std::chrono::milliseconds(1)));
                        if (co_await watch->wait(most) == wake_status::woken) {
                            bump(counters_.lease_wakeups);
                        }
                    } else {
                        co_await pause.wait();
                    }
                    watch = watch_key(key);  // the old one unregisters first
                }
                look = false;
                auto landed = co_await read(key, cache_ok);
                if (landed) {
                    co_return std::make_shared<R const>(std::move(*landed));
                }
                if (!cache_ok) {
                    break;
                }
                bool held = true;
                try {
                    held = co_await cache_.exists(lock_key, call_);
                } catch (...) {
                    error = std::current_exception();
                }
                if (error) {
                    cache_failed(error, lock_key);
                    cache_ok = false;
                    break;
                }
                if (!held) {
                    break;  // released or expired: try to take over
                }
            }
            if (!cache_ok) {
                break;
            }
        }
        auto r = co_await compute(key, false, f, nullptr, args...);
        co_return std::make_shared<R const>(std::move(r));
    }

    /// Holding the lease: look once more (a holder may have stored and released just before we
    /// took it), compute and store, then release on every path. While the function runs, the
    /// lease is renewed every third of its TTL, so a computation longer than the TTL (with a
    /// `call_timeout` that allows it) keeps it; renewals stop when the function ends or the
    /// lease is found lost.
    auto compute_leased(std::string const& key, lease_lock& lock, flight<R> const* f,
                        Args&... args) -> task<std::shared_ptr<R const>> {
        std::shared_ptr<R const> value;
        std::exception_ptr error;
        // Renewed while the flight still wants the result: once its call timeout has failed
        // it, a hung function must not keep the lease from the other processes.
        std::function<bool()> wanted;
        if (f != nullptr) {
            wanted = [w = f->weak_from_this()] {
                auto alive = w.lock();
                return alive && !alive->done();
            };
        }
        // Without a call bound (`call_timeout` 0), nothing would ever stop a hung function's
        // renewals: the lease then lasts its TTL, as an unrenewed one.
        std::optional<detail::lease_keeper> keeper;
        if (call_limit().count() > 0) {
            keeper.emplace(co_await boost::asio::this_coro::executor, lock, std::move(wanted));
        }
        bool stored = false;  // the cache holds the value: found there, or written
        try {
            bool cache_ok = true;
            auto landed = co_await read(key, cache_ok);
            if (landed) {
                value = std::make_shared<R const>(std::move(*landed));
                stored = true;
            } else {
                auto r = co_await compute(key, cache_ok, f, &stored, args...);
                value = std::make_shared<R const>(std::move(r));
            }
        } catch (...) {
            error = std::current_exception();
        }
        if (keeper) {
            keeper->stop();
            bump(counters_.lease_renewals, keeper->renewals());
        }
        // The waiters in other processes look as soon as there is something to find: the
        // value, woken before the release (they take it without it); or, with none, the free
        // lease, woken after the release (one of them takes over).
        if (stored) {
            co_await wake_waiters(key);
        }
        std::exception_ptr release_error;
        try {
            co_await lock.release();
        } catch (...) {
            release_error = std::current_exception();
        }
        if (!stored) {
            co_await wake_waiters(key);
        }
        if (error) {
            std::rethrow_exception(error);
        }
        if (release_error) {
            cache_failed(release_error, lock.key());  // the lease expires on its own
        }
        co_return value;
    }

    /// A watch of `key`'s wake-ups when the backend has a wake channel that is up; `nullopt`
    /// otherwise (the caller polls). The first call starts a lazy channel's subscription.
    auto watch_key(std::string const& key) -> std::optional<wake_watch> {
        auto* wakes = opts_.lease->wakeups ? cache_.backend()->wakeups() : nullptr;
        if (wakes == nullptr || !wakes->ready()) {
            return std::nullopt;
        }
        try {
            return wakes->watch(cache_.build_key(key, call_));
        } catch (...) {
            return std::nullopt;  // out of memory, say: poll
        }
    }

    /// Wakes the lease waiters of `key` in every process, if the backend can. A failure only
    /// leaves them to their polls, so it is not a cache error of the call.
    auto wake_waiters(std::string const& key) -> task<void> {
        auto* wakes = opts_.lease->wakeups ? cache_.backend()->wakeups() : nullptr;
        if (wakes == nullptr) {
            co_return;
        }
        try {
            co_await wakes->wake(cache_.build_key(key, call_), cache_.deadline_for(call_));
        } catch (...) {  // NOLINT(bugprone-empty-catch): the waiters poll
        }
    }

    /// Calls the function, then stores its result when `write` and the options allow, unless
    /// flight `f` already ended without it (its call timeout passed). `stored`, when given,
    /// tells whether the result was written.
    auto compute(std::string const& key, bool write, flight<R> const* f, bool* stored,
                 Args&... args) -> task<R> {
        bump(counters_.upstream_calls);
        R r = co_await std::invoke(fn_, args...);
        if (write && (f == nullptr || !f->done())) {
            bool const written = co_await store(key, r);
            if (stored != nullptr) {
                *stored = written;
            }
        }
        co_return r;
    }

    /// Stores `r` unless `skip_cache` says not to; true if it was written.
    auto store(std::string const& key, R const& r) -> task<bool> {
        if (opts_.skip_cache && opts_.skip_cache(r)) {
            co_return false;
        }
        std::optional<expiry> ttl = opts_.ttl;
        if (opts_.negative_ttl && opts_.is_negative(r)) {
            ttl = opts_.negative_ttl;
        } else if (opts_.ttl_for) {
            ttl = opts_.ttl_for(r);
        }
        std::exception_ptr error;
        try {
            if (enveloped_) {
                co_await store_envelope(key, r, ttl);
            } else {
                co_await cache_.set(key, r, ttl, call_);
            }
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            cache_failed(error, key);
            co_return false;
        }
        co_return true;
    }

    /// Stores `r` in its envelope: logically for `ttl`, physically `fail_safe_max` longer,
    /// with its soft expiry.
    auto store_envelope(std::string const& key, R const& r, std::optional<expiry> ttl)
        -> task<void> {
        auto const logical = cache_.resolve_ttl(ttl);
        auto const now = unix_ms_now();
        memo_envelope<R> env{r, 0, 0};
        expiry physical = expiry::never();
        if (logical.is_never()) {
            if (opts_.soft_ttl) {
                env.soft_ms = saturating_add(now, opts_.soft_ttl->count());
            }
        } else {
            auto const d = logical.duration().count();
            env.expires_ms = saturating_add(now, d);
            if (auto soft = soft_after(logical.duration()); soft && soft->count() < d) {
                env.soft_ms = now + soft->count();
            }
            auto const keep = saturating_add(d, opts_.fail_safe_max ? opts_.fail_safe_max->count()
                                                                    : 0);
            physical = std::chrono::milliseconds(keep);
        }
        co_await cache_.set(key, std::move(env), physical, call_);
    }

    /// The soft TTL of a value stored for `ttl`: `soft_ttl`, or `eager_refresh` of `ttl`.
    [[nodiscard]] auto soft_after(std::chrono::milliseconds ttl) const
        -> std::optional<std::chrono::milliseconds> {
        if (opts_.soft_ttl) {
            return opts_.soft_ttl;
        }
        if (opts_.eager_refresh) {
            auto ms = static_cast<std::int64_t>(*opts_.eager_refresh *
                                                static_cast<double>(ttl.count()));
            return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
        }
        return std::nullopt;
    }

    /// The refresh lease's TTL: the call timeout, else the stampede lease's TTL, else 10 s.
    [[nodiscard]] auto refresh_lease_ttl() const -> std::chrono::milliseconds {
        if (auto limit = call_limit(); limit.count() > 0) {
            return limit;
        }
        return lease_options{}.ttl;
    }

    static auto fresh(memo_envelope<R> const& e, std::int64_t now) -> bool {
        return e.expires_ms == 0 || now < e.expires_ms;
    }

    static auto saturating_add(std::int64_t a, std::int64_t b) -> std::int64_t {
        return a > std::numeric_limits<std::int64_t>::max() - b
                   ? std::numeric_limits<std::int64_t>::max()
                   : a + b;
    }

    /// True for the caller's own cancellation, which fail-safe never hides.
    static auto is_cancellation(std::exception_ptr const& e) -> bool {
        try {
            std::rethrow_exception(e);
        } catch (boost::system::system_error const& se) {
            return se.code() == boost::asio::error::operation_aborted;
        } catch (...) {
            return false;
        }
    }

    /// Validates the resilience policies (`invalid_argument`) and decides on the envelope.
    void check_policies() {
        using std::chrono::milliseconds;
        auto const& o = opts_;
        if (o.fail_safe_max && o.fail_safe_max->count() <= 0) {
            throw_error(errc::invalid_argument, "cached: fail_safe_max must be positive");
        }
        if (o.soft_ttl && o.soft_ttl->count() <= 0) {
            throw_error(errc::invalid_argument, "cached: soft_ttl must be positive");
        }
        if (o.eager_refresh && !(*o.eager_refresh > 0.0 && *o.eager_refresh < 1.0)) {
            throw_error(errc::invalid_argument,
                        "cached: eager_refresh must be a fraction of the TTL in (0, 1)");
        }
        if (o.eager_refresh && o.soft_ttl) {
            throw_error(errc::invalid_argument,
                        "cached: eager_refresh and soft_ttl are the same policy; set one");
        }
        // The TTL results are stored with, when it does not depend on the result.
        enveloped_ = o.fail_safe_max || o.soft_ttl || o.eager_refresh;
        if (!enveloped_) {
            return;
        }
        std::optional<expiry> fixed;
        if (!o.ttl_for) {
            fixed = cache_.resolve_ttl(o.ttl);
        }
        if ((o.fail_safe_max || o.eager_refresh) && fixed && fixed->is_never()) {
            throw_error(errc::invalid_argument,
                        "cached: fail_safe_max and eager_refresh need a TTL (ttl, ttl_for or the "
                        "cache's default); results that never expire have nothing to fail over "
                        "or refresh");
        }
        if (o.soft_ttl && fixed && !fixed->is_never() && *o.soft_ttl >= fixed->duration()) {
            throw_error(errc::invalid_argument, "cached: soft_ttl must be shorter than ttl");
        }
    }

    Fn const fn_;
    options_type opts_;
    bool default_key_ = false;
    /// True when a resilience policy is on: results are stored in a `memo_envelope`.
    bool enveloped_ = false;
};

}  // namespace detail

/**
 * Memoizes `fn`, an async function returning `task<R>`, over `c`: see the file comment and
 * `cached_options`. The result has `fn`'s signature (parameters decayed and taken by value).
 *
 * `fn` must have one non-template signature and be callable concurrently through a const
 * reference. `R` must be serializable by the cache's serializer (for the JSON serializer:
 * `to_json`/`from_json`; a `std::optional<T>` result stores an empty optional as JSON null,
 * a hit distinct from a miss).
 *
 * *Errors* at construction: `invalid_argument` for an empty `key_prefix` or `key_builder`, or
 * `lease` without `single_flight`.
 */
template <class Fn>
auto cached(cache c, Fn fn, typename detail::memo_types<Fn>::options opts = {}) ->
    typename detail::memo_types<Fn>::type {
    return {std::move(c), std::move(fn), std::move(opts)};
}

template <class Signature>
class memo_fn;

/**
 * A memoized function behind a type that names only its signature: `memo_fn<R(Args...)>`
 * holds what `cached` returns for any function with that signature (parameters decayed, as
 * `memoized` takes them), so that it can be a class member or a container element without
 * `decltype` of a lambda.
 *
 * @code
 * class replies_service {
 *     asiocache::memo_fn<thread(std::string, std::string)> replies_;
 * public:
 *     explicit replies_service(asiocache::cache c)
 *         : replies_(asiocache::cached(c, [](std::string ch, std::string ts) -> task<thread> {
 *               ...
 *           }, {.key_prefix = "replies"})) {}
 * };
 * @endcode
 *
 * Copies share the memoized function. A call costs one virtual call more than on `memoized`
 * (benchmarks/RESULTS.md has the figure). A default-constructed `memo_fn` is empty; calling it
 * fails with `invalid_argument`.
 */
template <class R, class... Args>
class memo_fn<R(Args...)> {
    static_assert((std::is_same_v<Args, std::decay_t<Args>> && ...),
                  "asiocache::memo_fn: name the parameters as memoized takes them, decayed and "
                  "by value: memo_fn<R(std::string)>, not memo_fn<R(std::string const&)>");

public:
    using result_type = R;

    memo_fn() = default;
    template <class Fn>
    memo_fn(memoized<R, Fn, Args...> m)  // NOLINT(google-explicit-constructor): a wrapper
        : impl_(std::make_shared<model<Fn> const>(std::move(m))) {}

    auto operator()(Args... args) const -> task<R> {
        return get().call(memo_call{}, std::move(args)...);
    }
    auto call_with(memo_call how, Args... args) const -> task<R> {
        return get().call(how, std::move(args)...);
    }
    auto refresh(Args... args) const -> task<R> {
        return get().call(memo_call{.cache_read = false}, std::move(args)...);
    }
    auto invalidate(Args... args) const -> task<bool> {
        return get().invalidate(std::move(args)...);
    }
    [[nodiscard]] auto key(Args const&... args) const -> std::string { return get().key(args...); }
    [[nodiscard]] auto stats() const -> memo_stats { return get().stats(); }
    [[nodiscard]] auto in_flight() const -> std::size_t { return get().in_flight(); }
    explicit operator bool() const noexcept { return impl_ != nullptr; }

private:
    struct base {
        virtual ~base() = default;
        virtual auto call(memo_call how, Args... args) const -> task<R> = 0;
        virtual auto invalidate(Args... args) const -> task<bool> = 0;
        virtual auto key(Args const&... args) const -> std::string = 0;
        virtual auto stats() const -> memo_stats = 0;
        virtual auto in_flight() const -> std::size_t = 0;
    };
    template <class Fn>
    struct model final : base {
        explicit model(memoized<R, Fn, Args...> m) : fn(std::move(m)) {}
        auto call(memo_call how, Args... args) const -> task<R> override {
            return fn.call_with(how, std::move(args)...);
        }
        auto invalidate(Args... args) const -> task<bool> override {
            return fn.invalidate(std::move(args)...);
        }
        auto key(Args const&... args) const -> std::string override { return fn.key(args...); }
        auto stats() const -> memo_stats override { return fn.stats(); }
        auto in_flight() const -> std::size_t override { return fn.in_flight(); }
        memoized<R, Fn, Args...> fn;
    };

    auto get() const -> base const& {
        if (!impl_) {
            throw_error(errc::invalid_argument, "memo_fn: empty (default-constructed)");
        }
        return *impl_;
    }

    std::shared_ptr<base const> impl_;
};

}  // namespace asiocache
