// SPDX-License-Identifier: MIT
// The resilience policies of `cached` (fail-safe, stale-while-revalidate, eager refresh) on real
// servers (redis-server, memcached; 127.0.0.1, free ports), and the envelope they store: its
// bytes, read straight from the backend, and what a corrupt or foreign one gives. Plain mode is
// checked to stay envelope-free. Expiries are Unix milliseconds on the wall clock, shared by
// processes, so these tests wait in real time, with TTLs of a few hundred milliseconds.
#include "asiocache/backends/builtin.hpp"
#include "local_server.hpp"
#include "memo_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::errc;
using asiocache::memo_envelope;
using asiocache::memo_event;
using asiocache::test::all_done;
using asiocache::test::code_of;
using asiocache::test::local_server;
using asiocache::test::make_fetch;
using asiocache::test::outcome;
using asiocache::test::raw_bytes;
using asiocache::test::run;
using asiocache::test::run_error;
using asiocache::test::run_processes;
using asiocache::test::run_until;
using asiocache::test::spawn_callers;
using asiocache::test::upstream_state;
namespace asio = boost::asio;

auto server_for(std::string const& kind) -> local_server const* {
    if (kind == "redis") {
        static auto redis = local_server::redis();
        return redis ? &*redis : nullptr;
    }
    static auto memcached = local_server::memcached();
    return memcached ? &*memcached : nullptr;
}

/// Records the memoization events a cache reports.
struct event_log final : asiocache::plugin {
    void on_memo(memo_event const& e) noexcept override {
        std::lock_guard lock(mutex);
        events.emplace_back(e.what, std::string(e.key));
    }
    auto count(memo_event::kind k) -> std::size_t {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(
            std::count_if(events.begin(), events.end(), [k](auto const& e) { return e.first == k; }));
    }
    std::mutex mutex;
    std::vector<std::pair<memo_event::kind, std::string>> events;
};

auto be64(std::string_view b) -> std::int64_t {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        u = (u << 8) | static_cast<unsigned char>(b[i]);
    }
    return static_cast<std::int64_t>(u);
}

auto now_ms() -> std::int64_t { return asiocache::detail::unix_ms_now(); }

class resilience_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        server_ = server_for(GetParam());
        if (server_ == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL(GetParam() + " server not found");
        }
        auto const* info = ::testing::UnitTest::GetInstance()->current_test_info();
        ns_ = fmt::format("res-{}-{}", info->name(),
                          std::chrono::steady_clock::now().time_since_epoch().count());
        for (auto& c : ns_) {
            c = c == '/' ? '-' : c;
        }
    }

    /// A cache on the server, in this test's namespace, bound to `io` (a "process" of its own
    /// when `io` is).
    auto make_cache(asio::io_context& io) -> cache {
        asiocache::registry caches{io.get_executor()};
        asiocache::backends::register_builtin(caches);
        return caches.make_cache(fmt::format("{}://127.0.0.1:{}?namespace={}", GetParam(),
                                             server_->port(), ns_));
    }

    /// The stored bytes of `key` (before the namespace), straight from the backend.
    auto stored(cache const& c, std::string const& key) -> std::optional<std::string> {
        return raw_bytes(io_, *c.backend(), c.build_key(key));
    }

    /// Runs `io` until `done()` or 10 s.
    template <class Done>
    void run_while_not(asio::io_context& io, Done done) {
        auto const end = std::chrono::steady_clock::now() + 10s;
        io.restart();
        while (!done() && std::chrono::steady_clock::now() < end) {
            io.run_one_for(10ms);
        }
        ASSERT_TRUE(done());
    }

    local_server const* server_ = nullptr;
    std::string ns_;
    asio::io_context io_;
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

auto param_name(::testing::TestParamInfo<std::string> const& p) -> std::string { return p.param; }

// Memcached keeps TTLs in whole seconds, too coarse for the timing tests; those run on Redis
// (`resilience_redis_test`), the envelope and plain-mode checks on both.
INSTANTIATE_TEST_SUITE_P(servers, resilience_test, ::testing::Values("redis", "memcached"),
                         param_name);

class resilience_redis_test : public resilience_test {};
INSTANTIATE_TEST_SUITE_P(servers, resilience_redis_test, ::testing::Values("redis"), param_name);

// --- The stored bytes ---------------------------------------------------------------------

