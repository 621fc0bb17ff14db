// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// The in-process memory backend: the embedded default, shared safely between threads.
namespace asiocache::backends {

/// The header of a memory entry (64-bit targets): list links, bucket chain, expiry, version,
/// hash and lengths. An entry is one heap block: this header, then its key's bytes, then its
/// value's bytes (or, for a kept object, a pointer to it). Keys and values take at most
/// 4 GiB - 2 bytes each.
inline constexpr std::size_t memory_entry_header = 68;

/// What an entry's heap block of `size` bytes is charged: the block as glibc's malloc lays it
/// out (an 8-byte header, 16-byte granules, 32 bytes at least; an estimate under other
/// allocators), plus one bucket slot of its table.
constexpr auto memory_block_charge(std::size_t size) noexcept -> std::size_t {
    return std::max<std::size_t>(32, (size + 8 + 15) / 16 * 16) + sizeof(void*);
}

/// The bytes an entry with a key of `key_size` bytes and a value of `value_size` bytes is
/// charged when `max_bytes` is enforced and reported: its block as the allocator rounds it,
/// and one bucket slot. (A table doubles its buckets as it grows and never shrinks them, so it
/// holds one to two slots per entry while it grows, more after many removals.) A kept object
/// is charged the block holding its pointer plus its estimated size (`object_size`).
constexpr auto memory_entry_charge(std::size_t key_size, std::size_t value_size) noexcept
    -> std::size_t {
    // 72: the whole header struct, for a key and value of fewer than 4 bytes.
    return memory_block_charge(
        std::max<std::size_t>(memory_entry_header + key_size + value_size, 72));
}

/// The bytes an entry keeping an object is charged: the block holding its key of `key_size`
/// bytes and the (shared) pointer to the object, aligned, and the object's estimated size
/// `object_bytes` (`object_size`).
constexpr auto memory_object_charge(std::size_t key_size, std::size_t object_bytes) noexcept
    -> std::size_t {
    constexpr std::size_t align = alignof(void*);
    constexpr std::size_t pointer = 2 * sizeof(void*);
    std::size_t const block = (memory_entry_header + key_size + align - 1) / align * align + pointer;
    return memory_block_charge(std::max<std::size_t>(block, 72)) + object_bytes;
}

/// The most `memory_entry_charge` adds to a key and a byte value: 68 bytes of header, 8 of
/// allocator header, up to 15 of rounding, and the bucket slot. (A kept object's block adds up
/// to 23 bytes more: the pointer to it, aligned.)
inline constexpr std::size_t memory_entry_overhead = memory_entry_header + 8 + 15 + sizeof(void*);

/// Settings of a memory backend. Built with designated initializers:
/// `make_memory_backend({.max_entries = 100'000})`.
struct memory_options {
    /// Most entries kept; the least recently used are evicted beyond it. Default 0: unbounded.
    /// The budget is split evenly across shards (each shard evicts from its own LRU list), and
    /// the shard count is lowered to at most `max_entries` so that every shard holds one.
    std::size_t max_entries = 0;
    /// Most bytes kept, counting `memory_entry_charge` per entry (objects: their estimated size and the block that points to them); the least
    /// recently used entries are evicted beyond it. Default 0: unbounded. The budget is split
    /// evenly across shards, so a single entry larger than `max_bytes / shards` fails with
    /// `errc::value_too_large` (use `shards = 1` for one exact budget).
    std::size_t max_bytes = 0;
    /// Independent locked partitions, chosen by the key's hash. Default 16; must be a power
    /// of two (1, 2, 4, ...), else `errc::invalid_argument`.
    std::size_t shards = 16;
    /// The clock behind TTLs (millisecond precision). Default (`nullptr`): the steady clock.
    /// Tests inject a manual clock to move time without sleeping.
    std::shared_ptr<asiocache::time_source const> time_source;
    /// Writes to a shard between two active-expiry sweeps of that shard. Default 64 writes;
    /// 0 disables the write-driven sweep (expired entries are then reclaimed only when touched,
    /// evicted, or by `memory_backend::sweep`).
    std::size_t sweep_every = 64;
    /// Entries with a TTL examined by one write-driven sweep of a shard. Default 16 entries.
    std::size_t sweep_batch = 16;
};

/// Counters of a memory backend, summed over its shards at the time of the call.
struct memory_stats {
    std::uint64_t hits = 0;         ///< `get`, `multi_get` and `gets` lookups that found a value.
    std::uint64_t misses = 0;       ///< Such lookups that found nothing, or an expired entry.
    std::uint64_t evictions = 0;    ///< Live entries dropped to stay within the bounds.
    std::uint64_t expirations = 0;  ///< Expired entries reclaimed (lazily, by sweeps or eviction).
    std::uint64_t entries = 0;      ///< Entries held now, expired ones not yet reclaimed included.
    std::uint64_t bytes = 0;        ///< Their size: `memory_entry_charge` each.
};

/// An in-process cache: sharded hash tables of one-block entries, each behind its own mutex
/// with an intrusive LRU list, millisecond TTLs on an injectable clock, and optional entry and
/// byte bounds.
///
/// Every operation completes at once, on the caller's thread: there is no I/O and no timer,
/// so deadlines are met trivially (`traits().enforces_deadlines` is true) and `try_get`
/// answers the facade's `get` without a coroutine of its own. Safe to call from any number of
/// threads; operations on different shards do not contend.
///
/// Expired entries are reclaimed, not merely hidden: when an operation touches them, when a
/// shard's write counter triggers a bounded sweep of its entries with a TTL (Redis-style
/// active expiry, see `memory_options::sweep_every`), when eviction meets them, or by
/// `sweep()`. No background thread is started.
///
/// Semantics that differ from a network server, on purpose:
/// - `increment` stores decimal text; a result outside the 64-bit range fails with
///   `errc::invalid_argument` and leaves the value unchanged (Redis: "would overflow").
///   A missing key is created without expiry; an existing key keeps its TTL.
/// - `multi_set` and `clear` are atomic per key, not across shards.
/// - `gets`/`cas` tokens are per-entry versions, fresh on every write, never reused for a key.
/// - `raw` is `errc::not_supported`; `close()` does nothing and the data stays (the store
///   lives as long as the backend object).
class memory_backend final : public backend, public object_store {
public:
    explicit memory_backend(memory_options opts = {});
    ~memory_backend() override;
    memory_backend(memory_backend const&) = delete;
    auto operator=(memory_backend const&) -> memory_backend& = delete;

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override;

