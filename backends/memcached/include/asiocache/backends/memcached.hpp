// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache::backends {

/// Settings of a memcached backend. Built with designated initializers:
/// `{.servers = {{"10.0.0.1", 11211}, {"10.0.0.2", 11211}}, .binary_protocol = true}`.
///
/// **Threads.** libmemcached 1.1 blocks, so every operation runs on one of `threads` worker
/// threads. Each worker owns one libmemcached handle (with one connection per server) and uses
/// it alone; completions are posted back to the caller's executor. Requests beyond the busy
/// workers wait in a queue of at most `max_queue` entries, each until its deadline.
///
/// **Several servers.** Keys are spread with consistent hashing (libketama-compatible, MD5
/// ketama points, weight 1 per server). When a server dies, the keys that hash to it fail with
/// `errc::backend_unavailable` (or `errc::timeout`), and the other servers' keys keep working:
/// keys are never moved to another server (no auto-eject), so a server that comes back can never
/// serve values older than ones written meanwhile elsewhere. After a failure the server is
/// skipped, failing fast, for `retry_timeout`, then tried again: it recovers on its own.
struct memcached_options {
    /// The servers; port 0 means 11211. Default: 127.0.0.1:11211.
    std::vector<endpoint> servers{{"127.0.0.1", 11211}};
    /// Use memcached's binary protocol instead of the text protocol. Default: false. (The
    /// binary protocol is deprecated by memcached 1.6 but still served.)
    bool binary_protocol = false;
    /// Worker threads, each with its own connection to every server. Default: 4.
    std::size_t threads = 4;
    /// Requests that may wait for a free worker; beyond it an operation fails at once with
    /// `errc::backend_unavailable`. Default: 4096.
    std::size_t max_queue = 4096;
    /// Longest wait for a TCP connect (also capped by the operation's deadline). Default 1 s.
    std::chrono::milliseconds connect_timeout{1000};
    /// Longest wait for one socket read or write (libmemcached's poll timeout; also capped by
    /// the operation's deadline). Default 1 s.
    std::chrono::milliseconds io_timeout{1000};
    /// How long a server that failed is skipped before it is tried again; whole seconds,
    /// rounded up (libmemcached's retry timeout). Default 1 s.
    std::chrono::milliseconds retry_timeout{1000};
    /// Opt-in namespace generations, which make `clear(namespace)` work; they change the key
    /// layout of namespaced keys (see `memcached_backend_traits`). Default: false, which keeps
    /// Python aiocache's layout; `clear(namespace)` then fails with `errc::not_supported`.
    bool namespace_generations = false;
    /// The servers' item size limit in bytes (memcached `-I`). 0 (default): ask the servers
    /// (`stats settings`, the smallest `item_size_max`) on first use, 1 MiB if none answers.
    std::size_t item_size_max = 0;
    /// How long one idle worker keeps polling for the next request before it sleeps. It saves
    /// a thread wake-up per operation when a caller issues them one after another, for up to
    /// this much CPU per operation; worth it only with a spare core. Default 0: never polls.
    std::chrono::microseconds worker_spin{0};
};

