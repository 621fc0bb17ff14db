// SPDX-License-Identifier: MIT
// The redis-cluster backend against a real Redis Cluster on loopback (support/local_cluster:
// 3 masters, a replica each): the conformance suite unchanged, routing checked against what
// the nodes hold, batches spanning every master, raw commands, replica reads, MOVED and ASK
// while a slot migrates, resharding under load, failover under load, and the lease's
// stampede protection across four processes.
//
// The binary runs as one ctest entry (one process), so one cluster serves all but the tests
// that break theirs (failover), which start their own.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/builtin.hpp"
#include "asiocache/backends/redis_cluster.hpp"
#include "cluster_support.hpp"
#include "conformance/conformance_suite.hpp"
#include "local_cluster.hpp"
#include "memo/memo_support.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::backend;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::task;
using asiocache::backends::make_redis_cluster_backend;
using asiocache::backends::redis_cluster_key_slot;
using asiocache::backends::redis_cluster_options;
using asiocache::backends::redis_cluster_statistics;
using asiocache::test::checked_load;
using asiocache::test::keys_on;
using asiocache::test::load_guard;
using asiocache::test::local_cluster;
using asiocache::test::options_for;
using asiocache::test::run_for;

/// The cluster most tests share, started on first use.
auto shared_cluster() -> local_cluster* {
    static auto c = local_cluster::start();
    return c ? &*c : nullptr;
}

auto soon() -> deadline { return deadline::after(5s); }

}  // namespace

/// The conformance suite's environment: the shared cluster, emptied per backend.
struct cluster_env {
    static constexpr char const* name = "redis-cluster";
    static auto make(asio::io_context& io) -> std::shared_ptr<backend> {
        auto* c = shared_cluster();
        if (c == nullptr) {
            return nullptr;
        }
        auto b = make_redis_cluster_backend(io.get_executor(), options_for(*c));
        asiocache::test::run(io, b->clear_all(soon()));
        return b;
    }
    static void advance(asio::io_context& io, std::chrono::milliseconds d) { run_for(io, d); }
};

namespace asiocache::test {
INSTANTIATE_TYPED_TEST_SUITE_P(redis_cluster, conformance, ::testing::Types<cluster_env>);
}  // namespace asiocache::test

namespace {

using asiocache::test::run;

/// The code and message of the error `t` fails with; a default code when it succeeds.
template <class T>
auto failure_of(asio::io_context& io, task<T> t) -> std::pair<boost::system::error_code, std::string> {
    try {
        run(io, std::move(t));
    } catch (boost::system::system_error const& e) {
        return {e.code(), e.what()};
    }
    return {};
}

class cluster_test : public ::testing::Test {
protected:
    void SetUp() override {
        cluster_ = shared_cluster();
        if (cluster_ == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
        }
        backend_ = make_redis_cluster_backend(io_.get_executor(), options_for(*cluster_));
        run(io_, backend_->clear_all(soon()));
    }
    void TearDown() override {
        if (backend_) {
            run(io_, backend_->close());
            backend_.reset();
        }
    }

    auto stats() { return redis_cluster_statistics(*backend_).value(); }

    /// `n` keys spread over every master (no hash tags).
    static auto spread_keys(std::size_t n, std::string_view prefix) -> std::vector<std::string> {
        std::vector<std::string> keys;
        for (std::size_t i = 0; i < n; ++i) {
            keys.push_back(fmt::format("{}:{}", prefix, i));
        }
        return keys;
    }

