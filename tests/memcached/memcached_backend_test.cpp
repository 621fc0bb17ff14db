// SPDX-License-Identifier: MIT
// What is particular to memcached, against real memcached servers: TTL conversion, key layout and
// validation, the item size limit, namespace generations, increment beyond incr's range, CAS,
// raw commands, several servers (split keyspace, one dead), a server killed mid-load, and the
// worker pool's deadlines, queue bound and cancellation.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memcached.hpp"
#include "memcached_env.hpp"

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
#include <thread>
#include <map>
#include <mutex>
#include <string>
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
using asiocache::test::local_server;
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

TEST(memcached_config_test, factory_takes_known_parameters_and_rejects_unknown_ones) {
    asio::io_context io;
    asiocache::backend_config cfg{.scheme = "memcached",
                                  .endpoints = {{"127.0.0.1", 0}, {"127.0.0.1", 11299}},
                                  .params = {{"binary", "true"},
                                             {"pool_size", "2"},
                                             {"connect_timeout", "250ms"},
                                             {"io_timeout", "1s"},
                                             {"namespace_generations", "on"},
                                             {"worker_spin_us", "20"}}};
    auto b = asiocache::backends::memcached_backend_from_config(io.get_executor(), cfg);
    EXPECT_TRUE(b->traits().supports_clear_namespace);
    EXPECT_TRUE(b->traits().enforces_deadlines);
    EXPECT_FALSE(b->traits().supports_ttl);

    cfg.params["bogus"] = "1";
    try {
        asiocache::backends::memcached_backend_from_config(io.get_executor(), cfg);
        ADD_FAILURE() << "unknown parameter accepted";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::invalid_config);
        EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos);
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

TEST_F(memcached_backend_test, ttl_is_not_supported) {
    set("k", "v");
    EXPECT_EQ(run_error(io_, backend_->ttl("k", soon())), errc::not_supported);
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
    std::atomic<int> finished{0};
    for (int i = 0; i < 40; ++i) {
        std::int64_t delta = i % 2 == 0 ? 3 : -2;
        asio::co_spawn(io_, backend_->increment("mixed", delta, soon()),
                       [&](std::exception_ptr e, std::int64_t) {
                           EXPECT_FALSE(e);
                           ++finished;
                       });
    }
    io_.restart();
    while (finished < 40) {
        io_.run_one_for(5s);
    }
    EXPECT_EQ(get("mixed"), std::to_string(20 * 3 - 20 * 2));
}

TEST_F(memcached_backend_test, concurrent_gets_each_get_their_own_value) {
    // Gets queued together share one multi-get: every caller must still get its own answer.
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

TEST(memcached_spin_test, a_polling_worker_serves_sequential_and_concurrent_callers) {
    asio::io_context io;
    auto b = asiocache::test::fresh_memcached_backend(
        io, {.threads = 2, .worker_spin = std::chrono::microseconds(200)});
    if (!b) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    for (int i = 0; i < 50; ++i) {  // one after another: the polling worker takes each
        auto key = "spin" + std::to_string(i);
        run(io, b->set(key, std::to_string(i), {}, soon()));
        EXPECT_EQ(run(io, b->get(key, soon())), std::to_string(i));
    }
    int finished = 0;
    int wrong = 0;
    for (int i = 0; i < 100; ++i) {
        asio::co_spawn(io, b->get("spin" + std::to_string(i % 50), soon()),
                       [&, i](std::exception_ptr e, std::optional<std::string> v) {
                           wrong += (e || v != std::to_string(i % 50)) ? 1 : 0;
                           ++finished;
                       });
    }
    io.restart();
    auto const limit = std::chrono::steady_clock::now() + 10s;
    while (finished < 100 && std::chrono::steady_clock::now() < limit) {
        io.run_one_for(100ms);
    }
    EXPECT_EQ(finished, 100);
    EXPECT_EQ(wrong, 0);
}

TEST(memcached_threads_test, callers_on_several_threads_share_one_backend) {
    asio::io_context io;
    auto b = asiocache::test::fresh_memcached_backend(io, {.threads = 3});
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
        ++finished;
    };
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    for (int id = 0; id < 8; ++id) {
        asio::co_spawn(io, client(id), [&](std::exception_ptr e) {
            if (!e) {
                return;
            }
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                std::lock_guard lock(failures_mutex);
                failures.emplace_back(ex.what());
            }
        });
    }
    io.restart();  // an io_context that ran out of work stays stopped until restarted
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&io] { io.run(); });  // returns when all clients are done
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(finished, 8);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(run(io, b->get("t_counter", soon())), "320");
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

