// SPDX-License-Identifier: MIT
// The Redis Cluster harness (support/local_cluster.hpp) checked against what the nodes say
// through redis-cli: the shape of a fresh cluster, key slots, a slot migrated whole and in
// steps, a failover, and no node left running afterwards. The backend's cluster tests rely on
// every one of these.
#include "local_cluster.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::test::local_cluster;
using steady = std::chrono::steady_clock;

auto contains(std::vector<std::uint16_t> const& ports, std::uint16_t port) -> bool {
    return std::find(ports.begin(), ports.end(), port) != ports.end();
}

// Whether anything accepts a TCP connection on 127.0.0.1:port.
auto accepts(std::uint16_t port) -> bool {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool const ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

auto moved_reply(int slot, std::uint16_t to) -> std::string {
    return "MOVED " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to);
}

class local_cluster_test : public ::testing::Test {
protected:
    void SetUp() override {
        auto const begin = steady::now();
        auto started = local_cluster::start();
        if (!started) {
            ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
        }
        cluster_.emplace(std::move(*started));
        RecordProperty("start_ms", static_cast<int>(elapsed_ms(begin)));
    }

    static auto elapsed_ms(steady::time_point since) -> long long {
        return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - since).count();
    }

    // A master other than `port`.
    [[nodiscard]] auto other_master(std::uint16_t port) const -> std::uint16_t {
        for (auto const m : cluster_->masters()) {
            if (m != port) {
                return m;
            }
        }
        ADD_FAILURE() << "no master besides " << port;
        return 0;
    }

    // Waits (up to 5 s) until a node that is not a master holds `keys` keys: the owner's
    // replica has received what was written, so a failover keeps it.
    void wait_for_replica_keys(int keys) const {
        auto const masters = cluster_->masters();
        auto const end = steady::now() + 5s;
        while (steady::now() < end) {
            for (auto const p : cluster_->ports()) {
                if (!contains(masters, p) && cluster_->cli(p, {"DBSIZE"}) == std::to_string(keys)) {
                    return;
                }
            }
            std::this_thread::sleep_for(20ms);
        }
        FAIL() << "no replica received the " << keys << " keys within 5 s";
    }

    std::optional<local_cluster> cluster_;
};

TEST_F(local_cluster_test, starts_three_masters_and_six_nodes) {
    auto const ports = cluster_->ports();
    ASSERT_EQ(ports.size(), 6U);
    auto const masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3U);
    EXPECT_TRUE(std::is_sorted(masters.begin(), masters.end()));
    for (auto const m : masters) {
        EXPECT_TRUE(contains(ports, m)) << m;
    }
    // Every master owns a share of the slots, and each node says so from its own side.
    EXPECT_TRUE(contains(masters, cluster_->owner_of(0)));
    EXPECT_TRUE(contains(masters, cluster_->owner_of(16383)));
    for (auto const p : ports) {
        EXPECT_NE(cluster_->cli(p, {"CLUSTER", "INFO"}).find("cluster_state:ok"), std::string::npos)
            << p;
        auto const role = cluster_->cli(p, {"ROLE"});
        EXPECT_TRUE(role.starts_with(contains(masters, p) ? "master" : "slave")) << p << role;
    }

    auto const first = "127.0.0.1:" + std::to_string(ports[0]);
    auto const three =
        first + ",127.0.0.1:" + std::to_string(ports[1]) + ",127.0.0.1:" + std::to_string(ports[2]);
    EXPECT_EQ(cluster_->seeds(1), first);
    EXPECT_EQ(cluster_->seeds(), three);
    auto const all = cluster_->seeds(0);
    EXPECT_EQ(std::count(all.begin(), all.end(), ','), 5);
    EXPECT_EQ(cluster_->url(), "redis-cluster://" + three);
    EXPECT_EQ(cluster_->url("timeout=2s"), "redis-cluster://" + three + "?timeout=2s");
}

TEST_F(local_cluster_test, keyslot_follows_hash_tags) {
    EXPECT_EQ(cluster_->keyslot("{user1}.a"), cluster_->keyslot("{user1}.b"));
    EXPECT_EQ(cluster_->keyslot("{user1}.a"), cluster_->keyslot("user1"));
    // The CRC16 check value of the cluster specification: 0x31C3 = 12739.
    EXPECT_EQ(cluster_->keyslot("123456789"), 12739);
    EXPECT_EQ(cluster_->keyslot("foo"), 12182);
}

TEST_F(local_cluster_test, a_key_lives_on_its_owner_and_others_redirect) {
    std::string const key = "{user1}.a";
    auto const slot = cluster_->keyslot(key);
    auto const owner = cluster_->owner_of(slot);
    EXPECT_EQ(cluster_->cli(owner, {"SET", key, "v1"}), "OK");
    EXPECT_EQ(cluster_->cli(owner, {"GET", key}), "v1");
    EXPECT_EQ(cluster_->cli(other_master(owner), {"GET", key}), moved_reply(slot, owner));

    cluster_->flush_all();
    EXPECT_EQ(cluster_->cli(owner, {"GET", key}), "");
    for (auto const m : cluster_->masters()) {
        EXPECT_EQ(cluster_->cli(m, {"DBSIZE"}), "0") << m;
    }
}

