// SPDX-License-Identifier: MIT
// What the memory backend promises beyond the conformance suite: LRU bounds on entries and
// bytes, reclaimed (not merely hidden) expired entries, counters, thread safety, the registry
// factory, and a `try_get` fast path that agrees with the coroutine path.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "manual_clock.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::backends::memory_entry_overhead;
using asiocache::backends::make_memory_backend;
using asiocache::backends::memory_backend;
using asiocache::backends::memory_options;
using asiocache::test::manual_clock;
using asiocache::test::run;
using asiocache::test::run_error;

class memory_backend_test : public ::testing::Test {
protected:
    auto make(memory_options o = {}) -> std::shared_ptr<memory_backend> {
        o.time_source = clock_;
        return make_memory_backend(std::move(o));
    }
    auto set(memory_backend& b, std::string key, std::string value, expiry ttl = {}) {
        run(io_, b.set(std::move(key), std::move(value), ttl, deadline::never()));
    }
    auto has(memory_backend& b, std::string key) -> bool {
        return run(io_, b.exists(std::move(key), deadline::never()));
    }
    static auto charge(std::string const& key, std::string const& value) -> std::uint64_t {
        return asiocache::backends::memory_entry_charge(key.size(), value.size());
    }

    boost::asio::io_context io_;
    std::shared_ptr<manual_clock> clock_ = std::make_shared<manual_clock>();
};

TEST_F(memory_backend_test, traits_describe_an_immediate_backend) {
    auto b = make();
    EXPECT_EQ(b->traits().name, "memory");
    EXPECT_EQ(b->traits().namespace_separator, ":");
    EXPECT_TRUE(b->traits().enforces_deadlines);
    EXPECT_TRUE(b->traits().supports_ttl);
    EXPECT_TRUE(b->traits().supports_clear_namespace);
    EXPECT_EQ(b->shard_count(), 16U);
}

TEST_F(memory_backend_test, a_ttl_beyond_the_clock_range_keeps_the_entry) {
    // now() + ttl in nanoseconds used to overflow for a TTL past about 292 years, so the entry
    // was stored already expired: a set that succeeded and a value that was gone at once.
    auto b = make();
    clock_->advance(std::chrono::hours(24));
    set(*b, "max", "v", expiry(std::chrono::milliseconds::max()));
    set(*b, "millennium", "v", expiry(std::chrono::hours(24 * 365 * 1000)));
    EXPECT_TRUE(has(*b, "max"));
    EXPECT_TRUE(has(*b, "millennium"));
    clock_->advance(std::chrono::hours(24 * 365 * 100));
    EXPECT_TRUE(has(*b, "millennium"));
    auto left = run(io_, b->ttl("millennium", deadline::never()));
    ASSERT_TRUE(left.has_value());
    EXPECT_FALSE(left->is_never());
    EXPECT_GT(left->duration(), std::chrono::hours(24 * 365 * 100));
}

TEST_F(memory_backend_test, shards_must_be_a_power_of_two) {
    for (std::size_t n : {0, 3, 12}) {
        try {
            make_memory_backend({.shards = n});
            ADD_FAILURE() << n << " shards accepted";
        } catch (boost::system::system_error const& e) {
            EXPECT_EQ(e.code(), errc::invalid_argument);
        }
    }
    EXPECT_EQ(make_memory_backend({.shards = 1})->shard_count(), 1U);
    EXPECT_EQ(make_memory_backend({.max_entries = 5, .shards = 16})->shard_count(), 4U);
}

TEST_F(memory_backend_test, evicts_least_recently_used_first) {
    auto b = make({.max_entries = 3, .shards = 1});
    set(*b, "a", "1");
    set(*b, "b", "2");
    set(*b, "c", "3");
    EXPECT_EQ(b->try_get("a"), std::optional<std::string>("1"));  // a is now most recent
    set(*b, "d", "4");                                            // evicts b
    EXPECT_FALSE(has(*b, "b"));
    EXPECT_TRUE(has(*b, "a"));
    set(*b, "c", "33");  // rewriting c makes it recent
    set(*b, "e", "5");   // evicts a
    EXPECT_FALSE(has(*b, "a"));
    EXPECT_TRUE(has(*b, "c"));
    EXPECT_TRUE(has(*b, "d"));
    EXPECT_TRUE(has(*b, "e"));
    auto s = b->stats();
    EXPECT_EQ(s.evictions, 2U);
    EXPECT_EQ(s.entries, 3U);
    EXPECT_EQ(s.expirations, 0U);
}

