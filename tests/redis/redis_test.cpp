// SPDX-License-Identifier: MIT
// The Redis backend against real redis-server processes (127.0.0.1, free ports, no
// persistence): the conformance suite, then what only Redis has (AUTH, SELECT, unix sockets,
// SCAN-based clear, pipelining, deadlines, cancellation, outages and restarts).
#include "asiocache/backends/redis.hpp"

#include "asiocache/asiocache.hpp"
#include "conformance/conformance_suite.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <tuple>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::backend;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::raw_reply;
using asiocache::task;
using asiocache::backends::make_redis_backend;
using asiocache::backends::redis_options;
using asiocache::backends::redis_statistics;
using asiocache::test::local_server;
using asiocache::test::run_for;

/// Runs `io` until `done()` or `limit`; false on the limit.
template <class Pred>
auto run_until(asio::io_context& io, Pred done, std::chrono::milliseconds limit) -> bool {
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= end) {
            return false;
        }
        run_for(io, 5ms);
    }
    return true;
}

auto options_for(local_server const& s) -> redis_options {
    return {.host = s.host(),
            .port = s.port(),
            .connect_timeout = 2s,
            .reconnect_min = 20ms,
            .reconnect_max = 200ms};
}

auto soon() -> deadline { return deadline::after(5s); }

}  // namespace

/// The conformance suite's environment: one server per test process, emptied per backend.
struct redis_env {
    static constexpr char const* name = "redis";
    static auto make(asio::io_context& io) -> std::shared_ptr<backend> {
        static auto server = local_server::redis();
        if (!server) {
            return nullptr;
        }
        auto b = make_redis_backend(io.get_executor(), options_for(*server));
        asiocache::test::run(io, b->clear_all(soon()));
        return b;
    }
    static void advance(asio::io_context& io, std::chrono::milliseconds d) { run_for(io, d); }
};

namespace asiocache::test {
INSTANTIATE_TYPED_TEST_SUITE_P(redis, conformance, ::testing::Types<redis_env>);
}  // namespace asiocache::test

namespace {

class redis_test : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto s = local_server::redis()) {
            server_.emplace(std::move(*s));
        } else {
            ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
        }
    }

    auto make(redis_options o) -> std::shared_ptr<backend> {
        return make_redis_backend(io_.get_executor(), std::move(o));
    }
    auto make() -> std::shared_ptr<backend> { return make(options_for(*server_)); }

    template <class T>
    auto run(task<T> t, std::chrono::milliseconds limit = 10s) -> T {
        return asiocache::test::run(io_, std::move(t), limit);
    }
    template <class T>
    auto run_error(task<T> t, std::chrono::milliseconds limit = 10s) -> boost::system::error_code {
        return asiocache::test::run_error(io_, std::move(t), limit);
    }
    /// The message of the system_error `t` throws (empty if it completes).
    template <class T>
    auto error_text(task<T> t) -> std::string {
        try {
            run(std::move(t));
        } catch (boost::system::system_error const& e) {
            return e.what();
        }
        return {};
    }
    auto raw(backend& b, std::vector<std::string> argv) -> raw_reply {
        return run(b.raw(std::move(argv), soon()));
    }

    asio::io_context io_;
    std::optional<local_server> server_;
};

