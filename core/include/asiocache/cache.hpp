// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/detail/op_clock.hpp"
#include "asiocache/detail/race_timeout.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/plugin.hpp"
#include "asiocache/serializer.hpp"
#include "asiocache/types.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace asiocache {

/// Builds the stored key from a caller's key and the effective namespace.
using key_builder_fn = std::function<std::string(std::string_view key, std::string_view ns)>;

namespace detail {
/// Throws `serialization_failed`: `key` holds a `held`, not a `wanted`.
[[noreturn]] void throw_wrong_object(std::string_view key, std::type_info const& held,
                                     std::type_info const& wanted);
/// Throws `key_exists` for an `add` that found `key`.
[[noreturn]] void throw_key_exists(std::string_view key);
/// Throws `backend_error`: a backend that says it is immediate did not answer `try_get`.
[[noreturn]] void throw_not_immediate(std::string_view backend);
/// The serializer that reads bytes found in an object store: JSON.
auto held_bytes_serializer() -> serializer const*;
}  // namespace detail

/// Per-cache settings. Built with designated initializers: `{.ns = "app", .ttl = 60s}`.
struct cache_options {
    /// Namespace joined to every key (aiocache's `namespace`). Default: none.
    std::string ns;
    /// TTL for writes that give none. Default: never expires.
    expiry ttl = expiry::never();
    /// Per-operation timeout. Default 5 s, as aiocache; zero disables.
    std::chrono::milliseconds timeout{5000};
    /// Value serializer. Default (`nullptr`): `serializers::json()`, as aiocache's Redis and
    /// memcached caches.
    std::shared_ptr<asiocache::serializer const> serializer;
    /// Key layout. Default (empty): the backend's own, matching Python aiocache 0.12 (`ns:key`
    /// on Redis and memory, `nskey` on memcached).
    key_builder_fn key_builder;
};

/// The key of a `cache::get`. It owns its text, so nothing the caller passes can dangle while
/// the operation is pending (`co_spawn` included), and it keeps a key of up to `inline_size`
/// bytes, with the cache's namespace in front, inside the operation's coroutine frame instead
/// of on the heap: a caller that holds its keys in strings pays a copy of the bytes, not an
/// allocation. A `std::string` passed as an rvalue is moved in, whatever its length.
class key_arg {
public:
    static constexpr std::size_t inline_size = 63;

    key_arg(std::string&& key) noexcept : heap_(std::move(key)) {}  // NOLINT: implicit by design
    key_arg(std::string const& key) : key_arg(std::string_view(key)) {}  // NOLINT
    key_arg(std::string_view key) {  // NOLINT
        if (key.size() <= inline_size) {
            std::memcpy(inline_, key.data(), key.size());
            size_ = static_cast<std::uint8_t>(key.size());
        } else {
            heap_.assign(key);
        }
    }
    key_arg(char const* key) : key_arg(std::string_view(key)) {}  // NOLINT
    key_arg(key_arg const& other) : heap_(other.heap_), size_(other.size_) {
        copy_inline(other);
    }
    key_arg(key_arg&& other) noexcept : heap_(std::move(other.heap_)), size_(other.size_) {
        copy_inline(other);
    }
    auto operator=(key_arg const& other) -> key_arg& {
        if (this != &other) {
            heap_ = other.heap_;
            size_ = other.size_;
            copy_inline(other);
        }
        return *this;
    }
    auto operator=(key_arg&& other) noexcept -> key_arg& {
        heap_ = std::move(other.heap_);
        size_ = other.size_;
        copy_inline(other);
        return *this;
    }
    ~key_arg() = default;

    [[nodiscard]] auto view() const noexcept -> std::string_view {
        return size_ == on_heap ? std::string_view(heap_) : std::string_view(inline_, size_);
    }
    /// Puts `head` before the key: in place while the whole fits inline, else on the heap.
    void prepend(std::string_view head) {
        if (head.empty()) {
            return;
        }
        if (size_ != on_heap && head.size() + size_ <= inline_size) {
            std::memmove(inline_ + head.size(), inline_, size_);
            std::memcpy(inline_, head.data(), head.size());
            size_ = static_cast<std::uint8_t>(size_ + head.size());
            return;
        }
        if (size_ != on_heap) {
            heap_.assign(inline_, size_);
            size_ = on_heap;
        }
        heap_.insert(0, head);
    }

private:
    static constexpr std::uint8_t on_heap = 0xff;
    static_assert(inline_size < on_heap);

