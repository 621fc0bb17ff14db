// SPDX-License-Identifier: MIT
// What is particular to memcached, against real memcached servers: TTL conversion and `ttl()`,
// key layout and validation, the item size limit, namespace generations, increment beyond the
// range of incr/decr (keeping the TTL), CAS, raw commands, the URL parameters, and the meta
// protocol client itself: pipelining from several threads, deadlines against a server that
// never answers, the in-flight bound, cancellation, health checks, close and reconnect, and a
// server killed mid-load. Several servers: memcached_pool_test.cpp.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memcached.hpp"
#include "fault_server.hpp"
#include "memcached_env.hpp"
#include "meta_fake.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::backends::make_memcached_backend;
using asiocache::backends::memcached_expiration;
using asiocache::backends::memcached_options;
using asiocache::test::chaos_proxy;
using asiocache::test::fault_server;
using asiocache::test::local_server;
using asiocache::test::meta_command;
using asiocache::test::reply_plan;
using asiocache::test::run;
using asiocache::test::run_error;

auto soon() -> deadline { return deadline::after(5s); }

constexpr std::int64_t thirty_days = 30LL * 24 * 3600;

// --- Pure conversions (no server) --------------------------------------------------------------

TEST(memcached_expiration_test, rounds_milliseconds_up_to_whole_seconds) {
    EXPECT_EQ(memcached_expiration(expiry::never(), 1'700'000'000), 0);
    EXPECT_EQ(memcached_expiration(1ms, 1'700'000'000), 1);
    EXPECT_EQ(memcached_expiration(1000ms, 1'700'000'000), 1);
    EXPECT_EQ(memcached_expiration(1001ms, 1'700'000'000), 2);
    EXPECT_EQ(memcached_expiration(1500ms, 1'700'000'000), 2);
}

TEST(memcached_expiration_test, beyond_thirty_days_becomes_absolute_unix_time) {
    std::int64_t const now = 1'700'000'000;
    EXPECT_EQ(memcached_expiration(std::chrono::seconds(thirty_days), now), thirty_days);
    EXPECT_EQ(memcached_expiration(std::chrono::seconds(thirty_days) + 1ms, now),
              now + thirty_days + 1);
    EXPECT_EQ(memcached_expiration(std::chrono::hours(24 * 365), now), now + 365 * 24 * 3600);
}

TEST(memcached_expiration_test, rejects_times_beyond_memcached_32_bit_field) {
    std::int64_t const now = 1'700'000'000;
    try {
        memcached_expiration(std::chrono::hours(24 * 365 * 100), now);
        ADD_FAILURE() << "a ttl ending after 2038 was accepted";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_argument);
    }
}

class memcached_keys_test : public ::testing::Test {
protected:
    auto key_error(std::string_view ns, std::string_view key) -> boost::system::error_code {
        try {
            (void)backend_->build_key(ns, key);
        } catch (boost::system::system_error const& e) {
            return e.code();
        }
        return {};
    }
    asio::io_context io_;
    // No connection is made until an operation runs.
    std::shared_ptr<asiocache::backend> backend_ = make_memcached_backend(io_.get_executor());
    std::shared_ptr<asiocache::backend> generations_ =
        make_memcached_backend(io_.get_executor(), {.namespace_generations = true});
};

TEST_F(memcached_keys_test, joins_like_aiocache_with_spaces_as_underscores) {
    EXPECT_EQ(backend_->traits().namespace_separator, "");
    EXPECT_EQ(backend_->build_key("app", "user 1"), "appuser_1");
    EXPECT_EQ(backend_->build_key("my ns", "k"), "my_nsk");
    EXPECT_EQ(backend_->build_key("", "k"), "k");
    EXPECT_EQ(backend_->build_key("", "caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 is kept
}

TEST_F(memcached_keys_test, rejects_rather_than_truncates_long_keys) {
    std::string const prefix(250, 'a');
    EXPECT_EQ(backend_->build_key("", prefix), prefix);
    EXPECT_EQ(key_error("", prefix + "1"), errc::invalid_key);
    EXPECT_EQ(key_error("", prefix + "2"), errc::invalid_key);
    EXPECT_EQ(key_error("ns", std::string(249, 'b')), errc::invalid_key);
    EXPECT_EQ(backend_->traits().max_key_size, 250U);
}

TEST_F(memcached_keys_test, rejects_control_characters_and_empty_keys) {
    EXPECT_EQ(key_error("", "a\nb"), errc::invalid_key);
    EXPECT_EQ(key_error("", "a\rb"), errc::invalid_key);
    EXPECT_EQ(key_error("", std::string("a\0b", 3)), errc::invalid_key);
    EXPECT_EQ(key_error("", "a\tb"), errc::invalid_key);
    EXPECT_EQ(key_error("", "a\x7f"), errc::invalid_key);
    EXPECT_EQ(key_error("", ""), errc::invalid_key);
    EXPECT_EQ(key_error("ns\n", "k"), errc::invalid_key);
}

TEST_F(memcached_keys_test, generation_mode_reserves_its_prefix_and_budget) {
    EXPECT_FALSE(key_error("", "~:g:x"));  // only reserved in generation mode
    EXPECT_THROW((void)generations_->build_key("", "~:g:x"), boost::system::system_error);
    EXPECT_NO_THROW((void)generations_->build_key("", "~x"));
    // "~:" + "2" + ":" + "ns" + ":" + 20 digits + ":" = 28 bytes of overhead.
    EXPECT_NO_THROW((void)generations_->build_key("ns", std::string(222, 'k')));
    EXPECT_THROW((void)generations_->build_key("ns", std::string(223, 'k')),
                 boost::system::system_error);
    EXPECT_TRUE(generations_->traits().supports_clear_namespace);
    EXPECT_FALSE(backend_->traits().supports_clear_namespace);
}

// --- URL parameters (no connection is made) ------------------------------------------------------

// Builds a backend from `params` on two endpoints; returns the invalid_config message, or ""
// when the factory accepted them.
auto config_error(std::map<std::string, std::string> params) -> std::string {
    asio::io_context io;
    asiocache::backend_config cfg{.scheme = "memcached",
                                  .endpoints = {{"127.0.0.1", 0}, {"127.0.0.1", 11299}}};
    for (auto& [k, v] : params) {
        cfg.params[k] = v;
    }
    try {
        auto b = asiocache::backends::memcached_backend_from_config(io.get_executor(), cfg);
        EXPECT_TRUE(b != nullptr);
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_config) << e.what();
        return e.what();
    }
    return {};
}

TEST(memcached_config_test, factory_takes_the_client_parameters) {
    asio::io_context io;
    asiocache::backend_config cfg{.scheme = "memcached",
                                  .endpoints = {{"127.0.0.1", 0}, {"127.0.0.1", 11299}},
                                  .params = {{"binary", "false"},
                                             {"connections", "2"},
                                             {"max_in_flight", "64"},
                                             {"connect_timeout", "250ms"},
                                             {"reconnect_min", "10ms"},
                                             {"reconnect_max", "2s"},
                                             {"health_check", "1s"},
                                             {"namespace_generations", "on"},
                                             {"item_size_max", "2m"}}};
    auto b = asiocache::backends::memcached_backend_from_config(io.get_executor(), cfg);
    EXPECT_TRUE(b->traits().supports_clear_namespace);
    EXPECT_TRUE(b->traits().enforces_deadlines);
    EXPECT_TRUE(b->traits().supports_ttl);
    // Aliases: pool_size for connections, retry_timeout for reconnect_max.
    EXPECT_EQ(config_error({{"pool_size", "3"}, {"retry_timeout", "500ms"}}), "");
}

TEST(memcached_config_test, unknown_and_malformed_parameters_are_refused_by_name) {
    auto bogus = config_error({{"bogus", "1"}});
    EXPECT_NE(bogus.find("bogus"), std::string::npos) << bogus;
    for (auto const& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"connections", "many"},
             {"max_in_flight", "-1"},
             {"connect_timeout", "soon"},
             {"reconnect_min", "x"},
             {"health_check", "1 fortnight"},
             {"item_size_max", "huge"},
             {"binary", "maybe"}}) {
        auto what = config_error({{name, value}});
        EXPECT_NE(what.find(name), std::string::npos) << name << "=" << value << ": '" << what
                                                      << "'";
    }
}

TEST(memcached_config_test, parameters_of_the_former_client_name_their_replacement) {
    // binary=true, threads, max_queue, io_timeout and worker_spin_us belonged to the
    // libmemcached worker pool: each is refused, naming itself and what replaces it.
    struct former {
        std::string name;
        std::string value;
        std::string replacement;  // a word the message must hold
    };
    for (auto const& f : std::vector<former>{{"binary", "true", "meta"},
                                             {"threads", "4", "connections"},
                                             {"max_queue", "100", "max_in_flight"},
                                             {"io_timeout", "1s", "cache"},
                                             {"worker_spin_us", "20", ""}}) {
        auto what = config_error({{f.name, f.value}});
        ASSERT_FALSE(what.empty()) << f.name << "=" << f.value << " was accepted";
        EXPECT_NE(what.find(f.name), std::string::npos) << what;
        EXPECT_NE(what.find(f.replacement), std::string::npos)
            << f.name << ": '" << what << "' does not name '" << f.replacement << "'";
    }
}

// --- Against the shared server -----------------------------------------------------------------

class memcached_backend_test : public ::testing::Test {
protected:
    void SetUp() override {
        backend_ = asiocache::test::fresh_memcached_backend(io_, {});
        if (!backend_) {
            ASIOCACHE_SKIP_OR_FAIL("memcached not found");
        }
    }
    auto get(std::string key) -> std::optional<std::string> {
        return run(io_, backend_->get(std::move(key), soon()));
    }
    void set(std::string key, std::string value, expiry ttl = {}) {
        run(io_, backend_->set(std::move(key), std::move(value), ttl, soon()));
    }

    asio::io_context io_;
    std::shared_ptr<asiocache::backend> backend_;
};

TEST_F(memcached_backend_test, facade_keys_reach_the_server_in_aiocache_layout) {
    cache c{backend_, {.ns = "app", .serializer = asiocache::serializers::string()}};
    run(io_, c.set("user 1", std::string("v")));
    EXPECT_EQ(get("appuser_1"), "v");
    EXPECT_EQ(run(io_, c.get<std::string>("user 1")), "v");
    EXPECT_EQ(run_error(io_, c.set("x", std::string(1, 'v'), {}, {.ns = std::string(250, 'n')})),
              errc::invalid_key);
    EXPECT_EQ(run_error(io_, c.get<std::string>("bad\nkey")), errc::invalid_key);
}

TEST_F(memcached_backend_test, keys_from_a_custom_key_builder_are_checked_too) {
    EXPECT_EQ(run_error(io_, backend_->get("has space", soon())), errc::invalid_key);
    EXPECT_EQ(run_error(io_, backend_->set(std::string(251, 'k'), "v", {}, soon())),
              errc::invalid_key);
}

TEST_F(memcached_backend_test, binary_values_and_utf8_keys_round_trip) {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all += static_cast<char>(i);
    }
    set("bin\xc3\xa9", all + "\r\nEND\r\n");
    EXPECT_EQ(get("bin\xc3\xa9"), all + "\r\nEND\r\n");
}

TEST_F(memcached_backend_test, ttl_beyond_thirty_days_is_sent_as_absolute_time) {
    // Passed through raw, 31 days would read as a date in January 1970: an instant miss.
    set("long", "v", std::chrono::hours(24 * 31));
    EXPECT_EQ(get("long"), "v");
    EXPECT_TRUE(run(io_, backend_->expire("long", std::chrono::hours(24 * 40), soon())));
    EXPECT_EQ(get("long"), "v");
    EXPECT_FALSE(run(io_, backend_->expire("missing", std::chrono::hours(24 * 40), soon())));
}

TEST_F(memcached_backend_test, oversized_value_is_refused_and_old_value_kept) {
    set("big", "old");
    std::string huge(1024 * 1024, 'x');
    EXPECT_EQ(run_error(io_, backend_->set("big", huge, {}, soon())), errc::value_too_large);
    EXPECT_EQ(get("big"), "old");
    EXPECT_EQ(run_error(io_, backend_->add("big2", huge, {}, soon())), errc::value_too_large);
    EXPECT_EQ(run_error(io_, backend_->multi_set({{"big", "new"}, {"big3", huge}}, {}, soon())),
              errc::value_too_large);
    EXPECT_EQ(get("big"), "old");  // nothing of the batch was written
    // Just under the limit still fits.
    std::string fits(1024 * 1024 - 512, 'y');
    set("big", fits);
    EXPECT_EQ(get("big")->size(), fits.size());
}

TEST_F(memcached_backend_test, clear_namespace_without_generations_is_not_supported) {
    set("appk", "1");
    set("other", "2");
    cache c{backend_, {.ns = "app"}};
    EXPECT_EQ(run_error(io_, c.clear()), errc::not_supported);
    EXPECT_EQ(get("appk"), "1");
    EXPECT_EQ(get("other"), "2");
}

TEST_F(memcached_backend_test, ttl_reads_the_remaining_whole_seconds) {
    set("ten", "v", 10s);
    auto t = run(io_, backend_->ttl("ten", soon()));
    ASSERT_TRUE(t.has_value());
    ASSERT_FALSE(t->is_never());
    EXPECT_GE(t->duration(), 9s);
    EXPECT_LE(t->duration(), 10s);
    EXPECT_EQ(t->duration() % 1000ms, 0ms) << "memcached TTLs are whole seconds";

    set("forever", "v");
    EXPECT_EQ(run(io_, backend_->ttl("forever", soon())), expiry::never());
    EXPECT_EQ(run(io_, backend_->ttl("missing", soon())), std::nullopt);

    // A sub-second TTL is rounded up to a second and reads back as 1 s, never 0 s (unless
    // memcached's clock ticked in between and the entry is already gone).
    set("short", "v", 300ms);
    auto s = run(io_, backend_->ttl("short", soon()));
    if (s.has_value()) {
        EXPECT_FALSE(s->is_never());
        EXPECT_EQ(s->duration(), 1s);
    }

    // expire replaces it, and expire(never) removes it.
    EXPECT_TRUE(run(io_, backend_->expire("ten", 100s, soon())));
    auto e = run(io_, backend_->ttl("ten", soon()));
    ASSERT_TRUE(e.has_value());
    EXPECT_GE(e->duration(), 99s);
    EXPECT_LE(e->duration(), 100s);
    EXPECT_TRUE(run(io_, backend_->expire("ten", expiry::never(), soon())));
    EXPECT_EQ(run(io_, backend_->ttl("ten", soon())), expiry::never());
}

TEST_F(memcached_backend_test, ttl_beyond_thirty_days_reads_back_as_a_duration) {
    // Sent as an absolute Unix time, read back (mg t) as the seconds left.
    auto const days31 = std::chrono::hours(24 * 31);
    set("long", "v", days31);
    auto t = run(io_, backend_->ttl("long", soon()));
    ASSERT_TRUE(t.has_value());
    ASSERT_FALSE(t->is_never());
    // memcached's clock may lag the wall clock by a second.
    EXPECT_LE(t->duration(), days31 + 2s);
    EXPECT_GE(t->duration(), days31 - 5s);
}

TEST_F(memcached_backend_test, increment_keeps_the_ttl_on_every_path) {
    set("up", "1", 100s);
    auto ttl_of = [&](std::string key) { return run(io_, backend_->ttl(std::move(key), soon())); };
    auto expect_about_100s = [&](char const* step) {
        auto t = ttl_of("up");
        ASSERT_TRUE(t.has_value()) << step;
        ASSERT_FALSE(t->is_never()) << step << ": the counter lost its TTL";
        EXPECT_GE(t->duration(), 97s) << step;
        EXPECT_LE(t->duration(), 100s) << step;
    };
    EXPECT_EQ(run(io_, backend_->increment("up", 5, soon())), 6);  // ma
    expect_about_100s("after a positive delta");
    EXPECT_EQ(run(io_, backend_->increment("up", -10, soon())), -4);  // gets/cas
    expect_about_100s("after a negative delta");
    EXPECT_EQ(run(io_, backend_->increment("up", 1, soon())), -3);  // negative counter: gets/cas
    expect_about_100s("after incrementing a negative counter");
    EXPECT_EQ(get("up"), "-3");
    // A counter created by increment has no TTL.
    EXPECT_EQ(run(io_, backend_->increment("created", 2, soon())), 2);
    EXPECT_EQ(ttl_of("created"), expiry::never());
    EXPECT_EQ(run(io_, backend_->increment("created_negative", -2, soon())), -2);
    EXPECT_EQ(ttl_of("created_negative"), expiry::never());
}

TEST_F(memcached_backend_test, increment_below_zero_and_on_negative_counters_is_exact) {
    EXPECT_EQ(run(io_, backend_->increment("n", 3, soon())), 3);
    EXPECT_EQ(run(io_, backend_->increment("n", -5, soon())), -2);  // incr/decr would clamp to 0
    EXPECT_EQ(run(io_, backend_->increment("n", 1, soon())), -1);   // incr refuses "-2"
    EXPECT_EQ(run(io_, backend_->increment("n", 10, soon())), 9);
    EXPECT_EQ(run(io_, backend_->increment("fresh", -4, soon())), -4);
    EXPECT_EQ(get("n"), "9");
}

TEST_F(memcached_backend_test, increment_refuses_non_numbers_and_overflow_keeping_the_value) {
    set("text", "abc");
    EXPECT_EQ(run_error(io_, backend_->increment("text", 1, soon())), errc::not_a_number);
    EXPECT_EQ(run_error(io_, backend_->increment("text", -1, soon())), errc::not_a_number);
    EXPECT_EQ(get("text"), "abc");

    auto max = std::numeric_limits<std::int64_t>::max();
    set("max", std::to_string(max));
    EXPECT_EQ(run_error(io_, backend_->increment("max", 1, soon())), errc::invalid_argument);
    EXPECT_EQ(get("max"), std::to_string(max));
    auto min = std::numeric_limits<std::int64_t>::min();
    set("min", std::to_string(min));
    EXPECT_EQ(run_error(io_, backend_->increment("min", -1, soon())), errc::invalid_argument);
    EXPECT_EQ(get("min"), std::to_string(min));
}

TEST_F(memcached_backend_test, concurrent_mixed_increments_sum_exactly) {
    // Positive deltas take `ma`, negative ones the gets/cas loop: interleaved, none is lost.
    int finished = 0;
    int failed = 0;
    for (int i = 0; i < 40; ++i) {
        std::int64_t delta = i % 2 == 0 ? 3 : -2;
        asio::co_spawn(io_, backend_->increment("mixed", delta, soon()),
                       [&](std::exception_ptr e, std::int64_t) {
                           failed += e ? 1 : 0;
                           ++finished;
                       });
    }
    io_.restart();
    auto const limit = std::chrono::steady_clock::now() + 10s;
    while (finished < 40 && std::chrono::steady_clock::now() < limit) {
        io_.run_one_for(100ms);
    }
    ASSERT_EQ(finished, 40);
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(get("mixed"), std::to_string(20 * 3 - 20 * 2));
}

TEST_F(memcached_backend_test, concurrent_gets_each_get_their_own_value) {
    // Hundreds of pipelined gets on one connection: every caller gets its own key's answer.
    for (int i = 0; i < 30; ++i) {
        set("g" + std::to_string(i), "value" + std::to_string(i));
    }
    int const n = 300;
    int finished = 0;
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
        auto key = "g" + std::to_string(i % 40);  // g30..g39 are misses
        std::optional<std::string> expected;
        if (i % 40 < 30) {
            expected = "value" + std::to_string(i % 40);
        }
        asio::co_spawn(io_, backend_->get(key, soon()),
                       [&, expected](std::exception_ptr e, std::optional<std::string> v) {
                           if (e || v != expected) {
                               ++wrong;
                           }
                           ++finished;
                       });
    }
    io_.restart();
    auto const limit = std::chrono::steady_clock::now() + 10s;
    while (finished < n && std::chrono::steady_clock::now() < limit) {
        io_.run_one_for(100ms);
    }
    EXPECT_EQ(finished, n);
    EXPECT_EQ(wrong, 0);
}

TEST_F(memcached_backend_test, remove_if_equal_is_compare_and_delete) {
    set("lock", "token-a");
    EXPECT_FALSE(run(io_, backend_->remove_if_equal("lock", "token-b", soon())));
    EXPECT_EQ(get("lock"), "token-a");
    EXPECT_TRUE(run(io_, backend_->remove_if_equal("lock", "token-a", soon())));
    EXPECT_FALSE(run(io_, backend_->exists("lock", soon())));
    EXPECT_EQ(get("lock"), std::nullopt);
    run(io_, backend_->add("lock", "token-c", {}, soon()));  // the slot is free again
    EXPECT_FALSE(run(io_, backend_->remove_if_equal("absent", "x", soon())));
}

TEST_F(memcached_backend_test, cas_token_guards_the_write) {
    set("c", "1");
    auto first = run(io_, backend_->gets("c", soon()));
    ASSERT_TRUE(first);
    set("c", "2");
    EXPECT_FALSE(run(io_, backend_->cas("c", "3", first->token, {}, soon())));
    EXPECT_EQ(get("c"), "2");
    auto second = run(io_, backend_->gets("c", soon()));
    EXPECT_TRUE(run(io_, backend_->cas("c", "3", second->token, {}, soon())));
    EXPECT_EQ(get("c"), "3");
    EXPECT_EQ(run(io_, backend_->gets("none", soon())), std::nullopt);
}

TEST_F(memcached_backend_test, multi_get_keeps_order_and_duplicates) {
    set("a", "1");
    set("c", "3");
    auto got = run(io_, backend_->multi_get({"c", "b", "a", "c"}, soon()));
    ASSERT_EQ(got.size(), 4U);
    EXPECT_EQ(got[0], "3");
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], "1");
    EXPECT_EQ(got[3], "3");
}

TEST_F(memcached_backend_test, raw_passes_stats_version_and_flush_all_only) {
    auto stats = run(io_, backend_->raw({"stats"}, soon()));
    ASSERT_EQ(stats.type, asiocache::raw_reply::kind::array);
    ASSERT_EQ(stats.elements.size(), 1U);
    auto const& server = stats.elements[0].elements;
    ASSERT_GE(server.size(), 3U);
    EXPECT_EQ(server[0].str, asiocache::test::shared_memcached()->address());
    EXPECT_EQ(server.size() % 2, 1U) << "not the address followed by name/value pairs";
    bool has_pid = false;
    for (std::size_t i = 1; i + 1 < server.size(); i += 2) {
        has_pid = has_pid || server[i].str == "pid";
    }
    EXPECT_TRUE(has_pid);

    auto settings = run(io_, backend_->raw({"stats", "settings"}, soon()));
    ASSERT_EQ(settings.elements.size(), 1U);
    std::string item_size_max;
    auto const& pairs = settings.elements[0].elements;
    for (std::size_t i = 1; i + 1 < pairs.size(); i += 2) {
        if (pairs[i].str == "item_size_max") {
            item_size_max = pairs[i + 1].str;
        }
    }
    EXPECT_EQ(item_size_max, "1048576");

    // version: the address, then the version alone ("1.6.18", not "VERSION 1.6.18").
    auto version = run(io_, backend_->raw({"version"}, soon()));
    ASSERT_EQ(version.elements.size(), 1U);
    ASSERT_EQ(version.elements[0].elements.size(), 2U);
    auto const& v = version.elements[0].elements[1].str;
    ASSERT_FALSE(v.empty());
    EXPECT_TRUE(v.front() >= '1' && v.front() <= '9') << v;

    set("doomed", "v");
    (void)run(io_, backend_->raw({"flush_all"}, soon()));
    EXPECT_EQ(get("doomed"), std::nullopt);

    EXPECT_EQ(run_error(io_, backend_->raw({"get", "k"}, soon())), errc::not_supported);
    EXPECT_EQ(run_error(io_, backend_->raw({"mg", "k", "v"}, soon())), errc::not_supported);
    EXPECT_EQ(run_error(io_, backend_->raw({"flush_all", "noreply"}, soon())),
              errc::not_supported);
}

// --- Namespace generations ----------------------------------------------------------------------

TEST(memcached_generations_test, clear_drops_only_its_namespace_even_if_the_counter_is_lost) {
    asio::io_context io;
    auto b = asiocache::test::fresh_memcached_backend(io, {.namespace_generations = true});
    if (!b) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    auto plain = asiocache::test::fresh_memcached_backend(io, {});  // reads raw keys
    cache app{b, {.ns = "app", .serializer = asiocache::serializers::string()}};
    cache other{b, {.ns = "other", .serializer = asiocache::serializers::string()}};
    cache bare{b, {.serializer = asiocache::serializers::string()}};
    run(io, app.set("k", std::string("a")));
    run(io, other.set("k", std::string("o")));
    run(io, bare.set("appk", std::string("bare")));

    // The layout: ~:<len>:<ns>:<generation>:<key>, generation under ~:g:<ns>.
    auto gen = run(io, plain->get("~:g:app", soon()));
    ASSERT_TRUE(gen);
    EXPECT_EQ(run(io, plain->get("~:3:app:" + *gen + ":k", soon())), "a");

    run(io, app.clear());
    EXPECT_EQ(run(io, app.get<std::string>("k")), std::nullopt);
    EXPECT_EQ(run(io, other.get<std::string>("k")), "o");
    EXPECT_EQ(run(io, bare.get<std::string>("appk")), "bare");
    run(io, app.set("k", std::string("a2")));
    EXPECT_EQ(run(io, app.get<std::string>("k")), "a2");

    // Losing the counter (eviction) starts a new generation, never an old one.
    run(io, plain->remove("~:g:app", soon()));
    EXPECT_EQ(run(io, app.get<std::string>("k")), std::nullopt);
    EXPECT_EQ(run(io, other.get<std::string>("k")), "o");
}

// --- Callers on several threads ----------------------------------------------------------------

TEST(memcached_threads_test, callers_on_several_threads_share_one_backend) {
    asio::io_context io;
    memcached_options o;
    o.connections_per_server = 2;
    auto b = asiocache::test::fresh_memcached_backend(io, o);
    if (!b) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    std::atomic<int> wrong{0};
    std::atomic<int> finished{0};
    auto client = [&](int id) -> asiocache::task<void> {
        for (int i = 0; i < 40; ++i) {
            auto key = "t" + std::to_string(id) + "_" + std::to_string(i % 5);
            co_await b->set(key, std::to_string(i), {}, soon());
            auto got = co_await b->get(key, soon());
            co_await b->increment("t_counter", 1, soon());
            wrong += got == std::to_string(i) ? 0 : 1;
        }
    };
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    for (int id = 0; id < 8; ++id) {
        asio::co_spawn(io, client(id), [&](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    std::lock_guard lock(failures_mutex);
                    failures.emplace_back(ex.what());
                }
            }
            ++finished;
        });
    }
    // The connections keep work pending on `io` (their reads), so each thread runs it until
    // every client is done rather than until it runs out of work.
    io.restart();
    auto const limit = std::chrono::steady_clock::now() + 10s;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&] {
            while (finished < 8 && std::chrono::steady_clock::now() < limit) {
                io.run_one_for(50ms);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    ASSERT_EQ(finished, 8);
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(run(io, b->get("t_counter", soon())), "320");
}

// Gets `key`, then counts a value other than `expected`, and a resumption on a thread other
// than `caller`. Parameters by value: the frame outlives the call.
auto get_and_check(std::shared_ptr<asiocache::backend> b, std::string key,
                   std::optional<std::string> expected, std::thread::id caller,
                   std::atomic<int>& wrong, std::atomic<int>& foreign_thread)
    -> asiocache::task<void> {
    auto v = co_await b->get(std::move(key), soon());
    foreign_thread += std::this_thread::get_id() == caller ? 0 : 1;
    wrong += v == expected ? 0 : 1;
}

TEST(memcached_threads_test, gets_from_other_threads_resume_on_their_own_executor) {
    // The backend's connections run on `net` (one thread); three callers, each on its own
    // io_context and thread, issue concurrent gets. Each must get its own key's value and
    // resume on its own thread, never on the connection's.
    asio::io_context net;
    auto b = asiocache::test::fresh_memcached_backend(net, {});
    if (!b) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    constexpr int keys = 50;
    for (int i = 0; i < keys; ++i) {
        run(net, b->set("x" + std::to_string(i), "value" + std::to_string(i), {}, soon()));
    }
    std::atomic<bool> stop{false};
    std::thread net_thread([&] {
        net.restart();
        while (!stop) {
            net.run_one_for(20ms);
        }
    });
    constexpr int callers = 3;
    constexpr int per_caller = 300;
    std::atomic<int> wrong{0};
    std::atomic<int> foreign_thread{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    std::vector<int> done(callers, 0);
    // The callers' contexts outlive the connection's thread: Asio signals a context's condition
    // variable after it has queued the handler and unlocked, so a context destroyed as soon as
    // its last completion ran could still be inside that signal on the other thread.
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (int c = 0; c < callers; ++c) {
        contexts.push_back(std::make_unique<asio::io_context>());
    }
    for (int c = 0; c < callers; ++c) {
        threads.emplace_back([&, c] {
            asio::io_context& mine = *contexts[static_cast<std::size_t>(c)];
            auto const me = std::this_thread::get_id();
            for (int i = 0; i < per_caller; ++i) {
                auto k = (i * 7 + c) % (keys + 10);  // keys 50..59 are misses
                std::optional<std::string> expected;
                if (k < keys) {
                    expected = "value" + std::to_string(k);
                }
                auto one = get_and_check(b, "x" + std::to_string(k), expected, me, wrong,
                                         foreign_thread);
                asio::co_spawn(mine, std::move(one), [&, c](std::exception_ptr e) {
                    failed += e ? 1 : 0;
                    ++done[static_cast<std::size_t>(c)];
                });
            }
            auto const limit = std::chrono::steady_clock::now() + 10s;
            while (done[static_cast<std::size_t>(c)] < per_caller &&
                   std::chrono::steady_clock::now() < limit) {
                mine.run_one_for(50ms);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    stop = true;
    net_thread.join();
    for (int c = 0; c < callers; ++c) {
        EXPECT_EQ(done[static_cast<std::size_t>(c)], per_caller) << "caller " << c;
    }
    EXPECT_EQ(failed, 0);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(foreign_thread, 0);
}

// --- The client: deadlines, in-flight bound, cancellation, health checks, close ----------------

// Accepts TCP connections (the kernel completes the handshake) and never reads or answers.
class black_hole {
public:
    black_hole() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(fd_, 64) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("black_hole: cannot listen");
        }
        port_ = ntohs(addr.sin_port);
    }
    black_hole(black_hole const&) = delete;
    auto operator=(black_hole const&) -> black_hole& = delete;
    ~black_hole() { ::close(fd_); }
    [[nodiscard]] auto port() const -> std::uint16_t { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

auto options_on(std::uint16_t port) -> memcached_options {
    memcached_options o;
    o.servers = {{"127.0.0.1", port}};
    o.item_size_max = 1024 * 1024;  // fake servers have no `stats settings` to ask
    return o;
}

auto since(std::chrono::steady_clock::time_point start) -> std::chrono::milliseconds {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
}

TEST(memcached_client_test, a_server_that_never_answers_gives_timeout_at_the_deadline) {
    black_hole hole;
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on(hole.port()));
    for (auto limit : {200ms, 400ms}) {
        auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(run_error(io, b->get("k", deadline::after(limit)), 3s), errc::timeout);
        auto took = since(start);
        EXPECT_GE(took, limit - 20ms) << "ended before its deadline";
        EXPECT_LT(took, limit + 400ms) << "ended long after its deadline";
    }
}

TEST(memcached_client_test, a_handshake_never_answered_fails_after_connect_timeout) {
    black_hole hole;
    asio::io_context io;
    auto o = options_on(hole.port());
    o.connect_timeout = 150ms;
    auto b = make_memcached_backend(io.get_executor(), o);
    auto start = std::chrono::steady_clock::now();
    try {
        run(io, b->get("k", deadline::after(5s)), 6s);
        ADD_FAILURE() << "a get succeeded against a server that never answers";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::backend_unavailable) << e.what();
        EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    }
    auto took = since(start);
    EXPECT_GE(took, 140ms);
    EXPECT_LT(took, 1s) << "waited for the request's deadline, not the connect timeout";
    // Until the next attempt, requests fail at once.
    start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_error(io, b->get("k", deadline::after(5s)), 6s), errc::backend_unavailable);
    EXPECT_LT(since(start), 400ms);
}

TEST(memcached_client_test, requests_beyond_max_in_flight_wait_unwritten_until_their_deadline) {
    // The server answers the handshake, then reads and never answers: with max_in_flight = 2,
    // exactly two of six requests are ever written, and all six end at their deadline.
    auto written = std::make_shared<std::atomic<int>>(0);
    fault_server server(asiocache::test::meta_server(
        [written](meta_command const& c) -> std::optional<reply_plan> {
            if (c.name == "mn") {
                return std::nullopt;  // MN
            }
            if (c.name == "md") {
                ++*written;
            }
            return reply_plan{};  // silence
        }));
    asio::io_context io;
    auto o = options_on(server.port());
    o.max_in_flight = 2;
    auto b = make_memcached_backend(io.get_executor(), o);
    std::map<boost::system::error_code, int> codes;
    int finished = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 6; ++i) {
        // remove (md): one command per request, which no backend batches with another.
        asio::co_spawn(io, b->remove("k" + std::to_string(i), deadline::after(300ms)),
                       [&](std::exception_ptr e, std::size_t) {
                           try {
                               if (e) {
                                   std::rethrow_exception(e);
                               }
                           } catch (boost::system::system_error const& se) {
                               ++codes[se.code()];
                           }
                           ++finished;
                       });
    }
    io.restart();
    auto const limit = std::chrono::steady_clock::now() + 3s;
    while (finished < 6 && std::chrono::steady_clock::now() < limit) {
        io.run_one_for(50ms);
    }
    ASSERT_EQ(finished, 6);
    EXPECT_EQ(codes[make_error_code(errc::timeout)], 6);
    EXPECT_LT(since(start), 1s);
    // Give a late write the time to arrive before counting.
    auto const settle = std::chrono::steady_clock::now() + 100ms;
    while (std::chrono::steady_clock::now() < settle) {
        io.run_one_for(10ms);
    }
    EXPECT_EQ(written->load(), 2);
}

TEST(memcached_client_test, cancellation_completes_the_operation_at_once) {
    black_hole hole;
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on(hole.port()));
    auto race = [&]() -> asiocache::task<std::size_t> {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex, 100ms);
        auto op = asio::co_spawn(ex, b->get("k", deadline::never()), asio::deferred);
        auto wait = timer.async_wait(asio::deferred);
        auto [order, error, value, timer_ec] =
            co_await asio::experimental::make_parallel_group(std::move(op), std::move(wait))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        EXPECT_TRUE(error);
        co_return order[0];
    };
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run(io, race(), 3s), 1U);  // the timer won and the get was cancelled
    EXPECT_LT(since(start), 900ms);      // not the 1 s connect timeout
}

TEST(memcached_client_test, a_stalled_connection_is_dropped_by_the_health_check) {
    auto* server = asiocache::test::shared_memcached();
    if (server == nullptr) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    chaos_proxy proxy(server->port());
    asio::io_context io;
    auto o = options_on(proxy.port());
    o.health_check_interval = 100ms;
    o.reconnect_min = 10ms;
    o.reconnect_max = 100ms;
    auto b = make_memcached_backend(io.get_executor(), o);
    run(io, b->set("hc", "v", {}, soon()));
    EXPECT_EQ(run(io, b->get("hc", soon())), "v");

    // No deadline: only the health check can end this request.
    proxy.set({.stall = true});
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_error(io, b->get("hc", deadline::never()), 5s), errc::backend_unavailable);
    auto took = since(start);
    EXPECT_GE(took, 50ms) << "failed at once instead of after a silence";
    EXPECT_LT(took, 1500ms);

    proxy.heal();
    bool back = false;
    auto const limit = std::chrono::steady_clock::now() + 3s;
    while (!back && std::chrono::steady_clock::now() < limit) {
        try {
            back = run(io, b->get("hc", deadline::after(500ms))) == "v";
        } catch (boost::system::system_error const&) {
            std::this_thread::sleep_for(20ms);
        }
    }
    EXPECT_TRUE(back) << "no recovery within 3 s of the proxy healing";
}