    local_cluster* cluster_ = nullptr;
    asio::io_context io_;
    std::shared_ptr<backend> backend_;
};

TEST_F(cluster_test, slots_agree_with_the_server) {
    for (std::string key : std::vector<std::string>{"foo", "bar", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap",
                            "ns:{order42}:lines", "\xff\xfe binary", "a-very-long-key-" +
                                                                         std::string(300, 'x')}) {
        EXPECT_EQ(redis_cluster_key_slot(key), cluster_->keyslot(key)) << key;
    }
    for (int i = 0; i < 20; ++i) {
        auto key = fmt::format("k{}:{}", i, i * 7919);
        EXPECT_EQ(redis_cluster_key_slot(key), cluster_->keyslot(key)) << key;
    }
}

TEST_F(cluster_test, each_key_lands_on_the_master_that_owns_its_slot) {
    auto keys = spread_keys(30, "placed");
    std::set<std::uint16_t> owners;
    for (auto const& k : keys) {
        run(io_, backend_->set(k, "v-" + k, expiry::never(), soon()));
        auto owner = cluster_->owner_of(redis_cluster_key_slot(k));
        owners.insert(owner);
        // Asked without following redirections: only the owner has it.
        EXPECT_EQ(cluster_->cli(owner, {"GET", k}), "v-" + k) << k;
    }
    EXPECT_EQ(owners.size(), 3U);  // 30 keys reach every master
    EXPECT_EQ(stats().masters, 3U);
    EXPECT_EQ(stats().moved, 0U);  // routing was right the first time
}

TEST_F(cluster_test, batches_span_every_master_and_come_back_in_order) {
    auto keys = spread_keys(300, "batch");
    std::vector<std::pair<std::string, std::string>> items;
    for (std::size_t i = 0; i < keys.size(); i += 2) {  // every other key: hits and misses
        items.emplace_back(keys[i], fmt::format("value-{}", i));
    }
    run(io_, backend_->multi_set(items, expiry::never(), soon()));
    auto got = run(io_, backend_->multi_get(keys, soon()));
    ASSERT_EQ(got.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i % 2 == 0) {
            EXPECT_EQ(got[i], fmt::format("value-{}", i)) << keys[i];
        } else {
            EXPECT_FALSE(got[i]) << keys[i];
        }
    }
    // With a TTL: every key gets it, on whichever master.
    std::vector<std::pair<std::string, std::string>> timed;
    for (std::size_t i = 0; i < 30; ++i) {
        timed.emplace_back(fmt::format("timed:{}", i), "t");
    }
    run(io_, backend_->multi_set(timed, expiry(20s), soon()));
    for (auto const& [k, v] : timed) {
        auto ttl = run(io_, backend_->ttl(k, soon()));
        ASSERT_TRUE(ttl && !ttl->is_never()) << k;
        EXPECT_GT(ttl->duration(), 15s) << k;
    }
    EXPECT_EQ(run(io_, backend_->multi_get({}, soon())).size(), 0U);
}

TEST_F(cluster_test, clear_sums_every_master_and_keeps_other_namespaces) {
    std::vector<std::pair<std::string, std::string>> items;
    for (int i = 0; i < 120; ++i) {
        items.emplace_back(fmt::format("gone:{}", i), "x");
        items.emplace_back(fmt::format("kept:{}", i), "y");
    }
    run(io_, backend_->multi_set(items, expiry::never(), soon()));
    EXPECT_EQ(run(io_, backend_->clear("gone", soon())), 120U);
    EXPECT_FALSE(run(io_, backend_->exists("gone:7", soon())));
    EXPECT_TRUE(run(io_, backend_->exists("kept:7", soon())));
    run(io_, backend_->clear_all(soon()));
    for (auto port : cluster_->masters()) {
        EXPECT_EQ(cluster_->cli(port, {"DBSIZE"}), "0") << port;
    }
}