TEST_F(memory_backend_test, entry_bound_holds_across_shards) {
    auto b = make({.max_entries = 64, .shards = 8});
    for (int i = 0; i < 1000; ++i) {
        set(*b, "k" + std::to_string(i), "v");
    }
    auto s = b->stats();
    EXPECT_LE(s.entries, 64U);
    EXPECT_GE(s.entries, 48U) << "shards evicted far below their share";
    EXPECT_EQ(s.evictions + s.entries, 1000U);
}

TEST_F(memory_backend_test, bytes_are_accounted_and_bounded) {
    std::string const v(100, 'x');
    auto const one = charge("k0", v);
    auto b = make({.max_bytes = static_cast<std::size_t>(3 * one), .shards = 1});
    set(*b, "k0", v);
    EXPECT_EQ(b->stats().bytes, one);
    set(*b, "k1", v);
    set(*b, "k2", v);
    EXPECT_EQ(b->stats().bytes, 3 * one);
    set(*b, "k3", v);  // over budget: k0 goes
    EXPECT_FALSE(has(*b, "k0"));
    EXPECT_EQ(b->stats().bytes, 3 * one);
    EXPECT_EQ(b->stats().evictions, 1U);

    // A smaller value shrinks the count; removing frees it all.
    set(*b, "k3", "y");
    EXPECT_EQ(b->stats().bytes, 2 * one + charge("k3", "y"));
    EXPECT_EQ(run(io_, b->remove("k3", deadline::never())), 1U);
    EXPECT_EQ(b->stats().bytes, 2 * one);

    // A value too large for the whole budget is refused and evicts nothing.
    std::string const huge(static_cast<std::size_t>(3 * one), 'z');
    EXPECT_EQ(run_error(io_, b->set("big", huge, {}, deadline::never())), errc::value_too_large);
    EXPECT_EQ(run_error(io_, b->add("big", huge, {}, deadline::never())), errc::value_too_large);
    EXPECT_FALSE(has(*b, "big"));
    EXPECT_TRUE(has(*b, "k1"));
    EXPECT_TRUE(has(*b, "k2"));
    EXPECT_EQ(b->stats().bytes, 2 * one);

    run(io_, b->clear_all(deadline::never()));
    EXPECT_EQ(b->stats().bytes, 0U);
    EXPECT_EQ(b->stats().entries, 0U);
}

TEST_F(memory_backend_test, oversized_item_fails_a_multi_set_before_storing_anything) {
    auto b = make({.max_bytes = 1000, .shards = 1});
    std::vector<std::pair<std::string, std::string>> items{{"small", "v"},
                                                            {"big", std::string(2000, 'x')}};
    EXPECT_EQ(run_error(io_, b->multi_set(items, {}, deadline::never())), errc::value_too_large);
    EXPECT_FALSE(has(*b, "small"));
}

TEST_F(memory_backend_test, expired_entries_are_reclaimed_on_access) {
    auto b = make();
    set(*b, "k", "v", expiry(1s));
    EXPECT_EQ(b->stats().entries, 1U);
    clock_->advance(1s);
    EXPECT_FALSE(b->try_get("k")->has_value());
    auto s = b->stats();
    EXPECT_EQ(s.entries, 0U);
    EXPECT_EQ(s.bytes, 0U);
    EXPECT_EQ(s.expirations, 1U);
    EXPECT_EQ(s.misses, 1U);
}

