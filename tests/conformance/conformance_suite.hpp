// SPDX-License-Identifier: MIT
#pragma once

// The behaviour every backend promises (DESIGN.md section 3), written once and instantiated
// per backend with an environment type:
//
//   struct my_env {
//       static constexpr char const* name = "redis";
//       // A backend over an EMPTY store bound to io's executor; nullptr if the server binary
//       // is missing (the suite then skips, or fails under ASIOCACHE_REQUIRE_SERVERS=1).
//       static auto make(boost::asio::io_context& io) -> std::shared_ptr<asiocache::backend>;
//       // Lets `d` of backend time pass: advance a manual clock, or sleep while running io.
//       static void advance(boost::asio::io_context& io, std::chrono::milliseconds d);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(redis, conformance, ::testing::Types<my_env>);
//
// Tests drive the backend through the `asiocache::cache` facade (namespace, JSON serializer)
// and read `traits()` to adapt: an operation a trait declares unsupported must fail with
// `errc::not_supported`, never be skipped. TTLs are multiples of
// `max(traits().ttl_granularity, 50ms)`, with margins wide enough for servers whose expiry
// has whole-second granularity, and a single wait of 2.5 units (memcached: 2.5 s).

#include "asiocache/asiocache.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asiocache::test {

/// Tallies of operations run concurrently by the suite.
struct concurrent_tally {
    int ok = 0;
    int key_exists = 0;
    int other_errors = 0;
    int finished = 0;
    std::string first_other;
};

/// One `add` of the contested key, recording how it ended.
inline auto contend_add(cache c, std::string key, int value, std::shared_ptr<concurrent_tally> t)
    -> task<void> {
    try {
        co_await c.add(std::move(key), value);
        ++t->ok;
    } catch (boost::system::system_error const& e) {
        if (e.code() == errc::key_exists) {
            ++t->key_exists;
        } else {
            ++t->other_errors;
            t->first_other = e.what();
        }
    }
    ++t->finished;
}

/// `rounds` increments of the shared counter.
inline auto contend_increment(cache c, std::string key, int rounds,
                              std::shared_ptr<concurrent_tally> t) -> task<void> {
    try {
        for (int i = 0; i < rounds; ++i) {
            co_await c.increment(key, 1);
            ++t->ok;
        }
    } catch (boost::system::system_error const& e) {
        ++t->other_errors;
        t->first_other = e.what();
    }
    ++t->finished;
}

/// Spawns `make(i)` for i in [0, n) on `io`, then runs `io` until `t.finished` reaches `n` or
/// `limit` passes.
template <class MakeTask>
void spawn_and_wait(boost::asio::io_context& io, concurrent_tally const& t, int n,
                    MakeTask make, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    for (int i = 0; i < n; ++i) {
        boost::asio::co_spawn(io, make(i), [](std::exception_ptr const&) {});
    }
    io.restart();
    auto const end = std::chrono::steady_clock::now() + limit;
    while (t.finished < n && std::chrono::steady_clock::now() < end) {
        io.run_one_for(std::chrono::milliseconds(50));
    }
}

/// Every byte value once: 0x00 .. 0xff.
inline auto all_bytes() -> std::string {
    std::string out(256, '\0');
    for (int i = 0; i < 256; ++i) {
        out[static_cast<std::size_t>(i)] = static_cast<char>(i);
    }
    return out;
}

template <class Env>
class conformance : public ::testing::Test {
protected:
    void SetUp() override {
        backend_ = Env::make(io_);
        if (!backend_) {
            ASIOCACHE_SKIP_OR_FAIL(std::string(Env::name) + ": server binary not found");
        }
    }

    void TearDown() override {
        if (backend_) {
            try {
                test::run(io_, backend_->close());
            } catch (std::exception const&) {  // NOLINT: a failing close must not hide the test
            }
        }
    }

    auto traits() const -> backend_traits const& { return backend_->traits(); }

