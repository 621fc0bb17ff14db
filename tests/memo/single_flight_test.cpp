// SPDX-License-Identifier: MIT
// Single-flight: the wait primitive, and `cached` collapsing concurrent callers of one key,
// on one thread and on a multi-threaded io_context (run under TSan in CI).
#include "memo_support.hpp"
#include "scripted_backend.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::flight;
using asiocache::task;
using asiocache::test::all_done;
using asiocache::test::code_of;
using asiocache::test::make_fetch;
using asiocache::test::run;
using asiocache::test::run_until;
using asiocache::test::scripted_backend;
using asiocache::test::spawn_callers;
using asiocache::test::upstream_state;
namespace asio = boost::asio;

auto wait_on(std::shared_ptr<flight<int>> f) -> task<int> {
    auto v = co_await f->async_wait(asio::use_awaitable);
    co_return *v;
}

// ----- the wait primitive

TEST(flight_test, waiters_before_and_after_completion_get_the_value) {
    asio::io_context io;
    auto f = std::make_shared<flight<int>>();
    auto early = spawn_callers<int>(io.get_executor(), 3, [&](int) { return wait_on(f); });
    io.poll();
    EXPECT_EQ(f->waiting(), 3U);
    f->complete(std::make_shared<int const>(7));
    auto late = spawn_callers<int>(io.get_executor(), 2, [&](int) { return wait_on(f); });
    run_until(io, [&] { return all_done(late); });
    run_until(io, [&] { return all_done(early); });
    for (auto const& o : *early) {
        EXPECT_EQ(o.value, 7);
    }
    for (auto const& o : *late) {
        EXPECT_EQ(o.value, 7);
    }
    f->fail(std::make_exception_ptr(std::runtime_error("ignored: already complete")));
    EXPECT_TRUE(f->done());
}

TEST(flight_test, failure_reaches_every_waiter) {
    asio::io_context io;
    auto f = std::make_shared<flight<int>>();
    auto out = spawn_callers<int>(io.get_executor(), 4, [&](int) { return wait_on(f); });
    io.poll();
    f->fail(std::make_exception_ptr(std::runtime_error("boom")));
    run_until(io, [&] { return all_done(out); });
    for (auto const& o : *out) {
        ASSERT_TRUE(o.error);
        EXPECT_THROW(std::rethrow_exception(o.error), std::runtime_error);
    }
}

TEST(flight_test, cancelling_one_waiter_leaves_the_others_waiting) {
    asio::io_context io;
    auto f = std::make_shared<flight<int>>();
    asio::cancellation_signal signal;
    std::exception_ptr cancelled_error;
    bool cancelled_done = false;
    asio::co_spawn(io, wait_on(f),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, int) {
                       cancelled_error = e;
                       cancelled_done = true;
                   }));
    auto others = spawn_callers<int>(io.get_executor(), 2, [&](int) { return wait_on(f); });
    io.poll();
    EXPECT_EQ(f->waiting(), 3U);
    signal.emit(asio::cancellation_type::terminal);
    run_until(io, [&] { return cancelled_done; });
    EXPECT_EQ(code_of(cancelled_error), asio::error::operation_aborted);
    EXPECT_EQ(f->waiting(), 2U);
    f->complete(std::make_shared<int const>(1));
    run_until(io, [&] { return all_done(others); });
    for (auto const& o : *others) {
        EXPECT_EQ(o.value, 1);
    }
}

TEST(flight_test, waiter_resumes_on_its_own_executor) {
    asio::io_context a;
    asio::io_context b;
    auto guard_a = asio::make_work_guard(a);
    auto guard_b = asio::make_work_guard(b);
    std::thread ta([&] { a.run(); });
    std::thread tb([&] { b.run(); });
    auto f = std::make_shared<flight<int>>();
    std::promise<std::thread::id> resumed_on;
    asio::co_spawn(
        b,
        [f]() -> task<std::thread::id> {
            co_await f->async_wait(asio::use_awaitable);
            co_return std::this_thread::get_id();
        },
        [&](std::exception_ptr, std::thread::id id) { resumed_on.set_value(id); });
    // Completed from a's thread; the waiter must still resume on b's.
    while (f->waiting() == 0) {
        std::this_thread::sleep_for(1ms);
    }
    asio::post(a, [f] { f->complete(std::make_shared<int const>(1)); });
    auto id = resumed_on.get_future().get();
    EXPECT_EQ(id, tb.get_id());
    guard_a.reset();
    guard_b.reset();
    ta.join();
    tb.join();
}