TEST_F(memory_backend_test, ttl_has_millisecond_precision) {
    auto b = make();
    set(*b, "k", "v", expiry(1500ms));
    clock_->advance(1499ms);
    EXPECT_TRUE(b->try_get("k")->has_value());
    auto left = run(io_, b->ttl("k", deadline::never()));
    ASSERT_TRUE(left.has_value());
    EXPECT_EQ(left->duration(), 1ms);
    clock_->advance(1ms);
    EXPECT_FALSE(b->try_get("k")->has_value());
}

TEST_F(memory_backend_test, sweep_reclaims_untouched_expired_entries) {
    auto b = make({.sweep_every = 0});  // only the explicit sweep
    for (int i = 0; i < 100; ++i) {
        set(*b, "t" + std::to_string(i), "value", expiry(1s));
    }
    for (int i = 0; i < 10; ++i) {
        set(*b, "p" + std::to_string(i), "value");
    }
    auto const before = b->stats();
    EXPECT_EQ(before.entries, 110U);
    clock_->advance(2s);
    EXPECT_EQ(b->stats().entries, 110U) << "something reclaimed without a sweep";
    EXPECT_EQ(b->sweep(10), 10U) << "a sweep examines no more than it is allowed";
    std::size_t reclaimed = 10;
    while (auto n = b->sweep(1000)) {
        reclaimed += n;
    }
    EXPECT_EQ(reclaimed, 100U);
    auto const after = b->stats();
    EXPECT_EQ(after.entries, 10U);
    EXPECT_EQ(after.expirations, 100U);
    EXPECT_EQ(after.bytes, 10 * charge("p0", "value"))
        << "bytes did not drop by the reclaimed entries";
}

TEST_F(memory_backend_test, writes_drive_a_bounded_sweep) {
    auto b = make({.shards = 1, .sweep_every = 8, .sweep_batch = 4});
    for (int i = 0; i < 6; ++i) {
        set(*b, "t" + std::to_string(i), "v", expiry(1s));  // 6 writes
    }
    set(*b, "live", "v", expiry(1h));  // 7 writes
    clock_->advance(2s);
    set(*b, "w", "v");  // 8th write: sweeps 4 of the 7 entries with a TTL
    EXPECT_EQ(b->stats().expirations, 4U);
    for (int i = 0; i < 8; ++i) {
        set(*b, "w", "v");  // the next sweep finds the other 2 expired ones
    }
    auto s = b->stats();
    EXPECT_EQ(s.expirations, 6U);
    EXPECT_EQ(s.entries, 2U);
    EXPECT_TRUE(has(*b, "live"));
}

TEST_F(memory_backend_test, periodic_sweep_reclaims_and_ends_with_the_backend) {
    auto b = make({.sweep_every = 0});
    for (int i = 0; i < 50; ++i) {
        set(*b, "t" + std::to_string(i), "v", expiry(1s));
    }
    clock_->advance(2s);
    bool ended = false;
    boost::asio::co_spawn(io_, asiocache::backends::sweep_periodically(b, 1ms, 1000),
                          [&](std::exception_ptr const&) { ended = true; });
    io_.restart();
    auto const limit = std::chrono::steady_clock::now() + 5s;
    while (b->stats().expirations < 50 && std::chrono::steady_clock::now() < limit) {
        io_.run_one_for(10ms);
    }
    EXPECT_EQ(b->stats().expirations, 50U);
    EXPECT_EQ(b->stats().entries, 0U);
    b.reset();  // the sweeper holds only a weak reference: it ends at its next tick
    while (!ended && std::chrono::steady_clock::now() < limit) {
        io_.run_one_for(10ms);
    }
    EXPECT_TRUE(ended);
}

TEST_F(memory_backend_test, eviction_of_an_expired_entry_counts_as_expiration) {
    auto b = make({.max_entries = 2, .shards = 1, .sweep_every = 0});
    set(*b, "old", "v", expiry(1s));
    set(*b, "keep", "v");
    clock_->advance(2s);
    set(*b, "new", "v");
    auto s = b->stats();
    EXPECT_EQ(s.expirations, 1U);
    EXPECT_EQ(s.evictions, 0U);
}

