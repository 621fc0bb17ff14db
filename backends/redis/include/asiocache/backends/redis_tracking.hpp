// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend_config.hpp"
#include "asiocache/backends/redis.hpp"
#include "asiocache/invalidation.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace asiocache::backends {

/// Settings of a Redis invalidation channel (server-assisted client-side caching, RESP2).
struct redis_tracking_options {
    /// The server and how to reach it: host/port or unix_path, username/password, and the
    /// connect timeout, reconnect backoff, health check interval and reply cap. `db`,
    /// `pool_size` and `max_in_flight` are not used: invalidations name keys of every database.
    redis_options connection;
    /// `BCAST PREFIX` arguments: only writes to keys starting with one of them are reported.
    /// Empty (the default): every key. A prefix that misses some of a near cache's keys lets
    /// their writes go unheard, so the default is the safe one.
    std::vector<std::string> prefixes;
};

/// Counters of a Redis tracking channel.
struct redis_tracking_stats {
    std::uint64_t messages = 0;    ///< Invalidation messages received.
    std::uint64_t keys = 0;        ///< Keys they named.
    std::uint64_t subscribes = 0;  ///< Successful subscriptions, the first one included.
    std::uint64_t losses = 0;      ///< Times the subscribed connection was lost.
    std::uint64_t refusals = 0;    ///< CLIENT TRACKING refused (Redis before 6, an ACL): L1 unused.
    bool up = false;               ///< Subscribed now.
};

/// A channel of invalidations from a Redis server: one connection that runs `CLIENT TRACKING
/// ON REDIRECT <its own id> BCAST [PREFIX p ...]` and subscribes to `__redis__:invalidate`, so
/// the server names every key any client writes (asiocache, redis-cli, a Python service) and
/// reports FLUSHDB/FLUSHALL. Checked with PING every `health_check_interval` (a connection
/// silent for two intervals is dropped) and rebuilt with the reconnect backoff. Needs Redis 6+.
auto make_redis_tracking_source(boost::asio::any_io_executor ex, redis_tracking_options o)
    -> std::shared_ptr<invalidation_source>;

/// The connection settings a URL gives a Redis channel: its host (or socket), credentials and
/// the connection parameters of `redis://` (`connect_timeout`, `reconnect_min`,
/// `reconnect_max`, `health_check`, `max_reply_bytes`), taken out of `cfg.params`; other
/// parameters are left there.
auto redis_channel_options(backend_config& cfg) -> redis_options;

/// Settings of a Redis pub/sub backplane.
struct redis_backplane_options {
    /// The Redis server that carries the messages (not the cache's L2).
    redis_options connection;
    /// The channel every writer publishes to and every near cache listens on; caches that
    /// share an L2 must share it. Default "asiocache:invalidate".
    std::string channel = "asiocache:invalidate";
};

/// A channel of invalidations for an L2 that cannot report writes (memcached): every tiered
/// writer publishes the keys it wrote (`PUBLISH <channel> ["k1","k2"]`, `null` for all) on a
/// Redis server after each L2 write, and every tiered cache listens there. Writes that bypass
/// asiocache's tiered caches (another memcached client) are not heard: `l1_ttl` bounds them.
auto make_redis_backplane_source(boost::asio::any_io_executor ex, redis_backplane_options o)
    -> std::shared_ptr<invalidation_source>;

/// The counters of a source made by `make_redis_tracking_source` or
/// `make_redis_backplane_source`; `nullopt` for any other.
auto redis_tracking_statistics(invalidation_source const& s) -> std::optional<redis_tracking_stats>;

}  // namespace asiocache::backends