TEST_F(cluster_test, raw_routes_by_key_and_names_a_node_for_keyless_commands) {
    run(io_, backend_->set("raw:{t}:a", "1", expiry::never(), soon()));
    auto r = run(io_, backend_->raw({"STRLEN", "raw:{t}:a"}, soon()));
    EXPECT_EQ(r.integer, 1);
    // EVAL's key is its fourth argument.
    r = run(io_, backend_->raw({"EVAL", "return redis.call('GET', KEYS[1])", "1", "raw:{t}:a"},
                               soon()));
    EXPECT_EQ(r.str, "1");
    // Keys in two slots: the server refuses them (CROSSSLOT), as data.
    r = run(io_, backend_->raw({"MGET", "raw:{t}:a", "raw:{u}:b"}, soon()));
    EXPECT_EQ(r.type, asiocache::raw_reply::kind::error);
    EXPECT_NE(r.str.find("CROSSSLOT"), std::string::npos) << r.str;
    auto [code, what] = failure_of(io_, backend_->raw({"DBSIZE"}, soon()));
    EXPECT_EQ(code, errc::invalid_argument);
    EXPECT_NE(what.find("redis_cluster_raw_on"), std::string::npos) << what;
    std::tie(code, what) = failure_of(io_, backend_->raw({"BLPOP", "q", "0"}, soon()));
    EXPECT_EQ(code, errc::invalid_argument);

    auto owner = cluster_->owner_of(redis_cluster_key_slot("raw:{t}:a"));
    r = run(io_, asiocache::backends::redis_cluster_raw_on(
                     *backend_, fmt::format("127.0.0.1:{}", owner), {"DBSIZE"}, soon()));
    EXPECT_EQ(r.integer, 1);
    std::tie(code, what) = failure_of(
        io_, asiocache::backends::redis_cluster_raw_on(*backend_, "127.0.0.1:1", {"PING"}, soon()));
    EXPECT_EQ(code, errc::invalid_argument);
}

TEST_F(cluster_test, replica_reads_are_served_by_replicas) {
    auto o = options_for(*cluster_);
    o.read_from_replica = true;
    auto replicas = make_redis_cluster_backend(io_.get_executor(), o);
    auto keys = spread_keys(30, "rep");
    std::vector<std::pair<std::string, std::string>> items;
    for (auto const& k : keys) {
        items.emplace_back(k, "r-" + k);
    }
    run(io_, backend_->multi_set(items, expiry::never(), soon()));
    auto all_replicated = [&] {
        auto got = run(io_, replicas->multi_get(keys, soon()));
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (got[i] != "r-" + keys[i]) {
                return false;
            }
        }
        return true;
    };
    auto const end = std::chrono::steady_clock::now() + 5s;
    bool seen = false;
    while (!(seen = all_replicated()) && std::chrono::steady_clock::now() < end) {
        run_for(io_, 20ms);
    }
    EXPECT_TRUE(seen) << "replicas did not serve every value within 5 s";
    for (auto const& k : keys) {
        EXPECT_EQ(run(io_, replicas->get(k, soon())), "r-" + k);
    }
    // The replicas, not the masters, answered those GETs.
    auto masters = cluster_->masters();
    std::uint64_t replica_gets = 0;
    for (auto port : cluster_->ports()) {
        if (std::find(masters.begin(), masters.end(), port) != masters.end()) {
            continue;
        }
        auto info = cluster_->cli(port, {"INFO", "commandstats"});
        auto at = info.find("cmdstat_get:calls=");
        if (at != std::string::npos) {
            replica_gets += std::stoull(info.substr(at + 18));
        }
    }
    EXPECT_GE(replica_gets, keys.size());
    run(io_, replicas->close());
}

