// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

/// The Redis backend.
///
/// hiredis formats commands (`redisFormatCommandArgv`) and parses replies (`redisReader`);
/// Asio owns the socket and the event loop, so no thread is added. Each connection pipelines
/// automatically: requests from concurrent coroutines are queued, written in batches (one
/// write per batch) and matched to replies in order.
///
/// **Threads.** The backend may be used from several threads at once. Each connection keeps
/// its state on a strand of the executor it was given; callers resume on their own executor.
///
/// **Deadlines.** Every operation honours the `deadline` it is handed: one watchdog timer per
/// connection fails only the expired requests with `errc::timeout` and leaves the connection
/// usable (a late reply is read and discarded). Asio per-operation cancellation completes the
/// request at once with `boost::asio::error::operation_aborted`; a request that was already
/// written may still take effect on the server.
///
/// **Outages.** A request in flight when the connection drops fails with
/// `errc::backend_unavailable`. A connection counts as up only once the server has answered
/// the handshake (AUTH, SELECT and a PING), so a server that accepts and then closes, or
/// answers `-DENIED` or `-ERR max number of clients reached`, is a failed attempt. After a
/// failed attempt, or the loss of a connection that had been up for less than `reconnect_max`,
/// the next attempt waits: `reconnect_min` doubling up to `reconnect_max`, each delay drawn at
/// random from its upper half (jitter, so that many clients do not reconnect in step). The
/// failure count resets only when a connection that was up for `reconnect_max` drops, which
/// is also the only loss followed by an immediate attempt. At the defaults that is at most
/// about 8 connects in the first second and one every 1-2 s after. While a connect attempt is
/// in progress, requests wait for it (bounded by their deadline); between attempts they fail at
/// once with `errc::backend_unavailable`, so nothing queues up while the server is down.
///
/// **Health.** TCP keep-alive is on. When a connection has been idle for
/// `health_check_interval` it sends a PING; when requests have been waiting with no byte
/// received for twice that interval (a black-holed server, a server stuck in a long script or
/// `DEBUG SLEEP`), the connection is dropped and replaced, and its in-flight requests fail with
/// `errc::backend_unavailable`, even when they carry no deadline. Blocking commands (BLPOP,
/// WAIT, XREAD BLOCK, ...) are refused by `raw`: on the shared pipeline they would stall every
/// other caller.
///
/// **Hostile replies.** A reply may take at most `max_reply_bytes` (wire bytes plus the
/// parsed tree's nodes); a larger one, or one hiredis cannot parse, fails the requests in
/// flight with `errc::protocol_error` and the connection is replaced. No reply can crash the
/// process or make it allocate without bound.
///
/// **Lifetime.** The backend must outlive the operations started on it, as any Asio I/O object.
/// An open connection keeps a read pending, so `io_context::run()` returns only once the
/// backend is closed (`close()`) or destroyed.
///
/// **Wire format.** Keys are `namespace:key` and values are the serializer's bytes with no
/// envelope, as Python aiocache 0.12's `RedisCache` lays them out.
namespace asiocache::backends {

/// Settings for `make_redis_backend`. Built with designated initializers:
/// `{.host = "cache.internal", .password = pw, .db = 2}`.
struct redis_options {
    /// Server host name or IP address. Default "127.0.0.1". A name is resolved with Asio's
    /// resolver (getaddrinfo on an internal Asio thread); an address needs no resolver.
    std::string host = "127.0.0.1";
    /// Server TCP port. Default 6379.
    std::uint16_t port = 6379;
    /// Unix socket path; when not empty it is used instead of `host` and `port`. Default empty.
    std::string unix_path;
    /// ACL user name (Redis 6+), sent as `AUTH username password`. Needs `password`.
    /// Default none (the `default` user).
    std::optional<std::string> username;
    /// Password for `AUTH`. Never written to logs or error messages. Default none.
    std::optional<std::string> password;
    /// Database number, selected with `SELECT` on every (re)connect. Default 0.
    int db = 0;
    /// Limit for one connect attempt: resolve, connect, AUTH and SELECT. Default 2 s.
    std::chrono::milliseconds connect_timeout{2000};
    /// Requests written but not yet answered, per connection. Further callers wait for room,
    /// bounded by their deadline. Default 1024.
    std::size_t max_in_flight = 1024;
    /// Connections; requests are spread over them round-robin. More than one helps callers on
    /// several threads. Default 1.
    std::size_t pool_size = 1;
    /// Delay before the second reconnect attempt after a failure (the first is immediate); it
    /// doubles on each failure. Default 50 ms.
    std::chrono::milliseconds reconnect_min{50};
    /// Upper bound of the reconnect delay, and how long a connection must stay up before its
    /// loss resets the backoff. Default 2 s.
    std::chrono::milliseconds reconnect_max{2000};
    /// Idle time after which a connection sends a PING; requests that see no byte for twice
    /// this long get the connection dropped. Zero disables both. Default 2 s.
    std::chrono::milliseconds health_check_interval{2000};
    /// Cap on one reply: its bytes plus its parsed nodes (`sizeof(raw_reply)` each). Default
    /// 512 MiB plus 4 KiB of framing: the largest value Redis stores. Writes of values larger
    /// than this cap are refused with `errc::value_too_large`, so nothing is stored that could
    /// not be read back.
    std::size_t max_reply_bytes = 512ULL * 1024 * 1024 + 4096;
};

/// Counters of one Redis backend, summed over its connections; read while it runs.
struct redis_stats {
    std::uint64_t requests = 0;  ///< Requests written to a socket (a MULTI block counts once).
    std::uint64_t writes = 0;    ///< Socket writes: requests / writes is the mean batch size.
    std::uint64_t connects = 0;  ///< Successful connects, the first one included.
    std::uint64_t timeouts = 0;  ///< Requests failed by the watchdog with `errc::timeout`.
    std::uint64_t connect_attempts = 0;  ///< Connect attempts, failed ones included.
    std::uint64_t health_drops = 0;      ///< Connections dropped for not answering.
};

/// The counters of a backend made by `make_redis_backend`; `nullopt` for any other backend.
auto redis_statistics(backend const& b) -> std::optional<redis_stats>;

/// What the wake channel of a Redis backend (`backend::wakeups()`, asiocache/wake.hpp: lease
/// waiters woken by PUBLISH on `asiocache:wake:<key>`) has done in this process.
struct redis_wake_stats {
    wake_stats hub;                 ///< Watches, and the wake-ups received for them.
    std::uint64_t published = 0;    ///< Wake-ups this process sent.
    std::uint64_t subscribers = 0;  ///< Subscriptions started (the first use, then one per close).
    bool up = false;                ///< The subscription is confirmed now.
};

/// The wake channel's counters of a backend made by `make_redis_backend`; `nullopt` for any
/// other backend (Redis Cluster has no wake channel: its lease waiters poll).
auto redis_wake_statistics(backend const& b) -> std::optional<redis_wake_stats>;

/**
 * Creates a Redis backend on `ex`. Nothing connects until the first operation.
 *
 * *Errors*: throws `boost::system::system_error` with `errc::invalid_config` for inconsistent
 * options (a zero `pool_size` or `max_in_flight`, a negative `db`, a `username` without a
 * `password`).
 *
 * *Lifetime*: the backend must be destroyed before the execution context behind `ex`.
 * Destroying it fails whatever is still pending with `errc::backend_unavailable`.
 */
auto make_redis_backend(boost::asio::any_io_executor ex, redis_options opts)
    -> std::shared_ptr<backend>;

/**
 * The registry's factory for the schemes `redis` (`redis://[user:password@]host[:port][/db]`,
 * default port 6379) and `redis+unix` (`redis+unix:///path/to/redis.sock?db=N`).
 *
 * Query parameters: `connect_timeout` (duration), `max_in_flight`, `pool_size` (alias `pool`),
 * `reconnect_min`, `reconnect_max`, `health_check` (durations; `health_check=0` disables it),
 * `max_reply_bytes`, and `db` (`redis+unix`, or `redis` without a path). Any other parameter is an `errc::invalid_config` error naming it.
 */
auto redis_backend_from_config(boost::asio::any_io_executor ex, backend_config cfg)
    -> std::shared_ptr<backend>;

}  // namespace asiocache::backends