    void copy_inline(key_arg const& other) noexcept {
        if (size_ != on_heap) {
            std::memcpy(inline_, other.inline_, inline_size);  // a fixed size: a few moves
        }
    }

    std::string heap_;
    std::uint8_t size_ = on_heap;  ///< The inline key's length, or `on_heap`.
    char inline_[inline_size];
};

/// Per-call overrides, as aiocache's `namespace=` and `timeout=` keyword arguments.
struct call_options {
    std::optional<std::string> ns;                    ///< Overrides `cache_options::ns`.
    std::optional<std::chrono::milliseconds> timeout; ///< Overrides `cache_options::timeout`.
};

/// A value read with its compare-and-set token.
template <class T>
struct versioned {
    T value;
    std::uint64_t token = 0;
};

/// The cache facade: a backend, a serializer, a namespace, a default TTL, a timeout and
/// plugins, in front of every operation (aiocache's `BaseCache` with its `API` decorators).
///
/// Every operation is a coroutine that resumes on the caller's executor. Failures throw
/// `boost::system::system_error` with an `asiocache::errc` code; a miss is an empty optional,
/// and a stored value that decodes to null is a hit. Keys and values are taken by value, so
/// nothing the caller passes can dangle while the operation is pending (`get` takes a
/// `key_arg`, which also accepts a `std::string_view` and keeps short keys in its frame).
///
/// A `cache` is cheap to copy, and its copies share every part: the backend, the options and
/// the plugins. A plugin added to any copy, at any time and from any thread, is seen by every
/// copy from its next operation on; memoized functions hold such a copy, so a plugin added after
/// `cached(cache, ...)` sees their operations too. A cache with plugins of its own over the same
/// backend is a new `cache{c.backend(), c.options()}`. A cache is safe to use from several
/// threads at once. An operation started on a temporary
/// keeps a copy of it in its frame, so `co_spawn(ex, cache{b}.get<int>("k"), token)` is safe;
/// one started on a named cache refers to it, which must then outlive the operation.
class cache {
public:
    explicit cache(std::shared_ptr<asiocache::backend> b, cache_options opts = {});

    /// The value under `key`, or `nullopt` on a miss or an expired entry.
    /// Errors: `timeout`, `backend_unavailable`, `serialization_failed` (names the key).
    template <class T>
    auto get(key_arg key, call_options o = {}) & -> task<std::optional<T>>;

    /// One result per key, in the order given, `nullopt` for misses; one round trip.
    template <class T>
    auto multi_get(std::vector<std::string> keys, call_options o = {}) &
        -> task<std::vector<std::optional<T>>>;

    /// Stores `value`. `ttl`: none means `cache_options::ttl`; `expiry::never()` means no
    /// expiry. Errors: `invalid_argument` for a negative TTL, `value_too_large`, `invalid_key`.
    template <class T>
    auto set(std::string key, T value, std::optional<expiry> ttl = {}, call_options o = {}) &
        -> task<void>;

    /// Stores every pair with the same TTL, in one round trip where the server allows it.
    template <class T>
    auto multi_set(std::vector<std::pair<std::string, T>> items, std::optional<expiry> ttl = {},
                   call_options o = {}) & -> task<void>;

    /// Stores only if the key is absent, atomically. Errors: `key_exists` otherwise.
    template <class T>
    auto add(std::string key, T value, std::optional<expiry> ttl = {}, call_options o = {}) &
        -> task<void>;

    /// Removes the key; completes with the number removed (0 or 1).
    auto remove(std::string key, call_options o = {}) & -> task<std::size_t>;
    auto exists(std::string key, call_options o = {}) & -> task<bool>;
    /// Adds `delta` atomically on the server and returns the new value; a missing key starts
    /// at 0. Errors: `not_a_number` if the stored value is not a 64-bit integer.
    auto increment(std::string key, std::int64_t delta = 1, call_options o = {}) &
        -> task<std::int64_t>;
    /// Sets the TTL of an existing key; `expiry::never()` removes it. True if the key existed.
    auto expire(std::string key, expiry ttl, call_options o = {}) & -> task<bool>;
    /// Remaining TTL (`expiry::never()` if persistent), or `nullopt` if the key is missing.
    /// Errors: `not_supported` on backends without `supports_ttl`.
    auto ttl(std::string key, call_options o = {}) & -> task<std::optional<expiry>>;
    /// Removes the keys of this cache's namespace (or `o.ns`), and only those, on every
    /// backend. Errors: `invalid_argument` when there is no namespace (use `clear_all`),
    /// `not_supported` where the backend cannot list a namespace, or when the cache has a
    /// custom `key_builder` (the backend cannot know which keys it made).
    auto clear(call_options o = {}) & -> task<std::size_t>;
    /// Removes every key in the backend, whatever its namespace (FLUSHDB, flush_all).
    auto clear_all(call_options o = {}) & -> task<void>;

