// SPDX-License-Identifier: MIT
// The lease lock and the optimistic lock, on the memory backend with a manual clock; the
// scripted backend stands for a backend without the operations they need.
#include "memo_support.hpp"
#include "scripted_backend.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::errc;
using asiocache::lease_lock;
using asiocache::lease_options;
using asiocache::optimistic_lock;
using asiocache::task;
using asiocache::test::code_of;
using asiocache::test::manual_clock;
using asiocache::test::run;
using asiocache::test::run_error;
namespace asio = boost::asio;

class lock_test : public ::testing::Test {
protected:
    auto holder_of(std::string key) -> std::optional<std::string> {
        return run(io_, cache_.get<std::string>(std::move(key)));
    }

    asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
    std::shared_ptr<asiocache::backend> backend_ = asiocache::test::memory_on(clock_);
    cache cache_{backend_, {.ns = "locks"}};
};

// ----- lease lock

TEST_F(lock_test, one_holder_at_a_time_and_release_frees_it) {
    lease_lock a(cache_, "job", {.ttl = 10s});
    lease_lock b(cache_, "job", {.ttl = 10s});
    EXPECT_NE(a.token(), b.token());
    EXPECT_TRUE(run(io_, a.try_acquire()));
    EXPECT_TRUE(a.held());
    EXPECT_EQ(holder_of("job"), a.token());
    EXPECT_FALSE(run(io_, b.try_acquire()));
    EXPECT_TRUE(run(io_, a.release()));
    EXPECT_FALSE(a.held());
    EXPECT_TRUE(run(io_, b.try_acquire()));
    EXPECT_EQ(holder_of("job"), b.token());
    EXPECT_TRUE(run(io_, b.release()));
    EXPECT_FALSE(holder_of("job").has_value());
}

TEST_F(lock_test, expired_holder_cannot_release_the_next_holders_lease) {
    lease_lock a(cache_, "job", {.ttl = 1s});
    lease_lock b(cache_, "job", {.ttl = 10s});
    EXPECT_TRUE(run(io_, a.try_acquire()));
    clock_->advance(1500ms);  // a's lease expired while it still worked
    EXPECT_TRUE(run(io_, b.try_acquire()));
    EXPECT_FALSE(run(io_, a.release()));  // token mismatch: b's lease is left alone
    EXPECT_EQ(holder_of("job"), b.token());
    EXPECT_TRUE(run(io_, b.release()));
}

TEST_F(lock_test, renew_extends_a_held_lease_and_reports_a_lost_one) {
    lease_lock a(cache_, "job", {.ttl = 1s});
    ASSERT_TRUE(run(io_, a.try_acquire()));
    clock_->advance(900ms);
    EXPECT_TRUE(run(io_, a.renew()));
    clock_->advance(900ms);  // 1.8 s after the acquire: alive only thanks to the renewal
    lease_lock b(cache_, "job", {.ttl = 10s});
    EXPECT_FALSE(run(io_, b.try_acquire()));
    EXPECT_TRUE(a.held());
    clock_->advance(2s);  // expired: b takes it, and a's renewal must not touch b's lease
    ASSERT_TRUE(run(io_, b.try_acquire()));
    EXPECT_FALSE(run(io_, a.renew()));
    EXPECT_FALSE(a.held());
    EXPECT_EQ(run(io_, cache_.ttl("job")).value().duration(), 10s) << "b's lease untouched";
    EXPECT_TRUE(run(io_, b.release()));
}

TEST_F(lock_test, acquire_gives_up_after_its_wait) {
    lease_lock a(cache_, "job", {.ttl = 10s});
    lease_lock b(cache_, "job", {.ttl = 10s, .wait = 30ms});
    run(io_, a.acquire());
    EXPECT_EQ(run_error(io_, b.acquire()), errc::lock_not_acquired);
    EXPECT_FALSE(b.held());
}

TEST_F(lock_test, acquire_waits_until_the_holder_releases) {
    lease_lock a(cache_, "job", {.ttl = 10s});
    lease_lock b(cache_, "job", {.ttl = 10s, .wait = 5s});
    run(io_, a.acquire());
    asio::steady_timer t(io_, 20ms);
    bool released = false;
    asio::co_spawn(
        io_,
        [&]() -> task<void> {
            co_await t.async_wait(asio::use_awaitable);
            released = co_await a.release();
        },
        asio::detached);
    run(io_, b.acquire());
    EXPECT_TRUE(released);
    EXPECT_EQ(holder_of("job"), b.token());
}

TEST_F(lock_test, lease_frees_itself_when_its_holder_dies) {
    // A holder in another process took the lease and died: nobody releases it.
    run(io_, cache_.add("job", std::string("token-of-a-dead-process"), 1s));
    lease_lock b(cache_, "job", {.ttl = 1s});
    EXPECT_FALSE(run(io_, b.try_acquire()));
    clock_->advance(1001ms);
    EXPECT_TRUE(run(io_, b.try_acquire()));
}

TEST_F(lock_test, destroyed_holder_releases_in_the_background) {
    {
        lease_lock a(cache_, "job", {.ttl = 60s});
        EXPECT_TRUE(run(io_, a.try_acquire()));
    }
    io_.restart();
    io_.poll();
    EXPECT_FALSE(holder_of("job").has_value());
}

