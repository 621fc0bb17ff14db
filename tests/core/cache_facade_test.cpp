// SPDX-License-Identifier: MIT
// The facade's own logic (keys, TTL resolution, timeouts, plugins, codecs) over a scripted
// backend. Real backends are tested against real servers in the conformance suite.
#include "asiocache/asiocache.hpp"
#include "run_coro.hpp"
#include "scripted_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::errc;
using asiocache::op;
using asiocache::test::run;
using asiocache::test::run_error;
using asiocache::test::scripted_backend;

class cache_facade_test : public ::testing::Test {
protected:
    boost::asio::io_context io_;
    std::shared_ptr<scripted_backend> backend_ = std::make_shared<scripted_backend>();
};

TEST_F(cache_facade_test, namespace_joins_key_with_backend_separator) {
    cache c{backend_, {.ns = "app"}};
    run(io_, c.set("k", std::string("v")));
    EXPECT_EQ(backend_->last_key(), "app:k");
    EXPECT_TRUE(backend_->stored("app:k").has_value());
}

TEST_F(cache_facade_test, per_call_namespace_overrides_cache_namespace) {
    cache c{backend_, {.ns = "app"}};
    run(io_, c.set("k", 1, std::nullopt, {.ns = "other"}));
    EXPECT_EQ(backend_->last_key(), "other:k");
}

TEST_F(cache_facade_test, plain_keys_are_taken_as_built_keys_would_be) {
    // With plain keys the facade reuses the caller's string instead of building a copy: the
    // stored keys must be exactly those build_key makes, whatever namespace applies.
    backend_->claim_plain_keys();
    cache c{backend_, {.ns = "app"}};
    run(io_, c.set("k", std::string("v")));
    EXPECT_EQ(backend_->last_key(), "app:k");
    EXPECT_EQ(run(io_, c.get<std::string>("k")), std::optional<std::string>("v"));
    EXPECT_EQ(backend_->last_key(), "app:k");
    run(io_, c.set("k", std::string("w"), std::nullopt, {.ns = "other"}));
    EXPECT_EQ(backend_->last_key(), "other:k");
    run(io_, c.set("k", std::string("x"), std::nullopt, {.ns = ""}));
    EXPECT_EQ(backend_->last_key(), "k");
    cache bare{backend_};
    EXPECT_EQ(run(io_, bare.get<std::string>("k")), std::optional<std::string>("x"));
    EXPECT_EQ(backend_->last_key(), "k");
    std::string reserved = "k2";
    reserved.reserve(64);  // room for the namespace: it goes in front in place
    run(io_, c.set(std::move(reserved), std::string("y")));
    EXPECT_EQ(backend_->last_key(), "app:k2");
    EXPECT_EQ(c.build_key("k2"), "app:k2");
}

TEST(key_arg_test, holds_short_keys_inline_and_long_ones_on_the_heap) {
    using asiocache::key_arg;
    std::string const at_limit(key_arg::inline_size, 'a');
    std::string const past_limit(key_arg::inline_size + 1, 'b');
    EXPECT_EQ(key_arg("k").view(), "k");
    EXPECT_EQ(key_arg(std::string_view("view")).view(), "view");
    EXPECT_EQ(key_arg(at_limit).view(), at_limit);
    EXPECT_EQ(key_arg(past_limit).view(), past_limit);
    std::string moved = past_limit;
    char const* buffer = moved.data();
    key_arg taken(std::move(moved));
    EXPECT_EQ(taken.view().data(), buffer);  // an rvalue string is moved in, not copied
    EXPECT_EQ(taken.view(), past_limit);
    // Copies and moves own their text: the source may change or die.
    key_arg original(std::string_view("abc"));
    key_arg copy = original;
    original.prepend("x:");
    EXPECT_EQ(copy.view(), "abc");
    EXPECT_EQ(original.view(), "x:abc");
    key_arg moved_arg = std::move(copy);
    EXPECT_EQ(moved_arg.view(), "abc");
    copy = original;
    EXPECT_EQ(copy.view(), "x:abc");
}