TEST_F(memory_backend_test, counts_hits_and_misses) {
    auto b = make();
    cache c{b, {.serializer = asiocache::serializers::bytes()}};
    run(io_, c.set("a", std::string("1")));
    run(io_, c.get<std::string>("a"));
    run(io_, c.get<std::string>("a"));
    run(io_, c.get<std::string>("nope"));
    run(io_, c.multi_get<std::string>({"a", "nope", "nope2"}));
    run(io_, c.gets<std::string>("a"));
    auto s = b->stats();
    EXPECT_EQ(s.hits, 4U);
    EXPECT_EQ(s.misses, 3U);
}

TEST_F(memory_backend_test, clear_counts_exactly_and_skips_other_namespaces) {
    auto b = make();
    for (auto const* k : {"ns:a", "ns:b", "ns:c", "ns2:a", "ns", "nsx"}) {
        set(*b, k, "v");
    }
    set(*b, "ns:dead", "v", expiry(1s));
    clock_->advance(2s);
    EXPECT_EQ(run(io_, b->clear("ns", deadline::never())), 3U);
    EXPECT_EQ(b->stats().entries, 3U);
    EXPECT_EQ(b->stats().expirations, 1U);
}

TEST_F(memory_backend_test, cas_tokens_are_never_reused_for_a_key) {
    auto b = make();
    set(*b, "k", "v1");
    auto first = run(io_, b->gets("k", deadline::never()));
    ASSERT_TRUE(first);
    EXPECT_NE(first->token, 0U);
    run(io_, b->remove("k", deadline::never()));
    set(*b, "k", "v1");  // same bytes, new entry
    EXPECT_FALSE(run(io_, b->cas("k", "v2", first->token, {}, deadline::never())));
    auto second = run(io_, b->gets("k", deadline::never()));
    ASSERT_TRUE(second);
    EXPECT_NE(second->token, first->token);
    EXPECT_TRUE(run(io_, b->cas("k", "v2", second->token, {}, deadline::never())));
}

TEST_F(memory_backend_test, increment_overflow_is_invalid_argument_and_keeps_value) {
    auto b = make();
    auto const max = std::to_string(std::numeric_limits<std::int64_t>::max());
    set(*b, "k", max);
    EXPECT_EQ(run_error(io_, b->increment("k", 1, deadline::never())), errc::invalid_argument);
    EXPECT_EQ(b->try_get("k"), std::optional<std::string>(max));
    set(*b, "m", std::to_string(std::numeric_limits<std::int64_t>::min()));
    EXPECT_EQ(run_error(io_, b->increment("m", -1, deadline::never())), errc::invalid_argument);
    for (auto const* bad : {"", " 1", "1 ", "+1", "1.5", "0x10", "99999999999999999999"}) {
        set(*b, "bad", bad);
        EXPECT_EQ(run_error(io_, b->increment("bad", 1, deadline::never())), errc::not_a_number)
            << '"' << bad << '"';
    }
}

TEST_F(memory_backend_test, increment_keeps_the_ttl_and_creates_without_one) {
    auto b = make();
    set(*b, "k", "1", expiry(10s));
    EXPECT_EQ(run(io_, b->increment("k", 1, deadline::never())), 2);
    auto left = run(io_, b->ttl("k", deadline::never()));
    ASSERT_TRUE(left);
    EXPECT_EQ(left->duration(), 10s);
    EXPECT_EQ(run(io_, b->increment("new", 1, deadline::never())), 1);
    auto none = run(io_, b->ttl("new", deadline::never()));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->is_never());
}

