// SPDX-License-Identifier: MIT
// `cached`: keys, TTLs, per-call switches, negative results, invalidate/refresh, on the memory
// backend with a manual clock; fail-open on the scripted backend, which injects faults.
#include "memo_support.hpp"
#include "scripted_backend.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::cached;
using asiocache::errc;
using asiocache::expiry;
using asiocache::op;
using asiocache::task;
using asiocache::test::make_fetch;
using asiocache::test::manual_clock;
using asiocache::test::raw_bytes;
using asiocache::test::run;
using asiocache::test::run_error;
using asiocache::test::scripted_backend;
using asiocache::test::upstream_state;

struct client {
    int id = 0;  // differs per call; never part of the key
};

class cached_test : public ::testing::Test {
protected:
    auto ttl_of(std::string key) -> std::optional<expiry> {
        return run(io_, cache_.ttl(std::move(key)));
    }

    boost::asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
    std::shared_ptr<asiocache::backend> backend_ = asiocache::test::memory_on(clock_);
    cache cache_{backend_, {.ns = "t"}};
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

// ----- keys

TEST(memo_key_test, default_key_is_every_argument_formatted) {
    EXPECT_EQ(asiocache::format_key_args(std::string("C1"), 42, std::string("1700.5")),
              "C1:42:1700.5");
    EXPECT_EQ(asiocache::format_key_args(), "");
}

TEST(memo_key_test, separators_inside_arguments_never_collide) {
    auto a = asiocache::format_key_args(std::string("a:b"), std::string("c"));
    auto b = asiocache::format_key_args(std::string("a"), std::string("b:c"));
    EXPECT_NE(a, b);
    EXPECT_EQ(a, "a\\:b:c");
    EXPECT_EQ(b, "a:b\\:c");
    // An escape character cannot be used to forge a separator either.
    auto c = asiocache::format_key_args(std::string("a\\"), std::string("b"));
    auto d = asiocache::format_key_args(std::string("a\\:b"));
    EXPECT_NE(c, d);
}

// Hash containers iterate in an order that can differ between equal values and processes, so
// the default key refuses them at compile time, as it refuses pointers; ordered ones pass.
static_assert(!asiocache::detail::key_formattable_v<std::unordered_set<int>>);
static_assert(!asiocache::detail::key_formattable_v<std::unordered_map<std::string, int>>);
static_assert(!asiocache::detail::key_formattable_v<std::vector<std::unordered_set<int>>>);
static_assert(!asiocache::detail::key_formattable_v<std::optional<std::unordered_set<int>>>);
static_assert(asiocache::detail::key_formattable_v<std::set<int>>);
static_assert(asiocache::detail::key_formattable_v<std::map<std::string, int>>);
static_assert(asiocache::detail::key_formattable_v<std::vector<std::string>>);
static_assert(asiocache::detail::key_formattable_v<std::string>);

TEST(memo_key_test, ranges_and_characters_are_formatted_and_escaped) {
    EXPECT_EQ(asiocache::format_key_args(std::vector<int>{1, 2}, ':'), "[1, 2]:\\:");
}

TEST(memo_key_test, key_from_args_picks_positions_in_order) {
    auto k = asiocache::key_from_args<2, 1>();
    EXPECT_EQ(k(client{}, std::string("C1"), std::string("ts")), "ts:C1");
}

TEST(memo_key_test, library_builders_append_in_place_and_agree_with_their_result) {
    using builder = asiocache::memo_key_builder<client, std::string, std::string>;
    client const c{7};
    std::string const ch = "a:b";
    std::string const ts = "1700.1";
    for (builder const& b : {builder(asiocache::key_from_args<2, 1>()),
                             builder(asiocache::noself())}) {
        ASSERT_NE(b.appender(), nullptr);
        std::string appended = "head:";
        b.appender()(appended, c, ch, ts);
        EXPECT_EQ(appended, "head:" + b(c, ch, ts));
    }
    EXPECT_EQ(builder(asiocache::key_from_args<2, 1>())(c, ch, ts), "1700.1:a\\:b");
    // A builder of the caller's own only returns its part; an empty one is false.
    builder own = [](client const&, std::string const& x, std::string const&) { return x; };
    EXPECT_EQ(own.appender(), nullptr);
    EXPECT_EQ(own(c, ch, ts), "a:b");
    EXPECT_FALSE(builder(nullptr));
}

TEST(memo_key_test, noself_leaves_out_the_first_argument) {
    auto k = asiocache::noself();
    EXPECT_EQ(k(client{7}, std::string("C1"), 3), "C1:3");
}

TEST_F(cached_test, key_is_prefix_then_arguments_then_namespaced_by_the_cache) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "replies", .ttl = 60s});
    EXPECT_EQ(memo.key("C1", "17.1"), "replies:C1:17.1");
    run(io_, memo("C1", "17.1"));
    EXPECT_EQ(raw_bytes(io_, *backend_, "t:replies:C1:17.1"), "\"C1/17.1#1\"");
}

