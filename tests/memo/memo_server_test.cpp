// SPDX-License-Identifier: MIT
// The memoization layer on real servers (redis-server, memcached; 127.0.0.1, free ports), each
// cache built from a URL through the registry: single-flight, the lease across "processes"
// (each its own io_context, thread and connection), and both locks.
#include "asiocache/backends/builtin.hpp"
#include "local_server.hpp"
#include "memo_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::errc;
using asiocache::lease_lock;
using asiocache::lease_options;
using asiocache::optimistic_lock;
using asiocache::test::all_done;
using asiocache::test::code_of;
using asiocache::test::local_server;
using asiocache::test::make_fetch;
using asiocache::test::outcome;
using asiocache::test::run;
using asiocache::test::run_until;
using asiocache::test::run_error;
using asiocache::test::spawn_callers;
using asiocache::test::upstream_state;
namespace asio = boost::asio;

/// One server of each kind per test process, started on first use.
auto server_for(std::string const& kind) -> local_server const* {
    if (kind == "redis") {
        static auto redis = local_server::redis();
        return redis ? &*redis : nullptr;
    }
    static auto memcached = local_server::memcached();
    return memcached ? &*memcached : nullptr;
}

class memo_server_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        server_ = server_for(GetParam());
        if (server_ == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL(GetParam() + " server not found");
        }
        up_->delay = 30ms;
    }

    /// A cache on the server, in a namespace of this test's own, bound to `io`.
    auto make_cache(asio::io_context& io) -> cache {
        auto const* info = ::testing::UnitTest::GetInstance()->current_test_info();
        auto ns = fmt::format("memo-{}-{}", info->name(), std::chrono::steady_clock::now()
                                                               .time_since_epoch()
                                                               .count());
        for (auto& c : ns) {
            c = c == '/' ? '-' : c;
        }
        asiocache::registry caches{io.get_executor()};
        asiocache::backends::register_builtin(caches);
        return caches.make_cache(
            fmt::format("{}://127.0.0.1:{}?namespace={}", GetParam(), server_->port(), ns));
    }

    /// Another "process" on the same namespace as `shared`: a cache with a connection of its
    /// own, bound to `io`.
    auto another_process(asio::io_context& io, cache const& shared) -> cache {
        asiocache::registry r{io.get_executor()};
        asiocache::backends::register_builtin(r);
        auto cfg = asiocache::parse_url(
                       fmt::format("{}://127.0.0.1:{}", GetParam(), server_->port()))
                       .value();
        cfg.options.ns = shared.options().ns;
        return r.make_cache(std::move(cfg));
    }

    local_server const* server_ = nullptr;
    asio::io_context io_;
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

auto param_name(::testing::TestParamInfo<std::string> const& p) -> std::string { return p.param; }

INSTANTIATE_TEST_SUITE_P(servers, memo_server_test, ::testing::Values("redis", "memcached"),
                         param_name);

TEST_P(memo_server_test, hundred_concurrent_callers_make_one_upstream_call) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    auto out = spawn_callers<std::string>(io_.get_executor(), 100,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& o : *out) {
        EXPECT_EQ(o.value, "C1/1#1");
    }
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().hits, 1U);
}

TEST_P(memo_server_test, exception_reaches_every_caller_and_is_not_cached) {
    auto c = make_cache(io_);
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r"});
    up_->fail = true;
    auto out = spawn_callers<std::string>(io_.get_executor(), 20,
                                          [&](int) { return memo("C1", "1"); });
    run_until(io_, [&] { return all_done(out); });
    EXPECT_EQ(up_->calls, 1);
    for (auto const& o : *out) {
        EXPECT_TRUE(o.error);
    }
    up_->fail = false;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
}

// DESIGN.md section 8: a cold-key burst of 1000 concurrent callers in 4 processes sharing one
// server makes exactly one upstream call.
TEST_P(memo_server_test, thousand_callers_in_four_processes_make_one_upstream_call) {
    constexpr int processes = 4;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    for (int p = 0; p < processes; ++p) {
        ios.push_back(std::make_unique<asio::io_context>(1));
    }
    // One namespace for all four: built once, then each process connects on its own.
    auto shared = make_cache(*ios[0]);
    std::vector<cache> caches;
    for (auto& io : ios) {
        caches.push_back(another_process(*io, shared));
    }
    using memo_t = decltype(cached(caches[0], make_fetch(up_), {.key_prefix = "r"}));
    std::vector<memo_t> memos;
    for (auto& c : caches) {
        memos.push_back(cached(c, make_fetch(up_),
                               {.key_prefix = "r",
                                .lease = lease_options{.ttl = 5s, .wait = 5s, .poll_max = 10ms}}));
    }
    std::vector<std::shared_ptr<std::vector<outcome<std::string>>>> outs;
    for (std::size_t p = 0; p < ios.size(); ++p) {
        outs.push_back(spawn_callers<std::string>(ios[p]->get_executor(), 250,
                                                  [&, p](int) { return memos[p]("C1", "1"); }));
    }
    asiocache::test::run_processes(ios, outs, 10s);
    EXPECT_EQ(up_->calls, 1);
    std::uint64_t waits = 0;
    for (std::size_t p = 0; p < ios.size(); ++p) {
        waits += memos[p].stats().lease_waits;
        for (auto const& o : *outs[p]) {
            ASSERT_TRUE(o.done);
            EXPECT_EQ(o.value, "C1/1#1");
        }
    }
    EXPECT_LE(waits, 3U);  // processes that found no value waited on the lease
    for (std::size_t p = 0; p < ios.size(); ++p) {  // connections close before their context
        run(*ios[p], caches[p].close());
    }
    run(*ios[0], shared.close());
}

