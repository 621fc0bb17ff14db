// SPDX-License-Identifier: MIT
// The Redis backend used from several threads at once: an io_context run by two threads, a
// pool of two connections, coroutines incrementing one counter. Its own binary so that the
// TSan build (tools/test.sh) compiles only this, not the whole Redis integration suite.
#include "asiocache/backends/redis.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::backend;
using asiocache::deadline;
using asiocache::task;
using asiocache::test::local_server;

auto increment_worker(std::shared_ptr<backend> b, int n) -> task<void> {
    for (int i = 0; i < n; ++i) {
        co_await b->increment("counter", 1, deadline::after(5s));
    }
}

TEST(redis_threads_test, pooled_backend_is_shared_safely_by_two_threads) {
    auto server = local_server::redis();
    if (!server) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
    }
    asio::io_context io;
    auto b = asiocache::backends::make_redis_backend(
        io.get_executor(),
        {.host = server->host(), .port = server->port(), .connect_timeout = 2s, .pool_size = 2});
    std::atomic<int> finished{0};
    std::atomic<int> failed{0};
    auto work = asio::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&io] { io.run(); });
    }
    constexpr int coroutines = 8;
    constexpr int each = 150;
    for (int i = 0; i < coroutines; ++i) {
        asio::co_spawn(io, increment_worker(b, each), [&](std::exception_ptr e) {
            failed += e ? 1 : 0;
            ++finished;
        });
    }
    auto const end = std::chrono::steady_clock::now() + 20s;
    while (finished < coroutines && std::chrono::steady_clock::now() < end) {
        std::this_thread::sleep_for(2ms);
    }
    work.reset();
    io.stop();
    for (auto& th : threads) {
        th.join();
    }
    ASSERT_EQ(finished, coroutines);
    EXPECT_EQ(failed, 0);
    io.restart();
    EXPECT_EQ(asiocache::test::run(io, b->get("counter", deadline::after(5s))),
              std::to_string(coroutines * each));
    asiocache::test::run(io, b->close());
}

}  // namespace