TEST_F(redis_test, reads_values_written_like_python_aiocache_and_writes_its_layout) {
    auto b = make();
    cache c{b, {.ns = "ns"}};
    // aiocache 0.12 RedisCache + JsonSerializer: key "ns:key", json.dumps bytes, no envelope.
    raw(*b, {"SET", "ns:key", R"({"a": 1, "b": [1, 2.5, "x"]})"});
    struct typed {
        int a = 0;
        std::tuple<int, double, std::string> b;
    };
    auto doc = run(c.get<nlohmann::json>("key"));
    ASSERT_TRUE(doc.has_value());
    typed v{doc->at("a").get<int>(), doc->at("b").get<std::tuple<int, double, std::string>>()};
    EXPECT_EQ(v.a, 1);
    EXPECT_EQ(v.b, std::make_tuple(1, 2.5, std::string("x")));

    run(c.set("ours", nlohmann::json{{"n", nullptr}, {"x", {1, 2.5, "y"}}}));
    auto stored = raw(*b, {"GET", "ns:ours"});
    ASSERT_EQ(stored.type, raw_reply::kind::string);
    EXPECT_EQ(nlohmann::json::parse(stored.str),
              (nlohmann::json{{"n", nullptr}, {"x", {1, 2.5, "y"}}}));

    // With Python and redis-py at hand, Python itself writes and reads.
    if (::access("/usr/bin/python3", X_OK) == 0 &&
        std::system("/usr/bin/python3 -c 'import redis' >/dev/null 2>&1") == 0) {
        auto py = fmt::format(
            "/usr/bin/python3 -c \"import json, redis, sys; r = redis.Redis(port={}); "
            "r.set('ns:py', json.dumps({{'a': 1, 'b': [1, 2.5, 'x']}})); "
            "sys.exit(0 if json.loads(r.get('ns:ours')) == {{'n': None, 'x': [1, 2.5, 'y']}} "
            "else 3)\"",
            server_->port());
        EXPECT_EQ(std::system(py.c_str()), 0);
        auto from_py = run(c.get<nlohmann::json>("py"));
        ASSERT_TRUE(from_py.has_value());
        EXPECT_EQ(from_py->at("b").at(1).get<double>(), 2.5);
    }
}

TEST_F(redis_test, value_compare_cas_survives_script_cache_flush) {
    auto b = make();
    run(b->set("k", "v1", expiry::never(), soon()));
    auto first = run(b->gets("k", soon()));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->value, "v1");
    EXPECT_TRUE(run(b->cas("k", "v2", first->token, 10s, soon())));
    // The old token no longer matches: refused, value kept.
    EXPECT_FALSE(run(b->cas("k", "v3", first->token, expiry::never(), soon())));
    EXPECT_EQ(run(b->get("k", soon())), "v2");
    auto ttl = run(b->ttl("k", soon()));
    ASSERT_TRUE(ttl.has_value());
    EXPECT_FALSE(ttl->is_never());

    // EVALSHA falls back to EVAL when the server lost its script cache.
    raw(*b, {"SCRIPT", "FLUSH"});
    auto second = run(b->gets("k", soon()));
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(second->token, first->token);
    EXPECT_TRUE(run(b->cas("k", "v4", second->token, expiry::never(), soon())));
    EXPECT_FALSE(run(b->cas("missing", "x", second->token, expiry::never(), soon())));
    EXPECT_EQ(run(b->gets("missing", soon())), std::nullopt);

    raw(*b, {"SCRIPT", "FLUSH"});
    EXPECT_FALSE(run(b->remove_if_equal("k", "v1", soon())));
    EXPECT_TRUE(run(b->remove_if_equal("k", "v4", soon())));
    EXPECT_FALSE(run(b->exists("k", soon())));
}

TEST_F(redis_test, persisting_a_key_without_ttl_still_reports_it_exists) {
    auto b = make();
    run(b->set("p", "v", expiry::never(), soon()));
    EXPECT_TRUE(run(b->expire("p", expiry::never(), soon())));
    EXPECT_FALSE(run(b->expire("nope", expiry::never(), soon())));
    run(b->set("t", "v", 60s, soon()));
    EXPECT_TRUE(run(b->expire("t", expiry::never(), soon())));
    EXPECT_TRUE(run(b->ttl("t", soon()))->is_never());
}