TEST(key_arg_test, prepend_stays_inline_to_the_limit_then_moves_to_the_heap) {
    using asiocache::key_arg;
    std::string const head = "ns:";
    std::string const fits(key_arg::inline_size - head.size(), 'f');
    key_arg a(fits);
    a.prepend(head);
    EXPECT_EQ(a.view(), head + fits);
    std::string const over(key_arg::inline_size - head.size() + 1, 'o');
    key_arg b(over);
    b.prepend(head);
    EXPECT_EQ(b.view(), head + over);
    b.prepend(head);  // already on the heap
    EXPECT_EQ(b.view(), head + head + over);
    key_arg c("k");
    c.prepend("");
    EXPECT_EQ(c.view(), "k");
}

TEST_F(cache_facade_test, get_builds_the_stored_key_from_any_key_argument) {
    // Keys reach the backend as build_key makes them, inline or not, with the cache's
    // namespace, a per-call one, or none.
    backend_->claim_plain_keys();
    cache c{backend_, {.ns = "app"}};
    std::string const head = "app:";
    for (std::size_t n : {std::size_t{1}, asiocache::key_arg::inline_size - head.size(),
                          asiocache::key_arg::inline_size - head.size() + 1, std::size_t{300}}) {
        std::string const key(n, 'k');
        run(io_, c.set(key, std::string("v") + std::to_string(n)));
        EXPECT_EQ(run(io_, c.get<std::string>(key)), "v" + std::to_string(n)) << n;
        EXPECT_EQ(backend_->last_key(), head + key) << n;
        EXPECT_EQ(run(io_, c.get<std::string>(std::string_view(key))), "v" + std::to_string(n));
        EXPECT_EQ(run(io_, c.get<std::string>(key, {.ns = "other"})), std::nullopt);
        EXPECT_EQ(backend_->last_key(), "other:" + key) << n;
        EXPECT_EQ(run(io_, c.get<std::string>(key, {.ns = ""})), std::nullopt);
        EXPECT_EQ(backend_->last_key(), key) << n;
    }
    cache built{backend_, {.ns = "app", .key_builder = [](std::string_view k, std::string_view ns) {
                               return std::string(ns) + "/" + std::string(k);
                           }}};
    EXPECT_EQ(run(io_, built.get<std::string>("k")), std::nullopt);
    EXPECT_EQ(backend_->last_key(), "app/k");
}

TEST_F(cache_facade_test, a_get_owns_its_key_when_the_caller_s_string_is_gone) {
    // The key argument is copied into the operation: the string it came from may die before
    // the operation runs (ASan reports a use-after-free if the frame kept a reference).
    cache c{backend_, {.ns = "t"}};
    run(io_, c.set(std::string(80, 'k'), 7));
    run(io_, c.set("short", 8));
    std::vector<std::optional<int>> got;
    {
        auto long_key = std::make_unique<std::string>(80, 'k');
        auto short_key = std::make_unique<std::string>("short");
        auto view = std::string_view(*short_key);
        boost::asio::co_spawn(io_, c.get<int>(*long_key),
                              [&](std::exception_ptr, std::optional<int> v) { got.push_back(v); });
        boost::asio::co_spawn(io_, c.get<int>(view),
                              [&](std::exception_ptr, std::optional<int> v) { got.push_back(v); });
    }
    io_.restart();
    io_.run();
    EXPECT_EQ(got, (std::vector<std::optional<int>>{7, 8}));
}

TEST_F(cache_facade_test, plain_key_head_is_what_build_key_puts_in_front) {
    backend_->claim_plain_keys();
    cache c{backend_, {.ns = "app"}};
    ASSERT_TRUE(c.plain_key_head().has_value());
    EXPECT_EQ(std::string(*c.plain_key_head()) + "k", c.build_key("k"));
    EXPECT_EQ(c.plain_key_head({.ns = "other"}), std::nullopt);  // built: not this head
    cache bare{backend_};
    EXPECT_EQ(bare.plain_key_head(), std::string_view());
    cache built{backend_, {.ns = "app", .key_builder = [](std::string_view k, std::string_view ns) {
                               return std::string(ns) + "/" + std::string(k);
                           }}};
    EXPECT_EQ(built.plain_key_head(), std::nullopt);
    cache unclaimed{std::make_shared<scripted_backend>(), {.ns = "app"}};
    EXPECT_EQ(unclaimed.plain_key_head(), std::nullopt);
}

