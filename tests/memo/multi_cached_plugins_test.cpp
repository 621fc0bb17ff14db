// SPDX-License-Identifier: MIT
// `multi_cached` (one multi_get, the function for the misses only, one multi_set, the
// caller's order) and the built-in timing and hit/miss plugins.
#include "memo_support.hpp"
#include "scripted_backend.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::errc;
using asiocache::multi_cached;
using asiocache::op;
using asiocache::task;
using asiocache::plugins::hit_miss;
using asiocache::plugins::timing;
using asiocache::test::manual_clock;
using asiocache::test::run;
using asiocache::test::scripted_backend;
using pairs = std::vector<std::pair<int, std::string>>;

/// A batch loader that knows the ids 1..9 and records what it was asked for.
struct loader_state {
    std::vector<std::vector<int>> asked;
};

auto make_loader(std::shared_ptr<loader_state> s) {
    return [s](std::vector<int> ids) -> task<std::map<int, std::string>> {
        s->asked.push_back(ids);
        std::map<int, std::string> out;
        for (int id : ids) {
            if (id >= 1 && id <= 9) {
                out.emplace(id, "user" + std::to_string(id));
            }
        }
        co_return out;
    };
}

class multi_cached_test : public ::testing::Test {
protected:
    boost::asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
    std::shared_ptr<asiocache::backend> backend_ = asiocache::test::memory_on(clock_);
    cache cache_{backend_, {.ns = "t"}};
    timing& timing_ = cache_.add_plugin<timing>();
    std::shared_ptr<loader_state> loader_ = std::make_shared<loader_state>();
};

TEST_F(multi_cached_test, misses_only_reach_the_function_and_order_is_the_callers) {
    auto users = multi_cached(cache_, make_loader(loader_), {.key_prefix = "user", .ttl = 60s});
    EXPECT_EQ(run(io_, users({3, 1})), (pairs{{3, "user3"}, {1, "user1"}}));
    EXPECT_EQ(run(io_, users({2, 1, 3, 4})),
              (pairs{{2, "user2"}, {1, "user1"}, {3, "user3"}, {4, "user4"}}));
    ASSERT_EQ(loader_->asked.size(), 2U);
    EXPECT_EQ(loader_->asked[0], (std::vector<int>{3, 1}));
    EXPECT_EQ(loader_->asked[1], (std::vector<int>{2, 4}));
    // One multi_get per call, one multi_set per call that had misses.
    EXPECT_EQ(timing_.stats(op::multi_get).count, 2U);
    EXPECT_EQ(timing_.stats(op::multi_set).count, 2U);
    EXPECT_EQ(timing_.stats(op::get).count, 0U);
    EXPECT_EQ(run(io_, users({4, 2})), (pairs{{4, "user4"}, {2, "user2"}}));
    EXPECT_EQ(loader_->asked.size(), 2U);
    EXPECT_EQ(timing_.stats(op::multi_set).count, 2U);
    auto s = users.stats();
    EXPECT_EQ(s.hits, 4U);
    EXPECT_EQ(s.misses, 4U);
    EXPECT_EQ(s.upstream_calls, 2U);
    EXPECT_EQ(run(io_, cache_.get<std::string>("user:4")), "user4");
    EXPECT_EQ(users.key(4), "user:4");
}

TEST_F(multi_cached_test, keys_the_function_does_not_return_are_absent_and_not_cached) {
    auto users = multi_cached(cache_, make_loader(loader_), {.key_prefix = "user"});
    EXPECT_EQ(run(io_, users({1, 42})), (pairs{{1, "user1"}}));
    EXPECT_EQ(run(io_, users({42, 1})), (pairs{{1, "user1"}}));
    ASSERT_EQ(loader_->asked.size(), 2U);
    EXPECT_EQ(loader_->asked[1], (std::vector<int>{42}));
}

TEST_F(multi_cached_test, repeated_keys_are_fetched_and_returned_once) {
    auto users = multi_cached(cache_, make_loader(loader_), {.key_prefix = "user"});
    EXPECT_EQ(run(io_, users({2, 2, 1, 2})), (pairs{{2, "user2"}, {1, "user1"}}));
    EXPECT_EQ(loader_->asked[0], (std::vector<int>{2, 1}));
}