TEST_F(redis_test, raw_passes_replies_through_and_refuses_connection_state_commands) {
    auto b = make();
    auto pong = raw(*b, {"PING"});
    EXPECT_EQ(pong.type, raw_reply::kind::status);
    EXPECT_EQ(pong.str, "PONG");
    EXPECT_EQ(raw(*b, {"HSET", "h", "f", "v"}).integer, 1);
    auto wrong = raw(*b, {"LPUSH", "h", "x"});
    EXPECT_EQ(wrong.type, raw_reply::kind::error);
    EXPECT_TRUE(wrong.str.starts_with("WRONGTYPE")) << wrong.str;
    auto all = raw(*b, {"HGETALL", "h"});
    ASSERT_EQ(all.type, raw_reply::kind::array);
    EXPECT_EQ(all.elements.size(), 2U);
    EXPECT_EQ(run_error(b->raw({"subscribe", "c"}, soon())), errc::invalid_argument);
    EXPECT_EQ(run_error(b->raw({"SELECT", "1"}, soon())), errc::invalid_argument);
    EXPECT_EQ(run_error(b->raw({"client", "reply", "off"}, soon())), errc::invalid_argument);
    EXPECT_EQ(run_error(b->raw({}, soon())), errc::invalid_argument);

    // Typed operations turn server errors into backend_error carrying the server's words.
    cache c{b};
    auto text = error_text(c.get<std::string>("h"));
    EXPECT_NE(text.find("WRONGTYPE"), std::string::npos) << text;
    EXPECT_EQ(run_error(c.get<std::string>("h")), errc::backend_error);
}

TEST_F(redis_test, databases_are_isolated) {
    auto o = options_for(*server_);
    auto db0 = make(o);
    o.db = 3;
    auto db3 = make(o);
    run(db0->set("k", "zero", expiry::never(), soon()));
    run(db3->set("k", "three", expiry::never(), soon()));
    EXPECT_EQ(run(db0->get("k", soon())), "zero");
    EXPECT_EQ(run(db3->get("k", soon())), "three");
    run(db3->clear_all(soon()));
    EXPECT_EQ(run(db3->get("k", soon())), std::nullopt);
    EXPECT_EQ(run(db0->get("k", soon())), "zero");
}

TEST_F(redis_test, clear_scans_a_large_namespace_and_spares_every_other_key) {
    auto b = make();
    constexpr int n = 10'500;
    for (int start = 0; start < n; start += 1000) {
        std::vector<std::pair<std::string, std::string>> batch;
        for (int i = start; i < std::min(n, start + 1000); ++i) {
            batch.emplace_back(fmt::format("big:{}", i), "v");
        }
        run(b->multi_set(std::move(batch), expiry::never(), soon()));
    }
    std::vector<std::string> survivors{"big", "bigger:1", "bi:g", "other:big:1", "xbig:1", "aXb:1"};
    for (auto const& k : survivors) {
        run(b->set(k, "keep", expiry::never(), soon()));
    }
    run(b->set("a*b:1", "glob", expiry::never(), soon()));

    EXPECT_EQ(run(b->clear("big", soon()), 20s), static_cast<std::size_t>(n));
    // A namespace with glob characters matches itself only.
    EXPECT_EQ(run(b->clear("a*b", soon())), 1U);
    for (auto const& k : survivors) {
        EXPECT_EQ(run(b->get(k, soon())), "keep") << k;
    }
    EXPECT_EQ(raw(*b, {"DBSIZE"}).integer, static_cast<std::int64_t>(survivors.size()));
    EXPECT_EQ(run_error(b->clear("", soon())), errc::invalid_argument);
}

TEST_F(redis_test, unix_socket_from_a_url_config_with_db_parameter) {
    auto path = fmt::format("/tmp/asiocache-redis-{}.sock", ::getpid());
    auto server = local_server::redis({"--unixsocket", path, "--unixsocketperm", "700"});
    ASSERT_TRUE(server.has_value());
    auto b = asiocache::backends::redis_backend_from_config(
        io_.get_executor(), {.scheme = "redis+unix", .path = path, .params = {{"db", "2"}}});
    run(b->set("over-unix", "yes", expiry::never(), soon()));
    auto o = options_for(*server);
    o.db = 2;
    auto tcp = make(o);
    EXPECT_EQ(run(tcp->get("over-unix", soon())), "yes");
    server.reset();
    ::unlink(path.c_str());
}