TEST(memcached_client_test, close_then_reuse_reconnects) {
    auto* server = asiocache::test::shared_memcached();
    if (server == nullptr) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    chaos_proxy proxy(server->port());
    asio::io_context io;
    memcached_options o;
    o.servers = {{"127.0.0.1", proxy.port()}};
    auto b = make_memcached_backend(io.get_executor(), o);
    EXPECT_EQ(proxy.connections(), 0U) << "connected before the first operation";
    run(io, b->set("reuse", "1", {}, soon()));
    EXPECT_EQ(run(io, b->get("reuse", soon())), "1");
    EXPECT_EQ(proxy.connections(), 1U);

    for (int round = 2; round <= 3; ++round) {
        run(io, b->close());
        run(io, b->set("reuse", std::to_string(round), {}, soon()));
        EXPECT_EQ(run(io, b->get("reuse", soon())), std::to_string(round));
        EXPECT_EQ(proxy.connections(), static_cast<std::uint64_t>(round))
            << "close() did not drop the connection, or reuse did not reopen it";
    }
    // The facade's close is the backend's.
    cache c{b, {.serializer = asiocache::serializers::string()}};
    run(io, c.close());
    EXPECT_EQ(run(io, c.get<std::string>("reuse")), "3");
    EXPECT_EQ(proxy.connections(), 4U);
}