TEST_P(resilience_test, plain_mode_stores_the_serializers_bytes_alone) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    auto bytes = stored(c, memo.key("C1", "1"));
    ASSERT_TRUE(bytes);
    auto expected = asiocache::encode_value(c.value_serializer(), std::string("C1/1#1"), "k");
    EXPECT_EQ(*bytes, expected);
    EXPECT_EQ(*bytes, "\"C1/1#1\"");  // JSON, as Python aiocache reads it
}

TEST_P(resilience_test, a_policy_stores_the_documented_envelope) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_),
                       {.key_prefix = "r", .ttl = 60s, .fail_safe_max = 30s, .soft_ttl = 20s});
    auto before = now_ms();
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    auto after = now_ms();
    auto bytes = stored(c, memo.key("C1", "1"));
    ASSERT_TRUE(bytes);
    ASSERT_GE(bytes->size(), 20U);
    EXPECT_EQ(bytes->substr(0, 4), std::string("\xAC" "me\x01"));
    auto expires = be64(std::string_view(*bytes).substr(4));
    auto soft = be64(std::string_view(*bytes).substr(12));
    EXPECT_GE(expires, before + 60000);
    EXPECT_LE(expires, after + 60000);
    EXPECT_EQ(expires - soft, 40000);
    EXPECT_EQ(bytes->substr(20), "\"C1/1#1\"");  // the serializer's bytes, after the header
    // Kept physically for the TTL plus fail_safe_max (Redis reports it; memcached cannot).
    if (GetParam() == "redis") {
        auto ttl = run(io_, c.ttl(memo.key("C1", "1")));
        ASSERT_TRUE(ttl);
        EXPECT_GT(ttl->duration(), 60s);
        EXPECT_LE(ttl->duration(), 90s);
    }
    // A second call is a hit, read back through the envelope.
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
}

TEST_P(resilience_test, a_corrupt_or_foreign_envelope_is_serialization_failed_naming_the_key) {
    auto c = make_cache(io_);
    auto strict = cached(c, make_fetch(up_), {.key_prefix = "r",
                                              .ttl = 60s,
                                              .fail_open = false,
                                              .fail_safe_max = 10s});
    auto key = strict.key("C1", "1");
    auto full = c.build_key(key);
    std::vector<std::string> bad = {
        "\"C1/1#0\"",                                   // a plain value (plain mode, Python)
        std::string("\xAC" "me", 3),                    // truncated header
        std::string("\xAC" "me\x02") + std::string(16, '\0') + "\"x\"",  // unknown version
        std::string("\xAC" "me\x01") + std::string(16, '\0') + "{not json",  // bad value
    };
    for (auto const& b : bad) {
        run(io_, c.backend()->set(full, b, asiocache::expiry(60s), asiocache::deadline::never()));
        try {
            run(io_, strict("C1", "1"));
            ADD_FAILURE() << "no error for " << b;
        } catch (boost::system::system_error const& e) {
            EXPECT_EQ(e.code(), errc::serialization_failed) << b;
            EXPECT_NE(std::string(e.what()).find(full), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(up_->calls, 0);
    // With fail-open (the default), the bad bytes are a counted cache error, and the fresh
    // result overwrites them.
    auto lenient = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 60s,
                                               .fail_safe_max = 10s});
    EXPECT_EQ(run(io_, lenient("C1", "1")), "C1/1#1");
    EXPECT_EQ(lenient.stats().fail_opens, 1U);
    EXPECT_EQ(run(io_, lenient("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
}

TEST(resilience_envelope_test, decoding_checks_the_header) {
    auto const& json = *asiocache::serializers::json();
    using env = memo_envelope<std::string>;
    auto good = asiocache::encode_value(json, env{"v", 1234, 1000}, "k");
    auto back = asiocache::decode_value<env>(json, good, "k");
    EXPECT_EQ(back.value, "v");
    EXPECT_EQ(back.expires_ms, 1234);
    EXPECT_EQ(back.soft_ms, 1000);
    for (std::size_t n = 0; n < 20; ++n) {
        EXPECT_THROW(asiocache::decode_value<env>(json, good.substr(0, n), "k"),
                     boost::system::system_error);
    }
    auto negative = good;
    negative[4] = '\x80';
    try {
        asiocache::decode_value<env>(json, negative, "ns:the-key");
        ADD_FAILURE();
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
        EXPECT_NE(std::string(e.what()).find("ns:the-key"), std::string::npos);
    }
}

// --- Fail-safe ----------------------------------------------------------------------------

TEST_P(resilience_redis_test, fail_safe_serves_the_last_value_while_the_function_fails) {
    auto c = make_cache(io_);
    auto& log = c.add_plugin<event_log>();
    auto memo = cached(c, make_fetch(up_),
                       {.key_prefix = "r", .ttl = 300ms, .fail_safe_max = 10s});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    auto good = stored(c, memo.key("C1", "1"));
    std::this_thread::sleep_for(400ms);  // logically expired, kept for fail-safe
    up_->fail = true;
    up_->delay = 20ms;
    // Concurrent callers share the failing call, and each is served the last value.
    auto out = spawn_callers<std::string>(io_.get_executor(), 20,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    for (auto const& o : *out) {
        EXPECT_FALSE(o.error);
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(up_->calls, 2);
    EXPECT_EQ(memo.stats().fail_safe, 20U);
    EXPECT_EQ(log.count(memo_event::kind::fail_safe), 20U);
    EXPECT_EQ(log.events.front().second, memo.key("C1", "1"));
    // The failure stored nothing: the last good envelope is still there, unchanged.
    EXPECT_EQ(stored(c, memo.key("C1", "1")), good);
    // Recovery: the next success stores the new value, served fresh afterwards.
    up_->fail = false;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#3");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#3");
    EXPECT_EQ(up_->calls, 3);
    EXPECT_EQ(memo.stats().fail_safe, 20U);
}

TEST_P(resilience_redis_test, fail_safe_serves_when_the_call_times_out) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r",
                                            .ttl = 200ms,
                                            .call_timeout = 50ms,
                                            .fail_safe_max = 10s});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    std::this_thread::sleep_for(300ms);
    up_->delay = 500ms;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().call_timeouts, 1U);
    EXPECT_EQ(memo.stats().fail_safe, 1U);
}

TEST_P(resilience_redis_test, past_fail_safe_max_the_error_propagates) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_),
                       {.key_prefix = "r", .ttl = 200ms, .fail_safe_max = 300ms});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    std::this_thread::sleep_for(600ms);
    up_->fail = true;
    EXPECT_THROW(run(io_, memo("C1", "1")), std::runtime_error);
    EXPECT_EQ(memo.stats().fail_safe, 0U);
}