TEST_F(redis_test, pipelining_batches_a_thousand_concurrent_gets) {
    auto b = make();
    constexpr int n = 1000;
    std::vector<std::pair<std::string, std::string>> items;
    for (int i = 0; i < n; ++i) {
        items.emplace_back(fmt::format("key:{:04}", i), fmt::format("value-{}", i));
    }
    run(b->multi_set(items, expiry::never(), soon()));
    auto before = *redis_statistics(*b);

    int matched = 0;
    int finished = 0;
    for (int i = 0; i < n; ++i) {
        auto check = [&, i](std::exception_ptr e, std::optional<std::string> v) {
            ++finished;
            if (!e && v == items[static_cast<std::size_t>(i)].second) {
                ++matched;
            }
        };
        asio::co_spawn(io_, b->get(items[static_cast<std::size_t>(i)].first, soon()), check);
    }
    ASSERT_TRUE(run_until(
        io_, [&] { return finished == n; }, 10s));
    EXPECT_EQ(matched, n);
    auto after = *redis_statistics(*b);
    auto requests = after.requests - before.requests;
    auto writes = after.writes - before.writes;
    EXPECT_EQ(requests, static_cast<std::uint64_t>(n));
    // Batched: far fewer socket writes than requests.
    EXPECT_LE(writes * 10, requests) << writes << " writes for " << requests << " requests";
}

TEST_F(redis_test, max_in_flight_bounds_each_batch_and_waiters_still_complete) {
    auto o = options_for(*server_);
    o.max_in_flight = 8;
    auto b = make(o);
    run(b->set("k", "v", expiry::never(), soon()));
    auto before = *redis_statistics(*b);
    int ok = 0;
    int finished = 0;
    for (int i = 0; i < 200; ++i) {
        auto check = [&](std::exception_ptr e, std::optional<std::string> v) {
            ++finished;
            ok += (!e && v == "v") ? 1 : 0;
        };
        asio::co_spawn(io_, b->get("k", soon()), check);
    }
    ASSERT_TRUE(run_until(
        io_, [&] { return finished == 200; }, 10s));
    EXPECT_EQ(ok, 200);
    auto after = *redis_statistics(*b);
    EXPECT_GE((after.writes - before.writes) * 8, after.requests - before.requests);
}

TEST_F(redis_test, paused_server_gives_timeout_at_the_deadline_and_connection_stays_usable) {
    auto b = make();
    auto pauser = make();
    run(b->set("k1", "v1", expiry::never(), soon()));
    run(b->set("k2", "v2", expiry::never(), soon()));
    raw(*pauser, {"CLIENT", "PAUSE", "800", "ALL"});

    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_error(b->get("k1", deadline::after(100ms))), errc::timeout);
    auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 100ms);
    EXPECT_LT(waited, 700ms) << "the deadline must fire before the server answers";

    // Same connection: the late reply for k1 is discarded, k2 gets its own.
    EXPECT_EQ(run(b->get("k2", soon())), "v2");
    auto stats = *redis_statistics(*b);
    EXPECT_EQ(stats.timeouts, 1U);
    EXPECT_EQ(stats.connects, 1U);
}

TEST_F(redis_test, cancellation_completes_at_once_and_connection_stays_usable) {
    auto b = make();
    auto pauser = make();
    run(b->set("k", "v", expiry::never(), soon()));
    raw(*pauser, {"CLIENT", "PAUSE", "500", "ALL"});

    asio::cancellation_signal signal;
    boost::system::error_code got;
    bool finished = false;
    auto check = [&](std::exception_ptr e, std::optional<std::string>) {
        finished = true;
        try {
            if (e) {
                std::rethrow_exception(e);
            }
        } catch (boost::system::system_error const& se) {
            got = se.code();
        }
    };
    asio::co_spawn(io_, b->get("k", soon()), asio::bind_cancellation_slot(signal.slot(), check));
    run_for(io_, 50ms);
    EXPECT_FALSE(finished);
    signal.emit(asio::cancellation_type::terminal);
    ASSERT_TRUE(run_until(
        io_, [&] { return finished; }, 300ms));
    EXPECT_EQ(got, asio::error::operation_aborted);
    EXPECT_EQ(run(b->get("k", soon())), "v");
}