TEST_F(cached_test, key_builder_leaves_out_the_client) {
    auto fetch = [up = up_](std::shared_ptr<client> c, std::string ch,
                            std::string ts) -> task<std::string> {
        ++up->calls;
        co_return ch + ts + std::to_string(c->id);
    };
    // shared_ptr<client> has no fmt::formatter: without the key builder this does not compile.
    auto memo = cached(cache_, fetch,
                       {.key_prefix = "replies", .key_builder = asiocache::key_from_args<1, 2>()});
    auto a = run(io_, memo(std::make_shared<client>(client{1}), "C1", "ts"));
    auto b = run(io_, memo(std::make_shared<client>(client{2}), "C1", "ts"));
    EXPECT_EQ(a, "C1ts1");
    EXPECT_EQ(b, "C1ts1");  // served from the cache, whatever the client
    EXPECT_EQ(up_->calls, 1);
    EXPECT_EQ(memo.key(nullptr, "C1", "ts"), "replies:C1:ts");
}

TEST_F(cached_test, noself_key_builder_for_a_method_style_function) {
    auto fetch = [up = up_](client self, std::string ch) -> task<std::string> {
        ++up->calls;
        co_return ch + std::to_string(self.id);
    };
    auto memo = cached(cache_, fetch, {.key_prefix = "m", .key_builder = asiocache::noself()});
    EXPECT_EQ(run(io_, memo(client{1}, "C1")), "C11");
    EXPECT_EQ(run(io_, memo(client{2}, "C1")), "C11");
    EXPECT_EQ(memo.key(client{3}, "C1"), "m:C1");
}

TEST_F(cached_test, empty_key_prefix_is_rejected) {
    try {
        auto memo = cached(cache_, make_fetch(up_), {.ttl = 1s});
        ADD_FAILURE() << "constructed";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_argument);
    }
}