    /// Reads a value with its compare-and-set token (memcached gets; optimistic locking).
    template <class T>
    auto gets(std::string key, call_options o = {}) & -> task<std::optional<versioned<T>>>;
    /// Stores only if the key still carries `token`; false when it changed or vanished.
    template <class T>
    auto cas(std::string key, T value, std::uint64_t token, std::optional<expiry> ttl = {},
             call_options o = {}) & -> task<bool>;

    /// Passes a backend-native command through, unchanged: keys in `argv` are not namespaced.
    auto raw(std::vector<std::string> argv, call_options o = {}) & -> task<raw_reply>;

    /// Releases the backend's connections. Network backends reconnect on next use.
    auto close() & -> task<void>;

    // The same operations on a temporary (`co_spawn(ex, cache{b}.get<int>("k"), ...)`): the
    // frame then owns a copy of the cache, since a member coroutine only holds `this`, which
    // would dangle once the full expression ends. Named caches take the overloads above, which
    // cost no copy; like any Asio I/O object, a named cache must outlive what it started.
    template <class T>
    auto get(key_arg key, call_options o = {}) && -> task<std::optional<T>> {
        return owned([k = std::move(key), o](cache& c) mutable { return c.get<T>(std::move(k), o); });
    }
    template <class T>
    auto multi_get(std::vector<std::string> keys, call_options o = {}) &&
        -> task<std::vector<std::optional<T>>> {
        return owned([k = std::move(keys), o](cache& c) mutable {
            return c.multi_get<T>(std::move(k), o);
        });
    }
    template <class T>
    auto set(std::string key, T value, std::optional<expiry> ttl = {}, call_options o = {}) &&
        -> task<void> {
        return owned([k = std::move(key), v = std::move(value), ttl, o](cache& c) mutable {
            return c.set<T>(std::move(k), std::move(v), ttl, o);
        });
    }
    template <class T>
    auto multi_set(std::vector<std::pair<std::string, T>> items, std::optional<expiry> ttl = {},
                   call_options o = {}) && -> task<void> {
        return owned([i = std::move(items), ttl, o](cache& c) mutable {
            return c.multi_set<T>(std::move(i), ttl, o);
        });
    }
    template <class T>
    auto add(std::string key, T value, std::optional<expiry> ttl = {}, call_options o = {}) &&
        -> task<void> {
        return owned([k = std::move(key), v = std::move(value), ttl, o](cache& c) mutable {
            return c.add<T>(std::move(k), std::move(v), ttl, o);
        });
    }
    auto remove(std::string key, call_options o = {}) && -> task<std::size_t> {
        return owned([k = std::move(key), o](cache& c) mutable { return c.remove(std::move(k), o); });
    }
    auto exists(std::string key, call_options o = {}) && -> task<bool> {
        return owned([k = std::move(key), o](cache& c) mutable { return c.exists(std::move(k), o); });
    }
    auto increment(std::string key, std::int64_t delta = 1, call_options o = {}) &&
        -> task<std::int64_t> {
        return owned([k = std::move(key), delta, o](cache& c) mutable {
            return c.increment(std::move(k), delta, o);
        });
    }
    auto expire(std::string key, expiry ttl, call_options o = {}) && -> task<bool> {
        return owned([k = std::move(key), ttl, o](cache& c) mutable {
            return c.expire(std::move(k), ttl, o);
        });
    }
    auto ttl(std::string key, call_options o = {}) && -> task<std::optional<expiry>> {
        return owned([k = std::move(key), o](cache& c) mutable { return c.ttl(std::move(k), o); });
    }
    auto clear(call_options o = {}) && -> task<std::size_t> {
        return owned([o](cache& c) { return c.clear(o); });
    }
    auto clear_all(call_options o = {}) && -> task<void> {
        return owned([o](cache& c) { return c.clear_all(o); });
    }
    template <class T>
    auto gets(std::string key, call_options o = {}) && -> task<std::optional<versioned<T>>> {
        return owned([k = std::move(key), o](cache& c) mutable { return c.gets<T>(std::move(k), o); });
    }
    template <class T>
    auto cas(std::string key, T value, std::uint64_t token, std::optional<expiry> ttl = {},
             call_options o = {}) && -> task<bool> {
        return owned([k = std::move(key), v = std::move(value), token, ttl, o](cache& c) mutable {
            return c.cas<T>(std::move(k), std::move(v), token, ttl, o);
        });
    }
    auto raw(std::vector<std::string> argv, call_options o = {}) && -> task<raw_reply> {
        return owned([a = std::move(argv), o](cache& c) mutable { return c.raw(std::move(a), o); });
    }
    auto close() && -> task<void> {
        return owned([](cache& c) { return c.close(); });
    }

