// SPDX-License-Identifier: MIT
// Lease waiters woken when the value lands (issue 13), on a real redis-server (127.0.0.1, a
// free port). Each "process" is an io_context on a thread of its own with a Redis backend of
// its own: its own pipelined connection, and its own wake subscription. The polls are set far
// apart (500 ms and more), so that only a wake-up can explain a waiter served within 100 ms.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "asiocache/asiocache.hpp"
#include "asiocache/backends/redis.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::lease_lock;
using asiocache::lease_options;
using asiocache::test::local_server;
using asiocache::test::run;
using steady = std::chrono::steady_clock;
namespace asio = boost::asio;

auto server() -> local_server const* {
    static auto redis = local_server::redis();
    return redis ? &*redis : nullptr;
}

/// One simulated process: its context, and a cache on a Redis backend of its own.
struct process {
    process(std::uint16_t port, std::string const& ns)
        : c(asiocache::backends::make_redis_backend(io.get_executor(),
                                                    {.host = "127.0.0.1", .port = port}),
            {.ns = ns}) {}
    ~process() { run(io, c.close()); }
    process(process const&) = delete;
    auto operator=(process const&) -> process& = delete;

    /// Starts the wake subscription and runs until it is up.
    void subscribe() {
        auto* w = c.backend()->wakeups();
        ASSERT_NE(w, nullptr);
        auto const end = steady::now() + 5s;
        io.restart();
        while (!w->ready() && steady::now() < end) {
            io.run_one_for(1ms);
        }
        ASSERT_TRUE(w->ready()) << "the wake subscription did not come up";
    }
    [[nodiscard]] auto wake_stats() const -> asiocache::backends::redis_wake_stats {
        return asiocache::backends::redis_wake_statistics(*c.backend()).value();
    }

    asio::io_context io{1};
    cache c;
};

/// A caller's result and when it arrived.
struct timed {
    std::atomic<bool> done{false};
    std::optional<std::string> value;
    std::exception_ptr error;
    steady::time_point at;
};

template <class Memo>
void call_into(process& p, Memo& memo, std::string ch, std::shared_ptr<timed> out) {
    asio::co_spawn(p.io, memo(std::move(ch), "1"), [out](std::exception_ptr e, std::string v) {
        out->at = steady::now();
        out->error = e;
        if (!e) {
            out->value = std::move(v);
        }
        out->done = true;
    });
}

/// Runs `p`'s context on this thread until `until()` or `limit`.
template <class Until>
void run_for(process& p, std::chrono::milliseconds limit, Until until) {
    auto const end = steady::now() + limit;
    p.io.restart();
    while (!until() && steady::now() < end) {
        p.io.run_one_for(1ms);
    }
}

/// Runs both contexts, each on a thread, until `until()` or `limit`.
template <class Until>
void run_both(process& a, process& b, std::chrono::milliseconds limit, Until until) {
    std::thread other([&] { run_for(a, limit, until); });
    run_for(b, limit, until);
    other.join();
}

class wake_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (server() == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
        }
        auto const* info = ::testing::UnitTest::GetInstance()->current_test_info();
        ns_ = fmt::format("wake-{}-{}", info->name(), steady::now().time_since_epoch().count());
    }

    /// `fetch(ch, ts)` taking `delay`, counting its calls and stamping its return.
    auto fetch(std::chrono::milliseconds delay) {
        return [calls = calls_, returned = returned_, delay](
                   std::string ch, std::string ts) -> asiocache::task<std::string> {
            int n = ++*calls;
            asio::steady_timer t(co_await asio::this_coro::executor, delay);
            co_await t.async_wait(asio::use_awaitable);
            *returned = steady::now();
            co_return ch + "/" + ts + "#" + std::to_string(n);
        };
    }

    std::string ns_;
    std::shared_ptr<std::atomic<int>> calls_ = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<steady::time_point> returned_ = std::make_shared<steady::time_point>();
};