TEST_F(cluster_test, moved_and_ask_are_followed_while_a_slot_migrates) {
    auto masters = cluster_->masters();
    auto [slot, keys] = keys_on(*cluster_, masters[0], "mig", 6);
    for (auto const& k : keys) {
        run(io_, backend_->set(k, "old-" + k, expiry::never(), soon()));
    }
    auto to = masters[1];
    cluster_->begin_migration(slot, to);
    // Half the keys move: those are asked of the importing node (ASK), the rest stay.
    while (cluster_->cli(cluster_->owner_of(slot), {"CLUSTER", "COUNTKEYSINSLOT",
                                                    std::to_string(slot)}) != "3") {
        ASSERT_GT(cluster_->migrate_some(slot, 1), 0U);
    }
    for (auto const& k : keys) {
        EXPECT_EQ(run(io_, backend_->get(k, soon())), "old-" + k) << k;
    }
    EXPECT_GE(stats().asked, 3U);
    // A new key of the migrating slot goes to the importing node.
    auto fresh = keys.front().substr(0, keys.front().find('}') + 1) + ":new";
    ASSERT_EQ(redis_cluster_key_slot(fresh), slot);
    run(io_, backend_->set(fresh, "n", expiry::never(), soon()));
    while (cluster_->migrate_some(slot, 100) > 0) {
    }
    cluster_->finish_migration(slot, to);
    // The slot's new owner answers; the old one says MOVED once, then the map is refreshed.
    auto moved_before = stats().moved;
    for (auto const& k : keys) {
        EXPECT_EQ(run(io_, backend_->get(k, soon())), "old-" + k) << k;
    }
    EXPECT_EQ(run(io_, backend_->get(fresh, soon())), "n");
    EXPECT_EQ(cluster_->cli(to, {"GET", fresh}), "n");
    EXPECT_GE(stats().moved, moved_before + 1);
    run_for(io_, 200ms);  // the refresh the MOVED started
    auto moved_after_refresh = stats().moved;
    for (auto const& k : keys) {
        EXPECT_EQ(run(io_, backend_->get(k, soon())), "old-" + k) << k;
    }
    EXPECT_EQ(stats().moved, moved_after_refresh);
    EXPECT_GE(stats().refreshes, 2U);
    cluster_->migrate_slot(slot, masters[0]);  // put it back for the tests after this one
}

// A multi-key command on a slot whose keys are half migrated is answered TRYAGAIN: retried
// with backoff, a bounded number of times, then reported with the server's answer.
TEST_F(cluster_test, tryagain_is_retried_a_bounded_number_of_times_within_the_deadline) {
    auto masters = cluster_->masters();
    auto [slot, keys] = keys_on(*cluster_, masters[0], "try", 2);
    run(io_, backend_->set(keys[0], "a", expiry::never(), soon()));
    run(io_, backend_->set(keys[1], "b", expiry::never(), soon()));
    cluster_->begin_migration(slot, masters[1]);
    ASSERT_EQ(cluster_->migrate_some(slot, 1), 1U);
    auto const retries_before = stats().retries;
    auto started = std::chrono::steady_clock::now();
    auto [code, what] = failure_of(io_, backend_->raw({"MGET", keys[0], keys[1]}, soon()));
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(code, errc::backend_error) << what;
    EXPECT_NE(what.find("TRYAGAIN"), std::string::npos) << what;
    EXPECT_NE(what.find("gave up after 6 attempts"), std::string::npos) << what;
    EXPECT_EQ(stats().retries - retries_before, 5U);
    EXPECT_GE(took, 10ms + 20ms + 40ms + 80ms + 160ms);
    // With less time than the backoff needs, the deadline ends it, as a timeout.
    std::tie(code, what) = failure_of(
        io_, backend_->raw({"MGET", keys[0], keys[1]}, deadline::after(50ms)));
    EXPECT_EQ(code, errc::timeout) << what;
    while (cluster_->migrate_some(slot, 10) > 0) {
    }
    cluster_->finish_migration(slot, masters[1]);
    auto both = run(io_, backend_->raw({"MGET", keys[0], keys[1]}, soon()));
    ASSERT_EQ(both.elements.size(), 2U);
    EXPECT_EQ(both.elements[0].str, "a");
    EXPECT_EQ(both.elements[1].str, "b");
    cluster_->migrate_slot(slot, masters[0]);
}