    /// A cache in namespace "conf" with the JSON serializer, unless `o` says otherwise.
    auto make_cache(cache_options o = {.ns = "conf"}) -> cache { return cache{backend_, o}; }
    auto bytes_cache() -> cache {
        return cache{backend_, {.ns = "conf", .serializer = serializers::bytes()}};
    }

    /// The TTL step for this backend: at least 50 ms, at least the server's granularity.
    auto unit() const -> std::chrono::milliseconds {
        return std::max(traits().ttl_granularity, std::chrono::milliseconds(50));
    }

    void advance(std::chrono::milliseconds d) { Env::advance(io_, d); }

    template <class T>
    auto run(task<T> t) -> T {
        return test::run(io_, std::move(t));
    }
    template <class T>
    auto error_of(task<T> t) -> boost::system::error_code {
        return test::run_error(io_, std::move(t));
    }

    boost::asio::io_context io_;
    std::shared_ptr<backend> backend_;
};

TYPED_TEST_SUITE_P(conformance);

TYPED_TEST_P(conformance, get_of_missing_key_is_a_miss) {
    auto c = this->make_cache();
    EXPECT_FALSE(this->run(c.template get<std::string>("absent")).has_value());
    EXPECT_FALSE(this->run(c.exists("absent")));
}

TYPED_TEST_P(conformance, set_then_get_returns_the_value) {
    auto c = this->make_cache();
    this->run(c.set("k", std::string("hello")));
    EXPECT_EQ(this->run(c.template get<std::string>("k")), "hello");
    this->run(c.set("n", 42));
    EXPECT_EQ(this->run(c.template get<int>("n")), 42);
    this->run(c.set("k", std::string("replaced")));
    EXPECT_EQ(this->run(c.template get<std::string>("k")), "replaced");
}

TYPED_TEST_P(conformance, values_are_stored_as_the_serializer_wrote_them) {
    auto c = this->make_cache();
    this->run(c.set("k", std::string("hi")));
    auto stored = this->run(this->backend_->get(c.build_key("k"), deadline::never()));
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(*stored, "\"hi\"");  // JSON text, no envelope: Python aiocache reads it.
}

// All TTL behaviour that needs time to pass shares one wait of 2.5 units (2.5 s on memcached).
TYPED_TEST_P(conformance, ttl_expiry_refresh_expire_and_persist) {
    auto const u = this->unit();
    auto c = this->make_cache();
    auto with_default = this->make_cache({.ns = "conf", .ttl = 2 * u});

    this->run(c.set("a", 1, 2 * u));
    this->run(c.set("persistent", 2, expiry::never()));
    this->run(c.set("plain", 3));  // no TTL given, and the cache has no default: never expires
    this->run(with_default.set("defaulted", 4));
    this->run(c.multi_set(std::vector<std::pair<std::string, int>>{{"m1", 5}, {"m2", 6}}, 2 * u));
    this->run(c.set("refreshed", 7, 2 * u));
    this->run(c.add("added", 8, 2 * u));
    this->run(c.set("doomed", 9, expiry::never()));
    this->run(c.set("saved", 10, 2 * u));
    EXPECT_TRUE(this->run(c.expire("doomed", 2 * u)));
    EXPECT_TRUE(this->run(c.expire("saved", expiry::never())));
    EXPECT_FALSE(this->run(c.expire("absent", 2 * u)));
    EXPECT_FALSE(this->run(c.exists("absent"))) << "expire created a missing key";
    for (auto const* k : {"a", "persistent", "plain", "defaulted", "m1", "m2", "refreshed",
                          "added", "doomed", "saved"}) {
        EXPECT_TRUE(this->run(c.exists(k))) << k << " missing right after it was set";
    }

    this->advance(u);
    // Re-setting replaces the TTL: this entry now lives well past the others.
    this->run(c.set("refreshed", 70, 4 * u));
    this->advance(u + u / 2);  // 2.5 units since the first writes

    for (auto const* k : {"a", "defaulted", "m1", "m2", "added", "doomed"}) {
        EXPECT_FALSE(this->run(c.template get<int>(k)).has_value()) << k << " did not expire";
        EXPECT_FALSE(this->run(c.exists(k))) << k << " still exists after its TTL";
    }
    EXPECT_EQ(this->run(c.template get<int>("persistent")), 2);
    EXPECT_EQ(this->run(c.template get<int>("plain")), 3);
    EXPECT_EQ(this->run(c.template get<int>("refreshed")), 70) << "re-set did not refresh the TTL";
    EXPECT_EQ(this->run(c.template get<int>("saved")), 10) << "expire(0) did not persist the key";
    // An expired key is absent for add as well.
    this->run(c.add("added", 80));
    EXPECT_EQ(this->run(c.template get<int>("added")), 80);
}