// ----- cached, one thread

auto param_name(::testing::TestParamInfo<std::string> const& p) -> std::string {
    return p.param;
}

/// The backend under test: "memory" (answers at once, through the facade's `try_get`) or
/// "scripted" (a coroutine per operation, as a network backend has).
auto make_backend(std::string const& name) -> std::shared_ptr<asiocache::backend> {
    if (name == "memory") {
        return asiocache::test::memory_on(std::make_shared<asiocache::test::manual_clock>());
    }
    return std::make_shared<scripted_backend>();
}

class single_flight_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override { up_->delay = 20ms; }
    auto stored(std::string key) -> bool { return run(io_, cache_.exists(std::move(key))); }

    asio::io_context io_;
    std::shared_ptr<asiocache::backend> backend_ = make_backend(GetParam());
    cache cache_{backend_, {.ns = "t"}};
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

INSTANTIATE_TEST_SUITE_P(backends, single_flight_test, ::testing::Values("memory", "scripted"),
                         param_name);

TEST_P(single_flight_test, hundred_concurrent_callers_make_one_upstream_call) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    auto out = spawn_callers<std::string>(io_.get_executor(), 100,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& o : *out) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    auto s = memo.stats();
    EXPECT_EQ(s.upstream_calls, 1U);
    EXPECT_EQ(s.shared, 99U);
    EXPECT_EQ(memo.in_flight(), 0U);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
}

TEST_P(single_flight_test, distinct_keys_do_not_share) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    auto out = spawn_callers<std::string>(io_.get_executor(), 100, [&](int i) {
        return memo("C" + std::to_string(i % 5), "1");
    });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 5);
}

TEST_P(single_flight_test, exception_reaches_every_caller_and_is_not_cached) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    up_->fail = true;
    auto out = spawn_callers<std::string>(io_.get_executor(), 100,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& o : *out) {
        ASSERT_TRUE(o.error);
        EXPECT_THROW(std::rethrow_exception(o.error), std::runtime_error);
    }
    up_->fail = false;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
}

TEST_P(single_flight_test, cancelling_one_caller_cancels_neither_the_others_nor_the_call) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    asio::cancellation_signal signal;
    std::exception_ptr first_error;
    bool first_done = false;
    // The first caller starts the upstream call; it is the one cancelled.
    asio::co_spawn(io_, memo("C1", "1"),
                   asio::bind_cancellation_slot(signal.slot(),
                                                [&](std::exception_ptr e, std::string) {
                                                    first_error = e;
                                                    first_done = true;
                                                }));
    auto others = spawn_callers<std::string>(io_.get_executor(), 10,
                                             [&](int) { return memo("C1", "1"); });
    asio::steady_timer t(io_, 5ms);
    t.async_wait([&](boost::system::error_code) { signal.emit(asio::cancellation_type::all); });
    run_until(io_, [&] { return all_done(others); });
    ASSERT_TRUE(first_done);
    EXPECT_EQ(code_of(first_error), asio::error::operation_aborted);
    for (auto const& o : *others) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(up_->calls, 1);
}

TEST_P(single_flight_test, call_goes_on_and_stores_when_every_caller_is_cancelled) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    asio::cancellation_signal signal;
    bool done = false;
    asio::co_spawn(io_, memo("C1", "1"),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e,
                                                                   std::string) {
                       EXPECT_EQ(code_of(e), asio::error::operation_aborted);
                       done = true;
                   }));
    io_.poll();
    signal.emit(asio::cancellation_type::terminal);
    run_until(io_, [&] { return done && memo.in_flight() == 0; });
    EXPECT_TRUE(stored("r:C1:1"));
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
}

TEST_P(single_flight_test, refresh_does_not_join_a_call_in_flight) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    auto plain = spawn_callers<std::string>(io_.get_executor(), 1,
                                            [&](int) { return memo("C1", "1"); });
    auto fresh = spawn_callers<std::string>(io_.get_executor(), 1,
                                            [&](int) { return memo.refresh("C1", "1"); });
    run_until(io_, [&] { return all_done(plain); });
    run_until(io_, [&] { return all_done(fresh); });
    EXPECT_EQ(up_->calls, 2);
}

