// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/objects.hpp"
#include "asiocache/types.hpp"
#include "asiocache/wake.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asiocache {

/// What a backend is and can do. The facade and the conformance suite read it; nothing here
/// changes after construction.
struct backend_traits {
    /// Short scheme-like name: "memory", "redis", "memcached".
    std::string_view name;
    /// Joins a namespace and a key, as Python aiocache 0.12 does for this backend: ":" on Redis,
    /// "" on memcached.
    std::string_view namespace_separator = ":";
    /// True when the backend honours the `deadline` it is handed (failing with `errc::timeout`).
    /// When false, the facade races each operation against a timer of its own, which costs about
    /// 100x a memory get: user backends that wait on I/O should honour deadlines.
    bool enforces_deadlines = false;
    /// True when `ttl(key)` can report the remaining time (memcached cannot).
    bool supports_ttl = true;
    /// True when `clear(namespace)` is supported (memcached only in generation mode).
    bool supports_clear_namespace = true;
    /// Smallest TTL step the server honours; TTLs are rounded up to it (memcached: 1 s).
    std::chrono::milliseconds ttl_granularity{1};
    /// Longest key in bytes after namespacing, 0 for no limit (memcached: 250).
    std::size_t max_key_size = 0;
    /// True when `build_key` is the default one, which leaves a key without a namespace as it
    /// is: the facade then takes the caller's key as the stored key instead of building a copy.
    /// A backend that overrides `build_key` leaves it false.
    bool plain_keys = false;
    /// True when every operation completes at once, without I/O (the memory store): `try_get`
    /// then always answers, and the facade's `get_at_once` serves a get without a coroutine.
    bool immediate = false;
};

/// A storage engine: the service provider interface that memory, Redis, memcached and user
/// backends implement.
///
/// Keys arrive fully built (namespace joined); values arrive encoded. A miss is
/// `std::nullopt`; a failure throws `boost::system::system_error` with an `asiocache::errc`
/// code. Arguments are taken by value because the coroutine frame outlives the call. Every
/// operation receives the caller's `deadline`; see `backend_traits::enforces_deadlines`.
///
/// Implementations must be safe to call from several threads and coroutines at once, and must
/// resume the caller on the caller's executor.
class backend {
public:
    virtual ~backend() = default;

    [[nodiscard]] virtual auto traits() const noexcept -> backend_traits const& = 0;

    /// Joins `ns` and `key` the way Python aiocache 0.12 does for this backend. With an empty
    /// namespace the key is used as it is. Backends with key restrictions (memcached) also
    /// validate or encode here, throwing `errc::invalid_key`.
    [[nodiscard]] virtual auto build_key(std::string_view ns, std::string_view key) const
        -> std::string;

    /// A synchronous fast path for `get`. A backend that can answer without waiting returns the
    /// answer (an inner `nullopt` is a miss); otherwise it returns `nullopt` and the facade falls
    /// back to `get`. The default always falls back.
    virtual auto try_get(std::string_view key) -> std::optional<std::optional<std::string>>;

    virtual auto get(std::string key, deadline dl) -> task<std::optional<std::string>> = 0;
    /// One result per key, in order; one round trip where the server allows it.
    virtual auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> = 0;
    virtual auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> = 0;
    /// Stores every pair with the same TTL; one round trip where the server allows it.
    virtual auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                           deadline dl) -> task<void> = 0;
    /// Stores only if absent, atomically; fails with `errc::key_exists` otherwise.
    virtual auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> = 0;
    /// The number of keys removed: 0 or 1.
    virtual auto remove(std::string key, deadline dl) -> task<std::size_t> = 0;
    virtual auto exists(std::string key, deadline dl) -> task<bool> = 0;
    /// Adds `delta` atomically and returns the new value; a missing key starts at 0 (so the
    /// result is `delta`). A stored value that is not a 64-bit integer fails with
    /// `errc::not_a_number` and is left unchanged.
    virtual auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> = 0;
    /// Sets a new TTL on an existing key; `expiry::never()` removes the expiry. True if the key
    /// existed.
    virtual auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> = 0;
    /// The remaining TTL (`expiry::never()` for a persistent key), or `nullopt` for a missing
    /// key. Backends without `supports_ttl` fail with `errc::not_supported`.
    virtual auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> = 0;
    /// Removes every key of namespace `ns` (as laid out by `build_key`) and nothing else.
    /// Returns how many keys were removed when the backend knows, else 0. Backends without
    /// `supports_clear_namespace` fail with `errc::not_supported` and remove nothing.
    virtual auto clear(std::string ns, deadline dl) -> task<std::size_t> = 0;
    /// Removes every key the backend holds (FLUSHDB, flush_all). Explicit by design.
    virtual auto clear_all(deadline dl) -> task<void> = 0;

    /// Reads a value with its compare-and-set token. Default: `errc::not_supported`.
    virtual auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>>;
    /// Stores `value` only if the key still carries `token`. False if it changed or vanished.
    /// Default: `errc::not_supported`.
    virtual auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl,
                     deadline dl) -> task<bool>;
    /// Removes the key only if its value equals `expected`, atomically (the lease lock's
    /// token-checked release). Default: `errc::not_supported`.
    virtual auto remove_if_equal(std::string key, std::string expected, deadline dl) -> task<bool>;
    /// Sets the key's TTL to `ttl` only if its value equals `expected`, atomically (the lease
    /// lock's token-checked renewal). False if the value differs or the key is missing.
    /// Default: `errc::not_supported`.
    virtual auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool>;
    /// Passes a backend-native command through. Default: `errc::not_supported`.
    virtual auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply>;

    /// Releases connections and threads. A closed network backend reconnects on next use.
    virtual auto close() -> task<void> = 0;

    /// The store of decoded objects this backend keeps, if any (see `object_store`): the
    /// memory backend and the tiered backend's L1. Default: none.
    virtual auto objects() noexcept -> object_store* { return nullptr; }

    /// The channel that wakes lease waiters in other processes, if any (see wake.hpp): Redis.
    /// Default: none (waiters poll).
    virtual auto wakeups() noexcept -> wake_channel* { return nullptr; }
};

}  // namespace asiocache