TEST_F(local_cluster_test, migrate_slot_moves_the_slot_and_its_keys) {
    std::string const key = "{user1}.a";
    auto const slot = cluster_->keyslot(key);
    auto const from = cluster_->owner_of(slot);
    ASSERT_EQ(cluster_->cli(from, {"SET", key, "v1"}), "OK");
    auto const to = other_master(from);

    cluster_->migrate_slot(slot, to);

    EXPECT_EQ(cluster_->owner_of(slot), to);
    EXPECT_EQ(cluster_->cli(to, {"GET", key}), "v1");
    EXPECT_EQ(cluster_->cli(from, {"GET", key}), moved_reply(slot, to));
    // Every node, replicas included, names the new owner.
    for (auto const p : cluster_->ports()) {
        EXPECT_EQ(cluster_->cli(p, {"GET", key}), p == to ? "v1" : moved_reply(slot, to)) << p;
    }
    EXPECT_THROW(cluster_->migrate_slot(slot, to), std::invalid_argument);
}

TEST_F(local_cluster_test, a_migration_in_steps_moves_some_keys_at_a_time) {
    std::vector<std::string> keys;
    for (int i = 0; i < 5; ++i) {
        keys.push_back("{user2}." + std::to_string(i));
    }
    auto const slot = cluster_->keyslot(keys[0]);
    auto const from = cluster_->owner_of(slot);
    for (auto const& k : keys) {
        ASSERT_EQ(cluster_->cli(from, {"SET", k, "v-" + k}), "OK");
    }
    auto const to = other_master(from);

    cluster_->begin_migration(slot, to);
    EXPECT_EQ(cluster_->migrate_some(slot, 2), 2U);
    EXPECT_EQ(cluster_->cli(from, {"DBSIZE"}), "3");
    EXPECT_EQ(cluster_->cli(to, {"DBSIZE"}), "2");
    // Mid-migration the source still owns the slot and sends a moved key's client on with ASK.
    EXPECT_EQ(cluster_->owner_of(slot), from);
    int asked = 0;
    for (auto const& k : keys) {
        auto const reply = cluster_->cli(from, {"GET", k});
        if (reply.starts_with("ASK ")) {
            EXPECT_EQ(reply, "ASK " + std::to_string(slot) + " 127.0.0.1:" + std::to_string(to));
            ++asked;
        } else {
            EXPECT_EQ(reply, "v-" + k);
        }
    }
    EXPECT_EQ(asked, 2);
    EXPECT_EQ(cluster_->migrate_some(slot, 2), 2U);
    EXPECT_EQ(cluster_->migrate_some(slot, 2), 1U);
    EXPECT_EQ(cluster_->migrate_some(slot, 2), 0U);
    cluster_->finish_migration(slot, to);

    EXPECT_EQ(cluster_->owner_of(slot), to);
    for (auto const& k : keys) {
        EXPECT_EQ(cluster_->cli(to, {"GET", k}), "v-" + k);
    }
}

TEST_F(local_cluster_test, kill_master_promotes_a_replica_that_serves_the_slots) {
    std::string const key = "{user1}.a";
    auto const slot = cluster_->keyslot(key);
    auto const old_master = cluster_->owner_of(slot);
    ASSERT_EQ(cluster_->cli(old_master, {"SET", key, "v1"}), "OK");
    wait_for_replica_keys(1);

    auto const begin = steady::now();
    auto const promoted = cluster_->kill_master(old_master, 15s);
    RecordProperty("failover_ms", static_cast<int>(elapsed_ms(begin)));

    EXPECT_NE(promoted, old_master);
    EXPECT_TRUE(contains(cluster_->ports(), promoted));
    auto const masters = cluster_->masters();
    EXPECT_EQ(masters.size(), 3U);
    EXPECT_TRUE(contains(masters, promoted));
    EXPECT_FALSE(contains(masters, old_master));
    EXPECT_FALSE(accepts(old_master));
    EXPECT_EQ(cluster_->owner_of(slot), promoted);
    EXPECT_EQ(cluster_->cli(promoted, {"GET", key}), "v1");
    EXPECT_EQ(cluster_->cli(promoted, {"SET", key, "v2"}), "OK");
    EXPECT_EQ(cluster_->cli(other_master(promoted), {"GET", key}), moved_reply(slot, promoted));
    // The promoted master has no replica left to fail over to.
    EXPECT_THROW(cluster_->kill_master(promoted, 1s), std::invalid_argument);
}

TEST_F(local_cluster_test, no_node_outlives_the_cluster) {
    auto const ports = cluster_->ports();
    for (auto const p : ports) {
        EXPECT_TRUE(accepts(p)) << p;
    }
    cluster_.reset();
    for (auto const p : ports) {
        EXPECT_FALSE(accepts(p)) << p;
    }
}

}  // namespace