TEST_F(lock_test, with_lease_lock_releases_after_success_and_after_an_exception) {
    auto ok = [&]() -> task<int> {
        bool held = co_await cache_.exists("job");
        EXPECT_TRUE(held);
        co_return 7;
    };
    EXPECT_EQ(run(io_, asiocache::with_lease_lock(cache_, "job", {}, ok)), 7);
    EXPECT_FALSE(holder_of("job").has_value());

    auto fails = [&]() -> task<void> {
        throw std::runtime_error("work failed");
        co_return;
    };
    EXPECT_THROW(run(io_, asiocache::with_lease_lock(cache_, "job", {}, fails)),
                 std::runtime_error);
    EXPECT_FALSE(holder_of("job").has_value());
}

// The function's exception is what the caller sees, even when the release fails too (here the
// backend has no compare-and-delete, so every release fails with not_supported).
TEST_F(lock_test, with_lease_lock_reports_the_functions_error_when_the_release_fails) {
    struct work_failed {};
    cache plain{std::make_shared<asiocache::test::scripted_backend>(), {.ns = "locks"}};
    auto fails = [&]() -> task<int> {
        throw work_failed{};
        co_return 0;
    };
    EXPECT_THROW(run(io_, asiocache::with_lease_lock(plain, "job", {}, fails)), work_failed);
    auto fails_void = [&]() -> task<void> {
        throw work_failed{};
        co_return;
    };
    EXPECT_THROW(run(io_, asiocache::with_lease_lock(plain, "job2", {}, fails_void)), work_failed);
    // Without an error of its own, the failed release is reported.
    auto ok = [&]() -> task<int> { co_return 1; };
    EXPECT_EQ(run_error(io_, asiocache::with_lease_lock(plain, "job3", {}, ok)),
              errc::not_supported);
}

TEST_F(lock_test, with_lease_lock_releases_when_the_caller_is_cancelled) {
    auto slow = [&]() -> task<int> {
        asio::steady_timer t(co_await asio::this_coro::executor, 10s);
        co_await t.async_wait(asio::use_awaitable);
        co_return 1;
    };
    asio::cancellation_signal signal;
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(io_, asiocache::with_lease_lock(cache_, "job", {}, slow),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, int) {
                       error = e;
                       done = true;
                   }));
    io_.poll();
    EXPECT_TRUE(holder_of("job").has_value());
    signal.emit(asio::cancellation_type::terminal);
    io_.restart();
    while (!done) {
        io_.run_one_for(1s);
    }
    EXPECT_EQ(code_of(error), asio::error::operation_aborted);
    EXPECT_FALSE(holder_of("job").has_value());
}

TEST_F(lock_test, with_lease_lock_does_not_run_when_the_lock_is_busy) {
    lease_lock a(cache_, "job", {});
    run(io_, a.acquire());
    bool ran = false;
    auto work = [&]() -> task<void> {
        ran = true;
        co_return;
    };
    EXPECT_EQ(run_error(io_, asiocache::with_lease_lock(cache_, "job", {.wait = 10ms}, work)),
              errc::lock_not_acquired);
    EXPECT_FALSE(ran);
    EXPECT_EQ(holder_of("job"), a.token());
}

TEST_F(lock_test, backend_without_compare_and_delete_reports_not_supported) {
    cache scripted{std::make_shared<asiocache::test::scripted_backend>()};
    lease_lock a(scripted, "job", {});
    EXPECT_TRUE(run(io_, a.try_acquire()));
    EXPECT_EQ(run_error(io_, a.release()), errc::not_supported);
}

// ----- optimistic lock

TEST_F(lock_test, optimistic_commit_succeeds_when_nothing_changed) {
    run(io_, cache_.set("counter", 1));
    optimistic_lock<int> lock(cache_, "counter");
    auto v = run(io_, lock.read());
    ASSERT_EQ(v, 1);
    run(io_, lock.commit(*v + 1));
    EXPECT_EQ(run(io_, cache_.get<int>("counter")), 2);
}

TEST_F(lock_test, optimistic_commit_fails_when_the_value_changed) {
    run(io_, cache_.set("counter", 1));
    optimistic_lock<int> lock(cache_, "counter");
    auto v = run(io_, lock.read());
    run(io_, cache_.set("counter", 10));  // another writer
    EXPECT_EQ(run_error(io_, lock.commit(*v + 1)), errc::cas_mismatch);
    EXPECT_EQ(run(io_, cache_.get<int>("counter")), 10);
}

TEST_F(lock_test, optimistic_commit_of_an_absent_key_fails_if_it_was_created) {
    optimistic_lock<int> lock(cache_, "fresh");
    EXPECT_EQ(run(io_, lock.read()), std::nullopt);
    run(io_, lock.commit(1));
    EXPECT_EQ(run(io_, cache_.get<int>("fresh")), 1);

    optimistic_lock<int> late(cache_, "other");
    EXPECT_EQ(run(io_, late.read()), std::nullopt);
    run(io_, cache_.set("other", 5));
    EXPECT_EQ(run_error(io_, late.commit(1)), errc::cas_mismatch);
    EXPECT_EQ(run(io_, cache_.get<int>("other")), 5);
}

TEST_F(lock_test, optimistic_commit_needs_a_read_and_a_backend_with_cas) {
    optimistic_lock<int> lock(cache_, "k");
    EXPECT_EQ(run_error(io_, lock.commit(1)), errc::invalid_argument);
    cache scripted{std::make_shared<asiocache::test::scripted_backend>()};
    optimistic_lock<int> no_cas(scripted, "k");
    EXPECT_EQ(run_error(io_, no_cas.read()), errc::not_supported);
}

}  // namespace
