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
/// Keys the function returns that were not asked for are dropped, counted
/// (`memo_stats::unrequested_keys`) and reported to the cache's plugins (`plugin::on_memo`).
/// Leading parameters of the function (a client) are passed through, never part of the keys;
/// as `cached`'s, they are taken by value (decayed), so pass a pointer or `std::ref` to share
/// an object. A key answered twice counts as unrequested too (the first answer is kept).
/// Concurrent calls do not share function calls (no single-flight across batches).

#include "asiocache/cache.hpp"
#include "asiocache/key.hpp"
#include "asiocache/memo.hpp"
#include "asiocache/types.hpp"

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
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

/// The parameters of a batch function, split: the leading ones (left out of the keys, such as
/// a client) and the last one, the keys.
template <class Args, class Index>
struct split_batch_args;
template <class... A, std::size_t... I>
struct split_batch_args<std::tuple<A...>, std::index_sequence<I...>> {
    using all = std::tuple<A...>;
    using keys = std::tuple_element_t<sizeof...(A) - 1, all>;
    using leading = std::tuple<std::tuple_element_t<I, all>...>;
};

template <class T>
concept pair_like = requires { typename std::tuple_size<std::remove_cvref_t<T>>::type; } &&
                    std::tuple_size_v<std::remove_cvref_t<T>> == 2;

template <class Fn>
struct batch_types {
    using sig = typename callable_signature<Fn>::type;
    using args = typename sig::args;
    static_assert(std::tuple_size_v<args> >= 1,
                  "asiocache::multi_cached: the function must take the keys as its last "
                  "parameter, a std::vector<K>");
    using split = split_batch_args<args, std::make_index_sequence<std::tuple_size_v<args> - 1>>;
    using keys = typename split::keys;  // std::vector<K>
    using key = typename keys::value_type;
    using leading = typename split::leading;
    static_assert(std::is_same_v<keys, std::vector<key>>,
                  "asiocache::multi_cached: the function's last parameter must be a "
                  "std::vector of keys");
    static_assert(task_value<typename sig::result>::is_task,
                  "asiocache::multi_cached: the function must return asiocache::task<Map>");
    using map = typename task_value<typename sig::result>::type;
    static_assert(std::ranges::input_range<map>,
                  "asiocache::multi_cached: the result must be map-like: a range of (key, "
                  "value) pairs, such as std::map, std::unordered_map or "
                  "std::vector<std::pair<K, V>>");
    using element = std::ranges::range_value_t<map>;
    static_assert(pair_like<element>,
                  "asiocache::multi_cached: the result's elements must be (key, value) pairs");
    using value = std::remove_cvref_t<std::tuple_element_t<1, element>>;
    static_assert(std::is_same_v<std::remove_cvref_t<std::tuple_element_t<0, element>>, key>,
                  "asiocache::multi_cached: the result must be keyed by the key type");
};

template <class K, class V, class Fn, class Leading>
struct multi_memoized_of;

}  // namespace detail

/// A batch function memoized with `multi_cached`. Cheap to copy; safe to call from several
/// threads at once, provided the wrapped function is. `Lead...` are the function's leading
/// parameters, passed through and left out of the keys.
template <class K, class V, class Fn, class... Lead>
class multi_memoized {
public:
    using options_type = multi_cached_options<K, V>;
    /// The result: the found pairs, in the caller's key order.
    using result_type = std::vector<std::pair<K, V>>;

    multi_memoized(cache c, Fn fn, options_type opts)
        : state_(std::make_shared<state>(std::move(c), std::move(fn), std::move(opts))) {}

    /// The values for `keys`: hits from one `multi_get`, the rest from one call of the
    /// function (with `lead...` before the keys), stored with one `multi_set`.
    /// *Errors*: what the function throws; cache errors only without fail-open.
    auto operator()(Lead... lead, std::vector<K> keys) const -> task<result_type> {
        return call(state_, memo_call{}, std::move(keys), std::move(lead)...);
    }
    /// A call with per-call switches, e.g. `{.cache_read = false}` to reload every key.
    auto call_with(memo_call how, Lead... lead, std::vector<K> keys) const -> task<result_type> {
        return call(state_, how, std::move(keys), std::move(lead)...);
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

    static auto call(std::shared_ptr<state> self, memo_call how, std::vector<K> keys,
                     Lead... lead) -> task<result_type> {
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
            auto fetched = co_await std::invoke(self->fn, std::move(lead)..., std::move(ask));
            // Each returned pair goes to the key it answers, found by its cache key: any
            // map-like result works, whatever its lookup. A key nobody asked for (or asked
            // twice) is dropped, and counted and reported to the plugins.
            std::unordered_map<std::string, std::size_t> asked;
            asked.reserve(missing.size());
            for (auto i : missing) {
                asked.emplace(cache_keys[i], i);
            }
            std::vector<std::pair<std::string, V>> to_store;
            std::size_t unrequested = 0;
            for (auto&& element : fetched) {
                auto&& [rk, rv] = element;
                auto it = asked.find(self->key_of(rk));
                if (it == asked.end() || found[it->second]) {
                    ++unrequested;
                    continue;
                }
                auto const i = it->second;
                if (how.cache_write && cache_ok &&
                    !(self->opts.skip_cache && self->opts.skip_cache(wanted[i], rv))) {
                    to_store.emplace_back(cache_keys[i], rv);
                }
                found[i] = std::move(rv);
            }
            if (unrequested != 0) {
                detail::memo_base::bump(self->counters_.unrequested_keys, unrequested);
                self->cache_.report({memo_event::kind::unrequested_keys, self->prefix(),
                                     unrequested});
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

namespace detail {
template <class K, class V, class Fn, class... Lead>
struct multi_memoized_of<K, V, Fn, std::tuple<Lead...>> {
    using type = multi_memoized<K, V, Fn, Lead...>;
};
template <class Fn>
using multi_memoized_for =
    typename multi_memoized_of<typename batch_types<Fn>::key, typename batch_types<Fn>::value,
                               Fn, typename batch_types<Fn>::leading>::type;
}  // namespace detail

/**
 * Memoizes `fn`, a batch function `task<Map>(Lead..., std::vector<K>)`: the keys come last,
 * after any leading parameters (a client, say), which are passed through and left out of the
 * keys. `Map` is any map-like result, a range of (key, value) pairs: `std::map`,
 * `std::unordered_map`, `std::vector<std::pair<K, V>>`, ... See the file comment and
 * `multi_cached_options`.
 * *Errors* at construction: `invalid_argument` for an empty `key_prefix` or `key_builder`.
 */
template <class Fn>
auto multi_cached(cache c, Fn fn,
                  multi_cached_options<typename detail::batch_types<Fn>::key,
                                       typename detail::batch_types<Fn>::value>
                      opts = {}) -> detail::multi_memoized_for<Fn> {
    return {std::move(c), std::move(fn), std::move(opts)};
}

}  // namespace asiocache