TEST_F(cache_facade_test, get_at_once_leaves_a_backend_that_must_be_awaited_alone) {
    // A network-like backend cannot answer at once: nothing is looked up, no plugin hears of
    // it, and the key is left for the awaited get.
    cache c{backend_, {.ns = "app"}};
    auto& counted = c.add_plugin<asiocache::plugins::hit_miss>();
    run(io_, c.set("k", 5));
    std::string key = "k";
    EXPECT_FALSE(c.get_at_once<int>(key).has_value());
    EXPECT_EQ(key, "k");
    EXPECT_EQ(backend_->calls(op::get), 0);
    EXPECT_EQ(counted.stats().lookups, 0U);
    EXPECT_EQ(run(io_, c.get<int>(std::move(key))), std::optional<int>(5));
    EXPECT_EQ(counted.stats().lookups, 1U);
}

TEST_F(cache_facade_test, custom_key_builder_is_used) {
    cache c{backend_, {.ns = "app", .key_builder = [](std::string_view k, std::string_view ns) {
                           return std::string(ns) + "/" + std::string(k);
                       }}};
    run(io_, c.set("k", 1));
    EXPECT_EQ(backend_->last_key(), "app/k");
}

TEST_F(cache_facade_test, clear_is_refused_when_a_custom_key_builder_made_the_keys) {
    cache c{backend_, {.ns = "app", .key_builder = [](std::string_view k, std::string_view ns) {
                           return std::string(ns) + "/" + std::string(k);
                       }}};
    EXPECT_EQ(run_error(io_, c.clear()), errc::not_supported);
    EXPECT_EQ(backend_->calls(op::clear), 0) << "nothing may be removed by guesswork";
}

// An operation started on a temporary cache owns a copy of it: the frame must not read the
// destroyed object (ASan would report a use-after-free here before the rvalue overloads).
TEST_F(cache_facade_test, operations_on_a_temporary_cache_are_safe) {
    std::optional<int> got;
    bool done = false;
    boost::asio::co_spawn(io_, cache{backend_, {.ns = "t"}}.set("k", 41), boost::asio::detached);
    auto t = cache{backend_, {.ns = "t"}}.get<int>("k");  // the cache dies here, t lives on
    boost::asio::co_spawn(io_, std::move(t), [&](std::exception_ptr e, std::optional<int> v) {
        EXPECT_FALSE(e);
        got = v;
        done = true;
    });
    io_.run();
    ASSERT_TRUE(done);
    EXPECT_EQ(got, 41);
    EXPECT_EQ(run(io_, cache{backend_, {.ns = "t"}}.increment("n", 2)), 2);
}

TEST_F(cache_facade_test, default_ttl_applies_when_call_gives_none) {
    cache c{backend_, {.ttl = 30s}};
    run(io_, c.set("k", 1));
    EXPECT_EQ(backend_->last_ttl().duration(), 30s);
    run(io_, c.set("k", 1, 5s));
    EXPECT_EQ(backend_->last_ttl().duration(), 5s);
    run(io_, c.set("k", 1, asiocache::expiry::never()));
    EXPECT_TRUE(backend_->last_ttl().is_never());
}

TEST_F(cache_facade_test, sub_millisecond_ttl_rounds_up_not_to_never) {
    cache c{backend_};
    run(io_, c.set("k", 1, std::chrono::microseconds(10)));
    EXPECT_EQ(backend_->last_ttl().duration(), 1ms);
}

TEST_F(cache_facade_test, negative_ttl_is_rejected_before_reaching_backend) {
    cache c{backend_};
    EXPECT_EQ(run_error(io_, c.set("k", 1, -5s)), errc::invalid_argument);
    EXPECT_EQ(backend_->calls(op::set), 0);
}

TEST_F(cache_facade_test, stalled_backend_gives_timeout_and_stays_usable) {
    cache c{backend_, {.timeout = 20ms}};
    backend_->stall_next(op::get);
    EXPECT_EQ(run_error(io_, c.get<int>("k")), errc::timeout);
    run(io_, c.set("k", 7));
    EXPECT_EQ(run(io_, c.get<int>("k")), 7);
}