    /// Adds a plugin to this cache and every copy of it; safe at any time, from any thread.
    /// Operations already started finish with the plugins they started with.
    void add_plugin(std::shared_ptr<plugin> p);
    /// Constructs a plugin in place and returns it, for reading its figures later.
    template <class P, class... Args>
    auto add_plugin(Args&&... args) -> P& {
        auto p = std::make_shared<P>(std::forward<Args>(args)...);
        auto& ref = *p;
        add_plugin(std::move(p));
        return ref;
    }

    /// Hands `event` to every plugin (`plugin::on_memo`): the memoization layer's reports.
    void report(memo_event const& event) const noexcept;

    /// `get` without a coroutine, when the backend answers every operation at once
    /// (`backend_traits::immediate`: the memory store): the answer, with the plugins told of a
    /// get. Otherwise `std::nullopt`, with nothing done: then `co_await get<T>(key)`. `key` is
    /// read during the call only (a stored key of up to `key_arg::inline_size` bytes is built
    /// on the stack). For layers that await many gets, such as the memoized functions' hits.
    template <class T>
    auto get_at_once(std::string_view key, call_options const& o = {})
        -> std::optional<std::optional<T>>;
    /// True when `get_at_once` answers (`backend_traits::immediate`, no awaited L2).
    [[nodiscard]] auto answers_at_once() const noexcept -> bool { return immediate_; }
    /// The head a key of `o`'s namespace is stored under, when the stored key is that head
    /// followed by the key as given (`backend_traits::plain_keys`, no key builder, no per-call
    /// namespace); otherwise `std::nullopt`. With it a layer can build stored keys itself.
    [[nodiscard]] auto plain_key_head(call_options const& o = {}) const noexcept
        -> std::optional<std::string_view> {
        if (!plain_keys_ || o.ns) {
            return std::nullopt;
        }
        return std::string_view(key_head_);
    }
    /// `get_at_once` of a key already in its stored form (`plain_key_head` in front).
    template <class T>
    auto get_stored_at_once(std::string_view stored) -> std::optional<std::optional<T>>;

    /// The stored key for `key`, as every operation builds it.
    [[nodiscard]] auto build_key(std::string_view key, call_options const& o = {}) const
        -> std::string;
    /// The TTL a write with `ttl` stores with. Errors: `invalid_argument` if negative.
    [[nodiscard]] auto resolve_ttl(std::optional<expiry> ttl) const -> expiry;
    /// The deadline an operation started now with `o` must meet.
    [[nodiscard]] auto deadline_for(call_options const& o) const -> deadline;

    [[nodiscard]] auto backend() const noexcept -> std::shared_ptr<asiocache::backend> const& {
        return backend_;
    }
    [[nodiscard]] auto value_serializer() const noexcept -> serializer const& {
        return *serializer_;
    }
    [[nodiscard]] auto options() const noexcept -> cache_options const& { return opts_; }