TYPED_TEST_P(conformance, ttl_reports_missing_persistent_and_expiring_keys) {
    auto const u = this->unit();
    auto c = this->make_cache();
    this->run(c.set("persistent", 1, expiry::never()));
    this->run(c.set("expiring", 2, 20 * u));
    if (!this->traits().supports_ttl) {
        for (auto const* k : {"absent", "persistent", "expiring"}) {
            EXPECT_EQ(this->error_of(c.ttl(k)), errc::not_supported) << k;
        }
        return;
    }
    EXPECT_FALSE(this->run(c.ttl("absent")).has_value());
    auto p = this->run(c.ttl("persistent"));
    ASSERT_TRUE(p.has_value());
    EXPECT_TRUE(p->is_never());
    auto e = this->run(c.ttl("expiring"));
    ASSERT_TRUE(e.has_value());
    EXPECT_FALSE(e->is_never());
    EXPECT_GT(e->duration().count(), 0);
    EXPECT_LE(e->duration(), 20 * u);
    EXPECT_GE(e->duration(), 10 * u) << "TTL lost far more time than the test took";
}

TYPED_TEST_P(conformance, add_fails_on_existing_key_and_keeps_old_value) {
    auto c = this->make_cache();
    this->run(c.add("k", std::string("first")));
    EXPECT_EQ(this->error_of(c.add("k", std::string("second"))), errc::key_exists);
    EXPECT_EQ(this->run(c.template get<std::string>("k")), "first");
}

TYPED_TEST_P(conformance, increment_missing_existing_and_negative) {
    auto c = this->make_cache();
    EXPECT_EQ(this->run(c.increment("fresh", 5)), 5);
    EXPECT_EQ(this->run(c.template get<std::int64_t>("fresh")), 5);
    this->run(c.set("n", 10));
    EXPECT_EQ(this->run(c.increment("n", 5)), 15);
    EXPECT_EQ(this->run(c.increment("n")), 16);
    EXPECT_EQ(this->run(c.increment("n", -3)), 13);
    EXPECT_EQ(this->run(c.template get<std::int64_t>("n")), 13);
}

TYPED_TEST_P(conformance, increment_below_zero_gives_a_negative_value) {
    auto c = this->make_cache();
    this->run(c.set("n", 3));
    EXPECT_EQ(this->run(c.increment("n", -5)), -2);
    EXPECT_EQ(this->run(c.increment("n", 1)), -1);
    EXPECT_EQ(this->run(c.template get<std::int64_t>("n")), -1);
}

TYPED_TEST_P(conformance, increment_of_non_integer_fails_and_keeps_value) {
    auto c = this->make_cache();
    this->run(c.set("s", std::string("abc")));
    EXPECT_EQ(this->error_of(c.increment("s", 1)), errc::not_a_number);
    EXPECT_EQ(this->run(c.template get<std::string>("s")), "abc");
}