TEST_F(cache_facade_test, per_call_timeout_overrides_and_zero_disables) {
    cache c{backend_, {.timeout = 10s}};
    backend_->stall_next(op::set);
    EXPECT_EQ(run_error(io_, c.set("k", 1, std::nullopt, {.timeout = 15ms})), errc::timeout);
    run(io_, c.set("k", 2, std::nullopt, {.timeout = 0ms}));
    EXPECT_EQ(run(io_, c.get<int>("k")), 2);
}

TEST_F(cache_facade_test, miss_is_empty_and_stored_null_is_a_hit) {
    cache c{backend_};
    EXPECT_FALSE(run(io_, c.get<int>("absent")).has_value());
    run(io_, c.set("null", std::optional<int>{}));
    EXPECT_EQ(backend_->stored("null"), "null");
    auto hit = run(io_, c.get<std::optional<int>>("null"));
    ASSERT_TRUE(hit.has_value()) << "a stored null must be a hit";
    EXPECT_FALSE(hit->has_value());
}

TEST_F(cache_facade_test, undecodable_bytes_fail_naming_the_key) {
    cache c{backend_, {.ns = "ns"}};
    backend_->put("ns:bad", "{not json");
    try {
        run(io_, c.get<int>("bad"));
        FAIL() << "expected serialization_failed";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
        EXPECT_NE(std::string(e.what()).find("ns:bad"), std::string::npos) << e.what();
    }
}

TEST_F(cache_facade_test, type_mismatch_is_an_error_not_a_default) {
    cache c{backend_};
    run(io_, c.set("k", std::string("text")));
    EXPECT_EQ(run_error(io_, c.get<int>("k")), errc::serialization_failed);
}

TEST_F(cache_facade_test, clear_without_namespace_is_refused) {
    cache c{backend_};
    EXPECT_EQ(run_error(io_, c.clear()), errc::invalid_argument);
    EXPECT_EQ(backend_->calls(op::clear), 0);
}

struct counting_plugin final : asiocache::plugin {
    std::atomic<int> before_count{0};
    std::atomic<int> after_count{0};
    std::atomic<int> hits{0};
    std::atomic<int> errors{0};
    std::mutex mutex;  // hooks run concurrently: the plugin contract says so
    op last_op = op::close;
    std::string last_key;
    void before(asiocache::op_start const&) noexcept override { ++before_count; }
    void after(asiocache::op_result const& r) noexcept override {
        ++after_count;
        hits += static_cast<int>(r.hits);
        if (r.error) {
            ++errors;
        }
        std::lock_guard lock(mutex);
        last_op = r.operation;
        last_key = std::string(r.key);
    }
};

TEST_F(cache_facade_test, plugins_see_every_operation_with_outcome) {
    cache c{backend_, {.ns = "p"}};
    auto& p = c.add_plugin<counting_plugin>();
    run(io_, c.set("a", 1));
    EXPECT_EQ(p.last_op, op::set);
    EXPECT_EQ(p.last_key, "p:a");
    run(io_, c.get<int>("a"));
    run(io_, c.get<int>("missing"));
    backend_->fail_next(op::remove, errc::backend_unavailable);
    EXPECT_EQ(run_error(io_, c.remove("a")), errc::backend_unavailable);
    EXPECT_EQ(p.before_count, 4);
    EXPECT_EQ(p.after_count, 4);
    EXPECT_EQ(p.hits, 1);
    EXPECT_EQ(p.errors, 1);
}

// Copies share their plugins, whenever a plugin is added: a memoized function made before the
// plugin was added (it holds a copy) is seen too.
TEST_F(cache_facade_test, plugins_are_shared_by_copies_even_when_added_later) {
    cache c{backend_, {.ns = "p"}};
    cache copy = c;
    auto twice = [](int x) -> asiocache::task<int> { co_return 2 * x; };
    auto memo = asiocache::cached(c, twice, {.key_prefix = "twice"});
    auto& p = copy.add_plugin<counting_plugin>();
    run(io_, c.set("a", 1));
    EXPECT_EQ(p.after_count, 1) << "the original sees a plugin added to a copy";
    EXPECT_EQ(run(io_, memo(21)), 42);
    EXPECT_GE(p.after_count, 3) << "the memoized function's get and set are seen";
    cache own{c.backend(), c.options()};
    run(io_, own.set("b", 2));
    EXPECT_LT(p.after_count, 5) << "a cache built anew has plugins of its own";
}