// Polling every 500 ms, a waiter that got the value within 100 ms of the holder's function
// returning (then storing, releasing and waking) was woken.
TEST_F(wake_test, a_waiter_in_another_process_has_the_value_soon_after_it_lands) {
    process a(server()->port(), ns_);
    process b(server()->port(), ns_);
    b.subscribe();
    lease_options const lease{.ttl = 5s, .wait = 5s, .poll_min = 500ms, .poll_max = 500ms};
    auto ma = cached(a.c, fetch(200ms), {.key_prefix = "r", .lease = lease});
    auto mb = cached(b.c, fetch(200ms), {.key_prefix = "r", .lease = lease});
    auto ra = std::make_shared<timed>();
    auto rb = std::make_shared<timed>();
    call_into(a, ma, "C1", ra);
    run_for(a, 5s, [&] { return calls_->load() == 1; });  // A holds the lease and computes
    ASSERT_EQ(calls_->load(), 1);
    call_into(b, mb, "C1", rb);
    run_both(a, b, 5s, [&] { return ra->done && rb->done; });
    ASSERT_TRUE(ra->done && rb->done);
    EXPECT_EQ(calls_->load(), 1);
    EXPECT_EQ(ra->value, "C1/1#1");
    EXPECT_EQ(rb->value, "C1/1#1");
    auto const late = std::chrono::duration_cast<std::chrono::milliseconds>(rb->at - *returned_);
    EXPECT_LT(late, 100ms) << "the waiter polled instead of being woken";
    EXPECT_EQ(mb.stats().lease_waits, 1U);
    EXPECT_EQ(mb.stats().lease_wakeups, 1U);
    EXPECT_EQ(a.wake_stats().published, 1U);
    EXPECT_EQ(b.wake_stats().hub.woken, 1U);
    EXPECT_EQ(b.wake_stats().hub.watching, 0U) << "a watch outlived its wait";
}

// A holder that fails releases without a value, and wakes the waiters anyway: one takes over
// at once instead of at its next poll.
TEST_F(wake_test, a_release_without_a_value_wakes_the_waiters_to_take_over) {
    process a(server()->port(), ns_);
    process b(server()->port(), ns_);
    b.subscribe();
    lease_options const lease{.ttl = 5s, .wait = 5s, .poll_min = 1s, .poll_max = 1s};
    auto failing = [calls = calls_, returned = returned_](
                       std::string, std::string) -> asiocache::task<std::string> {
        ++*calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
        co_await t.async_wait(asio::use_awaitable);
        *returned = steady::now();
        throw std::runtime_error("upstream failed");
    };
    auto ma = cached(a.c, failing, {.key_prefix = "r", .lease = lease});
    auto mb = cached(b.c, fetch(10ms), {.key_prefix = "r", .lease = lease});
    auto ra = std::make_shared<timed>();
    auto rb = std::make_shared<timed>();
    call_into(a, ma, "C1", ra);
    run_for(a, 5s, [&] { return calls_->load() == 1; });
    call_into(b, mb, "C1", rb);
    run_both(a, b, 5s, [&] { return ra->done && rb->done; });
    ASSERT_TRUE(ra->done && rb->done);
    EXPECT_TRUE(ra->error);
    EXPECT_EQ(rb->value, "C1/1#2") << "the waiter took the lease over and computed";
    auto const late = std::chrono::duration_cast<std::chrono::milliseconds>(rb->at - *returned_);
    EXPECT_LT(late, 300ms) << "the waiter polled instead of being woken";  // 10 ms of fetch
    EXPECT_EQ(mb.stats().lease_wakeups, 1U);
}