TYPED_TEST_P(conformance, multi_get_keeps_order_with_misses) {
    auto c = this->make_cache();
    this->run(c.set("a", 1));
    this->run(c.set("c", 3));
    auto got = this->run(c.template multi_get<int>({"a", "b", "c", "d"}));
    ASSERT_EQ(got.size(), 4U);
    EXPECT_EQ(got[0], 1);
    EXPECT_FALSE(got[1].has_value());
    EXPECT_EQ(got[2], 3);
    EXPECT_FALSE(got[3].has_value());
    EXPECT_TRUE(this->run(c.template multi_get<int>({})).empty());
}

TYPED_TEST_P(conformance, multi_set_stores_every_pair) {
    auto c = this->make_cache();
    std::vector<std::pair<std::string, std::string>> items;
    for (int i = 0; i < 20; ++i) {
        items.emplace_back("k" + std::to_string(i), "v" + std::to_string(i));
    }
    this->run(c.multi_set(items));
    for (auto const& [k, v] : items) {
        EXPECT_EQ(this->run(c.template get<std::string>(k)), v) << k;
    }
}

TYPED_TEST_P(conformance, remove_counts_then_exists_is_false) {
    auto c = this->make_cache();
    this->run(c.set("k", 1));
    EXPECT_TRUE(this->run(c.exists("k")));
    EXPECT_EQ(this->run(c.remove("k")), 1U);
    EXPECT_EQ(this->run(c.remove("k")), 0U);
    EXPECT_FALSE(this->run(c.exists("k")));
    EXPECT_FALSE(this->run(c.template get<int>("k")).has_value());
}

TYPED_TEST_P(conformance, namespaces_are_isolated) {
    auto one = this->make_cache({.ns = "one"});
    auto two = this->make_cache({.ns = "two"});
    this->run(one.set("k", std::string("from one")));
    this->run(two.set("k", std::string("from two")));
    EXPECT_EQ(this->run(one.template get<std::string>("k")), "from one");
    EXPECT_EQ(this->run(two.template get<std::string>("k")), "from two");
    EXPECT_EQ(this->run(one.template get<std::string>("k", {.ns = "two"})), "from two");
    EXPECT_EQ(this->run(one.remove("k")), 1U);
    EXPECT_EQ(this->run(two.template get<std::string>("k")), "from two");
}

TYPED_TEST_P(conformance, clear_namespace_keeps_other_namespaces) {
    auto ns1 = this->make_cache({.ns = "ns1"});
    auto ns10 = this->make_cache({.ns = "ns10"});  // "ns1" is a prefix of its name
    auto bare = this->make_cache({});
    for (auto const* k : {"a", "b", "c"}) {
        this->run(ns1.set(k, 1));
    }
    this->run(ns10.set("a", 10));
    this->run(bare.set("ns1", 100));  // a bare key equal to the namespace's name
    this->run(bare.set("plain", 200));

    if (!this->traits().supports_clear_namespace) {
        EXPECT_EQ(this->error_of(ns1.clear()), errc::not_supported);
        EXPECT_EQ(this->run(ns1.template get<int>("a")), 1) << "a refused clear removed keys";
        return;
    }
    auto removed = this->run(ns1.clear());
    EXPECT_TRUE(removed == 3 || removed == 0) << "clear reported " << removed;
    for (auto const* k : {"a", "b", "c"}) {
        EXPECT_FALSE(this->run(ns1.exists(k))) << k << " survived clear";
    }
    EXPECT_EQ(this->run(ns10.template get<int>("a")), 10);
    EXPECT_EQ(this->run(bare.template get<int>("ns1")), 100);
    EXPECT_EQ(this->run(bare.template get<int>("plain")), 200);
    // The namespace is usable again afterwards.
    this->run(ns1.set("a", 2));
    EXPECT_EQ(this->run(ns1.template get<int>("a")), 2);
}

TYPED_TEST_P(conformance, clear_without_namespace_is_refused) {
    auto bare = this->make_cache({});
    this->run(bare.set("k", 1));
    EXPECT_EQ(this->error_of(bare.clear()), errc::invalid_argument);
    EXPECT_EQ(this->run(bare.template get<int>("k")), 1);
}