// The topology is read again every refresh_interval while operations run, without any error
// to prompt it.
TEST_F(cluster_test, the_topology_is_refreshed_periodically) {
    auto o = options_for(*cluster_);
    o.refresh_interval = 50ms;
    auto b = make_redis_cluster_backend(io_.get_executor(), o);
    run(io_, b->set("periodic", "x", expiry::never(), soon()));
    auto const first = redis_cluster_statistics(*b)->refreshes;
    // Operations look for a due refresh every 1024th call: under steady traffic two
    // refreshes come within a few hundred milliseconds. The bound is for a loaded sanitizer
    // run, where 400 ms once held too few operations.
    auto const end = std::chrono::steady_clock::now() + 10s;
    while (redis_cluster_statistics(*b)->refreshes < first + 2 &&
           std::chrono::steady_clock::now() < end) {
        run(io_, b->get("periodic", soon()));
    }
    EXPECT_GE(redis_cluster_statistics(*b)->refreshes, first + 2);
    run(io_, b->close());
}

TEST_F(cluster_test, resharding_under_load_loses_nothing_and_answers_nothing_wrong) {
    auto masters = cluster_->masters();
    // Three slots of the first master, 20 keys each, moved to the second under load.
    std::vector<int> slots;
    auto load = std::make_shared<checked_load>();
    for (int i = 0; i < 3; ++i) {
        auto [slot, keys] = keys_on(*cluster_, masters[0], fmt::format("re{}-", i), 20);
        slots.push_back(slot);
        load->keys.insert(load->keys.end(), keys.begin(), keys.end());
    }
    load->acked.assign(load->keys.size(), 0);
    asio::io_context io;
    auto b = make_redis_cluster_backend(io.get_executor(), options_for(*cluster_));
    constexpr std::size_t workers = 4;
    load->running = workers;
    for (std::size_t w = 0; w < workers; ++w) {
        asio::co_spawn(io, load->worker(b, w, workers), asio::detached);
    }
    std::thread runner([&] {
        while (load->running > 0) {
            io.run_for(50ms);
        }
    });
    load_guard guard{[&] { load->stop = true; }, runner};
    std::this_thread::sleep_for(300ms);
    auto const before = load->ok.load();
    for (int slot : slots) {
        cluster_->begin_migration(slot, masters[1]);
        while (cluster_->migrate_some(slot, 3) > 0) {
            std::this_thread::sleep_for(20ms);  // the load runs between the batches
        }
        cluster_->finish_migration(slot, masters[1]);
    }
    std::this_thread::sleep_for(300ms);
    load->stop = true;
    runner.join();
    auto stats_now = redis_cluster_statistics(*b).value();
    EXPECT_GT(load->ok.load(), before) << "the load did not run during the migration";
    EXPECT_EQ(load->wrong.load(), 0U) << load->first_problem;
    EXPECT_EQ(load->errors.load(), 0U) << load->first_problem;
    EXPECT_EQ(load->slow.load(), 0U);
    EXPECT_GT(stats_now.asked + stats_now.moved, 0U) << "the load never met the migration";
    // No acknowledged write was lost: every key holds its last acknowledged value, on the
    // slot's new owner.
    for (std::size_t i = 0; i < load->keys.size(); ++i) {
        auto const& k = load->keys[i];
        EXPECT_EQ(run(io_, backend_->get(k, soon())), fmt::format("{}#{}", k, load->acked[i]));
        EXPECT_EQ(cluster_->owner_of(redis_cluster_key_slot(k)), masters[1]);
    }
    run(io, b->close());
    for (int slot : slots) {
        cluster_->migrate_slot(slot, masters[0]);
    }
}