TEST_F(cached_test, hits_are_read_under_the_key_the_miss_stored) {
    // A hit's key is built apart from the miss's (in a per-thread buffer, with the cache's
    // namespace in front, or through the facade for a namespace of the memo's own): whatever
    // the namespace and the characters the key must escape, a hit reads what the miss wrote.
    auto plain = cached(cache_, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    auto own_ns = cached(cache_, make_fetch(up_), {.key_prefix = "r", .ttl = 60s, .ns = "o"});
    cache bare{backend_};
    auto no_ns = cached(bare, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    for (auto* memo : {&plain, &own_ns, &no_ns}) {
        for (std::string const& ch :
             std::vector<std::string>{"C1", "a:b", "a\\:b", std::string(70, 'x')}) {
            auto first = run(io_, (*memo)(ch, "1"));
            EXPECT_EQ(run(io_, (*memo)(ch, "1")), first) << ch;
        }
        EXPECT_EQ(memo->stats().hits, 4U);
        EXPECT_EQ(memo->stats().misses, 4U);
    }
    EXPECT_EQ(up_->calls, 12);
    EXPECT_EQ(raw_bytes(io_, *backend_, "t:r:a\\:b:1"), "\"a:b/1#2\"");
    EXPECT_EQ(raw_bytes(io_, *backend_, "o:r:a\\:b:1"), "\"a:b/1#6\"");
    EXPECT_EQ(raw_bytes(io_, *backend_, "r:a\\:b:1"), "\"a:b/1#10\"");
}

TEST_F(cached_test, the_key_builder_runs_once_per_call) {
    // Counted on a hit, on a miss (whose hit attempt built the key already) and on a builder
    // that throws: the call fails with the builder's exception after one run.
    int built = 0;
    bool refuse = false;
    auto memo = cached(cache_, make_fetch(up_),
                       {.key_prefix = "r",
                        .key_builder =
                            [&built, &refuse](std::string const& ch, std::string const& ts) {
                                ++built;
                                if (refuse) {
                                    throw std::invalid_argument("no key for " + ch);
                                }
                                return ch + "/" + ts;
                            },
                        .ttl = 60s});
    auto first = run(io_, memo("C1", "1"));
    EXPECT_EQ(built, 1) << "a miss";
    EXPECT_EQ(run(io_, memo("C1", "1")), first);
    EXPECT_EQ(built, 2) << "a hit";
    EXPECT_EQ(raw_bytes(io_, *backend_, "t:r:C1/1"), "\"" + first + "\"");
    refuse = true;
    try {
        run(io_, memo("C2", "1"));
        ADD_FAILURE() << "a call whose key builder threw went on";
    } catch (std::invalid_argument const& e) {
        EXPECT_STREQ(e.what(), "no key for C2");
    }
    EXPECT_EQ(built, 3) << "a builder that throws";
    EXPECT_EQ(up_->calls, 1);
}

/// Runs `once` from its first `before` hook of a get, inline, as a plugin must not but might.
struct inline_hook final : asiocache::plugin {
    std::function<void()> once;
    void before(asiocache::op_start const& e) noexcept override {
        if (e.operation == op::get && once) {
            auto f = std::move(once);
            once = nullptr;
            f();
        }
    }
};

TEST_F(cached_test, a_memoized_call_run_inline_by_a_plugin_hook_does_not_disturb_the_hit) {
    // A hit builds its key in a per-thread buffer; a hook that runs another memoized call
    // inline, during that hit's lookup, must not write into it (a long key would also move
    // it): the inner call builds a key of its own, and both answer for their own keys.
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    auto first = run(io_, memo("C1", "1"));
    auto& hook = cache_.add_plugin<inline_hook>();
    std::string const long_channel(300, 'c');
    std::optional<std::string> inner;
    int calls_when_spawned = 0;
    hook.once = [&] {
        boost::asio::co_spawn(io_, memo(long_channel, "2"),
                              [&inner](std::exception_ptr, std::string v) { inner = v; });
        calls_when_spawned = up_->calls;
    };
    EXPECT_EQ(run(io_, memo("C1", "1")), first) << "the outer call is a hit on its own key";
    EXPECT_EQ(calls_when_spawned, 2) << "the inner call ran inline (the case under test)";
    ASSERT_TRUE(inner);
    EXPECT_EQ(*inner, long_channel + "/2#2");
    EXPECT_EQ(run(io_, memo(long_channel, "2")), *inner);
    EXPECT_EQ(up_->calls, 2);
    EXPECT_EQ(memo.stats().hits, 2U);
}

// ----- hits, TTLs, switches

TEST_F(cached_test, second_call_is_served_from_the_cache_until_the_ttl_passes) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .ttl = 60s});
    auto a = run(io_, memo("C1", "1"));
    auto b = run(io_, memo("C1", "1"));
    auto c = run(io_, memo("C2", "1"));
    EXPECT_EQ(a, "C1/1#1");
    EXPECT_EQ(b, a);
    EXPECT_EQ(c, "C2/1#2");
    EXPECT_EQ(up_->calls, 2);
    auto s = memo.stats();
    EXPECT_EQ(s.hits, 1U);
    EXPECT_EQ(s.misses, 2U);
    EXPECT_EQ(s.upstream_calls, 2U);
    EXPECT_EQ(ttl_of("r:C1:1"), expiry(60s));
    clock_->advance(59s);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    clock_->advance(2s);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#3");
}

TEST_F(cached_test, no_ttl_means_the_cache_default) {
    cache c{backend_, {.ttl = 30s}};
    auto memo = cached(c, make_fetch(up_), {.key_prefix = "r"});
    run(io_, memo("C1", "1"));
    EXPECT_EQ(run(io_, c.ttl("r:C1:1")), expiry(30s));
}

TEST_F(cached_test, ttl_can_be_computed_from_the_result) {
    auto memo = cached(cache_, make_fetch(up_),
                       {.key_prefix = "r", .ttl = 60s, .ttl_for = [](std::string const& v) {
                            return expiry(std::chrono::seconds(v.size()));
                        }});
    run(io_, memo("C1", "1"));  // "C1/1#1"
    EXPECT_EQ(ttl_of("r:C1:1"), expiry(6s));
}

TEST_F(cached_test, skip_cache_returns_without_storing) {
    auto memo = cached(cache_, make_fetch(up_),
                       {.key_prefix = "r", .skip_cache = [](std::string const& v) {
                            return v.starts_with("C1");
                        }});
    run(io_, memo("C1", "1"));
    run(io_, memo("C1", "1"));
    EXPECT_EQ(up_->calls, 2);
    EXPECT_FALSE(run(io_, cache_.exists("r:C1:1")));
    run(io_, memo("C2", "1"));
    EXPECT_TRUE(run(io_, cache_.exists("r:C2:1")));
}