    /// Awaits a backend operation under the call's timeout: directly when the backend enforces
    /// deadlines (or the timeout is 0), else raced against a timer.
    template <class T>
    auto guarded(task<T> t, call_options const& o, std::string_view what) -> task<T>;

private:
    /// Decodes one multi_get result per key (`nullopt` stays `nullopt`), counting the hits.
    template <class T>
    auto decode_values(std::vector<std::optional<std::string>> const& raw,
                       std::vector<std::string> const& keys, std::size_t& hits) const
        -> std::vector<std::optional<T>> {
        std::vector<std::optional<T>> out;
        out.reserve(raw.size());
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i]) {
                ++hits;
                out.emplace_back(decode_value<T>(*serializer_, *raw[i], keys[i]));
            } else {
                out.emplace_back(std::nullopt);
            }
        }
        return out;
    }

    /// The value of a kept object, if it is a `T`. Errors: `serialization_failed` naming the
    /// key and both types.
    template <class T>
    static auto object_value(held_object const& h, std::string_view key) -> T {
        using V = held_type_t<T>;
        if (h.type() != typeid(V)) {
            detail::throw_wrong_object(key, h.type(), typeid(V));
        }
        return static_cast<detail::held<V> const&>(h).value;
    }
    /// The value of bytes an object store holds (an `increment` counter, bytes a byte
    /// operation wrote): a string as it is, anything else read as JSON.
    template <class T>
    static auto held_bytes_value(std::string& bytes, std::string_view key) -> T {
        if constexpr (std::is_same_v<T, std::string>) {
            return std::move(bytes);
        } else {
            return decode_value<T>(*detail::held_bytes_serializer(), bytes, key);
        }
    }
    /// True when a layered store's L1 holds the key as another type than `T`: the L2's bytes
    /// decide then (they may well read as a `T`, as they would on a plain byte cache).
    template <class T>
    auto stored_as_other(object_lookup const& l) const noexcept -> bool {
        return l.what == object_lookup::state::object && objects_->layered() &&
               l.object->type() != typeid(held_type_t<T>);
    }
    /// The value of stored bytes: decoded, or (a string through a byte serializer) the bytes
    /// themselves, handed over instead of copied.
    template <class T>
    auto decoded(std::string&& raw, std::string_view key) const -> T {
        if constexpr (std::is_same_v<T, std::string>) {
            if (strings_as_bytes_) {
                return std::move(raw);
            }
        }
        return decode_value<T>(*serializer_, raw, key);
    }
    /// One answer of an object store, as `get` returns it; `not_held` is the caller's.
    template <class T>
    static auto looked_up(object_lookup& l, std::string_view key) -> std::optional<T> {
        if (l.what == object_lookup::state::object) {
            return object_value<T>(*l.object, key);
        }
        if (l.what == object_lookup::state::bytes) {
            return held_bytes_value<T>(l.bytes, key);
        }
        return std::nullopt;
    }
    /// Writes `value` to the object store: encoded for the byte store too when it is layered.
    template <class T>
    auto put_object(std::string const& full, T value, expiry t, put_mode mode,
                    std::uint64_t token, call_options const& o) -> task<bool> {
        std::string bytes;
        if (objects_->layered()) {
            bytes = encode_value(*serializer_, value, full);
        }
        return guarded(objects_->put(full, make_held(std::move(value)), std::move(bytes), t, mode,
                                     token, deadline_for(o)),
                       o, full);
    }

    /// Starts `op(copy)` in a frame that owns `copy` of this cache: the rvalue overloads.
    template <class Op>
    auto owned(Op op) -> std::invoke_result_t<Op&, cache&> {
        return run_owned(*this, std::move(op));
    }
    template <class Op>
    static auto run_owned(cache self, Op op) -> std::invoke_result_t<Op&, cache&> {
        co_return co_await op(self);
    }

    /// Runs the plugins around one operation: `before` at construction, `after` at
    /// destruction, on every exit path. Costs nothing when there are no plugins.
    class scope {
    public:
        scope(cache const& c, op o, std::string_view key, std::size_t n) noexcept
            : plugins_(c.plugins_->current.load(std::memory_order_acquire)), op_(o), key_(key),
              count_(n) {
            if (plugins_->empty()) {
                plugins_ = nullptr;  // the common case, inline: nothing to run
            } else {
                begin();
            }
        }
        scope(scope const&) = delete;
        auto operator=(scope const&) -> scope& = delete;
        ~scope() {
            if (plugins_ != nullptr) {
                end();
            }
        }
        void hits(std::size_t h) noexcept { hits_ = h; }
        void fail(std::exception_ptr const& e) noexcept;

    private:
        void begin() noexcept;
        void end() noexcept;

        std::vector<std::shared_ptr<plugin>> const* plugins_;
        op op_;
        std::string_view key_;
        std::size_t count_;
        detail::op_clock::ticks start_ = 0;
        std::size_t hits_ = 0;
        boost::system::error_code error_;
    };

    /// The rest of a `get` that the store did not answer at once: `full`, `o` and `s` live in
    /// the awaiting `get`'s frame.
    template <class T>
    auto get_awaited(std::string_view full, call_options const& o, scope& s)
        -> task<std::optional<T>>;

    /// `multi_get` on an object store: L1 answers what it holds, the byte store the rest, in
    /// one request (those values are not kept in L1: their remaining TTLs are unknown).
    template <class T>
    auto multi_get_objects(std::vector<std::string> full, call_options o, scope& s)
        -> task<std::vector<std::optional<T>>>;

    /// The stored key for `key`, as `build_key` makes it, reusing `key`'s buffer where the
    /// backend builds keys the default way.
    [[nodiscard]] auto take_key(std::string& key, call_options const& o) const -> std::string;
    /// The same for a `key_arg`, built in place: the stored key, viewed in `key`.
    auto place_key(key_arg& key, call_options const& o) const -> std::string_view {
        if (plain_keys_ && !o.ns && key_head_.empty()) {
            return key.view();  // the common case, inline: the key is stored as given
        }
        return place_built_key(key, o);
    }
    auto place_built_key(key_arg& key, call_options const& o) const -> std::string_view;

    [[nodiscard]] auto timeout_for(call_options const& o) const -> std::chrono::milliseconds {
        return o.timeout.value_or(opts_.timeout);
    }

    std::shared_ptr<asiocache::backend> backend_;
    cache_options opts_;
    std::shared_ptr<serializer const> serializer_;
    /// The plugins, shared by every copy: `current` points to an immutable list, replaced by a
    /// longer one on `add_plugin`. Replaced lists are kept until the set dies, so that an
    /// operation reading one never sees it freed; they are as many as `add_plugin` calls.
    struct plugin_set {
        std::atomic<std::vector<std::shared_ptr<plugin>> const*> current;
        std::mutex adding;
        std::vector<std::unique_ptr<std::vector<std::shared_ptr<plugin>> const>> lists;
        plugin_set();
    };
    std::shared_ptr<plugin_set> plugins_;
    /// The backend's object store when this cache keeps objects: the backend's store is
    /// layered (a tiered L1), or the serializer is `none`. Else null: values are bytes.
    object_store* objects_ = nullptr;
    bool enforces_deadlines_;
    /// The backend builds keys the default way and no key builder is set: a key without a
    /// namespace is stored as it is (`take_key`).
    bool plain_keys_ = false;
    /// The backend answers at once and no awaited L2 sits behind an object store: `get_at_once`
    /// answers.
    bool immediate_ = false;
    /// The serializer is not a structured one: a string is stored as its own bytes
    /// (`decoded` hands them over).
    bool strings_as_bytes_ = false;
    /// With `plain_keys_`: what `build_key` puts before every key of the default namespace.
    std::string key_head_;
};