// A computation that outlives its lease's TTL keeps the lease, renewed while it runs: a second
// process that asks meanwhile waits for the value instead of calling upstream too. Without
// the renewal, the 2 s lease would expire under the 3 s call and the second would compute.
// (2 s, not 1: memcached counts TTLs in whole seconds, so a 1 s lease may end at once.)
TEST_P(memo_server_test, a_long_computation_keeps_its_lease_renewed) {
    up_->delay = 3000ms;
    auto shared = make_cache(io_);
    auto other = another_process(io_, shared);
    lease_options const lease{.ttl = 2s, .wait = 10s, .poll_max = 50ms};
    auto a = cached(shared, make_fetch(up_),
                    {.key_prefix = "r", .lease = lease, .call_timeout = 10s});
    auto b = cached(other, make_fetch(up_),
                    {.key_prefix = "r", .lease = lease, .call_timeout = 10s});
    auto first = spawn_callers<std::string>(io_.get_executor(), 1,
                                            [&](int) { return a("C1", "1"); });
    run_until(io_, [&] { return up_->calls == 1; });
    auto second = spawn_callers<std::string>(io_.get_executor(), 1,
                                             [&](int) { return b("C1", "1"); });
    run_until(io_, [&] { return all_done(first, second); });
    EXPECT_EQ(up_->calls, 1) << "the lease expired under a computation still running";
    EXPECT_EQ((*first)[0].value, "C1/1#1");
    EXPECT_EQ((*second)[0].value, "C1/1#1");
    EXPECT_GE(a.stats().lease_renewals, 3U);
    EXPECT_EQ(b.stats().lease_waits, 1U);
    EXPECT_FALSE(run(io_, shared.exists("r:C1:1\\lease"))) << "released after the call";
    run(io_, other.close());
    run(io_, shared.close());
}

// A hung function whose flight its call timeout has failed stops renewing its lease: the
// lease lapses at its TTL and another process computes, instead of waiting on a lease that a
// result nobody wants keeps alive.
TEST_P(memo_server_test, a_timed_out_computation_lets_its_lease_lapse) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto fetch = [calls](std::string ch, std::string ts) -> asiocache::task<std::string> {
        int n = ++*calls;
        asio::steady_timer t(co_await asio::this_coro::executor, n == 1 ? 30s : 10ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return ch + "/" + ts + "#" + std::to_string(n);
    };
    auto shared = make_cache(io_);
    auto other = another_process(io_, shared);
    lease_options const lease{.ttl = 2s, .wait = 20s, .poll_max = 50ms};
    auto a = cached(shared, fetch, {.key_prefix = "r", .lease = lease, .call_timeout = 500ms});
    auto b = cached(other, fetch, {.key_prefix = "r", .lease = lease, .call_timeout = 5s});
    auto first = spawn_callers<std::string>(io_.get_executor(), 1,
                                            [&](int) { return a("C1", "1"); });
    run_until(io_, [&] { return all_done(first); });
    EXPECT_EQ(code_of((*first)[0].error), errc::timeout);
    auto const begin = std::chrono::steady_clock::now();
    auto second = spawn_callers<std::string>(io_.get_executor(), 1,
                                             [&](int) { return b("C1", "1"); });
    run_until(io_, [&] { return all_done(second); });
    EXPECT_EQ((*second)[0].value, "C1/1#2");
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s) << "waited on a lease kept alive";
    EXPECT_EQ(b.stats().lease_waits, 1U);
    run(io_, other.close());
    run(io_, shared.close());
}

TEST_P(memo_server_test, lease_lock_release_is_token_checked) {
    auto c = make_cache(io_);
    lease_lock a(c, "job", {.ttl = 10s});
    lease_lock b(c, "job", {.ttl = 10s, .wait = 20ms});
    run(io_, a.acquire());
    EXPECT_EQ(run_error(io_, b.acquire()), errc::lock_not_acquired);
    // The compare-and-delete under the release leaves another holder's lease alone.
    auto key = c.build_key("job");
    auto other = asiocache::encode_value(c.value_serializer(), std::string("other"), key);
    EXPECT_FALSE(run(io_, c.backend()->remove_if_equal(key, other, asiocache::deadline::never())));
    EXPECT_TRUE(run(io_, c.exists("job")));
    EXPECT_TRUE(run(io_, a.release()));
    EXPECT_TRUE(run(io_, b.try_acquire()));
    EXPECT_TRUE(run(io_, b.release()));
    EXPECT_FALSE(run(io_, c.exists("job")));
}

TEST_P(memo_server_test, optimistic_lock_detects_a_concurrent_change) {
    auto c = make_cache(io_);
    run(io_, c.set("counter", 1));
    optimistic_lock<int> lock(c, "counter");
    auto v = run(io_, lock.read());
    ASSERT_EQ(v, 1);
    run(io_, c.set("counter", 5));
    EXPECT_EQ(run_error(io_, lock.commit(2)), errc::cas_mismatch);
    v = run(io_, lock.read());
    run(io_, lock.commit(*v + 1));
    EXPECT_EQ(run(io_, c.get<int>("counter")), 6);
}

}  // namespace
