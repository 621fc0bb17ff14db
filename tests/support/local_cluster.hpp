// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "local_server.hpp"

namespace asiocache::test {

/// A Redis Cluster owned by a test: `2 * masters` redis-server processes on free 127.0.0.1
/// ports, one replica per master, created with `redis-cli --cluster create`. Each node is a
/// local_server, so every node dies with the test process, even when it crashes (the temp dir
/// of its cluster-config-files stays behind then). Needs Redis 7 (`cluster-port` lets the bus
/// port be any free port, not the client port + 10000).
///
/// Every query goes through redis-cli, bounded by a 10 s limit. Nodes killed by kill_master stay
/// listed in ports() and seeds() but are never asked anything again. Not thread-safe. Start it
/// from a thread that outlives it: the kernel sends the nodes' parent-death signal when the
/// thread that forked them ends.
class local_cluster {
public:
    /// nullopt when redis-server or redis-cli was not found at configure time. Starts
    /// 2*masters redis-server nodes on free 127.0.0.1 ports (cluster-enabled yes, a
    /// cluster-config-file in a private temp dir, cluster-node-timeout 1000 ms so failover
    /// takes about 2 s, no persistence), creates the cluster with
    /// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, and returns once
    /// every node reports cluster_state:ok, every node's CLUSTER SLOTS covers all 16384 slots
    /// and every replica's link to its master is up. Throws std::runtime_error with a clear
    /// message if that takes over 30 s, std::invalid_argument for fewer than 3 masters (which
    /// redis-cli refuses). Takes about 2 s: a new master reports cluster_state:ok no sooner
    /// than 2 s after it started.
    /// `node_args` are appended to every node's command line (say
    /// `{"--cluster-require-full-coverage", "no"}`).
    static auto start(int masters = 3, std::vector<std::string> node_args = {})
        -> std::optional<local_cluster>;

    local_cluster(local_cluster&& other) noexcept;
    auto operator=(local_cluster&&) -> local_cluster& = delete;
    local_cluster(local_cluster const&) = delete;
    /// Stops every node and removes the temp dir.
    ~local_cluster();

    /// Every node's port, masters and replicas, in start order.
    [[nodiscard]] auto ports() const -> std::vector<std::uint16_t>;
    /// "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3": the first `n` nodes' addresses (all when n==0
    /// or n exceeds the node count).
    [[nodiscard]] auto seeds(std::size_t n = 3) const -> std::string;
    /// "redis-cluster://" + seeds() + ("?" + query when query is not empty).
    [[nodiscard]] auto url(std::string_view query = {}) const -> std::string;
    /// Ports of the live masters that serve slots now (asked of a live node, CLUSTER SLOTS),
    /// sorted. A killed master is not one.
    [[nodiscard]] auto masters() const -> std::vector<std::uint16_t>;
    /// Port of the master that owns `slot` now, as a live node's CLUSTER SLOTS says.
    [[nodiscard]] auto owner_of(int slot) const -> std::uint16_t;
    /// The slot of a key, asked of a node (CLUSTER KEYSLOT): tests cross-check the backend's
    /// CRC16.
    [[nodiscard]] auto keyslot(std::string_view key) const -> int;
    /// Runs redis-cli -h 127.0.0.1 -p port <args...> (no -c: no redirect following) and returns
    /// its stdout with the trailing newlines removed; throws std::runtime_error on a non-zero
    /// exit (the node could not be reached) or after 10 s. An error reply is not a non-zero
    /// exit: it comes back as its text, e.g. "MOVED 866 127.0.0.1:40123". Replies are read
    /// line by line, so values and keys should not hold newlines.
    auto cli(std::uint16_t port, std::vector<std::string> const& args) const -> std::string;

    /// Slot migration in steps, so a test can run load in between (the documented manual
    /// resharding procedure): begin sets IMPORTING on `to` and MIGRATING on the owner;
    /// migrate_some moves up to `count` of the slot's keys with MIGRATE (REPLACE, timeout 2000),
    /// returning how many it moved (0 when none remain); finish sends CLUSTER SETSLOT slot NODE
    /// <to-id> to the destination, the source and then every other master, then waits (up to
    /// 10 s) until every live node's CLUSTER SLOTS names `to`, so any node a test asks agrees.
    /// Each throws std::runtime_error when a node refuses a step (`to` a replica, keys left in
    /// the slot at finish), and std::invalid_argument when `to` is not a live node of this
    /// cluster or already owns the slot.
    void begin_migration(int slot, std::uint16_t to);
    auto migrate_some(int slot, std::size_t count) -> std::size_t;
    void finish_migration(int slot, std::uint16_t to);
    /// All three, keys included.
    void migrate_slot(int slot, std::uint16_t to);

    /// SIGKILL the master on `port`; waits (up to `limit`) until one of its replicas is a
    /// master serving its slots in every live node's CLUSTER SLOTS and the surviving nodes
    /// report cluster_state:ok; returns the new master's port. Throws std::runtime_error on
    /// timeout, std::invalid_argument when `port` is not a live master with slots and a replica.
    auto kill_master(std::uint16_t port, std::chrono::milliseconds limit) -> std::uint16_t;
    /// FLUSHALL on every live master.
    void flush_all();
    /// SIGSTOP the node on `port` (see local_server::pause): a stalled node, its connections
    /// open. Its peers flag it as failing after cluster-node-timeout. Returns whether every
    /// thread stopped.
    auto pause(std::uint16_t port) -> bool;
    /// SIGCONT the node on `port`.
    void resume(std::uint16_t port);

private:
    local_cluster(std::filesystem::path dir, std::string cli_binary);

    auto add_node(std::size_t index) -> bool;
    void create(std::chrono::steady_clock::time_point end);
    void wait_healthy(std::chrono::steady_clock::time_point end);
    [[nodiscard]] auto run_cli(std::uint16_t port, std::vector<std::string> const& options,
                               std::vector<std::string> const& args) const -> std::string;
    [[nodiscard]] auto index_of(std::uint16_t port) const -> std::size_t;
    [[nodiscard]] auto live_ports() const -> std::vector<std::uint16_t>;
    [[nodiscard]] auto any_live_port() const -> std::uint16_t;
    [[nodiscard]] auto source_of_migration(int slot, std::uint16_t to) const -> std::uint16_t;

    std::filesystem::path dir_;
    std::string cli_binary_;
    std::vector<local_server> nodes_;
    std::vector<std::string> ids_;  // CLUSTER MYID of each node, in start order
    std::vector<std::string> node_args_;
};

}  // namespace asiocache::test