TEST_F(memcached_backend_test, raw_passes_stats_and_version_only) {
    auto stats = run(io_, backend_->raw({"stats"}, soon()));
    ASSERT_EQ(stats.type, asiocache::raw_reply::kind::array);
    ASSERT_EQ(stats.elements.size(), 1U);
    auto const& server = stats.elements[0].elements;
    ASSERT_GE(server.size(), 3U);
    EXPECT_EQ(server[0].str, asiocache::test::shared_memcached()->address());
    bool has_pid = false;
    for (std::size_t i = 1; i + 1 < server.size(); i += 2) {
        has_pid = has_pid || server[i].str == "pid";
    }
    EXPECT_TRUE(has_pid);
    auto version = run(io_, backend_->raw({"version"}, soon()));
    ASSERT_EQ(version.elements.size(), 1U);
    ASSERT_EQ(version.elements[0].elements.size(), 2U);
    EXPECT_FALSE(version.elements[0].elements[1].str.empty());
    EXPECT_EQ(run_error(io_, backend_->raw({"get", "k"}, soon())), errc::not_supported);
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

// --- Deadlines, queue bound and cancellation (a server that never answers) -----------------------

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

TEST(memcached_pool_test, a_silent_server_gives_timeout_at_the_deadline) {
    black_hole hole;
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(),
                                    {.servers = {{"127.0.0.1", hole.port()}}, .threads = 1});
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_error(io, b->get("k", deadline::after(200ms)), 3s), errc::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // bounded, never a hang
}

TEST(memcached_pool_test, queue_is_bounded_and_queued_requests_time_out) {
    black_hole hole;
    asio::io_context io;
    auto b = make_memcached_backend(
        io.get_executor(),
        {.servers = {{"127.0.0.1", hole.port()}}, .threads = 1, .max_queue = 2});
    std::map<boost::system::error_code, int> codes;
    int finished = 0;
    for (int i = 0; i < 6; ++i) {
        // `exists`, not `get`: queued gets would share one multi-get and leave the queue.
        asio::co_spawn(io, b->exists("k" + std::to_string(i), deadline::after(300ms)),
                       [&](std::exception_ptr e, bool) {
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
    auto const limit = std::chrono::steady_clock::now() + 3s;
    while (finished < 6 && std::chrono::steady_clock::now() < limit) {
        io.run_one_for(100ms);
    }
    ASSERT_EQ(finished, 6);
    // One running and two queued time out; the rest find the queue full.
    EXPECT_GE(codes[make_error_code(errc::backend_unavailable)], 3);
    EXPECT_GE(codes[make_error_code(errc::timeout)], 1);
    EXPECT_EQ(codes[make_error_code(errc::timeout)] +
                  codes[make_error_code(errc::backend_unavailable)],
              6);
}

TEST(memcached_pool_test, cancellation_completes_the_operation_at_once) {
    black_hole hole;
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(),
                                    {.servers = {{"127.0.0.1", hole.port()}}, .threads = 1});
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
    EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);  // not the 1 s io timeout
}

// --- Several servers ------------------------------------------------------------------------------

struct cluster {
    std::vector<local_server> servers;
    std::vector<std::shared_ptr<asiocache::backend>> singles;  // one backend per server
    std::shared_ptr<asiocache::backend> all;

    static auto start(asio::io_context& io, std::size_t n) -> std::optional<cluster> {
        cluster c;
        for (std::size_t i = 0; i < n; ++i) {
            auto s = local_server::memcached();
            if (!s) {
                return std::nullopt;
            }
            c.servers.push_back(std::move(*s));
        }
        memcached_options o{.threads = 2, .io_timeout = 500ms, .retry_timeout = 1s};
        o.servers.clear();
        for (auto const& s : c.servers) {
            o.servers.push_back({s.host(), s.port()});
            memcached_options single = o;
            single.servers = {{s.host(), s.port()}};
            c.singles.push_back(make_memcached_backend(io.get_executor(), single));
        }
        c.all = make_memcached_backend(io.get_executor(), o);
        return c;
    }

    // Which server holds `key` (read through each server's own backend), or -1.
    auto holder(asio::io_context& io, std::string const& key) -> int {
        int found = -1;
        for (std::size_t i = 0; i < singles.size(); ++i) {
            if (run(io, singles[i]->get(key, soon()))) {
                EXPECT_EQ(found, -1) << key << " is on two servers";
                found = static_cast<int>(i);
            }
        }
        return found;
    }
};

TEST(memcached_cluster_test, keyspace_is_split_across_servers) {
    asio::io_context io;
    auto c = cluster::start(io, 3);
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    std::vector<int> per_server(3);
    for (int i = 0; i < 60; ++i) {
        auto key = "split" + std::to_string(i);
        run(io, c->all->set(key, "v", {}, soon()));
        auto h = c->holder(io, key);
        ASSERT_GE(h, 0) << key << " landed nowhere";
        ++per_server[static_cast<std::size_t>(h)];
    }
    for (int n : per_server) {
        EXPECT_GT(n, 0);
    }
    // One multi_get spans every server and keeps the order.
    std::vector<std::string> keys{"split0", "nope", "split59"};
    auto got = run(io, c->all->multi_get(keys, soon()));
    EXPECT_EQ(got[0], "v");
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], "v");
}