    /// Always answers: the memory backend never needs to wait.
    auto try_get(std::string_view key) -> std::optional<std::optional<std::string>> override;

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override;
    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override;
    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                   deadline dl) -> task<void> override;
    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto remove(std::string key, deadline dl) -> task<std::size_t> override;
    auto exists(std::string key, deadline dl) -> task<bool> override;
    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override;
    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override;
    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override;
    /// Removes the keys that start with `ns + ":"` (the layout `build_key` gives) and counts
    /// the live ones removed.
    auto clear(std::string ns, deadline dl) -> task<std::size_t> override;
    auto clear_all(deadline dl) -> task<void> override;
    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override;
    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override;
    auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool> override;
    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override;
    /// Does nothing: the memory store is not a connection, and its data stays.
    auto close() -> task<void> override;

    /// The objects side: entries keep either bytes or an object. A cache with
    /// `serializer=none` reads and writes objects; byte reads of an entry that keeps an object
    /// (`get`, `multi_get`, `gets` through a byte serializer) fail with
    /// `errc::serialization_failed`, `increment` with `errc::not_a_number`.
    auto objects() noexcept -> object_store* override;
    [[nodiscard]] auto layered() const noexcept -> bool override;
    auto lookup(std::string_view key) -> object_lookup override;
    auto put(std::string key, object_ptr obj, std::string bytes, expiry ttl, put_mode mode,
             std::uint64_t token, deadline dl) -> task<bool> override;
    /// `put` without a coroutine, for an owner that keeps objects here (a tiered L1).
    /// Errors: `value_too_large` past the per-shard byte budget.
    auto put_now(std::string key, object_ptr obj, expiry ttl, put_mode mode = put_mode::replace,
                 std::uint64_t token = 0) -> bool;
    /// Removes `key` at once; true if it was there.
    auto forget(std::string_view key) -> bool;
    /// Removes every entry at once (`clear_all` without a coroutine).
    void forget_all() noexcept;

    /// Examines up to `max_examined` entries that carry a TTL, across all shards, and reclaims
    /// those that have expired. Returns how many were reclaimed. Call it from a timer of your
    /// own for a periodic sweep; writes also trigger small sweeps (`memory_options`).
    auto sweep(std::size_t max_examined) -> std::size_t;

    /// Counters summed over the shards; each shard is read under its lock.
    [[nodiscard]] auto stats() const -> memory_stats;

    /// The number of shards in use (after the `max_entries` adjustment).
    [[nodiscard]] auto shard_count() const noexcept -> std::size_t;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// An optional periodic sweep: every `interval`, examines up to `batch` entries with a TTL and
/// reclaims the expired ones (`memory_backend::sweep`). Start it with
/// `co_spawn(ex, sweep_periodically(b, 1s, 1000), detached)`; it holds only a weak reference
/// and ends when the backend is destroyed, or when cancelled (a steady_timer wait).
auto sweep_periodically(std::weak_ptr<memory_backend> b, std::chrono::milliseconds interval,
                        std::size_t batch) -> task<void>;

/// Creates a memory backend. Errors: `invalid_argument` when `shards` is not a power of two.
auto make_memory_backend(memory_options opts = {}) -> std::shared_ptr<memory_backend>;

/// The registry factory for `memory://`. Takes the `max_entries`, `max_bytes` and `shards`
/// parameters (sizes accept `k`/`m`/`g`) and rejects any other (`errc::invalid_config`), as
/// well as hosts, a path, a database or credentials, which mean nothing to a memory store.
/// The executor is not used: the backend never waits.
auto memory_backend_from_config(boost::asio::any_io_executor ex, backend_config cfg)
    -> std::shared_ptr<backend>;

}  // namespace asiocache::backends