TEST_F(memory_backend_test, a_value_of_another_length_keeps_the_entry_s_ttl_and_place) {
    // A value of another length moves the entry to a new block: its TTL, its place in the LRU
    // list and the bytes charged must follow it, and its version must change.
    auto b = make({.max_entries = 3, .shards = 1});
    set(*b, "n", "9", expiry(10s));
    auto before = run(io_, b->gets("n", deadline::never()));
    ASSERT_TRUE(before);
    set(*b, "b", "2");
    set(*b, "c", "3");
    EXPECT_EQ(run(io_, b->increment("n", 1, deadline::never())), 10);  // "9" -> "10", recent now
    auto after = run(io_, b->gets("n", deadline::never()));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->value, "10");
    EXPECT_NE(after->token, before->token);
    auto left = run(io_, b->ttl("n", deadline::never()));
    ASSERT_TRUE(left);
    EXPECT_EQ(left->duration(), 10s);
    EXPECT_EQ(b->stats().bytes, charge("n", "10") + charge("b", "2") + charge("c", "3"));

    set(*b, "d", "4");  // evicts b, the least recent, not n
    EXPECT_TRUE(has(*b, "n"));
    EXPECT_FALSE(has(*b, "b"));
    EXPECT_TRUE(run(io_, b->cas("n", std::string(300, 'x'), after->token, expiry(10s),
                                deadline::never())));
    EXPECT_EQ(b->try_get("n"), std::optional<std::string>(std::string(300, 'x')));
    set(*b, "e", "5");  // evicts c
    EXPECT_FALSE(has(*b, "c"));
    EXPECT_TRUE(has(*b, "n"));
    clock_->advance(11s);
    EXPECT_FALSE(has(*b, "n"));
    EXPECT_EQ(b->stats().expirations, 1U);
}

TEST_F(memory_backend_test, charges_each_entry_its_block_and_bucket_slot) {
    // The charge is the entry's heap block as the allocator rounds it, plus a bucket slot: never
    // less than the header, never more than memory_entry_overhead beyond key and value.
    for (std::size_t k = 0; k <= 40; ++k) {
        for (std::size_t v = 0; v <= 300; ++v) {
            auto const c = asiocache::backends::memory_entry_charge(k, v);
            ASSERT_GE(c, k + v + asiocache::backends::memory_entry_header) << k << " " << v;
            ASSERT_LE(c, k + v + memory_entry_overhead) << k << " " << v;
        }
    }
    EXPECT_LE(memory_entry_overhead, 100U);
    auto b = make({.shards = 1});
    std::uint64_t expected = 0;
    for (std::size_t n = 1; n <= 64; ++n) {
        auto key = "key" + std::to_string(n);
        std::string value(n * 7, 'v');
        set(*b, key, value);
        expected += charge(key, value);
    }
    EXPECT_EQ(b->stats().bytes, expected);
}

TEST_F(memory_backend_test, many_keys_in_one_shard_survive_growth_and_removal) {
    // 20000 keys in one table: it doubles eleven times, and every key still reads back its
    // own value; removing every other key leaves exactly the rest.
    auto b = make({.shards = 1});
    int const n = 20000;
    for (int i = 0; i < n; ++i) {
        set(*b, "k" + std::to_string(i), "v" + std::to_string(i));
    }
    EXPECT_EQ(b->stats().entries, static_cast<std::uint64_t>(n));
    for (int i = 0; i < n; i += 2) {
        EXPECT_EQ(run(io_, b->remove("k" + std::to_string(i), deadline::never())), 1U);
    }
    EXPECT_EQ(b->stats().entries, static_cast<std::uint64_t>(n / 2));
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
        auto got = b->try_get("k" + std::to_string(i));
        ASSERT_TRUE(got.has_value());
        auto want = i % 2 == 0 ? std::nullopt : std::optional<std::string>("v" + std::to_string(i));
        wrong += *got == want ? 0 : 1;
    }
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(run(io_, b->clear("k1", deadline::never())), 0U) << "no key is k1:...";
    run(io_, b->clear_all(deadline::never()));
    EXPECT_EQ(b->stats().entries, 0U);
    EXPECT_EQ(b->stats().bytes, 0U);
}

TEST_F(memory_backend_test, close_keeps_the_data) {
    auto b = make();
    set(*b, "k", "v");
    run(io_, b->close());
    EXPECT_TRUE(has(*b, "k"));
    EXPECT_EQ(run_error(io_, b->raw({"PING"}, deadline::never())), errc::not_supported);
}