TEST_F(multi_cached_test, ttl_expiry_and_skip_and_invalidate) {
    auto users = multi_cached(cache_, make_loader(loader_),
                              {.key_prefix = "user", .ttl = 10s,
                               .skip_cache = [](int id, std::string const&) { return id == 5; }});
    run(io_, users({1, 5}));
    run(io_, users({1, 5}));
    ASSERT_EQ(loader_->asked.size(), 2U);
    EXPECT_EQ(loader_->asked[1], (std::vector<int>{5}));
    clock_->advance(11s);
    run(io_, users({1}));
    EXPECT_EQ(loader_->asked.size(), 3U);
    EXPECT_TRUE(run(io_, users.invalidate(1)));
    run(io_, users({1}));
    EXPECT_EQ(loader_->asked.size(), 4U);
}

// A client passed first, left out of the keys; a result that is a vector of pairs; keys the
// function returns unasked dropped, counted and reported to the plugins.
struct api_client {
    int calls = 0;
};

struct memo_event_plugin final : asiocache::plugin {
    void on_memo(asiocache::memo_event const& e) noexcept override {
        if (e.what == asiocache::memo_event::kind::unrequested_keys) {
            unrequested += e.count;
            function = std::string(e.function);
        }
    }
    std::size_t unrequested = 0;
    std::string function;
};

TEST_F(multi_cached_test, leading_arguments_and_any_map_like_result) {
    auto& events = cache_.add_plugin<memo_event_plugin>();
    auto load = [](api_client* client, std::vector<int> ids)
        -> task<std::vector<std::pair<int, std::string>>> {
        ++client->calls;
        std::vector<std::pair<int, std::string>> out;
        for (int id : ids) {
            out.emplace_back(id, "user" + std::to_string(id));
        }
        out.emplace_back(100, "never asked");  // a batch API that returns more
        out.emplace_back(ids.front(), "a second answer, ignored");
        co_return out;
    };
    auto users = multi_cached(cache_, load, {.key_prefix = "user"});
    api_client one;
    api_client two;
    EXPECT_EQ(run(io_, users(&one, {3, 1})), (pairs{{3, "user3"}, {1, "user1"}}));
    // Another client, same keys: the client is not part of the key, so these are hits.
    EXPECT_EQ(run(io_, users(&two, {1, 3})), (pairs{{1, "user1"}, {3, "user3"}}));
    EXPECT_EQ(one.calls, 1);
    EXPECT_EQ(two.calls, 0);
    EXPECT_EQ(users.stats().unrequested_keys, 2U);
    EXPECT_EQ(events.unrequested, 2U);
    EXPECT_EQ(events.function, "user");
    EXPECT_FALSE(run(io_, cache_.exists("user:100"))) << "an unasked key is never stored";
    EXPECT_EQ(run(io_, users.call_with({.cache_read = false}, &two, {2})),
              (pairs{{2, "user2"}}));
    EXPECT_EQ(two.calls, 1);
}

TEST_F(multi_cached_test, unordered_map_results_work_too) {
    auto load = [](std::vector<int> ids) -> task<std::unordered_map<int, std::string>> {
        std::unordered_map<int, std::string> out;
        for (int id : ids) {
            out.emplace(id, "u" + std::to_string(id));
        }
        co_return out;
    };
    auto users = multi_cached(cache_, load, {.key_prefix = "u"});
    EXPECT_EQ(run(io_, users({5, 4})), (pairs{{5, "u5"}, {4, "u4"}}));
    EXPECT_EQ(run(io_, users({4, 5})), (pairs{{4, "u4"}, {5, "u5"}}));
    EXPECT_EQ(users.stats().upstream_calls, 1U);
    EXPECT_EQ(users.stats().unrequested_keys, 0U);
}

TEST_F(multi_cached_test, cache_read_false_reloads_every_key) {
    auto users = multi_cached(cache_, make_loader(loader_), {.key_prefix = "user"});
    run(io_, users({1, 2}));
    run(io_, users.call_with({.cache_read = false}, {1, 2}));
    ASSERT_EQ(loader_->asked.size(), 2U);
    EXPECT_EQ(loader_->asked[1], (std::vector<int>{1, 2}));
}

TEST(multi_cached_fail_open_test, failing_cache_asks_the_function_for_every_key) {
    boost::asio::io_context io;
    auto backend = std::make_shared<scripted_backend>();
    cache c{backend};
    auto loader = std::make_shared<loader_state>();
    auto users = multi_cached(c, make_loader(loader), {.key_prefix = "user"});
    backend->fail_next(op::multi_get, errc::backend_unavailable);
    EXPECT_EQ(run(io, users({1, 2})), (pairs{{1, "user1"}, {2, "user2"}}));
    EXPECT_EQ(users.stats().cache_errors, 1U);
    EXPECT_EQ(backend->calls(op::multi_set), 0);  // the failed read skipped the write

    auto strict = multi_cached(c, make_loader(loader), {.key_prefix = "u2", .fail_open = false});
    backend->fail_next(op::multi_get, errc::backend_unavailable);
    EXPECT_EQ(asiocache::test::run_error(io, strict({1})), errc::backend_unavailable);
}