/// Creates a memcached backend whose operations complete on the caller's executor (`ex` is
/// used only for completions whose handler has no executor of its own).
///
/// **Keys.** `build_key(ns, key)` joins namespace and key with no separator and turns spaces
/// into `_`, as Python aiocache 0.12's memcached cache does. A key that is still invalid for
/// memcached (empty, longer than 250 bytes, or holding a control character, a space from a
/// custom key builder, or DEL) fails with `errc::invalid_key`: keys are never truncated or
/// hashed. Bytes 0x80-0xFF (UTF-8) are allowed, as aiomcache allows them.
///
/// **Namespace generations** (`namespace_generations = true`). A namespaced key is stored as
/// `~:<len(ns)>:<ns>:<generation>:<key>`, where the generation is a decimal number kept under
/// the key `~:g:<ns>` (created on first use from the current time in microseconds, so that a
/// generation key lost to eviction never brings back an old generation). `clear(ns)` increments
/// it, so the namespace's old keys are no longer reached and age out of memcached's LRU. Each
/// operation on a namespaced key then costs one more round trip (reading the generation).
/// Keys without a namespace are stored as they are, and keys starting with `~:` are reserved.
///
/// **Semantics** (traits: separator "", `enforces_deadlines`, no `ttl`, 1 s TTL granularity,
/// 250-byte keys, `clear(namespace)` only with generations):
/// - TTLs round up to whole seconds; beyond 30 days they are sent as absolute Unix times (see
///   `memcached_expiration`). memcached's clock ticks once a second, so an entry with a TTL of
///   n s lives between n-1 and n s. `expire` is `touch`; `expire(never)` is `touch 0`.
/// - `ttl(key)` fails with `errc::not_supported` (libmemcached cannot read an item's expiry).
/// - `set`, `add`, `cas` and `multi_set` refuse a value that does not fit the item size limit
///   with `errc::value_too_large` before sending it, because memcached deletes the old value
///   when it refuses an oversized `set`. `multi_set` checks every item first (a refused item
///   stores none), then sets them one by one: one round trip per item, on one worker.
/// - `add` on an existing key fails with `errc::key_exists`.
/// - `increment(key, delta)`: a non-negative delta on a non-negative counter is memcached
///   `incr` (atomic, keeps the TTL); a missing key is created with `add` (no TTL), retried if
///   another writer wins. memcached's `decr` clamps at 0 and `incr` refuses negative numbers,
///   so a negative delta, or a counter that is negative, goes through a gets/cas loop instead:
///   still atomic and exact, but that store cannot keep the key's TTL, so the counter then never
///   expires. A value that is not a 64-bit integer fails with `errc::not_a_number` and is kept;
///   a result outside the signed 64-bit range fails with `errc::invalid_argument` and the
///   value is kept (an `incr` that overflowed is undone).
/// - `multi_get` is one memcached multi-get (one round trip per server); concurrent `get`s that
///   queue up are also served by one multi-get. A `multi_get` touching a dead server fails as a
///   whole with `errc::backend_unavailable` (libmemcached alone would report its keys as misses).
/// - `gets`/`cas` use memcached CAS tokens. `remove_if_equal` is gets, compare, then a
///   CAS-guarded store of an already expired item (memcached's `delete` takes no CAS token).
/// - `raw` passes `stats [group]`, `version` and `flush_all`; it answers one array per server
///   (`"host:port"`, then stat name, value, name, value...); other commands fail with
///   `errc::not_supported`.
/// - `close()` drops every connection; they reopen on next use. Threads live as long as the
///   backend.
auto make_memcached_backend(boost::asio::any_io_executor ex, memcached_options opts = {})
    -> std::shared_ptr<backend>;

/// The registry's factory for `memcached://h1:11211,h2:11211?binary=true&...`.
///
/// Parameters: `binary` (bool), `threads` or `pool_size` (count), `max_queue` (count),
/// `connect_timeout`, `io_timeout`, `retry_timeout` (durations), `namespace_generations`
/// (bool), `item_size_max` (size, e.g. `2m`), `worker_spin_us` (microseconds). Any other parameter is an `errc::invalid_config`
/// error. No endpoint means 127.0.0.1:11211.
auto memcached_backend_from_config(boost::asio::any_io_executor ex, backend_config config)
    -> std::shared_ptr<backend>;

/// The expiration field memcached gets for `ttl` when the Unix time is `unix_now` seconds:
/// 0 for `expiry::never()`; else the TTL rounded up to whole seconds, sent as is up to 30 days
/// (2592000 s) and as the absolute Unix time `unix_now + seconds` beyond, because memcached reads
/// larger values as absolute times. Errors: `errc::invalid_argument` when that absolute time does
/// not fit memcached's 32-bit field (after January 2038).
auto memcached_expiration(expiry ttl, std::int64_t unix_now) -> std::int64_t;

}  // namespace asiocache::backends
