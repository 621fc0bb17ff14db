// SPDX-License-Identifier: MIT
#pragma once

/// `multi_cached`: memoization of a batch function from keys to a map of values (aiocache's
/// `@multi_cached`).
///
/// @code
/// // load_users(std::vector<int> ids) -> task<std::map<int, user>>
/// auto users = asiocache::multi_cached(cache, load_users, {.key_prefix = "user", .ttl = 5min});
/// auto found = co_await users({3, 1, 2});  // vector<pair<int, user>>, in the order 3, 1, 2
/// @endcode
///
/// A call builds one cache key per requested key, reads them all with one `multi_get`, calls
/// the function with only the keys it missed (in the caller's order), stores what the function
/// returned with one `multi_set`, and returns every found pair in the caller's key order. A key
/// that is neither in the cache nor in the function's result is left out of the result, and is
/// not cached. Repeated keys are looked up once and returned once, at their first position.
/// Concurrent calls do not share function calls (no single-flight across batches).

#include "asiocache/cache.hpp"
#include "asiocache/key.hpp"
#include "asiocache/memo.hpp"
#include "asiocache/types.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace asiocache {

namespace detail {

/// The default key builder of `multi_cached`: the key formatted with fmt, escaped.
template <class K>
struct default_multi_key {
    static_assert(key_formattable_v<K>,
                  "asiocache::multi_cached: the default key formats each key with fmt, and the "
                  "key type cannot be formatted. Specialize fmt::formatter for it, or set "
                  "`.key_builder`.");
    auto operator()(K const& k) const -> std::string { return format_key_args(k); }
};

}  // namespace detail

/// Options of a batch function memoized with `multi_cached`, keyed by `K` with values `V`.
/// Built with designated initializers, in this order.
template <class K, class V>
struct multi_cached_options {
    /// The function's name or tag: each key is stored as `<key_prefix>:<key>`. Required
    /// (`invalid_argument` otherwise). No default.
    std::string key_prefix;
    /// Builds the part of a cache key after the prefix. Default: the key formatted with fmt,
    /// with `\` and `:` escaped; unformattable key types are a compile-time error.
    std::function<std::string(K const&)> key_builder = detail::default_multi_key<K>{};
    /// TTL of stored values. Default: none, which means the cache's default TTL.
    std::optional<expiry> ttl;
    /// Pairs for which this returns true are returned but not stored. Default: unset.
    std::function<bool(K const&, V const&)> skip_cache;
    /// Namespace of the keys, overriding the cache's. Default: the cache's.
    std::optional<std::string> ns;
    /// Timeout of each cache operation, overriding the cache's. Default: the cache's.
    std::optional<std::chrono::milliseconds> cache_timeout;
    /// Fail-open, as in `cached_options`: cache failures are counted, reported, and survived
    /// by calling the function for every key. Default true.
    bool fail_open = true;
    /// Called for each cache failure that fail-open survives. Default: unset.
    cache_error_fn on_cache_error;
};

namespace detail {

template <class F>
struct batch_signature;
template <class C, class Ret, class Arg>
struct batch_signature<Ret (C::*)(Arg) const> {
    using result = Ret;
    using arg = std::decay_t<Arg>;
};
template <class Ret, class Arg>
struct batch_signature<Ret (*)(Arg)> {
    using result = Ret;
    using arg = std::decay_t<Arg>;
};

template <class Fn>
struct batch_types {
    using sig = std::conditional_t<std::is_pointer_v<Fn>, batch_signature<Fn>,
                                   batch_signature<decltype(&Fn::operator())>>;
    using keys = typename sig::arg;  // std::vector<K>
    using key = typename keys::value_type;
    using map = typename task_value<typename sig::result>::type;
    using value = typename map::mapped_type;
    static_assert(std::is_same_v<keys, std::vector<key>>,
                  "asiocache::multi_cached: the function must take a std::vector of keys");
    static_assert(std::is_same_v<typename map::key_type, key>,
                  "asiocache::multi_cached: the function must return a map from the keys");
};

}  // namespace detail

/// A batch function memoized with `multi_cached`. Cheap to copy; safe to call from several
/// threads at once, provided the wrapped function is.
template <class K, class V, class Fn>
class multi_memoized {
public:
    using options_type = multi_cached_options<K, V>;
    /// The result: the found pairs, in the caller's key order.
    using result_type = std::vector<std::pair<K, V>>;

    multi_memoized(cache c, Fn fn, options_type opts)
        : state_(std::make_shared<state>(std::move(c), std::move(fn), std::move(opts))) {}