TEST_F(cached_test, cache_read_false_calls_again_and_stores) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    run(io_, memo("C1", "1"));
    auto fresh = run(io_, memo.call_with({.cache_read = false}, "C1", "1"));
    EXPECT_EQ(fresh, "C1/1#2");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(up_->calls, 2);
}

TEST_F(cached_test, cache_write_false_does_not_store) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    run(io_, memo.call_with({.cache_write = false}, "C1", "1"));
    EXPECT_FALSE(run(io_, cache_.exists("r:C1:1")));
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
}

TEST_F(cached_test, refresh_replaces_and_invalidate_removes) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    run(io_, memo("C1", "1"));
    EXPECT_EQ(run(io_, memo.refresh("C1", "1")), "C1/1#2");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_TRUE(run(io_, memo.invalidate("C1", "1")));
    EXPECT_FALSE(run(io_, memo.invalidate("C1", "1")));
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#3");
}

TEST_F(cached_test, exceptions_are_returned_and_never_cached) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    up_->fail = true;
    EXPECT_THROW(run(io_, memo("C1", "1")), std::runtime_error);
    EXPECT_FALSE(run(io_, cache_.exists("r:C1:1")));
    up_->fail = false;
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
}

TEST_F(cached_test, copies_share_the_cache_and_the_counters) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    auto copy = memo;
    run(io_, memo("C1", "1"));
    EXPECT_EQ(run(io_, copy("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().hits, 1U);
}

// ----- negative results

TEST_F(cached_test, empty_optional_is_cached_and_served_as_a_hit_with_its_own_ttl) {
    auto lookup = [up = up_](int id) -> task<std::optional<std::string>> {
        ++up->calls;
        if (id == 0) {
            co_return std::nullopt;
        }
        co_return "user" + std::to_string(id);
    };
    auto memo = cached(cache_, lookup, {.key_prefix = "user", .ttl = 60s, .negative_ttl = 5s});
    EXPECT_EQ(run(io_, memo(0)), std::nullopt);
    EXPECT_EQ(raw_bytes(io_, *backend_, "t:user:0"), "null");
    EXPECT_EQ(ttl_of("user:0"), expiry(5s));
    EXPECT_EQ(run(io_, memo(0)), std::nullopt);
    EXPECT_EQ(up_->calls, 1);
    EXPECT_EQ(memo.stats().hits, 1U);
    EXPECT_EQ(run(io_, memo(3)), "user3");
    EXPECT_EQ(ttl_of("user:3"), expiry(60s));
    clock_->advance(6s);
    EXPECT_EQ(run(io_, memo(0)), std::nullopt);  // the negative entry expired first
    EXPECT_EQ(run(io_, memo(3)), "user3");
    EXPECT_EQ(up_->calls, 3);
}

TEST_F(cached_test, empty_string_is_a_negative_result_too) {
    auto lookup = [up = up_](int) -> task<std::string> {
        ++up->calls;
        co_return std::string();
    };
    auto memo = cached(cache_, lookup, {.key_prefix = "s", .ttl = 60s, .negative_ttl = 2s});
    EXPECT_EQ(run(io_, memo(1)), "");
    EXPECT_EQ(run(io_, memo(1)), "");
    EXPECT_EQ(up_->calls, 1);
    EXPECT_EQ(ttl_of("s:1"), expiry(2s));
}

TEST_F(cached_test, custom_negative_test_picks_its_ttl) {
    auto count = [up = up_](int n) -> task<int> {
        ++up->calls;
        co_return n;
    };
    auto memo = cached(cache_, count,
                       {.key_prefix = "n", .ttl = 60s, .negative_ttl = 1s,
                        .is_negative = [](int const& v) { return v < 0; }});
    run(io_, memo(-1));
    EXPECT_EQ(ttl_of("n:-1"), expiry(1s));
    run(io_, memo(0));
    EXPECT_EQ(ttl_of("n:0"), expiry(60s));
}

// ----- fail-open, with injected faults

struct error_plugin final : asiocache::plugin {
    void after(asiocache::op_result const& r) noexcept override {
        if (r.error) {
            ++errors;
            last = r.error;
        }
    }
    std::atomic<int> errors{0};
    boost::system::error_code last;
};

class fail_open_test : public ::testing::Test {
protected:
    boost::asio::io_context io_;
    std::shared_ptr<scripted_backend> backend_ = std::make_shared<scripted_backend>();
    cache cache_{backend_, {.ns = "t"}};
    std::shared_ptr<upstream_state> up_ = std::make_shared<upstream_state>();
};

TEST_F(fail_open_test, failing_cache_still_returns_the_result_and_counts_it) {
    auto& plugin = cache_.add_plugin<error_plugin>();
    std::vector<boost::system::error_code> seen;
    auto memo = cached(cache_, make_fetch(up_),
                       {.key_prefix = "r",
                        .on_cache_error = [&](boost::system::error_code ec, std::string_view key) {
                            seen.push_back(ec);
                            EXPECT_EQ(key, "r:C1:1");
                        }});
    backend_->fail_next(op::get, errc::backend_unavailable);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().cache_errors, 1U);
    EXPECT_EQ(plugin.errors, 1);
    EXPECT_EQ(plugin.last, errc::backend_unavailable);
    ASSERT_EQ(seen.size(), 1U);
    EXPECT_EQ(seen[0], errc::backend_unavailable);
    // After a failed read the call does not write: the cache is known to be failing.
    EXPECT_EQ(backend_->calls(op::set), 0);

    backend_->fail_next(op::set, errc::backend_unavailable);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(memo.stats().cache_errors, 2U);
    EXPECT_EQ(plugin.errors, 2);
}

TEST_F(fail_open_test, timed_out_cache_still_returns_the_result) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .cache_timeout = 20ms});
    backend_->stall_next(op::get);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().cache_errors, 1U);
}