TEST(memcached_cluster_test, a_dead_server_fails_only_its_keys_then_recovers) {
    asio::io_context io;
    auto c = cluster::start(io, 2);
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    std::vector<std::string> on[2];
    for (int i = 0; i < 40; ++i) {
        auto key = "dead" + std::to_string(i);
        run(io, c->all->set(key, "v", {}, soon()));
        auto h = c->holder(io, key);
        ASSERT_GE(h, 0);
        on[h].push_back(key);
    }
    ASSERT_FALSE(on[0].empty());
    ASSERT_FALSE(on[1].empty());

    c->servers[1].kill();
    for (auto const& key : on[0]) {
        EXPECT_EQ(run(io, c->all->get(key, soon())), "v");  // the live server is unaffected
    }
    for (auto const& key : on[1]) {
        auto code = run_error(io, c->all->get(key, deadline::after(2s)));
        EXPECT_TRUE(code == errc::backend_unavailable || code == errc::timeout) << code.message();
    }
    auto dead_set = run_error(io, c->all->set(on[1][0], "w", {}, deadline::after(2s)));
    EXPECT_TRUE(dead_set == errc::backend_unavailable || dead_set == errc::timeout);
    EXPECT_EQ(run_error(io, c->all->multi_get({on[0][0], on[1][0]}, deadline::after(2s))),
              errc::backend_unavailable);

    // Back (empty, as a restarted memcached is): its keys work again after the retry timeout.
    // Each worker's connection retries the server on its own schedule, so recovery means a
    // run of successful round trips, whichever worker serves each one.
    c->servers[1].start();
    auto const limit = std::chrono::steady_clock::now() + 5s;
    int in_a_row = 0;
    while (in_a_row < 8 && std::chrono::steady_clock::now() < limit) {
        bool const ok = !run_error(io, c->all->set(on[1][0], "w", {}, soon())) &&
                        !run_error(io, c->all->get(on[1][0], soon()));
        in_a_row = ok ? in_a_row + 1 : 0;
        if (!ok) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(in_a_row, 8) << "the restarted server did not come back within 5 s";
    EXPECT_EQ(run(io, c->all->get(on[1][0], soon())), "w");
    EXPECT_EQ(run(io, c->all->get(on[0][0], soon())), "v");
}

TEST(memcached_cluster_test, server_killed_mid_load_gives_clear_errors_then_recovers) {
    asio::io_context io;
    auto c = cluster::start(io, 1);
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    struct state {
        bool stop = false;
        int ok = 0;
        int running = 0;
        std::map<boost::system::error_code, int> errors;
    } st;
    auto b = c->all;
    auto load = [&st, b](int id) -> asiocache::task<void> {
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer pause(ex);
        auto key = "load" + std::to_string(id);
        while (!st.stop) {
            bool failed = false;
            try {
                co_await b->set(key, "v", {}, deadline::after(1s));
                co_await b->get(key, deadline::after(1s));
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

    c->servers[0].kill();
    auto const errors_before = st.errors.size();
    EXPECT_EQ(errors_before, 0U);
    drive_until([] { return false; }, 500ms);
    int failures = 0;
    for (auto const& [code, n] : st.errors) {
        EXPECT_TRUE(code == errc::backend_unavailable || code == errc::timeout)
            << code.message() << " x" << n;
        failures += n;
    }
    EXPECT_GT(failures, 0);

    c->servers[0].start();
    int const ok_at_restart = st.ok;
    EXPECT_TRUE(drive_until([&] { return st.ok >= ok_at_restart + 100; }, 6s))
        << "no recovery after restart";
    st.stop = true;
    EXPECT_TRUE(drive_until([&] { return st.running == 0; }, 5s));
}

}  // namespace