// ---------------------------------------------------------------------------------------------
// Template definitions. Each operation is one coroutine frame on top of the backend's; `get`
// first tries the backend's synchronous `try_get`, so a memory hit costs a single frame.

template <class T>
auto cache::guarded(task<T> t, call_options const& o, std::string_view what) -> task<T> {
    auto timeout = timeout_for(o);
    if (enforces_deadlines_ || timeout.count() <= 0) {
        co_return co_await std::move(t);
    }
    co_return co_await detail::race_timeout(std::move(t), timeout, what);
}

template <class T>
auto cache::get(key_arg key, call_options o) & -> task<std::optional<T>> {
    std::string_view const full = place_key(key, o);  // in `key`, in this frame
    scope s(*this, op::get, full, 1);
    try {
        // What the store answers at once is answered in this frame; the rest is awaited in
        // `get_awaited`, which keeps this frame small.
        if (objects_ != nullptr) {
            auto l = objects_->lookup(full);
            if (l.what != object_lookup::state::not_held && !stored_as_other<T>(l)) {
                auto v = looked_up<T>(l, full);
                s.hits(v ? 1 : 0);
                co_return v;
            }
        } else if (auto ready = backend_->try_get(full)) {
            if (!*ready) {
                co_return std::nullopt;
            }
            s.hits(1);
            co_return decoded<T>(std::move(**ready), full);
        }
        co_return co_await get_awaited<T>(full, o, s);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::get_awaited(std::string_view full, call_options const& o, scope& s)
    -> task<std::optional<T>> {
    if (objects_ != nullptr) {
        auto loaded =
            co_await guarded(objects_->load(std::string(full), deadline_for(o)), o, full);
        if (!loaded.bytes) {
            co_return std::nullopt;
        }
        s.hits(1);
        auto v = decode_value<T>(*serializer_, *loaded.bytes, full);
        objects_->fill(full, loaded.ticket, make_held(v), loaded.ttl);
        co_return v;
    }
    auto raw = co_await guarded(backend_->get(std::string(full), deadline_for(o)), o, full);
    if (!raw) {
        co_return std::nullopt;
    }
    s.hits(1);
    co_return decoded<T>(std::move(*raw), full);
}

template <class T>
auto cache::get_at_once(std::string_view key, call_options const& o)
    -> std::optional<std::optional<T>> {
    if (!immediate_) {
        return std::nullopt;
    }
    key_arg k(key);
    return get_stored_at_once<T>(place_key(k, o));
}

template <class T>
auto cache::get_stored_at_once(std::string_view full) -> std::optional<std::optional<T>> {
    if (!immediate_) {
        return std::nullopt;
    }
    scope s(*this, op::get, full, 1);
    try {
        std::optional<T> v;
        if (objects_ != nullptr) {
            auto l = objects_->lookup(full);  // not layered: the store's whole answer
            v = looked_up<T>(l, full);
        } else {
            auto ready = backend_->try_get(full);
            if (!ready) {
                detail::throw_not_immediate(backend_->traits().name);
            }
            if (*ready) {
                v.emplace(decoded<T>(std::move(**ready), full));
            }
        }
        s.hits(v ? 1 : 0);
        return std::optional<std::optional<T>>(std::move(v));
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::multi_get(std::vector<std::string> keys, call_options o) &
    -> task<std::vector<std::optional<T>>> {
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (auto const& k : keys) {
        full.push_back(build_key(k, o));
    }
    std::string_view first = full.empty() ? std::string_view{} : std::string_view{full.front()};
    scope s(*this, op::multi_get, first, full.size());
    if (objects_ != nullptr) {
        co_return co_await multi_get_objects<T>(std::move(full), o, s);
    }
    try {
        std::vector<std::optional<std::string>> raw;
        if (!full.empty()) {
            auto copy = full;
            raw = co_await guarded(backend_->multi_get(std::move(copy), deadline_for(o)), o, first);
        }
        std::size_t hits = 0;
        auto out = decode_values<T>(raw, full, hits);
        s.hits(hits);
        co_return out;
    } catch (partial_failure const& p) {
        // Some servers answered: their values are decoded and carried by the error.
        std::size_t hits = 0;
        std::vector<std::optional<T>> out;
        try {
            out = decode_values<T>(p.values(), full, hits);
        } catch (...) {
            s.fail(std::current_exception());
            throw;
        }
        s.fail(std::current_exception());
        throw partial_values<T>(p, std::move(out));
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::multi_get_objects(std::vector<std::string> full, call_options o, cache::scope& s)
    -> task<std::vector<std::optional<T>>> {
    std::vector<std::optional<T>> out(full.size());
    std::vector<std::size_t> pending;
    std::vector<std::string> pending_keys;
    std::size_t hits = 0;
    try {
        for (std::size_t i = 0; i < full.size(); ++i) {
            auto l = objects_->lookup(full[i]);
            if (l.what == object_lookup::state::not_held || stored_as_other<T>(l)) {
                pending.push_back(i);
                pending_keys.push_back(full[i]);
            } else if ((out[i] = looked_up<T>(l, full[i]))) {
                ++hits;
            }
        }
        if (!pending.empty()) {
            std::string_view first = full[pending.front()];
            auto raw = co_await guarded(backend_->multi_get(pending_keys, deadline_for(o)), o,
                                        first);
            for (std::size_t j = 0; j < pending.size(); ++j) {
                if (raw[j]) {
                    ++hits;
                    out[pending[j]] = decode_value<T>(*serializer_, *raw[j], full[pending[j]]);
                }
            }
        }
        s.hits(hits);
        co_return out;
    } catch (partial_failure const& p) {
        try {
            for (std::size_t j = 0; j < pending.size() && j < p.values().size(); ++j) {
                if (p.values()[j]) {
                    ++hits;
                    out[pending[j]] =
                        decode_value<T>(*serializer_, *p.values()[j], full[pending[j]]);
                }
            }
        } catch (...) {
            s.fail(std::current_exception());
            throw;
        }
        s.hits(hits);
        s.fail(std::current_exception());
        // The failures and bytes by the caller's positions, not the L2 request's.
        auto failed = p.failed();
        for (auto& f : failed) {
            f.index = f.index < pending.size() ? pending[f.index] : f.index;
        }
        std::vector<std::optional<std::string>> values(full.size());
        for (std::size_t j = 0; j < pending.size() && j < p.values().size(); ++j) {
            values[pending[j]] = p.values()[j];
        }
        throw partial_values<T>(partial_failure(std::move(failed), std::move(values), p.what()),
                                std::move(out));
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::set(std::string key, T value, std::optional<expiry> ttl, call_options o) &
    -> task<void> {
    auto full = take_key(key, o);
    scope s(*this, op::set, full, 1);
    try {
        auto t = resolve_ttl(ttl);
        if (objects_ != nullptr) {
            co_await put_object(full, std::move(value), t, put_mode::replace, 0, o);
            co_return;
        }
        auto bytes = encode_value(*serializer_, value, full);
        auto k = full;
        co_await guarded(backend_->set(std::move(k), std::move(bytes), t, deadline_for(o)), o,
                         full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::multi_set(std::vector<std::pair<std::string, T>> items, std::optional<expiry> ttl,
                      call_options o) & -> task<void> {
    if (objects_ != nullptr && !objects_->layered()) {
        // Objects only: each kept as it is, atomic per key as the memory backend's multi_set.
        std::string first = items.empty() ? std::string{} : build_key(items.front().first, o);
        scope s(*this, op::multi_set, first, items.size());
        try {
            auto t = resolve_ttl(ttl);
            for (auto& [k, v] : items) {
                co_await put_object(build_key(k, o), std::move(v), t, put_mode::replace, 0, o);
            }
        } catch (...) {
            s.fail(std::current_exception());
            throw;
        }
        co_return;
    }
    // Bytes, a tiered cache included: its multi_set drops the keys from L1.
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(items.size());
    for (auto& [k, v] : items) {
        auto full = build_key(k, o);
        auto bytes = encode_value(*serializer_, v, full);
        encoded.emplace_back(std::move(full), std::move(bytes));
    }
    std::string first = encoded.empty() ? std::string{} : encoded.front().first;
    scope s(*this, op::multi_set, first, encoded.size());
    try {
        auto t = resolve_ttl(ttl);
        if (!encoded.empty()) {
            co_await guarded(backend_->multi_set(std::move(encoded), t, deadline_for(o)), o, first);
        }
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::add(std::string key, T value, std::optional<expiry> ttl, call_options o) &
    -> task<void> {
    auto full = take_key(key, o);
    scope s(*this, op::add, full, 1);
    try {
        auto t = resolve_ttl(ttl);
        if (objects_ != nullptr) {
            if (!co_await put_object(full, std::move(value), t, put_mode::if_absent, 0, o)) {
                detail::throw_key_exists(full);
            }
            co_return;
        }
        auto bytes = encode_value(*serializer_, value, full);
        auto k = full;
        co_await guarded(backend_->add(std::move(k), std::move(bytes), t, deadline_for(o)), o,
                         full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::gets(std::string key, call_options o) & -> task<std::optional<versioned<T>>> {
    auto full = take_key(key, o);
    scope s(*this, op::gets, full, 1);
    try {
        if (objects_ != nullptr && !objects_->layered()) {
            auto l = objects_->lookup(full);
            auto version = l.version;
            auto v = looked_up<T>(l, full);
            if (!v) {
                co_return std::nullopt;
            }
            s.hits(1);
            co_return versioned<T>{std::move(*v), version};
        }
        auto k = full;
        auto raw = co_await guarded(backend_->gets(std::move(k), deadline_for(o)), o, full);
        if (!raw) {
            co_return std::nullopt;
        }
        s.hits(1);
        co_return versioned<T>{decode_value<T>(*serializer_, raw->value, full), raw->token};
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

template <class T>
auto cache::cas(std::string key, T value, std::uint64_t token, std::optional<expiry> ttl,
                call_options o) & -> task<bool> {
    auto full = take_key(key, o);
    scope s(*this, op::cas, full, 1);
    try {
        auto t = resolve_ttl(ttl);
        if (objects_ != nullptr && !objects_->layered()) {
            co_return co_await put_object(full, std::move(value), t, put_mode::if_version, token,
                                          o);
        }
        // Bytes, a tiered cache included: its cas drops the key from L1.
        auto bytes = encode_value(*serializer_, value, full);
        auto k = full;
        co_return co_await guarded(
            backend_->cas(std::move(k), std::move(bytes), token, t, deadline_for(o)), o, full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

}  // namespace asiocache
