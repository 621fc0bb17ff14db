// SPDX-License-Identifier: MIT
#pragma once
// Objects kept in process: the values a `serializer=none` memory cache or a tiered cache's L1
// holds as C++ objects, so that a hit costs no decode (aiocache's SimpleMemoryCache keeps
// Python objects the same way).

#include "asiocache/types.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

namespace asiocache {

/// An immutable value kept in process, shared by every reader, with its type and its
/// approximate size (charged against a store's `max_bytes`).
class held_object {
public:
    held_object() = default;
    held_object(held_object const&) = delete;
    auto operator=(held_object const&) -> held_object& = delete;
    virtual ~held_object() = default;

    [[nodiscard]] virtual auto type() const noexcept -> std::type_info const& = 0;
    [[nodiscard]] auto bytes() const noexcept -> std::size_t { return bytes_; }

protected:
    void set_bytes(std::size_t n) noexcept { bytes_ = n; }

private:
    std::size_t bytes_ = 0;
};

using object_ptr = std::shared_ptr<held_object const>;

/// Approximate heap size of a value, for the byte bound of an object store: `sizeof` plus what
/// strings, vectors, optionals, pairs and maps own. A type that owns other heap memory may
/// say so with a free function `std::size_t asiocache_object_size(T const&)` found by ADL,
/// which replaces this estimate for it.
template <class T>
auto object_size(T const& v) -> std::size_t;

namespace detail {

template <class T>
concept sized_by_user = requires(T const& v) {
    { asiocache_object_size(v) } -> std::convertible_to<std::size_t>;
};

template <class T>
struct heap_size {
    static auto of(T const& /*v*/) -> std::size_t { return 0; }
};
template <class C, class Tr, class A>
struct heap_size<std::basic_string<C, Tr, A>> {
    static auto of(std::basic_string<C, Tr, A> const& s) -> std::size_t {
        // The short-string buffer lives inside the object.
        return s.capacity() > 15 / sizeof(C) ? (s.capacity() + 1) * sizeof(C) : 0;
    }
};
template <class U, class A>
struct heap_size<std::vector<U, A>> {
    static auto of(std::vector<U, A> const& v) -> std::size_t {
        std::size_t n = v.capacity() * sizeof(U);
        if constexpr (!std::is_trivially_copyable_v<U>) {
            for (auto const& e : v) {
                n += object_size(e) - sizeof(U);
            }
        }
        return n;
    }
};
template <class U>
struct heap_size<std::optional<U>> {
    static auto of(std::optional<U> const& v) -> std::size_t {
        return v ? object_size(*v) - sizeof(U) : 0;
    }
};
template <class A, class B>
struct heap_size<std::pair<A, B>> {
    static auto of(std::pair<A, B> const& p) -> std::size_t {
        return object_size(p.first) - sizeof(A) + object_size(p.second) - sizeof(B);
    }
};
template <class K, class V, class C, class A>
struct heap_size<std::map<K, V, C, A>> {
    static auto of(std::map<K, V, C, A> const& m) -> std::size_t {
        std::size_t n = 0;
        for (auto const& [k, v] : m) {
            n += 4 * sizeof(void*) + object_size(k) + object_size(v);  // a tree node each
        }
        return n;
    }
};
template <class K, class V, class H, class E, class A>
struct heap_size<std::unordered_map<K, V, H, E, A>> {
    static auto of(std::unordered_map<K, V, H, E, A> const& m) -> std::size_t {
        std::size_t n = m.bucket_count() * sizeof(void*);
        for (auto const& [k, v] : m) {
            n += 2 * sizeof(void*) + object_size(k) + object_size(v);  // a node each
        }
        return n;
    }
};

/// The object a store keeps for a `T`.
template <class T>
class held final : public held_object {
public:
    template <class U>
    explicit held(U&& v) : value(std::forward<U>(v)) {
        // The shared_ptr's control block and this object: two words plus the value.
        set_bytes(object_size(value) - sizeof(T) + sizeof(held) + 2 * sizeof(void*));
    }
    [[nodiscard]] auto type() const noexcept -> std::type_info const& override {
        return typeid(T);
    }

