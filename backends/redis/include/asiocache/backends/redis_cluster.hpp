// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/backends/redis.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// The Redis Cluster backend.
///
/// Keys are hashed to the cluster's 16384 slots (CRC16 of the key, or of its `{hash tag}`), and
/// each command goes to the master that owns its key's slot, over one pipelined connection per
/// node: the single-server backend's connection, with its deadlines, reconnect with backoff,
/// health checks and reply limits.
///
/// **Topology.** Read with CLUSTER SLOTS from the seed nodes on the first operation, and read
/// again in the background after a `MOVED`, after a lost connection (at most every
/// `refresh_min`), and every `refresh_interval`.
///
/// **Redirections.** `MOVED`: the command is sent again to the node named, at once, and the
/// topology is refreshed. `ASK` (a slot being migrated): the command is sent again to the node
/// named, preceded by `ASKING`, and the topology is left as it is. `TRYAGAIN` and
/// `CLUSTERDOWN`: the command is sent again after 10 ms, doubling up to 160 ms. Every retry
/// stays inside the operation's deadline, and an operation makes at most `max_redirects + 1`
/// attempts before it fails with `errc::backend_error` naming the last answer. A command that
/// fails on the connection (timeout, connection lost) is not sent again: it may have taken effect.
///
/// **Multi-key operations.** `multi_get` and `multi_set` are split by master, sent to all of
/// them at once (one pipelined request per master) and reassembled in the caller's order; a key
/// redirected meanwhile is retried on its own. When some masters fail and others answer, the
/// error is a `partial_failure` naming the failed keys. `multi_set` is atomic per key, not per
/// batch (the single-server backend's MULTI/EXEC cannot span slots). `clear(ns)` runs SCAN +
/// UNLINK on every master and sums the counts; `clear_all` runs FLUSHDB on every master. The Lua
/// operations (`gets`/`cas`, `remove_if_equal`, `expire_if_equal`) touch one key each, so they
/// work unchanged. `raw` routes by the command's key (the first argument, or the first key of
/// EVAL/EVALSHA/FCALL); a command without a key needs `redis_cluster_raw_on`.
///
/// **Replicas.** With `read_from_replica`, `get` and `multi_get` go to a replica of the slot's
/// master (connections opened with READONLY), so they may read a value a little older than the
/// master's; a replica that fails or redirects is skipped for the master.
///
/// **Threads, lifetime.** As the single-server backend: callable from any thread, callers
/// resume on their own executor, and the backend must outlive its operations.
namespace asiocache::backends {

/// Settings for `make_redis_cluster_backend`.
struct redis_cluster_options {
    /// Nodes to read the topology from: any of the cluster's nodes; more than one in case one
    /// is down. Hosts are names or addresses.
    std::vector<endpoint> seeds;
    /// How each node is connected to: credentials, connect limit, in-flight limit,
    /// connections per node, reconnect backoff, health check, reply cap, as for one server.
    /// `host`, `port`, `unix_path` and `db` are not used (nodes come from the topology, and a
    /// cluster has database 0 only).
    redis_options connection;
    /// Send `get` and `multi_get` to replicas. Default false (masters only).
    bool read_from_replica = false;
    /// Redirections and retries one operation may follow. Default 5.
    std::size_t max_redirects = 5;
    /// Period of the background topology refresh. Default 10 s.
    std::chrono::milliseconds refresh_interval{10000};
    /// Least time between two refreshes caused by errors. Default 100 ms.
    std::chrono::milliseconds refresh_min{100};
};

/// Counters of one cluster backend; read while it runs.
struct redis_cluster_stats {
    redis_stats connections;        ///< Summed over every node's connections.
    std::uint64_t refreshes = 0;    ///< Topology reads that succeeded.
    std::uint64_t moved = 0;        ///< MOVED answers followed.
    std::uint64_t asked = 0;        ///< ASK answers followed.
    std::uint64_t retries = 0;      ///< TRYAGAIN / CLUSTERDOWN answers retried.
    std::size_t masters = 0;        ///< Masters in the current topology.
};

/// The counters of a backend made by `make_redis_cluster_backend`; nullopt for any other.
auto redis_cluster_statistics(backend const& b) -> std::optional<redis_cluster_stats>;

/// The slot Redis Cluster stores `key` in (0..16383): CRC16 of the key, or of its hash tag.
auto redis_cluster_key_slot(std::string_view key) noexcept -> std::uint16_t;

/// Sends a command to one node ("host:port", as CLUSTER NODES names it) of a cluster backend:
/// for commands without a key (INFO, DBSIZE, CLUSTER ...). The same commands are refused as by
/// `raw`. Throws `errc::invalid_argument` when `b` is not a cluster backend.
auto redis_cluster_raw_on(backend& b, std::string node, std::vector<std::string> argv,
                          deadline dl) -> task<raw_reply>;

/// The addresses ("host:port") of the cluster's masters, in slot order, reading the topology
/// first if no operation has yet. Throws `errc::invalid_argument` when `b` is not a cluster
/// backend, and as any operation when the topology cannot be read.
auto redis_cluster_masters(backend& b, deadline dl) -> task<std::vector<std::string>>;

/**
 * Creates a Redis Cluster backend on `ex`. Nothing connects until the first operation.
 *
 * *Errors*: throws `boost::system::system_error` with `errc::invalid_config` for inconsistent
 * options (no seed, a `connection` that `make_redis_backend` would refuse, a `db` other
 * than 0).
 */
auto make_redis_cluster_backend(boost::asio::any_io_executor ex, redis_cluster_options opts)
    -> std::shared_ptr<backend>;

/**
 * The registry's factory for `redis-cluster://[user:password@]h1:p1,h2:p2?...` (default port
 * 6379). Query parameters: those of `redis://` but `db` (a cluster has database 0 only), plus
 * `read_from` (`master` or `replica`), `max_redirects`, `refresh_interval` and `refresh_min`.
 */
auto redis_cluster_backend_from_config(boost::asio::any_io_executor ex, backend_config cfg)
    -> std::shared_ptr<backend>;

}  // namespace asiocache::backends
