// SPDX-License-Identifier: MIT
#pragma once
// The operations of the Redis backends, written once over a routing function: the
// single-server backend sends every command to its connection, the cluster backend to the
// node that owns the command's key, following redirections. Internal.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "redis_connection.hpp"

namespace asiocache::backends::redis_detail {

/// What a request completes with: a transport error, or the reply (possibly an error reply).
using exec_result = std::tuple<boost::system::error_code, raw_reply>;

/// A Lua script run with EVALSHA, falling back to EVAL (which caches it) on NOSCRIPT.
struct script {
    std::string_view text;
    std::string sha;
};

/// The largest value a backend with these options writes: the server's 512 MiB, or what a
/// reply of `max_reply_bytes` can carry back.
auto value_limit(redis_options const& o) -> std::size_t;

/// ASCII case-insensitive equality, for command names.
auto iequals(std::string_view a, std::string_view b) -> bool;

/// Adds a connection's counters to `out`.
void add_counters(redis_stats& out, connection const& c);

/// Checks the per-connection options both Redis backends share (pool size, in-flight limit,
/// credentials, reply cap, health check, connect and reconnect delays); `who` prefixes the
/// message ("redis", "redis-cluster"). An empty username is dropped. Throws `invalid_config`.
void check_connection_options(redis_options& o, std::string_view who);

/// Takes the per-connection URL parameters both Redis backends share from `cfg` into `o`:
/// credentials, `connect_timeout`, `max_in_flight`, `pool_size` (or `pool`), `reconnect_min`,
/// `reconnect_max`, `health_check` and `max_reply_bytes`.
void take_connection_params(backend_config& cfg, redis_options& o, std::string_view who);

/// Throws `invalid_argument` for a raw command the shared pipeline cannot carry: an empty
/// one, a blocking one (BLPOP, WAIT, ...) or one that changes the connection's state.
void check_raw(std::vector<std::string> const& argv);

/// The reply, or a throw for a transport failure (timeout, connection lost, cancelled).
auto check(exec_result&& res, std::string_view cmd, std::string_view key) -> raw_reply;

/// Sends a request on one connection, completing with its `exec_result`.
auto exec_on(connection& c, std::string cmd, std::size_t replies, deadline dl)
    -> task<exec_result>;

/// Removes the keys of namespace `ns` from one server: SCAN MATCH page by page, each page
/// unlinked by one UNLINK (`per_key` false) or one UNLINK per key in a single request (a
/// cluster node, where one UNLINK must not span slots). Returns how many were removed.
auto scan_unlink(connection& c, std::string const& ns, bool per_key, deadline dl)
    -> task<std::size_t>;

/// Every operation of `backend` but those that span keys or servers, for any Redis topology.
class redis_ops : public backend {
public:
    /// `follows`: replies may be redirections to follow (a cluster); commands are then kept
    /// until their reply is in, and `follow` sees every reply `needs_follow` picks.
    explicit redis_ops(std::size_t value_limit, bool follows = false)
        : value_limit_(value_limit), follows_(follows) {}

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override;
    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override;
    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl, deadline dl)
        -> task<void> override;
    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto remove(std::string key, deadline dl) -> task<std::size_t> override;
    auto exists(std::string key, deadline dl) -> task<bool> override;
    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override;
    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override;
    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override;
    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override;
    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override;
    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override;
    auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool> override;

protected:
    /// Sends `cmd` (`replies` commands, all on `key`'s slot) to the server that holds `key`.
    virtual auto route(std::string_view key, std::string cmd, std::size_t replies, deadline dl)
        -> task<exec_result> = 0;

    /// Follows a reply that `needs_follow` picked (a redirection, a lost connection) for
    /// `cmd`, sent about `key`: the cluster sends it again where it is told to. The default
    /// returns `first` as it is.
    virtual auto follow(std::string_view key, std::string cmd, std::size_t replies, deadline dl,
                        exec_result first) -> task<exec_result>;

    /// Whether `res` needs `follow`: never on one server; on a cluster, a MOVED, ASK,
    /// TRYAGAIN or CLUSTERDOWN answer, or a lost connection.
    [[nodiscard]] auto needs_follow(exec_result const& res) const noexcept -> bool;

    /// The bytes to give `route`: a copy when they may have to be sent again, else the bytes.
    [[nodiscard]] auto pass(std::string& cmd) const -> std::string {
        return follows_ ? cmd : std::move(cmd);
    }

    /// Throws `value_too_large` for a value over the limit.
    void check_value(std::string const& key, std::string const& value) const;

    /// MSET, or MULTI / SET PX ... / EXEC with a TTL, for items that all share one slot (or
    /// any items on a single server).
    auto set_batch(std::vector<std::pair<std::string, std::string>> const& items, expiry ttl,
                   deadline dl) -> task<void>;

private:
    /// EVALSHA, then EVAL when the server does not have the script cached. Server errors
    /// other than NOSCRIPT are thrown.
    auto eval(script const& sc, std::string key, std::vector<std::string> args, deadline dl)
        -> task<raw_reply>;

    std::size_t value_limit_;
    bool follows_;
};

}  // namespace asiocache::backends::redis_detail