TEST_P(resilience_redis_test, without_fail_safe_a_logically_expired_value_is_a_miss) {
    // Stale-while-revalidate alone: past the TTL there is no fallback.
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 200ms, .soft_ttl = 100ms});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    std::this_thread::sleep_for(300ms);
    up_->fail = true;
    EXPECT_THROW(run(io_, memo("C1", "1")), std::runtime_error);
}

TEST_P(resilience_redis_test, a_cache_that_is_down_and_a_failing_function_give_the_error) {
    // Nothing listens on this port: every read fails, fail-open calls the function, and
    // there is no last value to serve (none is kept in the process).
    auto dead = local_server::redis();
    ASSERT_TRUE(dead);
    auto port = dead->port();
    dead->stop();
    asiocache::registry caches{io_.get_executor()};
    asiocache::backends::register_builtin(caches);
    auto c = caches.make_cache(fmt::format("redis://127.0.0.1:{}?timeout=500ms", port));
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 1s, .fail_safe_max = 10s});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");  // fail-open
    up_->fail = true;
    EXPECT_THROW(run(io_, memo("C1", "1")), std::runtime_error);
    EXPECT_EQ(memo.stats().fail_safe, 0U);
}

// --- Stale-while-revalidate and eager refresh --------------------------------------------

TEST_P(resilience_redis_test, past_the_soft_ttl_one_caller_refreshes_in_the_background) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 10s, .soft_ttl = 200ms});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
    std::this_thread::sleep_for(250ms);
    up_->delay = 200ms;
    // Callers get the current value at once while the refresh runs.
    auto out = spawn_callers<std::string>(io_.get_executor(), 20,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    for (auto const& o : *out) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(memo.in_flight(), 1U);  // the refresh, still waiting on its upstream call
    run_while_not(io_, [&] { return memo.in_flight() == 0; });
    EXPECT_EQ(up_->calls, 2);
    EXPECT_EQ(memo.stats().background_refreshes, 1U);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_FALSE(run(io_, c.exists(memo.key("C1", "1") + "\\refresh")));  // lease released
}