/// A TCP listener that accepts nothing: connects succeed (kernel backlog), replies never come.
class silent_listener {
public:
    explicit silent_listener(asio::io_context& io)
        : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    [[nodiscard]] auto port() const -> std::uint16_t { return acceptor_.local_endpoint().port(); }

private:
    asio::ip::tcp::acceptor acceptor_;
};

TEST_F(redis_test, unanswered_handshake_fails_at_connect_timeout_without_leaking_password) {
    silent_listener silent(io_);
    auto b = make({.port = silent.port(),
                   .password = "sup3r-s3cret-pw",
                   .connect_timeout = 200ms,
                   .reconnect_min = 20ms});
    auto start = std::chrono::steady_clock::now();
    auto text = error_text(b->get("k", soon()));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_NE(text.find("connect timed out"), std::string::npos) << text;
    EXPECT_EQ(text.find("sup3r-s3cret-pw"), std::string::npos) << text;
    EXPECT_EQ(run_error(b->get("k", soon())), errc::backend_unavailable);
}

TEST_F(redis_test, unanswered_request_times_out_at_its_deadline) {
    silent_listener silent(io_);
    auto b = make({.port = silent.port()});
    EXPECT_EQ(run_error(b->get("k", deadline::after(150ms))), errc::timeout);
    EXPECT_EQ(redis_statistics(*b)->timeouts, 1U);
}

TEST(redis_auth, password_and_acl_user_succeed_wrong_ones_fail_without_leaking) {
    asio::io_context io;
    // An ACL user from the command line; the default user gets its password below, since
    // local_server checks readiness with an unauthenticated PING.
    auto server = local_server::redis({"--user", "alice", "on", ">alice-pw-123", "~*", "+@all"});
    if (!server) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
    }
    auto opts = options_for(*server);
    auto admin = make_redis_backend(io.get_executor(), opts);
    asiocache::test::run(io,
                         admin->raw({"CONFIG", "SET", "requirepass", "default-pw-456"}, soon()));

    auto try_get = [&](redis_options o) -> std::pair<boost::system::error_code, std::string> {
        auto b = make_redis_backend(io.get_executor(), std::move(o));
        try {
            asiocache::test::run(io, b->set("k", "v", expiry::never(), soon()));
        } catch (boost::system::system_error const& e) {
            return {e.code(), e.what()};
        }
        return {};
    };
    auto with = [&](std::optional<std::string> user, std::optional<std::string> pw) {
        auto o = opts;
        o.username = std::move(user);
        o.password = std::move(pw);
        return o;
    };

    // Without a password the handshake's PING is refused: a failed connect, with the server's
    // reason, like a wrong password.
    auto none = try_get(with({}, {}));
    EXPECT_EQ(none.first, errc::backend_unavailable);
    EXPECT_NE(none.second.find("NOAUTH"), std::string::npos) << none.second;

    EXPECT_EQ(try_get(with({}, "default-pw-456")).first, boost::system::error_code{});
    EXPECT_EQ(try_get(with("alice", "alice-pw-123")).first, boost::system::error_code{});

    for (auto const& [user, pw] :
         {std::pair<std::optional<std::string>, std::string>{std::nullopt, "wrong-pw-789"},
          {"alice", "bad-alice-pw-000"}}) {
        auto [code, text] = try_get(with(user, pw));
        EXPECT_EQ(code, errc::backend_unavailable);
        EXPECT_NE(text.find("AUTH rejected"), std::string::npos) << text;
        EXPECT_EQ(text.find(pw), std::string::npos) << text;
    }

    auto alice = make_redis_backend(io.get_executor(), with("alice", "alice-pw-123"));
    auto who = asiocache::test::run(io, alice->raw({"ACL", "WHOAMI"}, soon()));
    EXPECT_EQ(who.str, "alice");
}