TYPED_TEST_P(conformance, clear_all_removes_everything) {
    auto ns1 = this->make_cache({.ns = "ns1"});
    auto bare = this->make_cache({});
    this->run(ns1.set("a", 1));
    this->run(bare.set("b", 2));
    this->run(bare.clear_all());
    EXPECT_FALSE(this->run(ns1.exists("a")));
    EXPECT_FALSE(this->run(bare.exists("b")));
    this->run(bare.set("b", 3));
    EXPECT_EQ(this->run(bare.template get<int>("b")), 3);
}

TYPED_TEST_P(conformance, empty_value_is_a_hit) {
    auto c = this->bytes_cache();
    this->run(c.set("empty", std::string()));
    auto got = this->run(c.template get<std::string>("empty"));
    ASSERT_TRUE(got.has_value()) << "an empty value read back as a miss";
    EXPECT_EQ(*got, "");
    EXPECT_TRUE(this->run(c.exists("empty")));
}

TYPED_TEST_P(conformance, large_value_round_trips) {
    auto c = this->bytes_cache();
    std::string big(512 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    this->run(c.set("big", big));
    auto got = this->run(c.template get<std::string>("big"));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->size(), big.size());
    EXPECT_TRUE(*got == big);
}

TYPED_TEST_P(conformance, values_are_binary_safe) {
    auto c = this->bytes_cache();
    auto const bytes = all_bytes();
    this->run(c.set("bin", bytes));
    EXPECT_TRUE(this->run(c.template get<std::string>("bin")) == bytes);
    auto raw = this->run(this->backend_->get(c.build_key("bin"), deadline::never()));
    ASSERT_TRUE(raw.has_value());
    EXPECT_TRUE(*raw == bytes) << "the backend altered the stored bytes";
    auto many = this->run(c.template multi_get<std::string>({"bin"}));
    ASSERT_EQ(many.size(), 1U);
    EXPECT_TRUE(many[0] == bytes);
}

TYPED_TEST_P(conformance, gets_and_cas) {
    auto c = this->make_cache();
    this->run(c.set("k", 1));
    auto const gets_error = this->error_of(c.template gets<int>("k"));
    if (gets_error == errc::not_supported) {
        EXPECT_EQ(this->error_of(c.cas("k", 2, 1)), errc::not_supported);
        return;
    }
    ASSERT_FALSE(gets_error) << gets_error.message();
    auto first = this->run(c.template gets<int>("k"));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->value, 1);
    EXPECT_TRUE(this->run(c.cas("k", 2, first->token)));
    EXPECT_EQ(this->run(c.template get<int>("k")), 2);
    // The token was consumed by the write: using it again fails and keeps the value.
    EXPECT_FALSE(this->run(c.cas("k", 3, first->token)));
    EXPECT_EQ(this->run(c.template get<int>("k")), 2);
    // A write by someone else invalidates a token.
    auto second = this->run(c.template gets<int>("k"));
    ASSERT_TRUE(second.has_value());
    this->run(c.set("k", 4));
    EXPECT_FALSE(this->run(c.cas("k", 5, second->token)));
    EXPECT_EQ(this->run(c.template get<int>("k")), 4);
    // Missing keys: no value, no swap.
    EXPECT_FALSE(this->run(c.template gets<int>("absent")).has_value());
    EXPECT_FALSE(this->run(c.cas("absent", 1, second->token)));
    EXPECT_FALSE(this->run(c.exists("absent")));
}