// DESIGN.md section 6's stampede rule, for refreshes: four processes (each its own
// io_context, thread, connection and memoized function) sharing one Redis make exactly one
// refresh per soft expiry, and every caller gets the current value meanwhile.
TEST_P(resilience_redis_test, four_processes_refresh_a_soft_expiry_once) {
    constexpr int processes = 4;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<cache> caches;
    for (int p = 0; p < processes; ++p) {
        ios.push_back(std::make_unique<asio::io_context>(1));
        caches.push_back(make_cache(*ios.back()));
    }
    using memo_t = decltype(cached(caches[0], make_fetch(up_), {.key_prefix = "r"}));
    std::vector<memo_t> memos;
    for (auto& c : caches) {
        memos.push_back(
            cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 20s, .soft_ttl = 300ms}));
    }
    EXPECT_EQ(run(*ios[0], memos[0]("C1", "1")), "C1/1#1");
    up_->delay = 300ms;
    for (int round = 0; round < 2; ++round) {
        std::this_thread::sleep_for(350ms);  // past the soft expiry
        auto const expected = fmt::format("C1/1#{}", round + 1);
        // Two waves per process, the second while refreshes may be landing.
        for (int wave = 0; wave < 2; ++wave) {
            std::vector<std::shared_ptr<std::vector<outcome<std::string>>>> outs;
            for (int p = 0; p < processes; ++p) {
                outs.push_back(spawn_callers<std::string>(
                    ios[static_cast<std::size_t>(p)]->get_executor(), 50,
                    [&, p](int) { return memos[static_cast<std::size_t>(p)]("C1", "1"); }));
            }
            run_processes(ios, outs, 10s);
            for (auto const& out : outs) {
                for (auto const& o : *out) {
                    ASSERT_TRUE(o.done);
                    EXPECT_FALSE(o.error);
                    // The current value, or (second wave) the refreshed one.
                    if (wave == 0) {
                        EXPECT_EQ(o.value, expected);
                    }
                }
            }
        }
        // Let the refreshes finish, then count them.
        for (int p = 0; p < processes; ++p) {
            auto& memo = memos[static_cast<std::size_t>(p)];
            run_while_not(*ios[static_cast<std::size_t>(p)],
                          [&] { return memo.in_flight() == 0; });
        }
        EXPECT_EQ(up_->calls, round + 2) << "round " << round;
        std::uint64_t refreshes = 0;
        for (auto const& m : memos) {
            refreshes += m.stats().background_refreshes;
        }
        EXPECT_EQ(refreshes, static_cast<std::uint64_t>(round + 1));
        EXPECT_EQ(run(*ios[1], memos[1]("C1", "1")), fmt::format("C1/1#{}", round + 2));
    }
}

TEST_P(resilience_redis_test, a_failed_refresh_keeps_the_value_and_is_reported) {
    auto c = make_cache(io_);
    auto& log = c.add_plugin<event_log>();
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 10s, .soft_ttl = 100ms});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    std::this_thread::sleep_for(150ms);
    up_->fail = true;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    run_while_not(io_, [&] { return memo.in_flight() == 0; });
    EXPECT_EQ(memo.stats().refresh_failures, 1U);
    EXPECT_EQ(log.count(memo_event::kind::refresh_failed), 1U);
    // Still served; the next call past the soft expiry tries again, and this one succeeds.
    up_->fail = false;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    run_while_not(io_, [&] { return memo.in_flight() == 0; });
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#3");
    EXPECT_EQ(memo.stats().background_refreshes, 2U);
    EXPECT_EQ(memo.stats().refresh_failures, 1U);
}

TEST_P(resilience_redis_test, a_refresh_outlives_the_memoized_function) {
    auto c = make_cache(io_);
    std::string key;
    {
        auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 10s,
                                                .soft_ttl = 100ms});
        key = memo.key("C1", "1");
        EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
        std::this_thread::sleep_for(150ms);
        up_->delay = 100ms;
        EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    }  // every copy gone; the refresh holds the state
    auto const end = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < end) {
        io_.restart();
        io_.run_for(20ms);
        auto b = stored(c, key);
        if (b && b->find("#2") != std::string::npos) {
            break;
        }
    }
    // The refresh stored its value.
    auto later = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 10s, .soft_ttl = 100ms});
    EXPECT_EQ(run(io_, later("C1", "1")), "C1/1#2");
}