    /// The values for `keys`: hits from one `multi_get`, the rest from one call of the
    /// function, stored with one `multi_set`.
    /// *Errors*: what the function throws; cache errors only without fail-open.
    auto operator()(std::vector<K> keys) const -> task<result_type> {
        return call(state_, memo_call{}, std::move(keys));
    }
    /// A call with per-call switches, e.g. `{.cache_read = false}` to reload every key.
    auto call_with(memo_call how, std::vector<K> keys) const -> task<result_type> {
        return call(state_, how, std::move(keys));
    }
    /// Removes the stored value of `key`; true if there was one. Cache errors propagate.
    auto invalidate(K key) const -> task<bool> { return invalidate_one(state_, std::move(key)); }
    /// The cache key of `key`, before the cache's namespace.
    [[nodiscard]] auto key(K const& k) const -> std::string { return state_->key_of(k); }
    [[nodiscard]] auto stats() const noexcept -> memo_stats { return state_->stats(); }

private:
    struct state : detail::memo_base {
        state(cache c, Fn f, options_type o)
            : memo_base(std::move(c), settings_of(o)), fn(std::move(f)), opts(std::move(o)) {
            if (!opts.key_builder) {
                throw_error(errc::invalid_argument, "multi_cached: key_builder is empty");
            }
        }
        static auto settings_of(options_type const& o) -> detail::memo_settings {
            if (o.key_prefix.empty()) {
                throw_error(errc::invalid_argument,
                            "multi_cached: key_prefix must name the function");
            }
            return {o.key_prefix, o.ns, o.cache_timeout, o.fail_open, o.on_cache_error};
        }
        auto key_of(K const& k) const -> std::string { return full_key(opts.key_builder(k)); }

        Fn const fn;
        options_type opts;
    };

    static auto call(std::shared_ptr<state> self, memo_call how, std::vector<K> keys)
        -> task<result_type> {
        // Distinct keys, in first-seen order, with their cache keys.
        std::vector<K> wanted;
        std::vector<std::string> cache_keys;
        {
            std::unordered_map<std::string, std::size_t> seen;
            for (auto& k : keys) {
                auto ck = self->key_of(k);
                if (seen.try_emplace(ck, wanted.size()).second) {
                    cache_keys.push_back(std::move(ck));
                    wanted.push_back(std::move(k));
                }
            }
        }
        std::vector<std::optional<V>> found(wanted.size());
        bool cache_ok = true;
        if (how.cache_read && !wanted.empty()) {
            std::exception_ptr error;
            try {
                auto copy = cache_keys;
                found = co_await self->cache_.template multi_get<V>(std::move(copy), self->call_);
            } catch (...) {
                error = std::current_exception();
            }
            if (error) {
                cache_ok = self->cache_failed(error, cache_keys.front());
                found.assign(wanted.size(), std::nullopt);
            }
        }
        std::vector<std::size_t> missing;
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            if (!found[i]) {
                missing.push_back(i);
            }
        }
        detail::memo_base::bump(self->counters_.hits, wanted.size() - missing.size());
        detail::memo_base::bump(self->counters_.misses, missing.size());
        if (!missing.empty()) {
            std::vector<K> ask;
            ask.reserve(missing.size());
            for (auto i : missing) {
                ask.push_back(wanted[i]);
            }
            detail::memo_base::bump(self->counters_.upstream_calls);
            auto fetched = co_await std::invoke(self->fn, std::move(ask));
            std::vector<std::pair<std::string, V>> to_store;
            for (auto i : missing) {
                auto it = fetched.find(wanted[i]);
                if (it == fetched.end()) {
                    continue;
                }
                if (how.cache_write && cache_ok &&
                    !(self->opts.skip_cache && self->opts.skip_cache(it->first, it->second))) {
                    to_store.emplace_back(cache_keys[i], it->second);
                }
                found[i] = std::move(it->second);
            }
            if (!to_store.empty()) {
                co_await store(self, std::move(to_store));
            }
        }
        result_type out;
        out.reserve(wanted.size());
        for (std::size_t i = 0; i < wanted.size(); ++i) {
            if (found[i]) {
                out.emplace_back(std::move(wanted[i]), std::move(*found[i]));
            }
        }
        co_return out;
    }

    static auto store(std::shared_ptr<state> self, std::vector<std::pair<std::string, V>> items)
        -> task<void> {
        std::string first = items.front().first;
        std::exception_ptr error;
        try {
            co_await self->cache_.multi_set(std::move(items), self->opts.ttl, self->call_);
        } catch (...) {
            error = std::current_exception();
        }
        if (error) {
            self->cache_failed(error, first);
        }
    }

    static auto invalidate_one(std::shared_ptr<state> self, K key) -> task<bool> {
        auto k = self->key_of(key);
        auto removed = co_await self->cache_.remove(std::move(k), self->call_);
        co_return removed > 0;
    }

    std::shared_ptr<state> state_;
};

/**
 * Memoizes `fn`, a batch function `task<Map>(std::vector<K>)` where `Map` is a map from `K`
 * (`std::map`, `std::unordered_map`, ...): see the file comment and `multi_cached_options`.
 * *Errors* at construction: `invalid_argument` for an empty `key_prefix` or `key_builder`.
 */
template <class Fn>
auto multi_cached(cache c, Fn fn,
                  multi_cached_options<typename detail::batch_types<Fn>::key,
                                       typename detail::batch_types<Fn>::value>
                      opts = {})
    -> multi_memoized<typename detail::batch_types<Fn>::key,
                      typename detail::batch_types<Fn>::value, Fn> {
    return {std::move(c), std::move(fn), std::move(opts)};
}

}  // namespace asiocache