TEST_F(memory_backend_test, fast_path_agrees_with_the_coroutine_path) {
    auto b = make();
    set(*b, "hit", "value");
    set(*b, "empty", "");
    set(*b, "expiring", "soon", expiry(1s));
    set(*b, "expired", "gone", expiry(1s));
    clock_->advance(1s);  // "expired" and "expiring" both reach their TTL
    set(*b, "expiring", "later", expiry(1s));
    for (auto const* k : {"hit", "empty", "expiring", "expired", "missing"}) {
        auto fast = b->try_get(k);
        ASSERT_TRUE(fast.has_value()) << "the memory backend must always answer synchronously";
        auto slow = run(io_, b->get(k, deadline::never()));
        EXPECT_EQ(*fast, slow) << k;
    }
    // Through the facade, with the serializer applied.
    cache c{b, {.serializer = asiocache::serializers::bytes()}};
    EXPECT_EQ(run(io_, c.get<std::string>("hit")), "value");
    EXPECT_EQ(run(io_, c.get<std::string>("empty")), "");
    EXPECT_EQ(run(io_, c.get<std::string>("expiring")), "later");
    EXPECT_FALSE(run(io_, c.get<std::string>("expired")).has_value());
    auto multi = run(io_, c.multi_get<std::string>({"hit", "expired", "empty"}));
    ASSERT_EQ(multi.size(), 3U);
    EXPECT_EQ(multi[0], run(io_, c.get<std::string>("hit")));
    EXPECT_EQ(multi[1], run(io_, c.get<std::string>("expired")));
    EXPECT_EQ(multi[2], run(io_, c.get<std::string>("empty")));
}

// --- the registry factory ---------------------------------------------------------------------

auto from_config(asiocache::backend_config cfg) -> std::shared_ptr<asiocache::backend> {
    boost::asio::io_context io;
    return asiocache::backends::memory_backend_from_config(io.get_executor(), std::move(cfg));
}