TEST(memcached_client_test, server_killed_mid_load_gives_clear_errors_then_recovers) {
    asio::io_context io;
    auto server = local_server::memcached();
    if (!server) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    memcached_options o;
    o.servers = {{server->host(), server->port()}};
    o.connections_per_server = 2;
    auto b = make_memcached_backend(io.get_executor(), o);
    struct state {
        bool stop = false;
        int ok = 0;
        int wrong = 0;
        int running = 0;
        std::map<boost::system::error_code, int> errors;
    } st;
    auto load = [&st, b](int id) -> asiocache::task<void> {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer pause(ex);
        auto key = "load" + std::to_string(id);
        for (int i = 0; !st.stop; ++i) {
            bool failed = false;
            try {
                auto value = key + ":" + std::to_string(i);
                co_await b->set(key, value, {}, deadline::after(1s));
                auto got = co_await b->get(key, deadline::after(1s));
                // A restarted memcached is empty, but a value is never another key's or older.
                st.wrong += got && *got != value ? 1 : 0;
                ++st.ok;
            } catch (boost::system::system_error const& e) {
                ++st.errors[e.code()];
                failed = true;
            }
            if (failed) {  // no busy loop on fast failures
                pause.expires_after(5ms);
                co_await pause.async_wait(asio::use_awaitable);
            }
        }
        --st.running;
    };
    auto drive_until = [&](auto done, std::chrono::milliseconds limit) {
        auto const end = std::chrono::steady_clock::now() + limit;
        io.restart();
        while (!done() && std::chrono::steady_clock::now() < end) {
            io.run_one_for(20ms);
        }
        return done();
    };
    for (int i = 0; i < 8; ++i) {
        ++st.running;
        auto task = load(i);
        asio::co_spawn(io, std::move(task), asio::detached);
    }
    ASSERT_TRUE(drive_until([&] { return st.ok >= 200; }, 5s));
    EXPECT_TRUE(st.errors.empty());

    server->kill();
    drive_until([] { return false; }, 500ms);
    int failures = 0;
    for (auto const& [code, n] : st.errors) {
        EXPECT_TRUE(code == errc::backend_unavailable || code == errc::timeout)
            << code.message() << " x" << n;
        failures += n;
    }
    EXPECT_GT(failures, 0);

    server->start();
    int const ok_at_restart = st.ok;
    EXPECT_TRUE(drive_until([&] { return st.ok >= ok_at_restart + 100; }, 5s))
        << "no recovery within 5 s of the restart";
    st.stop = true;
    EXPECT_TRUE(drive_until([&] { return st.running == 0; }, 3s));
    EXPECT_EQ(st.wrong, 0);
}

}  // namespace