    T value;
};

}  // namespace detail

template <class T>
auto object_size(T const& v) -> std::size_t {
    if constexpr (detail::sized_by_user<T>) {
        return static_cast<std::size_t>(asiocache_object_size(v));
    } else {
        return sizeof(T) + detail::heap_size<T>::of(v);
    }
}

/// What an object store holds under a key, read synchronously.
struct object_lookup {
    enum class state {
        miss,      ///< Nothing (or expired): a miss, final.
        object,    ///< `object` holds the value.
        bytes,     ///< The key holds bytes (an `increment` counter, a lease token): `bytes`.
        not_held,  ///< A layered store's L1 lacks it: `object_store::load` asks the L2.
    };
    state what = state::miss;
    object_ptr object;
    std::string bytes;
    std::uint64_t version = 0;  ///< The entry's compare-and-set token (non-layered stores).
};

/// Bytes loaded from a layered store's L2, and what filling L1 with them needs.
struct object_load {
    std::optional<std::string> bytes;  ///< `nullopt`: a miss.
    expiry ttl = expiry::never();      ///< The L1 TTL the value may have (capped, remaining).
    std::uint64_t ticket = 0;          ///< Handed back to `fill`.
};

/// How `object_store::put` writes.
enum class put_mode {
    replace,     ///< Always.
    if_absent,   ///< Only if the key is absent (`add`).
    if_version,  ///< Only if the entry still carries the token (`cas`; non-layered stores).
};

/// The object side of a backend that keeps decoded values: the memory backend (the store
/// itself) and the tiered backend (an L1 of objects in front of any byte backend). The cache
/// facade uses it when the backend offers it (`backend::objects`) and either the store is
/// layered or the cache's serializer is `serializers::none()`.
class object_store {
public:
    object_store() = default;
    object_store(object_store const&) = delete;
    auto operator=(object_store const&) -> object_store& = delete;
    virtual ~object_store() = default;

    /// True when the objects sit in front of a byte store (an L1): writes then go to the byte
    /// store first, and a key L1 lacks is `not_held`.
    [[nodiscard]] virtual auto layered() const noexcept -> bool = 0;

    /// What the store holds under `key` now; never waits.
    virtual auto lookup(std::string_view key) -> object_lookup = 0;

    /// Writes `obj` under `key`. Non-layered stores keep the object (`bytes` is unused).
    /// Layered stores write `bytes` to the byte store with `ttl`, then keep the object in L1
    /// unless an invalidation of `key` arrived meanwhile. False when `mode` refused
    /// (`if_absent` found the key, `if_version` found another token).
    virtual auto put(std::string key, object_ptr obj, std::string bytes, expiry ttl, put_mode mode,
                     std::uint64_t token, deadline dl) -> task<bool> = 0;

    /// Layered stores: reads `key` from the byte store, with the TTL L1 may give it. The
    /// default fails with `errc::not_supported`.
    virtual auto load(std::string key, deadline dl) -> task<object_load>;
    /// Layered stores: keeps `obj` (decoded from a `load`) in L1 unless an invalidation of
    /// `key` arrived since that `load` began. The default does nothing.
    virtual void fill(std::string_view key, std::uint64_t ticket, object_ptr obj, expiry ttl);
};

/// The type a store keeps for a value of type `T`: text given as `char const*` or a
/// `std::string_view` is kept as a `std::string` (a pointer or a view would dangle), and read
/// back with `get<std::string>`.
template <class T>
using held_type_t = std::conditional_t<
    std::is_same_v<std::decay_t<T>, char const*> || std::is_same_v<std::decay_t<T>, char*> ||
        std::is_same_v<std::remove_cvref_t<T>, std::string_view>,
    std::string, std::remove_cvref_t<T>>;

/// The object a store keeps for `value`.
template <class T>
auto make_held(T&& value) -> object_ptr {
    using V = held_type_t<T>;
    static_assert(!std::is_pointer_v<V>,
                  "a cache cannot keep a pointer: the object it points to would not be kept");
    return std::make_shared<detail::held<V> const>(std::forward<T>(value));
}

}  // namespace asiocache
