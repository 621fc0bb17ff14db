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
/// `{.servers = {{"10.0.0.1", 11211}, {"10.0.0.2", 11211}}, .connections_per_server = 2}`.
///
/// **Protocol and threads.** The backend speaks memcached's meta text protocol (memcached 1.6
/// or later) over Asio sockets: no thread of its own, no blocking call. Each server gets
/// `connections_per_server` connections, each auto-pipelining the requests of every caller (the
/// Redis backend's connection: deadlines, reconnect with jittered backoff, health checks). A
/// server that does not speak the meta protocol fails its requests with `errc::not_supported`.
///
/// **Several servers.** libmemcached decides which server owns a key: the backend keeps an
/// unconnected libmemcached handle configured with ketama (weighted, MD5 points, weight 1 per
/// server), so C, C++ and pylibmc clients on libmemcached with the same server list find the
/// same keys on the same servers. A server that is down fails only its own keys, fast
/// (`errc::backend_unavailable`, between reconnect attempts), and a stalled server's requests
/// end at their deadlines without delaying any other server. Keys are never moved to another
/// server (no auto-eject), so a server that comes back cannot serve values older than ones
/// written meanwhile elsewhere.
struct memcached_options {
    /// The servers; port 0 means 11211. A host starting with '/' is a unix socket path.
    /// Default: 127.0.0.1:11211.
    std::vector<endpoint> servers{{"127.0.0.1", 11211}};
    /// Connections to each server, used in turn. One connection pipelines thousands of requests
    /// a second; more help only when one connection's read loop is the bottleneck. Default: 1.
    std::size_t connections_per_server = 1;
    /// Requests written to one connection and not yet answered; beyond it they wait in the
    /// connection's queue (until their deadline). Default: 1024.
    std::size_t max_in_flight = 1024;
    /// Longest wait for a TCP connect and the handshake (`mn`). Default: 1 s.
    std::chrono::milliseconds connect_timeout{1000};
    /// Backoff between reconnect attempts to a failed server: from `reconnect_min`, doubling,
    /// up to `reconnect_max`, each delay drawn from the upper half (jitter). Between attempts
    /// that server's requests fail fast. Defaults: 50 ms and 1 s.
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{1000};
    /// Idle connections send `mn` this often; a connection with requests waiting and no byte
    /// read for twice this long is dropped (its requests fail). 0 disables. Default: 2 s.
    std::chrono::milliseconds health_check_interval{2000};
    /// Opt-in namespace generations, which make `clear(namespace)` work; they change the key
    /// layout of namespaced keys (see `make_memcached_backend`). Default: false, which keeps
    /// Python aiocache's layout; `clear(namespace)` then fails with `errc::not_supported`.
    bool namespace_generations = false;
    /// The servers' item size limit in bytes (memcached `-I`). 0 (default): ask each server
    /// (`stats settings`) once, before its first write; 1 MiB for a server that does not say.
    std::size_t item_size_max = 0;
};

/// Creates a memcached backend whose operations complete on the caller's executor (`ex` runs
/// the connections).
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
/// **Semantics** (traits: separator "", `enforces_deadlines`, `ttl`, 1 s TTL granularity,
/// 250-byte keys, `clear(namespace)` only with generations):
/// - TTLs round up to whole seconds; beyond 30 days they are sent as absolute Unix times (see
///   `memcached_expiration`). memcached's clock ticks once a second, so an entry with a TTL of
///   n s lives between n-1 and n s. `expire` is a touch (`mg <key> T<ttl>`).
/// - `ttl(key)` is `mg <key> t`: whole seconds (at least 1), `expiry::never()`, or `nullopt`.
/// - `exists` is `mg` without a value: it neither reads nor writes the value.
/// - `set`, `add`, `cas` and `multi_set` refuse a value that does not fit the item size limit
///   with `errc::value_too_large` before sending it, because memcached deletes the old value
///   when it refuses an oversized `set`. Every item of a `multi_set` is checked first (a
///   refused item stores none).
/// - `add` on an existing key fails with `errc::key_exists`.
/// - `increment(key, delta)`: a non-negative delta on a non-negative counter is one `ma` with
///   auto-create (`N0 J<delta> D<delta>`: atomic, keeps the TTL; a missing key is created
///   without TTL). A negative delta, or a counter that is negative, goes through a gets/cas
///   loop that keeps the key's TTL (to the second). A value that is not a 64-bit integer fails
///   with `errc::not_a_number` and is kept; a result outside the signed 64-bit range fails with
///   `errc::invalid_argument` and the value is kept (an increment that overflowed is undone).
/// - `multi_get`, `multi_set`: one quiet batch per server (`q` flags, ended by `mn`), sent to
///   the servers concurrently. When some servers fail and others answer, the operation throws
///   `asiocache::partial_failure` (the facade: `partial_values<T>`) holding the values read and
///   every failed item; when all fail it throws the first server's error.
/// - `gets`/`cas` use memcached CAS tokens; `remove_if_equal` is gets, compare, then
///   `md <key> C<token>`.
/// - `raw` passes `stats [group]`, `version` and `flush_all`; it answers one array per server
///   (`"host:port"`, then stat name, value, name, value...; `version` keeps only the version);
///   other commands fail with `errc::not_supported`.
/// - `close()` drops every connection; they reopen on next use.
auto make_memcached_backend(boost::asio::any_io_executor ex, memcached_options opts = {})
    -> std::shared_ptr<backend>;

/// The registry's factory for `memcached://h1:11211,h2:11211?connections=2&...`.
///
/// Parameters: `connections` or `pool_size` (count per server), `max_in_flight` (count),
/// `connect_timeout`, `reconnect_min`, `reconnect_max` (alias `retry_timeout`),
/// `health_check` (durations), `namespace_generations` (bool), `item_size_max` (size, e.g.
/// `2m`). `binary=false` is accepted; `binary=true`, `threads`, `max_queue`, `io_timeout` and
/// `worker_spin_us` belong to the former libmemcached client and fail with
/// `errc::invalid_config` naming what replaces them. Any other parameter is an
/// `errc::invalid_config` error. No endpoint means 127.0.0.1:11211.
auto memcached_backend_from_config(boost::asio::any_io_executor ex, backend_config config)
    -> std::shared_ptr<backend>;

/// The expiration field memcached gets for `ttl` when the Unix time is `unix_now` seconds:
/// 0 for `expiry::never()`; else the TTL rounded up to whole seconds, sent as is up to 30 days
/// (2592000 s) and as the absolute Unix time `unix_now + seconds` beyond, because memcached reads
/// larger values as absolute times. Errors: `errc::invalid_argument` when that absolute time does
/// not fit memcached's 32-bit field (after January 2038).
auto memcached_expiration(expiry ttl, std::int64_t unix_now) -> std::int64_t;

}  // namespace asiocache::backends