TYPED_TEST_P(conformance, remove_if_equal_is_compare_and_delete) {
    auto c = this->bytes_cache();
    this->run(c.set("lock", std::string("token-a")));
    auto key = c.build_key("lock");
    auto& b = this->backend_;
    auto const first_error = this->error_of(b->remove_if_equal(key, "token-b", deadline::never()));
    if (first_error == errc::not_supported) {
        EXPECT_EQ(this->run(c.template get<std::string>("lock")), "token-a");
        return;
    }
    ASSERT_FALSE(first_error) << first_error.message();
    EXPECT_EQ(this->run(c.template get<std::string>("lock")), "token-a") << "wrong token deleted";
    EXPECT_TRUE(this->run(b->remove_if_equal(key, "token-a", deadline::never())));
    EXPECT_FALSE(this->run(c.exists("lock")));
    EXPECT_FALSE(this->run(b->remove_if_equal(key, "token-a", deadline::never())));
}

TYPED_TEST_P(conformance, expire_if_equal_renews_only_with_the_token) {
    auto c = this->bytes_cache();
    this->run(c.set("lease", std::string("token-a"), expiry(std::chrono::seconds(5))));
    auto key = c.build_key("lease");
    auto& b = this->backend_;
    auto const first_error =
        this->error_of(b->expire_if_equal(key, "token-b", expiry(std::chrono::seconds(100)),
                                          deadline::never()));
    if (first_error == errc::not_supported) {
        return;
    }
    ASSERT_FALSE(first_error) << first_error.message();
    if (!b->traits().supports_ttl) {
        EXPECT_TRUE(this->run(b->expire_if_equal(key, "token-a", expiry(std::chrono::seconds(100)),
                                                 deadline::never())));
        EXPECT_EQ(this->run(c.template get<std::string>("lease")), "token-a");
        return;
    }
    auto ttl_of = [&] { return this->run(c.ttl("lease")).value().duration(); };
    EXPECT_LE(ttl_of(), std::chrono::seconds(5)) << "a wrong token extended the lease";
    EXPECT_TRUE(this->run(
        b->expire_if_equal(key, "token-a", expiry(std::chrono::seconds(100)), deadline::never())));
    EXPECT_GT(ttl_of(), std::chrono::seconds(50));
    EXPECT_EQ(this->run(c.template get<std::string>("lease")), "token-a") << "value kept";
    this->run(c.remove("lease"));
    EXPECT_FALSE(this->run(
        b->expire_if_equal(key, "token-a", expiry(std::chrono::seconds(100)), deadline::never())));
    EXPECT_FALSE(this->run(c.exists("lease"))) << "renewing a missing key created it";
}

TYPED_TEST_P(conformance, stored_null_is_a_hit) {
    auto c = this->make_cache();
    this->run(c.set("nothing", std::optional<int>{}));
    auto got = this->run(c.template get<std::optional<int>>("nothing"));
    ASSERT_TRUE(got.has_value()) << "a stored null read back as a miss";
    EXPECT_FALSE(got->has_value());
    EXPECT_TRUE(this->run(c.exists("nothing")));
    auto absent = this->run(c.template get<std::optional<int>>("absent"));
    EXPECT_FALSE(absent.has_value());
}

