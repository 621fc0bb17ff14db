// SPDX-License-Identifier: MIT
// The Redis backend against servers that misbehave: fake servers that refuse, drop or answer
// with hostile bytes, and a chaos proxy in front of a real redis-server. Every operation must
// end by its deadline with the right errc, nothing may crash, hang or return a wrong value,
// reconnects must respect the backoff, and the backend must recover once the server heals.
#include "asiocache/backends/redis.hpp"

#include "asiocache/asiocache.hpp"
#include "conformance/conformance_suite.hpp"
#include "fault_server.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using asiocache::backend;
using asiocache::deadline;
using asiocache::errc;
using asiocache::task;
using asiocache::backends::make_redis_backend;
using asiocache::backends::redis_options;
using asiocache::backends::redis_statistics;
using asiocache::test::chaos_faults;
using asiocache::test::chaos_proxy;
using asiocache::test::fault_server;
using asiocache::test::local_server;
using asiocache::test::redis_like;
using asiocache::test::reply_plan;
using asiocache::test::server_script;

/// How a run of operations ended: successes, and failures by code with the first message.
struct outcome {
    int ok = 0;
    int wrong = 0;  // a value that is not the one stored: must stay 0
    std::map<boost::system::error_code, int> errors;
    std::map<boost::system::error_code, std::string> first_message;

    void fail(boost::system::system_error const& e) {
        if (++errors[e.code()] == 1) {
            first_message[e.code()] = e.what();
        }
    }
    [[nodiscard]] auto count(errc e) const -> int {
        auto it = errors.find(make_error_code(e));
        return it == errors.end() ? 0 : it->second;
    }
    [[nodiscard]] auto message(errc e) const -> std::string {
        auto it = first_message.find(make_error_code(e));
        return it == first_message.end() ? std::string() : it->second;
    }
    [[nodiscard]] auto failures() const -> int {
        int n = 0;
        for (auto const& [code, c] : errors) {
            n += c;
        }
        return n;
    }
};

