// SPDX-License-Identifier: MIT
// Cross-process stampede protection: `cached` with a lease. Each "process" is a cache facade
// and a memoized function of its own (its own single-flight group) over one shared memory
// backend, as processes sharing one Redis are.
#include "memo_support.hpp"
#include "scripted_backend.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::errc;
using asiocache::lease_options;
using asiocache::task;
using asiocache::test::all_done;
using asiocache::test::code_of;
using asiocache::test::make_fetch;
using asiocache::test::manual_clock;
using asiocache::test::outcome;
using asiocache::test::run;
using asiocache::test::run_until;
using asiocache::test::spawn_callers;
using asiocache::test::upstream_state;
namespace asio = boost::asio;

using memo_t = decltype(cached(std::declval<cache>(),
                               make_fetch(std::declval<std::shared_ptr<upstream_state>>()),
                               {.key_prefix = "r"}));

class lease_test : public ::testing::Test {
protected:
    void SetUp() override { up_->delay = 30ms; }

    /// A process: its own facade and memoized function over the shared backend.
    auto process(lease_options lease = {.ttl = 5s, .wait = 5s}) -> memo_t {
        cache c{backend_, {.ns = "shared"}};
        return cached(c, make_fetch(up_), {.key_prefix = "r", .lease = lease});
    }

    asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
    std::shared_ptr<asiocache::backend> backend_ = asiocache::test::memory_on(clock_);
    cache admin_{backend_, {.ns = "shared"}};
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

TEST_F(lease_test, two_processes_with_concurrent_callers_make_one_upstream_call) {
    auto a = process();
    auto b = process();
    std::vector<std::shared_ptr<std::vector<outcome<std::string>>>> outs;
    outs.push_back(spawn_callers<std::string>(io_.get_executor(), 50,
                                              [&](int) { return a("C1", "1"); }));
    outs.push_back(spawn_callers<std::string>(io_.get_executor(), 50,
                                              [&](int) { return b("C1", "1"); }));
    run_until(io_, [&] { return all_done(outs[0], outs[1]); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& out : outs) {
        for (auto const& o : *out) {
            EXPECT_EQ(o.value, "C1/1#1");
        }
    }
    // One process computed; the other waited on the lease and read the value.
    EXPECT_EQ(a.stats().upstream_calls + b.stats().upstream_calls, 1U);
    EXPECT_EQ(a.stats().lease_waits + b.stats().lease_waits, 1U);
    // The lease was released once the value landed.
    EXPECT_FALSE(run(io_, admin_.exists("r:C1:1\\lease")));
}

TEST_F(lease_test, waiters_take_over_when_the_holder_dies) {
    // A holder in another process took the lease for 1 s and died.
    run(io_, admin_.add("r:C1:1\\lease", std::string("dead-holder"), 1s));
    auto a = process({.ttl = 5s, .wait = 5s, .poll_max = 10ms});
    auto out = spawn_callers<std::string>(io_.get_executor(), 10,
                                          [&](int) { return a("C1", "1"); });
    asio::steady_timer expire(io_, 40ms);
    expire.async_wait([&](boost::system::error_code) { clock_->advance(2s); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& o : *out) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(a.stats().lease_waits, 1U);
}

TEST_F(lease_test, waiters_give_up_with_lock_not_acquired) {
    run(io_, admin_.add("r:C1:1\\lease", std::string("busy-holder"), 60s));
    auto a = process({.ttl = 5s, .wait = 40ms});
    auto out = spawn_callers<std::string>(io_.get_executor(), 10,
                                          [&](int) { return a("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 0);
    for (auto const& o : *out) {
        EXPECT_EQ(code_of(o.error), errc::lock_not_acquired);
    }
    EXPECT_EQ(a.in_flight(), 0U);
}

TEST_F(lease_test, a_failed_holder_releases_and_a_waiter_takes_over) {
    auto fail_first = [up = up_](std::string ch, std::string ts) -> task<std::string> {
        int n = ++up->calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 30ms);
        co_await t.async_wait(asio::use_awaitable);
        if (n == 1) {
            throw std::runtime_error("first call fails");
        }
        co_return ch + "/" + ts + "#" + std::to_string(n);
    };
    lease_options lease{.ttl = 5s, .wait = 5s, .poll_max = 10ms};
    cache ca{backend_, {.ns = "shared"}};
    cache cb{backend_, {.ns = "shared"}};
    auto a = cached(ca, fail_first, {.key_prefix = "r", .lease = lease});
    auto b = cached(cb, fail_first, {.key_prefix = "r", .lease = lease});
    auto first = spawn_callers<std::string>(io_.get_executor(), 5,
                                            [&](int) { return a("C1", "1"); });
    io_.poll();  // a takes the lease
    auto second = spawn_callers<std::string>(io_.get_executor(), 5,
                                             [&](int) { return b("C1", "1"); });
    run_until(io_, [&] { return all_done(first, second); });
    EXPECT_EQ(up_->calls, 2);
    for (auto const& o : *first) {
        EXPECT_TRUE(o.error);
    }
    for (auto const& o : *second) {
        EXPECT_EQ(o.value, "C1/1#2");
    }
}

TEST_F(lease_test, failing_cache_computes_without_the_lease) {
    auto scripted = std::make_shared<asiocache::test::scripted_backend>();
    cache c{scripted};
    auto a = cached(c, make_fetch(up_), {.key_prefix = "r", .lease = lease_options{}});
    scripted->fail_next(asiocache::op::add, errc::backend_unavailable);
    EXPECT_EQ(run(io_, a("C1", "1")), "C1/1#1");
    EXPECT_EQ(a.stats().cache_errors, 1U);
}

TEST_F(lease_test, lease_needs_single_flight) {
    try {
        auto a = cached(admin_, make_fetch(up_),
                        {.key_prefix = "r", .single_flight = false, .lease = lease_options{}});
        ADD_FAILURE() << "constructed";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_argument);
    }
}

// DESIGN.md section 8: a cold-key burst of 1000 concurrent callers in 4 processes sharing one
// backend makes exactly one upstream call. Each process runs on a thread of its own.
TEST_F(lease_test, thousand_callers_in_four_processes_on_four_threads_make_one_call) {
    constexpr int processes = 4;
    constexpr int rounds = 3;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<memo_t> memos;
    for (int p = 0; p < processes; ++p) {
        ios.push_back(std::make_unique<asio::io_context>(1));
        memos.push_back(process({.ttl = 5s, .wait = 5s, .poll_max = 10ms}));
    }
    for (int round = 0; round < rounds; ++round) {
        int before = up_->calls;
        std::string channel = "C" + std::to_string(round);
        std::vector<std::shared_ptr<std::vector<outcome<std::string>>>> outs;
        for (int p = 0; p < processes; ++p) {
            outs.push_back(spawn_callers<std::string>(
                ios[static_cast<std::size_t>(p)]->get_executor(), 250,
                [&, p](int) { return memos[static_cast<std::size_t>(p)](channel, "1"); }));
        }
        std::vector<std::thread> threads;
        for (auto& io : ios) {
            io->restart();
            threads.emplace_back([&io] { io->run(); });
        }
        for (auto& t : threads) {
            t.join();
        }
        EXPECT_EQ(up_->calls - before, 1) << "round " << round;
        auto const& expected = (*outs[0])[0].value;
        ASSERT_TRUE(expected.has_value());
        for (auto const& out : outs) {
            for (auto const& o : *out) {
                ASSERT_TRUE(o.done);
                EXPECT_EQ(o.value, expected);
            }
        }
    }
}

}  // namespace