auto config_error(asiocache::backend_config cfg) -> boost::system::error_code {
    try {
        from_config(std::move(cfg));
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

TEST(memory_backend_config, takes_its_parameters) {
    asiocache::backend_config cfg{.scheme = "memory",
                                  .params = {{"max_entries", "2"}, {"shards", "1"}}};
    auto b = std::dynamic_pointer_cast<memory_backend>(from_config(cfg));
    ASSERT_TRUE(b);
    EXPECT_EQ(b->shard_count(), 1U);
    boost::asio::io_context io;
    for (auto const* k : {"a", "b", "c"}) {
        run(io, b->set(k, "v", {}, deadline::never()));
    }
    EXPECT_EQ(b->stats().entries, 2U);
    EXPECT_EQ(b->stats().evictions, 1U);

    asiocache::backend_config bytes{.scheme = "memory", .params = {{"max_bytes", "1k"}}};
    auto bb = std::dynamic_pointer_cast<memory_backend>(from_config(bytes));
    EXPECT_EQ(run_error(io, bb->set("k", std::string(2048, 'x'), {}, deadline::never())),
              errc::value_too_large);
}

TEST(memory_backend_config, rejects_what_a_memory_store_cannot_use) {
    using asiocache::backend_config;
    EXPECT_EQ(config_error({.scheme = "memory", .params = {{"max_entires", "2"}}}),
              errc::invalid_config);
    EXPECT_EQ(config_error({.scheme = "memory", .params = {{"shards", "3"}}}),
              errc::invalid_config);
    EXPECT_EQ(config_error({.scheme = "memory", .params = {{"max_entries", "-1"}}}),
              errc::invalid_config);
    EXPECT_EQ(config_error({.scheme = "memory", .endpoints = {{"localhost", 6379}}}),
              errc::invalid_config);
    EXPECT_EQ(config_error({.scheme = "memory", .password = "secret"}), errc::invalid_config);
    EXPECT_FALSE(config_error({.scheme = "memory"}));
}

// --- threads ------------------------------------------------------------------------------------

struct thread_result {
    int adds_won = 0;
    int cas_retries = 0;
    int wrong_reads = 0;
    std::string error;
};

// One thread's share of the work, as one coroutine on that thread's own io_context.
auto hammer(cache c, int id, int rounds, int slots, thread_result* out) -> asiocache::task<void> {
    try {
        for (int i = 0; i < rounds; ++i) {
            co_await c.increment("counter", 1);
            try {
                co_await c.add("slot-" + std::to_string(i % slots), id);
                ++out->adds_won;
            } catch (boost::system::system_error const& e) {
                if (e.code() != errc::key_exists) {
                    throw;
                }
            }
            auto own = "own-" + std::to_string(id) + "-" + std::to_string(i % 16);
            co_await c.set(own, i);
            auto back = co_await c.get<int>(own);
            if (back != i) {
                ++out->wrong_reads;
            }
            // An optimistic increment: gets, then cas until no one raced us.
            for (;;) {
                auto cur = co_await c.gets<int>("cas-counter");
                if (!cur) {
                    try {
                        co_await c.add("cas-counter", 1);
                        break;
                    } catch (boost::system::system_error const& e) {
                        if (e.code() != errc::key_exists) {
                            throw;
                        }
                        continue;
                    }
                }
                if (co_await c.cas("cas-counter", cur->value + 1, cur->token)) {
                    break;
                }
                ++out->cas_retries;
            }
            co_await c.get<int>("shared-" + std::to_string(i % 64));
            co_await c.set("shared-" + std::to_string(i % 64), i);
        }
    } catch (std::exception const& e) {
        out->error = e.what();
    }
}

TEST(memory_backend_threads, concurrent_writers_keep_exact_totals) {
    int const threads = 4;
    int const rounds = 600;
    int const slots = 200;
    auto b = make_memory_backend({.shards = 4});
    cache c{b};
    std::vector<thread_result> results(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            boost::asio::io_context io;
            run(io, hammer(c, t, rounds, slots, &results[static_cast<std::size_t>(t)]), 60s);
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    int adds_won = 0;
    for (auto const& r : results) {
        EXPECT_EQ(r.error, "");
        EXPECT_EQ(r.wrong_reads, 0);
        adds_won += r.adds_won;
    }
    boost::asio::io_context io;
    EXPECT_EQ(adds_won, slots) << "each slot must be added exactly once";
    EXPECT_EQ(run(io, c.get<std::int64_t>("counter")), threads * rounds);
    EXPECT_EQ(run(io, c.get<std::int64_t>("cas-counter")), threads * rounds);
    auto s = b->stats();
    EXPECT_EQ(s.entries, static_cast<std::uint64_t>(2 + slots + threads * 16 + 64));
    EXPECT_EQ(s.evictions, 0U);
}

TEST(memory_backend_threads, bounded_store_stays_within_bounds_under_contention) {
    int const threads = 4;
    int const per_thread = 3000;
    std::size_t const max_entries = 256;
    std::string const value(100, 'v');
    auto b = make_memory_backend({.max_entries = max_entries,
                                  .max_bytes = max_entries * (memory_entry_overhead + 120),
                                  .shards = 8});
    cache c{b, {.serializer = asiocache::serializers::bytes()}};
    std::atomic<int> failures{0};
    auto writer = [&](int t) -> asiocache::task<void> {
        for (int i = 0; i < per_thread; ++i) {
            auto key = "t" + std::to_string(t) + "-" + std::to_string(i);
            co_await c.set(key, value);
            auto back = co_await c.get<std::string>(key);
            if (back && *back != value) {
                ++failures;
            }
        }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            boost::asio::io_context io;
            run(io, writer(t), 60s);
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    EXPECT_EQ(failures.load(), 0);
    auto s = b->stats();
    EXPECT_LE(s.entries, max_entries);
    EXPECT_EQ(s.entries + s.evictions, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_LE(s.bytes, max_entries * (memory_entry_overhead + 120));
}

}  // namespace