TEST_F(redis_test, down_server_fails_fast_and_service_resumes_when_it_returns) {
    auto b = make();
    run(b->set("k", "v", expiry::never(), soon()));
    server_->kill();
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_error(b->get("k", soon())), errc::backend_unavailable);
    EXPECT_EQ(run_error(b->get("k", soon())), errc::backend_unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "fail fast, not at the deadline";
    server_->start();
    bool back = run_until(
        io_,
        [&] {
            return asiocache::test::run_error(io_, b->set("k", "again", expiry::never(), soon())) ==
                   boost::system::error_code{};
        },
        5s);
    ASSERT_TRUE(back);
    EXPECT_EQ(run(b->get("k", soon())), "again");
}

struct load_tally {
    enum class phase { before, outage, after } now = phase::before;
    int ok_before = 0;
    int ok_after = 0;
    int unavailable = 0;
    int timeouts = 0;
    int lost_values = 0;
    std::vector<std::string> unexpected;
    int running = 0;
    bool stop = false;
};

auto load_worker(std::shared_ptr<backend> b, int id, load_tally* t) -> task<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer pause(ex);
    auto key = fmt::format("load:{}", id);
    auto value = fmt::format("value-{}", id);
    while (!t->stop) {
        bool failed = false;
        try {
            co_await b->set(key, value, expiry::never(), deadline::after(1s));
            auto got = co_await b->get(key, deadline::after(1s));
            if (got == value) {
                ++(t->now == load_tally::phase::after ? t->ok_after : t->ok_before);
            } else {
                ++t->lost_values;  // written before the kill, read after: the data is gone
            }
        } catch (boost::system::system_error const& e) {
            failed = true;
            if (e.code() == errc::backend_unavailable) {
                ++t->unavailable;
            } else if (e.code() == errc::timeout) {
                ++t->timeouts;
            } else {
                t->unexpected.emplace_back(e.what());
            }
        }
        if (failed) {
            pause.expires_after(5ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
    }
    --t->running;
}

TEST_F(redis_test, server_killed_and_restarted_under_load_recovers_without_hang) {
    auto b = make();
    load_tally t;
    constexpr int workers = 16;
    for (int i = 0; i < workers; ++i) {
        ++t.running;
        asio::co_spawn(io_, load_worker(b, i, &t), [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    }
    run_for(io_, 200ms);
    t.now = load_tally::phase::outage;
    server_->kill();
    run_for(io_, 300ms);
    server_->start();
    t.now = load_tally::phase::after;
    EXPECT_TRUE(run_until(
        io_, [&] { return t.ok_after >= 200; }, 8s))
        << t.ok_after;
    t.stop = true;
    ASSERT_TRUE(run_until(
        io_, [&] { return t.running == 0; }, 5s))
        << "workers hung";

    EXPECT_GT(t.ok_before, 0);
    EXPECT_GT(t.unavailable, 0) << "the outage must be reported";
    EXPECT_TRUE(t.unexpected.empty()) << t.unexpected.front();
    EXPECT_GE(redis_statistics(*b)->connects, 2U);
}

TEST_F(redis_test, close_releases_the_connection_and_next_use_reconnects) {
    auto b = make();
    run(b->set("k", "v", expiry::never(), deadline::after(60s)));
    run(b->close());
    // Nothing is left pending (socket, watchdog, retry timer): run() returns at once rather
    // than at the last request's deadline.
    io_.restart();
    auto start = std::chrono::steady_clock::now();
    io_.run_for(30s);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_EQ(run(b->get("k", soon())), "v");
    EXPECT_EQ(redis_statistics(*b)->connects, 2U);
}

}  // namespace