// The subscription killed (CLIENT KILL TYPE pubsub) and kept down (the default user may use no
// channel, which also makes the holder's PUBLISH fail): the waiter looks at once, polls, and
// still gets the value; the subscription comes back once channels are allowed again.
TEST_F(wake_test, a_lost_subscription_falls_back_to_polling) {
    process a(server()->port(), ns_);
    process b(server()->port(), ns_);
    b.subscribe();
    lease_options const lease{.ttl = 5s, .wait = 5s, .poll_min = 150ms, .poll_max = 150ms};
    auto ma = cached(a.c, fetch(600ms), {.key_prefix = "r", .lease = lease});
    auto mb = cached(b.c, fetch(600ms), {.key_prefix = "r", .lease = lease});
    auto ra = std::make_shared<timed>();
    auto rb = std::make_shared<timed>();
    call_into(a, ma, "C1", ra);
    run_for(a, 5s, [&] { return calls_->load() == 1; });
    call_into(b, mb, "C1", rb);
    run_for(b, 100ms, [] { return false; });  // B watches
    EXPECT_EQ(b.wake_stats().hub.watching, 1U);
    auto admin = asiocache::backends::make_redis_backend(
        a.io.get_executor(), {.host = "127.0.0.1", .port = server()->port()});
    auto const dl = asiocache::deadline::never();
    // B's context is not running: its subscriber cannot reconnect before channels are denied.
    auto killed = run(a.io, admin->raw({"CLIENT", "KILL", "TYPE", "pubsub"}, dl));
    EXPECT_GE(killed.integer, 1);
    run(a.io, admin->raw({"ACL", "SETUSER", "default", "resetchannels"}, dl));
    run_both(a, b, 5s, [&] { return ra->done && rb->done; });
    run(a.io, admin->raw({"ACL", "SETUSER", "default", "allchannels"}, dl));
    ASSERT_TRUE(ra->done && rb->done);
    EXPECT_EQ(calls_->load(), 1);
    EXPECT_EQ(rb->value, "C1/1#1");
    EXPECT_EQ(mb.stats().lease_wakeups, 0U);
    EXPECT_GE(b.wake_stats().hub.losses, 1U);
    EXPECT_LT(rb->at - *returned_, 1s);
    b.subscribe();  // back, after the subscriber's reconnect backoff
    run(a.io, admin->close());
}

// A wake-up of one key leaves the waiters of another waiting; its own key's wake-up ends them.
TEST_F(wake_test, a_wake_of_one_key_does_not_complete_waiters_of_another) {
    process a(server()->port(), ns_);
    process b(server()->port(), ns_);
    b.subscribe();
    lease_options const lease{.ttl = 5s, .wait = 5s, .poll_min = 2s, .poll_max = 2s};
    auto mb = cached(b.c, fetch(10ms), {.key_prefix = "r", .lease = lease});
    // A holds C2's lease by hand, as a holder that computes.
    lease_lock held(a.c, mb.key("C2", "1") + "\\lease", {.ttl = 5s});
    ASSERT_TRUE(run(a.io, held.try_acquire()));
    auto rb = std::make_shared<timed>();
    call_into(b, mb, "C2", rb);
    run_for(b, 100ms, [] { return false; });
    ASSERT_EQ(b.wake_stats().hub.watching, 1U);
    auto* wa = a.c.backend()->wakeups();
    auto const dl = asiocache::deadline::after(1s);
    run(a.io, wa->wake(a.c.build_key(mb.key("C1", "1")), dl));
    run_for(b, 1s, [&] { return b.wake_stats().hub.wakeups >= 1; });
    run_for(b, 200ms, [&] { return rb->done.load(); });
    EXPECT_EQ(b.wake_stats().hub.wakeups, 1U) << "the wake-up did not arrive";
    EXPECT_FALSE(rb->done) << "a wake-up of C1 completed a waiter of C2";
    EXPECT_EQ(mb.stats().lease_wakeups, 0U);
    // Now C2's value lands, the lease goes, and C2's wake-up follows.
    run(a.io, a.c.set(mb.key("C2", "1"), std::string("stored by A")));
    EXPECT_TRUE(run(a.io, held.release()));
    auto const sent = steady::now();
    run(a.io, wa->wake(a.c.build_key(mb.key("C2", "1")), dl));
    run_for(b, 1s, [&] { return rb->done.load(); });
    ASSERT_TRUE(rb->done);
    EXPECT_EQ(rb->value, "stored by A");
    EXPECT_LT(rb->at - sent, 100ms);
    EXPECT_EQ(mb.stats().lease_wakeups, 1U);
    EXPECT_EQ(calls_->load(), 0);
}

// A closed backend ends its subscription, and starts a new one on the next wait.
TEST_F(wake_test, close_ends_the_subscription_and_the_next_use_starts_another) {
    process b(server()->port(), ns_);
    b.subscribe();
    EXPECT_EQ(b.wake_stats().subscribers, 1U);
    run(b.io, b.c.close());
    EXPECT_FALSE(b.wake_stats().up);
    b.subscribe();
    EXPECT_EQ(b.wake_stats().subscribers, 2U);
}

}  // namespace