TEST_P(single_flight_test, without_single_flight_every_caller_calls) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .single_flight = false});
    auto out = spawn_callers<std::string>(io_.get_executor(), 10,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 10);
}

// ----- the call timeout: a stuck function does not hold its key

TEST_P(single_flight_test, a_call_past_its_timeout_fails_its_callers_and_frees_the_key) {
    up_->delay = 300ms;
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .call_timeout = 50ms});
    auto const start = std::chrono::steady_clock::now();
    auto out = spawn_callers<std::string>(io_.get_executor(), 5,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    // Every caller of the flight fails at the timeout, long before the call would end.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms);
    for (auto const& o : *out) {
        ASSERT_TRUE(o.error);
        EXPECT_EQ(code_of(o.error), asiocache::errc::timeout);
    }
    EXPECT_EQ(memo.in_flight(), 0U);
    EXPECT_EQ(memo.stats().call_timeouts, 1U);
    // The key is free: the next caller starts a call of its own, and its result is stored.
    up_->delay = 0ms;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(up_->calls, 2);
    // The late first call ends after that; its result is dropped, never stored over the new one.
    auto const late = std::chrono::steady_clock::now() + 400ms;
    run_until(io_, [&] { return std::chrono::steady_clock::now() > late; });
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(up_->calls, 2);
}

TEST_P(single_flight_test, a_call_within_its_timeout_is_shared_and_stored_as_usual) {
    up_->delay = 20ms;
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .call_timeout = 2s});
    auto out = spawn_callers<std::string>(io_.get_executor(), 5,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    for (auto const& o : *out) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(memo.stats().call_timeouts, 0U);
    EXPECT_TRUE(stored("r:C1:1"));
}

TEST_P(single_flight_test, with_a_lease_the_call_timeout_defaults_to_the_lease_ttl) {
    if (GetParam() != "memory") {
        GTEST_SKIP() << "leases are covered on the memory backend and the real servers";
    }
    up_->delay = 400ms;
    auto memo = cached(cache_, make_fetch(up_),
                       {.key_prefix = "r", .lease = asiocache::lease_options{.ttl = 60ms}});
    auto out = spawn_callers<std::string>(io_.get_executor(), 3,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    for (auto const& o : *out) {
        ASSERT_TRUE(o.error);
        EXPECT_EQ(code_of(o.error), asiocache::errc::timeout);
    }
    EXPECT_EQ(memo.stats().call_timeouts, 1U);
}

// ----- cached, four threads

class single_flight_mt_test : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(backends, single_flight_mt_test, ::testing::Values("memory", "scripted"),
                         param_name);

TEST_P(single_flight_mt_test, four_threads_make_one_upstream_call_per_key) {
    asio::io_context io(4);
    cache c{make_backend(GetParam()), {.ns = "mt"}};
    auto up = std::make_shared<upstream_state>();
    up->delay = 5ms;
    auto memo = cached(c, make_fetch(up), {.key_prefix = "r"});
    constexpr int keys = 10;
    constexpr int callers_per_key = 40;
    std::vector<std::shared_ptr<std::vector<asiocache::test::outcome<std::string>>>> outs;
    {
        auto guard = asio::make_work_guard(io);
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) {
            threads.emplace_back([&] { io.run(); });
        }
        for (int k = 0; k < keys; ++k) {
            // Spawned from several threads at once: each key's callers race on a fresh key.
            std::promise<std::shared_ptr<std::vector<asiocache::test::outcome<std::string>>>> p;
            asio::post(io, [&, k] {
                p.set_value(spawn_callers<std::string>(io.get_executor(), callers_per_key,
                                                       [&, k](int) {
                                                           return memo("C" + std::to_string(k),
                                                                       "1");
                                                       }));
            });
            outs.push_back(p.get_future().get());
        }
        guard.reset();
        for (auto& t : threads) {
            t.join();
        }
    }
    EXPECT_EQ(up->calls, keys);
    for (int k = 0; k < keys; ++k) {
        auto const& out = *outs[static_cast<std::size_t>(k)];
        ASSERT_TRUE(out[0].value);
        EXPECT_TRUE(out[0].value->starts_with("C" + std::to_string(k) + "/1#"));
        for (auto const& o : out) {
            ASSERT_TRUE(o.done);
            EXPECT_EQ(o.value, out[0].value);
        }
    }
    EXPECT_EQ(memo.stats().upstream_calls, static_cast<std::uint64_t>(keys));
}

}  // namespace
