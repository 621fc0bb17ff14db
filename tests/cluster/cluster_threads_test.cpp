// SPDX-License-Identifier: MIT
// One redis-cluster backend shared by two threads (an io_context run by both) while a slot
// migrates back and forth: operations, MOVED/ASK retries and background topology refreshes
// race on the backend's shared state. Labelled "threads", so the TSan build runs it.
#include "asiocache/backends/redis_cluster.hpp"
#include "cluster_support.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::test::checked_load;
using asiocache::test::keys_on;
using asiocache::test::load_guard;
using asiocache::test::local_cluster;

TEST(cluster_threads, two_threads_share_a_backend_while_a_slot_moves) {
    auto cluster = local_cluster::start();
    if (!cluster) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto masters = cluster->masters();
    auto load = std::make_shared<checked_load>();
    auto [slot, moving] = keys_on(*cluster, masters[0], "th", 12);
    load->keys = moving;
    for (int i = 0; i < 24; ++i) {  // and keys on every master, which do not move
        load->keys.push_back(fmt::format("still:{}", i));
    }
    load->acked.assign(load->keys.size(), 0);

    asio::io_context io(2);
    auto b = asiocache::backends::make_redis_cluster_backend(
        io.get_executor(), asiocache::test::options_for(*cluster));
    constexpr std::size_t workers = 6;
    load->running = workers;
    for (std::size_t w = 0; w < workers; ++w) {
        asio::co_spawn(io, load->worker(b, w, workers), asio::detached);
    }
    auto run = [&] {
        while (load->running > 0) {
            io.run_for(20ms);
        }
    };
    std::thread one(run);
    std::thread two(run);
    {
        load_guard guard_one{[&] { load->stop = true; }, one};
        load_guard guard_two{[&] { load->stop = true; }, two};
        std::this_thread::sleep_for(200ms);
        for (auto to : {masters[1], masters[0]}) {
            cluster->begin_migration(slot, to);
            while (cluster->migrate_some(slot, 2) > 0) {
                std::this_thread::sleep_for(10ms);
            }
            cluster->finish_migration(slot, to);
            std::this_thread::sleep_for(100ms);
        }
    }
    auto stats = asiocache::backends::redis_cluster_statistics(*b).value();
    EXPECT_EQ(load->wrong.load(), 0U) << load->first_problem;
    EXPECT_EQ(load->errors.load(), 0U) << load->first_problem;
    EXPECT_GT(load->ok.load(), 100U);
    EXPECT_GT(stats.moved + stats.asked, 0U) << "the load never met the migration";
    EXPECT_GE(stats.refreshes, 2U);
    for (std::size_t i = 0; i < load->keys.size(); ++i) {
        auto const& k = load->keys[i];
        EXPECT_EQ(asiocache::test::run(io, b->get(k, asiocache::deadline::after(5s))),
                  fmt::format("{}#{}", k, load->acked[i]));
    }
    asiocache::test::run(io, b->close());
}

}  // namespace
