// SPDX-License-Identifier: MIT
// The wake hub and its watches, with no server: a wake-up before the wait is kept, one for
// another key is not seen, a lost channel ends every wait, and a wake-up from another thread
// ends a wait in progress.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "asiocache/wake.hpp"
#include "run_coro.hpp"

namespace {

using namespace std::chrono_literals;
using asiocache::wake_hub;
using asiocache::wake_status;
using asiocache::test::run;
using steady = std::chrono::steady_clock;

TEST(wake_hub_test, a_wake_up_between_the_look_and_the_wait_is_kept) {
    boost::asio::io_context io;
    wake_hub hub;
    auto w = hub.watch("ns:k");
    EXPECT_EQ(hub.notify("ns:k"), 1U);
    auto const began = steady::now();
    EXPECT_EQ(run(io, w.wait(5s)), wake_status::woken);
    EXPECT_LT(steady::now() - began, 1s);
}

TEST(wake_hub_test, a_wake_up_of_another_key_is_not_seen) {
    boost::asio::io_context io;
    wake_hub hub;
    auto w = hub.watch("ns:k2");
    EXPECT_EQ(hub.notify("ns:k1"), 0U);
    EXPECT_EQ(run(io, w.wait(50ms)), wake_status::expired);
    EXPECT_EQ(hub.stats().wakeups, 1U);
    EXPECT_EQ(hub.stats().woken, 0U);
}

TEST(wake_hub_test, a_lost_channel_ends_every_wait) {
    boost::asio::io_context io;
    wake_hub hub;
    auto w1 = hub.watch("a");
    auto w2 = hub.watch("b");
    EXPECT_EQ(hub.notify_lost(), 2U);
    EXPECT_EQ(run(io, w1.wait(5s)), wake_status::lost);
    EXPECT_EQ(run(io, w2.wait(5s)), wake_status::lost);
}

TEST(wake_hub_test, a_wake_up_from_another_thread_ends_a_wait_in_progress) {
    boost::asio::io_context io;
    wake_hub hub;
    auto w1 = hub.watch("k");
    auto w2 = hub.watch("k");
    std::thread waker([&] {
        std::this_thread::sleep_for(50ms);
        hub.notify("k");
    });
    auto const began = steady::now();
    EXPECT_EQ(run(io, w1.wait(5s)), wake_status::woken);
    EXPECT_LT(steady::now() - began, 2s);
    waker.join();
    EXPECT_EQ(w2.status(), wake_status::woken) << "every watch of the key is woken";
}

// A wake-up racing the arming of the wait, many times: never lost, never a stuck wait.
TEST(wake_hub_test, a_wake_up_racing_the_wait_is_never_lost) {
    boost::asio::io_context io;
    wake_hub hub;
    for (int i = 0; i < 200; ++i) {
        auto w = hub.watch("k");
        std::thread waker([&hub, i] {
            if (i % 2 == 0) {
                std::this_thread::sleep_for(std::chrono::microseconds(i % 7 * 20));
            }
            hub.notify("k");
        });
        auto const began = steady::now();
        EXPECT_EQ(run(io, w.wait(5s)), wake_status::woken);
        EXPECT_LT(steady::now() - began, 2s);
        waker.join();
    }
}

TEST(wake_hub_test, a_watch_unregisters_when_destroyed_or_replaced) {
    wake_hub hub;
    {
        auto w = hub.watch("k");
        EXPECT_EQ(hub.stats().watching, 1U);
        w = hub.watch("k");  // the old one goes first
        EXPECT_EQ(hub.stats().watching, 1U);
        auto moved = std::move(w);
        EXPECT_EQ(hub.stats().watching, 1U);
        EXPECT_EQ(moved.key(), "k");
    }
    EXPECT_EQ(hub.stats().watching, 0U);
    EXPECT_EQ(hub.notify("k"), 0U);
}

TEST(wake_hub_test, an_empty_watch_only_sleeps) {
    boost::asio::io_context io;
    asiocache::wake_watch w;
    EXPECT_EQ(run(io, w.wait(10ms)), wake_status::expired);
}

}  // namespace