TEST_F(cache_facade_test, string_serializer_stores_numbers_as_text) {
    cache c{backend_, {.serializer = asiocache::serializers::string()}};
    run(io_, c.set("n", 42));
    EXPECT_EQ(backend_->stored("n"), "42");
    EXPECT_EQ(run(io_, c.get<int>("n")), 42);
    backend_->put("bad", "4x2");
    EXPECT_EQ(run_error(io_, c.get<int>("bad")), errc::serialization_failed);
}

TEST_F(cache_facade_test, bytes_serializer_rejects_types_without_codec) {
    cache c{backend_, {.serializer = asiocache::serializers::bytes()}};
    EXPECT_EQ(run_error(io_, c.set("k", 3.5)), errc::serialization_failed);
    std::string binary("a\0b\xff", 4);
    run(io_, c.set("b", binary));
    EXPECT_EQ(backend_->stored("b"), binary);
}

TEST_F(cache_facade_test, multi_get_keeps_order_and_counts_hits) {
    cache c{backend_};
    auto& p = c.add_plugin<counting_plugin>();
    run(io_, c.multi_set(std::vector<std::pair<std::string, int>>{{"a", 1}, {"c", 3}}));
    auto got = run(io_, c.multi_get<int>({"a", "b", "c"}));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], 1);
    EXPECT_FALSE(got[1].has_value());
    EXPECT_EQ(got[2], 3);
    EXPECT_EQ(p.hits, 2);
}

}  // namespace

namespace {

// The facade is shared by threads that each run their own io_context: its serializer, options
// and plugins are read concurrently. Totals must come out exact (and TSan must stay quiet).
TEST(cache_facade_threads_test, shared_cache_from_several_threads) {
    auto backend = std::make_shared<scripted_backend>();
    cache c{backend, {.ns = "t"}};
    auto& plugin = c.add_plugin<counting_plugin>();
    constexpr int threads = 4;
    constexpr int per_thread = 200;
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            boost::asio::io_context io;
            auto body = [&]() -> asiocache::task<void> {
                for (int i = 0; i < per_thread; ++i) {
                    co_await c.increment("counter");
                    auto key = fmt::format("k{}-{}", t, i);
                    co_await c.set(key, i);
                    auto v = co_await c.get<int>(key);
                    if (v != i) {
                        ++failures;
                    }
                }
            };
            run(io, body());
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    boost::asio::io_context io;
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(run(io, c.get<int>("counter")), threads * per_thread);
    EXPECT_EQ(plugin.after_count, threads * per_thread * 3 + 1);
    EXPECT_EQ(plugin.hits, threads * per_thread + 1);
}

// A plugin added while other threads run operations sees every operation they start after it
// was added (TSan checks the handover).
TEST(cache_facade_threads_test, a_plugin_added_while_threads_run_sees_their_later_operations) {
    auto backend = std::make_shared<scripted_backend>();
    cache c{backend, {.ns = "t"}};
    auto& first = c.add_plugin<counting_plugin>();
    constexpr int threads = 3;
    constexpr int after = 100;
    std::atomic<bool> added{false};
    std::atomic<int> before_adding{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            boost::asio::io_context io;
            auto body = [&]() -> asiocache::task<void> {
                while (!added.load()) {
                    co_await c.set(fmt::format("k{}", t), t);
                    before_adding.fetch_add(1);
                }
                for (int i = 0; i < after; ++i) {
                    co_await c.get<int>(fmt::format("k{}", t));
                }
            };
            run(io, body());
        });
    }
    while (before_adding.load() < 3 * threads) {
        std::this_thread::yield();
    }
    auto& second = c.add_plugin<counting_plugin>();
    added.store(true);
    for (auto& w : workers) {
        w.join();
    }
    EXPECT_GE(second.after_count, threads * after);
    EXPECT_LE(second.after_count, first.after_count) << "the older plugin sees everything";
    EXPECT_EQ(first.after_count, before_adding.load() + threads * after);
}

}  // namespace