TEST_F(cluster_test, four_processes_of_250_callers_make_one_upstream_call) {
    using asiocache::test::make_fetch;
    using asiocache::test::outcome;
    using asiocache::test::spawn_callers;
    auto up = std::make_shared<asiocache::test::upstream_state>();
    up->delay = 50ms;
    constexpr int processes = 4;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<cache> caches;
    for (int p = 0; p < processes; ++p) {
        ios.push_back(std::make_unique<asio::io_context>(1));
        asiocache::registry r{ios.back()->get_executor()};
        asiocache::backends::register_builtin(r);
        caches.push_back(r.make_cache(cluster_->url("namespace=stampede")));
    }
    using memo_t = decltype(asiocache::cached(caches[0], make_fetch(up), {.key_prefix = "r"}));
    std::vector<memo_t> memos;
    for (auto& c : caches) {
        memos.push_back(asiocache::cached(
            c, make_fetch(up),
            {.key_prefix = "r",
             .lease = asiocache::lease_options{.ttl = 5s, .wait = 5s, .poll_max = 10ms}}));
    }
    std::vector<std::shared_ptr<std::vector<outcome<std::string>>>> outs;
    for (std::size_t p = 0; p < ios.size(); ++p) {
        outs.push_back(spawn_callers<std::string>(ios[p]->get_executor(), 250,
                                                  [&, p](int) { return memos[p]("C1", "1"); }));
    }
    asiocache::test::run_processes(ios, outs, 15s);
    EXPECT_EQ(up->calls, 1);
    for (std::size_t p = 0; p < ios.size(); ++p) {
        for (auto const& o : *outs[p]) {
            ASSERT_TRUE(o.done);
            EXPECT_EQ(o.value, "C1/1#1");
        }
        run(*ios[p], caches[p].close());
    }
}

TEST(cluster_topology, a_seed_without_cluster_mode_is_a_config_error) {
    auto plain = asiocache::test::local_server::redis();
    if (!plain) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
    }
    asio::io_context io;
    redis_cluster_options o;
    o.seeds.push_back({"127.0.0.1", plain->port()});
    auto b = make_redis_cluster_backend(io.get_executor(), o);
    auto [code, what] = failure_of(io, b->get("k", soon()));
    EXPECT_EQ(code, errc::invalid_config) << what;
    EXPECT_NE(what.find("cluster support disabled"), std::string::npos) << what;
    run(io, b->close());
}

TEST(cluster_topology, unreachable_seeds_fail_fast_with_the_reason) {
    asio::io_context io;
    redis_cluster_options o;
    o.seeds.push_back({"127.0.0.1", asiocache::test::free_port()});
    o.seeds.push_back({"127.0.0.1", asiocache::test::free_port()});
    auto b = make_redis_cluster_backend(io.get_executor(), o);
    auto started = std::chrono::steady_clock::now();
    auto [code, what] = failure_of(io, b->get("k", soon()));
    EXPECT_EQ(code, errc::backend_unavailable) << what;
    EXPECT_NE(what.find("topology"), std::string::npos) << what;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
    run(io, b->close());
}

/// Two checked loads on one backend over `c`: the keys `prefix:0..39` that the master `victim`
/// owns, and the others; two workers each, run on a thread of their own until `stop()`.
class victim_load {
public:
    victim_load(local_cluster const& c, std::uint16_t victim_port, std::string_view prefix)
        : b(make_redis_cluster_backend(io.get_executor(), options_for(c))) {
        for (int i = 0; i < 40; ++i) {
            auto key = fmt::format("{}:{}", prefix, i);
            (c.owner_of(redis_cluster_key_slot(key)) == victim_port ? victim : others)
                ->keys.push_back(key);
        }
        for (auto* l : {&victim, &others}) {
            (*l)->acked.assign((*l)->keys.size(), 0);
            (*l)->running = 2;
            for (std::size_t w = 0; w < 2; ++w) {
                asio::co_spawn(io, (*l)->worker(b, w, 2), asio::detached);
            }
        }
        runner_ = std::thread([this] {
            while (victim->running > 0 || others->running > 0) {
                io.run_for(50ms);
            }
        });
    }
    victim_load(victim_load const&) = delete;
    auto operator=(victim_load const&) -> victim_load& = delete;
    ~victim_load() { stop(); }

    /// Stops both loads and joins their thread; `io` is then the caller's.
    void stop() {
        victim->stop = true;
        others->stop = true;
        if (runner_.joinable()) {
            runner_.join();
        }
    }