TYPED_TEST_P(conformance, corrupt_payload_fails_naming_the_key) {
    auto c = this->make_cache();
    auto key = c.build_key("bad");
    this->run(this->backend_->set(key, "{not json", expiry::never(), deadline::never()));
    try {
        this->run(c.template get<int>("bad"));
        FAIL() << "decoding garbage did not fail";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
        EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
}

TYPED_TEST_P(conformance, long_keys_are_rejected_or_kept_distinct) {
    auto c = this->make_cache();
    std::size_t const limit = this->traits().max_key_size == 0 ? 250 : this->traits().max_key_size;
    std::string const prefix(limit, 'x');
    auto const k1 = prefix + "-one";
    auto const k2 = prefix + "-two";
    auto const err = this->error_of(c.set(k1, 1));
    if (err) {
        EXPECT_EQ(err, errc::invalid_key) << err.message();
        EXPECT_EQ(this->error_of(c.set(k2, 2)), errc::invalid_key);
        return;
    }
    this->run(c.set(k2, 2));
    EXPECT_EQ(this->run(c.template get<int>(k1)), 1) << "long keys were truncated";
    EXPECT_EQ(this->run(c.template get<int>(k2)), 2);
    EXPECT_EQ(this->run(c.remove(k1)), 1U);
    EXPECT_EQ(this->run(c.template get<int>(k2)), 2);
}

TYPED_TEST_P(conformance, control_character_keys_are_rejected_or_kept_distinct) {
    auto c = this->make_cache();
    std::vector<std::string> const keys{"line\nbreak", "line\rbreak", "tab\tkey",
                                        std::string("nul\0key", 7)};
    std::vector<std::string> stored;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto const err = this->error_of(c.set(keys[i], static_cast<int>(i)));
        if (err) {
            EXPECT_EQ(err, errc::invalid_key) << err.message();
        } else {
            stored.push_back(keys[i]);
        }
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (std::find(stored.begin(), stored.end(), keys[i]) != stored.end()) {
            EXPECT_EQ(this->run(c.template get<int>(keys[i])), static_cast<int>(i)) << i;
        }
    }
    // A plain key next to them is untouched.
    this->run(c.set("linebreak", 99));
    EXPECT_EQ(this->run(c.template get<int>("linebreak")), 99);
}

TYPED_TEST_P(conformance, concurrent_add_has_exactly_one_winner) {
    auto c = this->make_cache();
    auto tally = std::make_shared<concurrent_tally>();
    int const n = 50;
    auto one = [&](int i) { return contend_add(c, "contested", i, tally); };
    spawn_and_wait(this->io_, *tally, n, one);
    ASSERT_EQ(tally->finished, n) << "concurrent adds did not finish";
    EXPECT_EQ(tally->ok, 1);
    EXPECT_EQ(tally->key_exists, n - 1);
    EXPECT_EQ(tally->other_errors, 0) << tally->first_other;
}

TYPED_TEST_P(conformance, concurrent_increments_sum_exactly) {
    auto c = this->make_cache();
    auto tally = std::make_shared<concurrent_tally>();
    int const n = 50;
    int const rounds = 20;
    auto one = [&](int /*i*/) { return contend_increment(c, "counter", rounds, tally); };
    spawn_and_wait(this->io_, *tally, n, one);
    ASSERT_EQ(tally->finished, n) << "concurrent increments did not finish";
    EXPECT_EQ(tally->other_errors, 0) << tally->first_other;
    EXPECT_EQ(this->run(c.template get<std::int64_t>("counter")), n * rounds);
}

REGISTER_TYPED_TEST_SUITE_P(conformance, get_of_missing_key_is_a_miss,
                            set_then_get_returns_the_value,
                            values_are_stored_as_the_serializer_wrote_them,
                            ttl_expiry_refresh_expire_and_persist,
                            ttl_reports_missing_persistent_and_expiring_keys,
                            add_fails_on_existing_key_and_keeps_old_value,
                            increment_missing_existing_and_negative,
                            increment_below_zero_gives_a_negative_value,
                            increment_of_non_integer_fails_and_keeps_value,
                            multi_get_keeps_order_with_misses, multi_set_stores_every_pair,
                            remove_counts_then_exists_is_false, namespaces_are_isolated,
                            clear_namespace_keeps_other_namespaces,
                            clear_without_namespace_is_refused, clear_all_removes_everything,
                            empty_value_is_a_hit, large_value_round_trips,
                            values_are_binary_safe, gets_and_cas,
                            remove_if_equal_is_compare_and_delete,
                            expire_if_equal_renews_only_with_the_token, stored_null_is_a_hit,
                            corrupt_payload_fails_naming_the_key,
                            long_keys_are_rejected_or_kept_distinct,
                            control_character_keys_are_rejected_or_kept_distinct,
                            concurrent_add_has_exactly_one_winner,
                            concurrent_increments_sum_exactly);

}  // namespace asiocache::test