// ----- plugins

TEST(timing_plugin_test, buckets_cover_every_value_in_order) {
    std::uint64_t const samples[] = {0, 1, 3, 4, 5, 7, 8, 15, 16, 100, 999, 1000, 123456789,
                                     UINT64_MAX / 2, UINT64_MAX};
    for (auto v : samples) {
        auto b = timing::bucket_of(v);
        ASSERT_LT(b, timing::buckets) << v;
        EXPECT_LE(timing::bucket_floor(b), v) << v;
        if (b + 1 < timing::buckets) {
            EXPECT_GT(timing::bucket_floor(b + 1), v) << v;
            // Buckets are at most a quarter of their floor wide.
            EXPECT_LE(timing::bucket_floor(b + 1) - timing::bucket_floor(b),
                      std::max<std::uint64_t>(1, timing::bucket_floor(b) / 4))
                << v;
        }
    }
}

TEST(timing_plugin_test, counts_times_and_errors_per_operation) {
    timing t;
    using ns = std::chrono::nanoseconds;
    for (int i = 1; i <= 100; ++i) {
        t.after({op::get, "k", 1, ns(i * 1000), 1, {}});
    }
    t.after({op::set, "k", 1, ns(500), 0, make_error_code(errc::timeout)});
    auto g = t.stats(op::get);
    EXPECT_EQ(g.count, 100U);
    EXPECT_EQ(g.errors, 0U);
    EXPECT_EQ(g.min, ns(1000));
    EXPECT_EQ(g.max, ns(100000));
    EXPECT_EQ(g.mean(), ns(50500));
    auto p50 = t.percentile(op::get, 0.5);
    EXPECT_GE(p50, ns(50000));
    EXPECT_LE(p50, ns(50000 * 5 / 4));
    EXPECT_EQ(t.percentile(op::get, 1.0), ns(100000));
    auto s = t.stats(op::set);
    EXPECT_EQ(s.count, 1U);
    EXPECT_EQ(s.errors, 1U);
    EXPECT_EQ(t.stats(op::remove).count, 0U);
    EXPECT_EQ(t.stats(op::remove).min, ns(0));
    EXPECT_EQ(t.percentile(op::remove, 0.5), ns(0));
    t.reset();
    EXPECT_EQ(t.stats(op::get).count, 0U);
}

TEST(hit_miss_plugin_test, ratio_of_keys_found_with_failures_apart) {
    boost::asio::io_context io;
    auto backend = std::make_shared<scripted_backend>();
    cache c{backend};
    auto& ratio = c.add_plugin<hit_miss>();
    run(io, c.set("a", 1));
    run(io, c.set("b", 2));
    run(io, c.get<int>("a"));
    run(io, c.get<int>("zz"));
    run(io, c.multi_get<int>({"a", "b", "c", "d"}));
    run(io, c.exists("a"));  // not a lookup for the ratio
    backend->fail_next(op::get, errc::backend_unavailable);
    EXPECT_THROW(run(io, c.get<int>("a")), boost::system::system_error);
    auto s = ratio.stats();
    EXPECT_EQ(s.lookups, 6U);
    EXPECT_EQ(s.hits, 3U);
    EXPECT_EQ(s.misses(), 3U);
    EXPECT_EQ(s.errors, 1U);
    EXPECT_DOUBLE_EQ(s.hit_ratio(), 0.5);
}

TEST(hit_miss_plugin_test, sees_the_lookups_of_a_memoized_function) {
    boost::asio::io_context io;
    auto clock = std::make_shared<manual_clock>();
    cache c{asiocache::test::memory_on(clock)};
    auto& ratio = c.add_plugin<hit_miss>();
    auto up = std::make_shared<asiocache::test::upstream_state>();
    auto memo = asiocache::cached(c, asiocache::test::make_fetch(up), {.key_prefix = "r"});
    for (int i = 0; i < 4; ++i) {
        run(io, memo("C1", "1"));
    }
    // One miss, the single-flight leader's second look, and three hits.
    EXPECT_EQ(ratio.stats().hits, 3U);
    EXPECT_EQ(ratio.stats().lookups, 5U);
}

}  // namespace