TEST_P(resilience_redis_test, eager_refresh_is_a_soft_ttl_of_a_fraction_of_the_ttl) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 1s, .eager_refresh = 0.4});
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    auto bytes = stored(c, memo.key("C1", "1"));
    ASSERT_TRUE(bytes);
    EXPECT_EQ(be64(std::string_view(*bytes).substr(4)) - be64(std::string_view(*bytes).substr(12)),
              600);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.in_flight(), 0U);  // before 40% of the TTL: no refresh
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    run_while_not(io_, [&] { return memo.in_flight() == 0; });
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(memo.stats().background_refreshes, 1U);
}

TEST_P(resilience_test, policies_are_validated) {
    auto c = make_cache(io_);
    auto make = [&](asiocache::cached_options<std::string, std::string, std::string> o) {
        o.key_prefix = "r";
        return cached(c, make_fetch(up_), std::move(o));
    };
    auto code = [&](auto o) {
        try {
            make(std::move(o));
        } catch (boost::system::system_error const& e) {
            return e.code();
        }
        return boost::system::error_code{};
    };
    using opts = asiocache::cached_options<std::string, std::string, std::string>;
    for (double f : {0.0, 1.0, 1.5, -0.1, std::nan(""), std::numeric_limits<double>::infinity()}) {
        opts o;
        o.ttl = 10s;
        o.eager_refresh = f;
        EXPECT_EQ(code(o), errc::invalid_argument) << f;
    }
    opts both;
    both.ttl = 10s;
    both.eager_refresh = 0.5;
    both.soft_ttl = 1s;
    EXPECT_EQ(code(both), errc::invalid_argument);
    opts long_soft;
    long_soft.ttl = 10s;
    long_soft.soft_ttl = 10s;
    EXPECT_EQ(code(long_soft), errc::invalid_argument);
    opts no_ttl;  // the cache's default TTL is "never"
    no_ttl.fail_safe_max = 1s;
    EXPECT_EQ(code(no_ttl), errc::invalid_argument);
    no_ttl.fail_safe_max.reset();
    no_ttl.eager_refresh = 0.5;
    EXPECT_EQ(code(no_ttl), errc::invalid_argument);
    opts zero;
    zero.ttl = 10s;
    zero.fail_safe_max = 0ms;
    EXPECT_EQ(code(zero), errc::invalid_argument);
    opts fine;
    fine.ttl = 10s;
    fine.eager_refresh = 0.5;
    fine.fail_safe_max = 1s;
    EXPECT_EQ(code(fine), boost::system::error_code{});
    opts soft_without_ttl;  // never expires, refreshed every soft_ttl
    soft_without_ttl.soft_ttl = 1s;
    EXPECT_EQ(code(soft_without_ttl), boost::system::error_code{});
}

}  // namespace

namespace {

// The policies on `memory://`, through the registry as a user builds it: whichever way that
// cache stores values (bytes, or the `memo_envelope` object itself with `serializer=none`),
// fail-safe and a background refresh behave the same.
TEST(resilience_memory_test, fail_safe_and_refresh_on_memory) {
    asio::io_context io;
    asiocache::registry caches{io.get_executor()};
    asiocache::backends::register_builtin(caches);
    auto c = caches.make_cache("memory://?namespace=m");
    auto up = std::make_shared<upstream_state>();
    auto memo = cached(c, make_fetch(up), {.key_prefix = "r",
                                           .ttl = 300ms,
                                           .fail_safe_max = 10s,
                                           .soft_ttl = 100ms});
    EXPECT_EQ(run(io, memo("C1", "1")), "C1/1#1");
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(run(io, memo("C1", "1")), "C1/1#1");  // past the soft TTL: refreshes
    auto const end = std::chrono::steady_clock::now() + 5s;
    while (memo.in_flight() != 0 && std::chrono::steady_clock::now() < end) {
        io.restart();
        io.run_for(10ms);
    }
    EXPECT_EQ(run(io, memo("C1", "1")), "C1/1#2");
    std::this_thread::sleep_for(400ms);  // past the TTL
    up->fail = true;
    EXPECT_EQ(run(io, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(memo.stats().fail_safe, 1U);
    EXPECT_EQ(memo.stats().background_refreshes, 1U);
}

}  // namespace