TEST_F(fail_open_test, fail_open_false_propagates_the_cache_error) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .fail_open = false});
    backend_->fail_next(op::get, errc::backend_unavailable);
    EXPECT_EQ(run_error(io_, memo("C1", "1")), errc::backend_unavailable);
    EXPECT_EQ(up_->calls, 0);
    backend_->fail_next(op::set, errc::timeout);
    EXPECT_EQ(run_error(io_, memo("C1", "1")), errc::timeout);
    EXPECT_EQ(memo.stats().cache_errors, 2U);
}

TEST_F(fail_open_test, corrupt_stored_value_is_recomputed_and_overwritten) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    backend_->put("t:r:C1:1", "{not json");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(memo.stats().cache_errors, 1U);
    // Only the entry was bad, not the backend: the fresh result replaced it.
    EXPECT_EQ(backend_->stored("t:r:C1:1"), "\"C1/1#1\"");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
}

TEST_F(fail_open_test, fail_open_without_single_flight_behaves_the_same) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r", .single_flight = false});
    backend_->fail_next(op::get, errc::backend_unavailable);
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#1");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
    EXPECT_EQ(run(io_, memo("C1", "1")), "C1/1#2");
}

TEST_F(fail_open_test, invalidate_reports_cache_errors) {
    auto memo = cached(cache_, make_fetch(up_), {.key_prefix = "r"});
    backend_->fail_next(op::remove, errc::backend_unavailable);
    EXPECT_EQ(run_error(io_, memo.invalidate("C1", "1")), errc::backend_unavailable);
}

// memo_fn: a memoized lambda kept in a class member, named by its signature only.
class replies_service {
public:
    replies_service(cache c, std::shared_ptr<upstream_state> up)
        : replies(cached(std::move(c), make_fetch(std::move(up)), {.key_prefix = "replies"})) {}
    asiocache::memo_fn<std::string(std::string, std::string)> replies;
};

TEST_F(cached_test, memo_fn_holds_a_memoized_function_by_its_signature) {
    replies_service svc(cache_, up_);
    EXPECT_EQ(run(io_, svc.replies("C1", "1")), "C1/1#1");
    EXPECT_EQ(run(io_, svc.replies("C1", "1")), "C1/1#1");
    EXPECT_EQ(up_->calls, 1);
    auto copy = svc.replies;  // copies share the memoized function
    EXPECT_EQ(copy.stats().hits, 1U);
    EXPECT_EQ(run(io_, copy.refresh("C1", "1")), "C1/1#2");
    EXPECT_EQ(run(io_, svc.replies("C1", "1")), "C1/1#2");
    EXPECT_EQ(copy.key("C1", "1"), "replies:C1:1");
    EXPECT_TRUE(run(io_, copy.invalidate("C1", "1")));
    EXPECT_EQ(copy.in_flight(), 0U);
    std::vector<asiocache::memo_fn<std::string(std::string, std::string)>> several{svc.replies};
    EXPECT_EQ(run(io_, several[0]("C1", "1")), "C1/1#3");
    asiocache::memo_fn<std::string(std::string, std::string)> empty;
    EXPECT_FALSE(empty);
    EXPECT_THROW(empty("C1", "1"), boost::system::system_error);
}

}  // namespace