    std::shared_ptr<checked_load> victim = std::make_shared<checked_load>();
    std::shared_ptr<checked_load> others = std::make_shared<checked_load>();
    asio::io_context io;
    std::shared_ptr<backend> b;

private:
    std::thread runner_;
};

// A master is killed under load. Its keys fail fast (or time out within their deadline) until
// a replica takes over, then succeed again; the other masters' keys never fail; nothing
// answers wrong. Acknowledged writes may be lost in a failover (replication is asynchronous),
// so this test does not count lost writes. The other masters keep serving only with
// cluster-require-full-coverage no: with Redis's default (yes) every node answers CLUSTERDOWN
// until the replica is promoted, which the backend retries within each operation's deadline.
TEST(cluster_failover, a_killed_master_fails_fast_then_its_replica_serves) {
    auto c = local_cluster::start(3, {"--cluster-require-full-coverage", "no"});
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto const victim = c->masters()[0];
    victim_load load(*c, victim, "fo");
    ASSERT_FALSE(load.victim->keys.empty());
    ASSERT_FALSE(load.others->keys.empty());
    std::this_thread::sleep_for(300ms);
    auto promoted = c->kill_master(victim, 15s);
    auto const errors_at_promotion = load.victim->errors.load();
    auto const ok_at_promotion = load.victim->ok.load();
    std::this_thread::sleep_for(1500ms);
    load.stop();
    EXPECT_NE(promoted, victim);
    EXPECT_EQ(load.others->errors.load(), 0U) << load.others->first_problem;
    EXPECT_EQ(load.others->wrong.load(), 0U) << load.others->first_problem;
    EXPECT_EQ(load.victim->wrong.load(), 0U) << load.victim->first_problem;
    EXPECT_EQ(load.victim->slow.load() + load.others->slow.load(), 0U);
    EXPECT_GT(errors_at_promotion, 0U) << "the victim's keys never failed: was it killed?";
    // Once the replica serves, the victim's keys succeed again, each of them.
    EXPECT_GT(load.victim->ok.load(), ok_at_promotion) << load.victim->first_problem;
    for (auto const& k : load.victim->keys) {
        run(load.io, load.b->set(k, "after", expiry::never(), soon()));
        EXPECT_EQ(run(load.io, load.b->get(k, soon())), "after");
    }
    run(load.io, load.b->close());
}

// A master stalls (SIGSTOP: its connections stay open, nothing is answered) for less than the
// cluster's node timeout, so no failover starts. Its keys time out within their deadline, the
// other masters' keys see no error, and once it answers again its keys succeed.
TEST(cluster_failover, a_stalled_master_times_out_its_keys_alone) {
    auto c = local_cluster::start(3, {"--cluster-node-timeout", "5000"});
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto const victim = c->masters()[0];
    victim_load load(*c, victim, "st");
    ASSERT_FALSE(load.victim->keys.empty());
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(c->pause(victim));
    auto const others_before = load.others->ok.load();
    std::this_thread::sleep_for(1500ms);
    auto const others_ok_during = load.others->ok.load() - others_before;
    c->resume(victim);
    std::this_thread::sleep_for(1000ms);
    load.stop();
    EXPECT_GT(load.victim->errors.load(), 0U) << "the stall was never seen";
    EXPECT_EQ(load.others->errors.load(), 0U) << load.others->first_problem;
    EXPECT_GT(others_ok_during, 50U) << "the other masters were held up by the stalled one";
    EXPECT_EQ(load.victim->wrong.load() + load.others->wrong.load(), 0U)
        << load.victim->first_problem << load.others->first_problem;
    EXPECT_EQ(load.victim->slow.load() + load.others->slow.load(), 0U);
    for (auto const& k : load.victim->keys) {
        run(load.io, load.b->set(k, "after", expiry::never(), soon()));
        EXPECT_EQ(run(load.io, load.b->get(k, soon())), "after");
    }
    run(load.io, load.b->close());
}

}  // namespace