auto pause(std::chrono::milliseconds d) -> task<void> {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Gets `key` until `for_how_long` has passed, one at a time with a 1 ms pause (so a backend
/// that fails fast is not spun on), each with `timeout`.
auto hammer(std::shared_ptr<backend> b, std::chrono::milliseconds for_how_long,
            std::chrono::milliseconds timeout, std::shared_ptr<outcome> out) -> task<void> {
    auto const end = std::chrono::steady_clock::now() + for_how_long;
    while (std::chrono::steady_clock::now() < end) {
        try {
            co_await b->get("k", deadline::after(timeout));
            ++out->ok;
        } catch (boost::system::system_error const& e) {
            out->fail(e);
        }
        co_await pause(1ms);
    }
}

auto options_for(std::uint16_t port) -> redis_options {
    return {.host = "127.0.0.1", .port = port, .connect_timeout = 500ms};
}

class redis_faults : public ::testing::Test {
protected:
    template <class T>
    auto run(task<T> t, std::chrono::milliseconds limit = 20s) -> T {
        return asiocache::test::run(io_, std::move(t), limit);
    }
    auto run_hammer(std::shared_ptr<backend> b, std::chrono::milliseconds d,
                    std::chrono::milliseconds timeout = 200ms) -> outcome {
        auto out = std::make_shared<outcome>();
        run(hammer(std::move(b), d, timeout, out), d + 10s);
        return *out;
    }
    /// Polls a get until it returns `want` or `limit` passes.
    auto recovers(backend& b, std::string const& want, std::chrono::milliseconds limit = 8s)
        -> bool {
        auto const end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            try {
                auto v = run(b.get("k", deadline::after(500ms)));
                if (v && *v == want) {
                    return true;
                }
            } catch (boost::system::system_error const&) {
            }
            run(pause(20ms));
        }
        return false;
    }

    asio::io_context io_;
};

// --- Reconnect storms: servers that take connections but do not serve them ------------------

// At the defaults (reconnect_min 50 ms doubling to reconnect_max 2 s, with jitter), 3 s allow
// about 8 attempts; the old client made about 1,500.
constexpr std::uint64_t max_connects_in_3s = 12;

TEST_F(redis_faults, accept_then_close_is_retried_with_backoff) {
    fault_server server({.close_at_accept = true});
    auto b = make_redis_backend(io_.get_executor(), options_for(server.port()));
    auto out = run_hammer(b, 3s);
    EXPECT_EQ(out.ok, 0);
    EXPECT_EQ(out.failures(), out.count(errc::backend_unavailable));
    EXPECT_GE(server.connections(), 3U) << "the client must keep trying";
    EXPECT_LE(server.connections(), max_connects_in_3s);
    EXPECT_EQ(redis_statistics(*b)->connects, 0U) << "no attempt counts as connected";
}

TEST_F(redis_faults, denied_greeting_is_a_failed_attempt_with_its_message) {
    fault_server server(
        {.greeting = "-DENIED Redis is running in protected mode because protected mode is "
                     "enabled\r\n",
         .close_at_accept = true});
    auto b = make_redis_backend(io_.get_executor(), options_for(server.port()));
    auto out = run_hammer(b, 3s);
    EXPECT_EQ(out.ok, 0);
    EXPECT_EQ(out.failures(), out.count(errc::backend_unavailable));
    EXPECT_LE(server.connections(), max_connects_in_3s);
    EXPECT_NE(out.message(errc::backend_unavailable).find("DENIED"), std::string::npos)
        << out.message(errc::backend_unavailable);
}

TEST_F(redis_faults, maxclients_greeting_is_a_failed_attempt_with_its_message) {
    fault_server server(
        {.greeting = "-ERR max number of clients reached\r\n", .close_at_accept = true});
    auto b = make_redis_backend(io_.get_executor(), options_for(server.port()));
    auto out = run_hammer(b, 3s);
    EXPECT_EQ(out.ok, 0);
    EXPECT_LE(server.connections(), max_connects_in_3s);
    EXPECT_NE(out.message(errc::backend_unavailable).find("max number of clients"),
              std::string::npos)
        << out.message(errc::backend_unavailable);
}

TEST_F(redis_faults, a_server_that_answers_ping_then_drops_every_command_is_backed_off) {
    fault_server server(redis_like([](auto const&) { return reply_plan{.close_after = true}; }));
    auto b = make_redis_backend(io_.get_executor(), options_for(server.port()));
    auto out = run_hammer(b, 3s);
    EXPECT_EQ(out.ok, 0);
    EXPECT_EQ(out.failures(), out.count(errc::backend_unavailable));
    EXPECT_GE(server.connections(), 3U);
    EXPECT_LE(server.connections(), max_connects_in_3s);
}

TEST_F(redis_faults, silent_server_fails_the_handshake_by_connect_timeout) {
    fault_server server({});  // accepts, reads, never answers
    auto opts = options_for(server.port());
    opts.connect_timeout = 200ms;
    auto b = make_redis_backend(io_.get_executor(), opts);
    auto const start = std::chrono::steady_clock::now();
    auto out = run_hammer(b, 1s, 2s);
    EXPECT_EQ(out.ok, 0);
    EXPECT_GE(out.count(errc::backend_unavailable), 1);
    EXPECT_NE(out.message(errc::backend_unavailable).find("timed out"), std::string::npos)
        << out.message(errc::backend_unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// --- Hostile replies ---------------------------------------------------------------------------

struct hostile_case {
    char const* name;
    std::string bytes;
    bool close_after = false;
    std::vector<errc> allowed;  // how the get may fail; it must never succeed
};

auto repeat(std::string_view s, std::size_t n) -> std::string {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

auto hostile_cases() -> std::vector<hostile_case> {
    return {
        {"huge_array_header_then_silence", "*2147483647\r\n", false, {errc::timeout}},
        {"huge_array_header_then_a_stream_of_elements", "*2147483647\r\n" + repeat(":1\r\n", 100000),
         false, {errc::protocol_error}},
        {"array_header_past_int_range", "*99999999999\r\n" + repeat(":1\r\n", 100000), false,
         {errc::protocol_error}},
        {"huge_bulk_header_then_bytes_past_the_cap",
         "$2147483647\r\n" + std::string(200 * 1024, 'x'), false, {errc::protocol_error}},
        {"negative_array_length", "*-7\r\n", false, {errc::protocol_error}},
        {"garbage_type_byte", "hello world\r\n", false, {errc::protocol_error}},
        {"nesting_deeper_than_hiredis_allows", repeat("*1\r\n", 20) + ":1\r\n", false,
         {errc::protocol_error}},
        {"integer_where_a_string_belongs", ":12345\r\n", false, {errc::protocol_error}},
        {"unsolicited_extra_replies", "+OK\r\n+OK\r\n+OK\r\n", false, {errc::protocol_error}},
        {"close_in_the_middle_of_a_bulk", "$10\r\nabc", true, {errc::backend_unavailable}},
        {"close_in_the_middle_of_an_array", "*3\r\n$1\r\na\r\n", true, {errc::backend_unavailable}},
        {"error_reply", "-ERR something broke\r\n", false, {errc::backend_error}},
    };
}

class redis_hostile : public redis_faults, public ::testing::WithParamInterface<hostile_case> {};

TEST_P(redis_hostile, fails_cleanly_and_recovers_when_the_server_heals) {
    auto const& c = GetParam();
    fault_server server(redis_like([&](auto const&) {
        return reply_plan{.bytes = c.bytes, .close_after = c.close_after};
    }));
    auto opts = options_for(server.port());
    opts.max_reply_bytes = 64 * 1024;
    opts.reconnect_min = 10ms;
    opts.reconnect_max = 100ms;
    auto b = make_redis_backend(io_.get_executor(), opts);

    boost::system::error_code got;
    std::string what;
    try {
        auto v = run(b->get("k", deadline::after(300ms)));
        ADD_FAILURE() << c.name << ": a hostile reply produced " << (v ? "a hit" : "a miss");
    } catch (boost::system::system_error const& e) {
        got = e.code();
        what = e.what();
    }
    bool allowed = false;
    for (auto e : c.allowed) {
        allowed = allowed || got == e;
    }
    EXPECT_TRUE(allowed) << c.name << ": " << got.message() << " (" << what << ")";

    // The server heals: later requests succeed on a fresh connection.
    server.set_script(redis_like([](auto const&) { return reply_plan{.bytes = "$2\r\nok\r\n"}; }));
    server.drop_connections();
    EXPECT_TRUE(recovers(*b, "ok")) << c.name;
}

INSTANTIATE_TEST_SUITE_P(replies, redis_hostile, ::testing::ValuesIn(hostile_cases()),
                         [](auto const& p) { return std::string(p.param.name); });

TEST_F(redis_faults, a_slowly_dripped_reply_is_assembled_or_times_out) {
    fault_server server(redis_like([](auto const&) {
        return reply_plan{.bytes = "$5\r\nhello\r\n", .drip = 10ms};
    }));
    auto b = make_redis_backend(io_.get_executor(), options_for(server.port()));
    auto v = run(b->get("k", deadline::after(3s)));
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, "hello");
    EXPECT_EQ(asiocache::test::run_error(io_, b->get("k", deadline::after(30ms))),
              make_error_code(errc::timeout));
}

// --- A real server behind the chaos proxy ------------------------------------------------------

class redis_proxied : public redis_faults {
protected:
    void SetUp() override {
        if (auto s = local_server::redis()) {
            server_.emplace(std::move(*s));
        } else {
            ASIOCACHE_SKIP_OR_FAIL("redis-server not found");
        }
        proxy_ = std::make_unique<chaos_proxy>(server_->port());
    }
    auto make(std::chrono::milliseconds health = 200ms) -> std::shared_ptr<backend> {
        auto o = options_for(proxy_->port());
        o.health_check_interval = health;
        o.connect_timeout = 300ms;
        o.reconnect_min = 10ms;
        o.reconnect_max = 200ms;
        return make_redis_backend(io_.get_executor(), o);
    }
    std::optional<local_server> server_;
    std::unique_ptr<chaos_proxy> proxy_;
};

TEST_F(redis_proxied, a_black_holed_server_is_dropped_even_without_a_deadline) {
    auto b = make();
    run(b->set("k", "v", asiocache::expiry::never(), deadline::after(2s)));
    proxy_->set({.black_hole = true});
    auto const start = std::chrono::steady_clock::now();
    // No deadline at all: only the health check can end this request.
    EXPECT_EQ(asiocache::test::run_error(io_, b->get("k", deadline::never()), 10s),
              make_error_code(errc::backend_unavailable));
    auto const took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, 2s) << "two health-check intervals (400 ms) plus one tick";
    EXPECT_GE(redis_statistics(*b)->health_drops, 1U);
    proxy_->heal();
    EXPECT_TRUE(recovers(*b, "v"));
}

TEST_F(redis_proxied, an_idle_connection_to_a_black_hole_is_found_by_its_ping) {
    auto b = make();
    run(b->set("k", "v", asiocache::expiry::never(), deadline::after(2s)));
    proxy_->set({.black_hole = true});
    run(pause(1500ms));  // idle: the PING goes unanswered and the connection is dropped
    EXPECT_GE(redis_statistics(*b)->health_drops, 1U);
    proxy_->heal();
    EXPECT_TRUE(recovers(*b, "v"));
}

TEST_F(redis_proxied, a_stalled_server_fails_requests_at_their_deadline_then_recovers) {
    auto b = make(0ms);  // health check off: the deadline alone must end the wait
    run(b->set("k", "v", asiocache::expiry::never(), deadline::after(2s)));
    proxy_->set({.stall = true});
    auto const start = std::chrono::steady_clock::now();
    EXPECT_EQ(asiocache::test::run_error(io_, b->get("k", deadline::after(150ms)), 5s),
              make_error_code(errc::timeout));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    proxy_->heal();
    EXPECT_TRUE(recovers(*b, "v"));
}

TEST_F(redis_proxied, blocking_commands_are_refused_by_raw) {
    auto b = make();
    for (std::vector<std::string> argv :
         {std::vector<std::string>{"BLPOP", "q", "0"}, {"brpop", "q", "1"},
          {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}, {"WAIT", "1", "0"}}) {
        EXPECT_EQ(asiocache::test::run_error(io_, b->raw(argv, deadline::after(1s))),
                  make_error_code(errc::invalid_argument))
            << argv.front();
    }
    // XREAD without BLOCK does not block, and passes.
    auto r = run(b->raw({"XREAD", "STREAMS", "s", "0"}, deadline::after(1s)));
    EXPECT_EQ(r.type, asiocache::raw_reply::kind::nil);
}

// Large values make writes partial (the async_write path) and replies span reads; resets land
// in the middle of both. Every answer must be the value of the key asked for: a stale write on
// a new socket, or a reply matched to the wrong request, would show up as a wrong value.
TEST_F(redis_proxied, resets_under_load_never_produce_a_wrong_value) {
    auto b = make();
    constexpr int keys = 16;
    auto value_of = [](int k) { return fmt::format("{}:{}", k, std::string(150 * 1024, static_cast<char>('a' + k))); };
    for (int k = 0; k < keys; ++k) {
        run(b->set(fmt::format("k{}", k), value_of(k), asiocache::expiry::never(),
                   deadline::after(5s)));
    }
    auto out = std::make_shared<outcome>();
    auto stop = std::make_shared<bool>(false);
    auto worker = [&](int id) -> task<void> {
        for (int i = 0; !*stop; ++i) {
            int k = (id * 7 + i) % keys;
            try {
                if (i % 3 == 0) {
                    co_await b->set(fmt::format("k{}", k), value_of(k), asiocache::expiry::never(),
                                    deadline::after(1s));
                    ++out->ok;
                } else {
                    auto v = co_await b->get(fmt::format("k{}", k), deadline::after(1s));
                    if (v && *v == value_of(k)) {
                        ++out->ok;
                    } else {
                        ++out->wrong;
                    }
                }
            } catch (boost::system::system_error const& e) {
                out->fail(e);
            }
        }
    };
    int finished = 0;
    for (int w = 0; w < 8; ++w) {
        auto t = worker(w);
        asio::co_spawn(io_, std::move(t), [&](std::exception_ptr) { ++finished; });
    }
    std::thread resetter([&] {
        for (int i = 0; i < 30; ++i) {
            std::this_thread::sleep_for(60ms);
            proxy_->reset_all();
        }
    });
    auto const end = std::chrono::steady_clock::now() + 2s;
    io_.restart();
    while (std::chrono::steady_clock::now() < end) {
        io_.run_one_for(10ms);
    }
    resetter.join();
    *stop = true;
    while (finished < 8) {
        io_.run_one_for(10ms);
    }
    EXPECT_EQ(out->wrong, 0);
    EXPECT_GT(out->ok, 0);
    EXPECT_EQ(out->failures(),
              out->count(errc::backend_unavailable) + out->count(errc::timeout))
        << "only the injected kinds of failure";
    EXPECT_GT(out->failures(), 0) << "the resets must have hit something";
    for (int k = 0; k < keys; ++k) {
        std::optional<std::string> v;
        for (int attempt = 0; attempt < 50 && !v; ++attempt) {
            try {
                v = run(b->get(fmt::format("k{}", k), deadline::after(1s)));
            } catch (boost::system::system_error const&) {
                run(pause(20ms));
            }
        }
        ASSERT_TRUE(v.has_value());
        EXPECT_EQ(*v, value_of(k));
    }
}

// A caller whose own completion throws must not be taken for a broken reply: the exception is
// the caller's, and every other caller on the connection still gets its answer.
TEST_F(redis_proxied, a_caller_that_throws_on_resumption_does_not_break_the_connection) {
    auto b = make();
    run(b->set("k", "v", asiocache::expiry::never(), deadline::after(2s)));
    int answered = 0;
    int thrown = 0;
    for (int i = 0; i < 20; ++i) {
        asio::co_spawn(io_, b->get("k", deadline::after(2s)),
                       [&](std::exception_ptr e, std::optional<std::string> v) {
                           if (!e && v == "v") {
                               ++answered;
                           }
                       });
    }
    asio::co_spawn(io_, b->get("k", deadline::after(2s)),
                   [](std::exception_ptr, std::optional<std::string>) {
                       throw std::runtime_error("the caller's own failure");
                   });
    io_.restart();
    auto const end = std::chrono::steady_clock::now() + 5s;
    while ((answered < 20 || thrown < 1) && std::chrono::steady_clock::now() < end) {
        try {
            io_.run_one_for(10ms);
        } catch (std::runtime_error const&) {
            ++thrown;
        }
    }
    EXPECT_EQ(answered, 20);
    EXPECT_EQ(thrown, 1);
    EXPECT_EQ(redis_statistics(*b)->connects, 1U) << "the connection was never dropped";
}

// Memoization over a cache whose server goes dark: calls still return the function's result
// (fail-open) within the cache timeout, and values are cached again once it heals.
TEST_F(redis_proxied, memoized_calls_fail_open_through_a_black_hole_and_cache_again_after) {
    auto c = asiocache::cache(make(), {.ns = "memo", .timeout = 300ms});
    int calls = 0;
    int cache_errors = 0;
    auto fetch = [&calls](std::string channel, std::string ts) -> task<std::string> {
        ++calls;
        co_return channel + "/" + ts;
    };
    auto replies = asiocache::cached(
        c, fetch,
        {.key_prefix = "replies",
         .ttl = asiocache::expiry(60s),
         .on_cache_error = [&](boost::system::error_code, std::string_view) { ++cache_errors; }});
    EXPECT_EQ(run(replies("C1", "1.0")), "C1/1.0");
    EXPECT_EQ(run(replies("C1", "1.0")), "C1/1.0");
    EXPECT_EQ(calls, 1) << "the second call is a hit";

    proxy_->set({.black_hole = true});
    auto const start = std::chrono::steady_clock::now();
    EXPECT_EQ(run(replies("C2", "2.0")), "C2/2.0");
    EXPECT_EQ(run(replies("C1", "1.0")), "C1/1.0");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_GE(cache_errors, 2);
    EXPECT_EQ(calls, 3) << "fail-open: each call while the cache is dark runs the function";

    proxy_->heal();
    bool cached_again = false;
    for (int i = 0; i < 100 && !cached_again; ++i) {
        run(replies("C3", "3.0"));
        int before = calls;
        run(replies("C3", "3.0"));
        cached_again = calls == before;
        if (!cached_again) {
            run(pause(50ms));
        }
    }
    EXPECT_TRUE(cached_again);
}

}  // namespace

/// The conformance suite through the proxy with latency on every chunk: the same behaviour,
/// with replies split and delayed.
struct redis_via_proxy_env {
    static constexpr char const* name = "redis_via_proxy";
    static auto make(asio::io_context& io) -> std::shared_ptr<backend> {
        static auto server = local_server::redis();
        if (!server) {
            return nullptr;
        }
        static chaos_proxy proxy(server->port());
        proxy.set({.latency = 1ms});
        auto b = make_redis_backend(io.get_executor(), options_for(proxy.port()));
        asiocache::test::run(io, b->clear_all(deadline::after(5s)));
        return b;
    }
    static void advance(asio::io_context& io, std::chrono::milliseconds d) {
        auto const end = std::chrono::steady_clock::now() + d;
        io.restart();
        while (std::chrono::steady_clock::now() < end) {
            io.run_one_for(end - std::chrono::steady_clock::now());
            if (io.stopped()) {
                io.restart();
                std::this_thread::sleep_for(1ms);
            }
        }
    }
};

namespace asiocache::test {
INSTANTIATE_TYPED_TEST_SUITE_P(redis_via_proxy, conformance, ::testing::Types<redis_via_proxy_env>);
}  // namespace asiocache::test
