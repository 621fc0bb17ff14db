// SPDX-License-Identifier: MIT
// The Redis backend's protocol glue without a server: command formatting, reply parsing from
// hand-written RESP bytes, the mapping from replies to results and error codes, and the
// factory's validation of its settings.
#include "asiocache/backends/redis.hpp"

#include "resp.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using asiocache::errc;
using asiocache::raw_reply;
namespace rd = asiocache::backends::redis_detail;
using kind = raw_reply::kind;

// The code of the system_error that `f` throws; a default code if it does not throw.
template <class F>
auto code_of(F&& f) -> boost::system::error_code {
    try {
        f();
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

template <class F>
auto message_of(F&& f) -> std::string {
    try {
        f();
    } catch (boost::system::system_error const& e) {
        return e.what();
    }
    return {};
}

auto parse_one(std::string_view bytes) -> raw_reply {
    rd::reply_parser p;
    p.feed(bytes.data(), bytes.size());
    auto r = p.next();
    EXPECT_TRUE(r.has_value());
    EXPECT_FALSE(p.next().has_value());
    return r.value_or(raw_reply{});
}

auto reply(kind k, std::string s = {}, std::int64_t i = 0) -> raw_reply {
    raw_reply r;
    r.type = k;
    r.str = std::move(s);
    r.integer = i;
    return r;
}

TEST(redis_resp, formats_commands_as_resp_arrays_of_bulk_strings) {
    EXPECT_EQ(rd::format_command({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    std::string binary("a\0\r\nb", 5);
    EXPECT_EQ(rd::format_command({"GET", binary}),
              std::string("*2\r\n$3\r\nGET\r\n$5\r\na\0\r\nb\r\n", 24));
    // More arguments than the stack path holds.
    std::vector<std::string_view> many(20, "x");
    std::string out;
    rd::append_command(out, many);
    EXPECT_TRUE(out.starts_with("*20\r\n$1\r\nx\r\n"));
    EXPECT_EQ(out.size(), 5 + 20 * 7);
}

TEST(redis_resp, parses_every_reply_type) {
    auto s = parse_one("+OK\r\n");
    EXPECT_EQ(s.type, kind::status);
    EXPECT_EQ(s.str, "OK");
    auto e = parse_one("-ERR bad thing\r\n");
    EXPECT_EQ(e.type, kind::error);
    EXPECT_EQ(e.str, "ERR bad thing");
    auto i = parse_one(":-42\r\n");
    EXPECT_EQ(i.type, kind::integer);
    EXPECT_EQ(i.integer, -42);
    EXPECT_EQ(parse_one("$-1\r\n").type, kind::nil);
    EXPECT_EQ(parse_one("*-1\r\n").type, kind::nil);
    auto empty = parse_one("*0\r\n");
    EXPECT_EQ(empty.type, kind::array);
    EXPECT_TRUE(empty.elements.empty());
    auto bin = parse_one(std::string_view("$5\r\na\0\r\nb\r\n", 11));
    EXPECT_EQ(bin.type, kind::string);
    EXPECT_EQ(bin.str, std::string("a\0\r\nb", 5));
}

TEST(redis_resp, parses_nested_arrays_in_place) {
    auto r = parse_one("*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n-ERR inner\r\n");
    ASSERT_EQ(r.type, kind::array);
    ASSERT_EQ(r.elements.size(), 3U);
    EXPECT_EQ(r.elements[0].str, "a");
    ASSERT_EQ(r.elements[1].type, kind::array);
    ASSERT_EQ(r.elements[1].elements.size(), 2U);
    EXPECT_EQ(r.elements[1].elements[0].integer, 1);
    EXPECT_EQ(r.elements[1].elements[1].type, kind::nil);
    EXPECT_EQ(r.elements[2].type, kind::error);
}

TEST(redis_resp, reassembles_replies_fed_byte_by_byte_and_splits_batches) {
    std::string_view bytes = "*2\r\n$3\r\nfoo\r\n:7\r\n+OK\r\n$-1\r\n";
    rd::reply_parser p;
    std::vector<raw_reply> got;
    for (char c : bytes) {
        p.feed(&c, 1);
        while (auto r = p.next()) {
            got.push_back(std::move(*r));
        }
    }
    ASSERT_EQ(got.size(), 3U);
    EXPECT_EQ(got[0].elements[0].str, "foo");
    EXPECT_EQ(got[0].elements[1].integer, 7);
    EXPECT_EQ(got[1].str, "OK");
    EXPECT_EQ(got[2].type, kind::nil);
}

TEST(redis_resp, malformed_input_is_a_protocol_error_and_reset_recovers) {
    rd::reply_parser p;
    // A partial array (its root already allocated) followed by garbage: nothing may leak.
    std::string_view bad = "*3\r\n$1\r\na\r\n!oops\r\n";
    auto ec = code_of([&] {
        p.feed(bad.data(), bad.size());
        while (p.next()) {
        }
    });
    EXPECT_EQ(ec, errc::protocol_error);
    p.reset();
    p.feed("+OK\r\n", 5);
    auto r = p.next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->str, "OK");
}

// A hostile array header must not allocate its announced size, and a stream of elements or a
// bulk string past the cap ends in a clear protocol error, whatever the chunking.
TEST(redis_resp, a_huge_array_header_allocates_nothing_up_front) {
    rd::reply_parser p(64 * 1024);
    std::string_view header = "*2147483647\r\n";
    p.feed(header.data(), header.size());
    EXPECT_FALSE(p.next().has_value());
    std::string elements;
    for (int i = 0; i < 500; ++i) {
        elements += ":1\r\n";
    }
    p.feed(elements.data(), elements.size());
    EXPECT_FALSE(p.next().has_value());  // 500 nodes fit in 64 KiB
    std::string more;
    for (int i = 0; i < 5000; ++i) {
        more += ":1\r\n";
    }
    auto text = message_of([&] {
        p.feed(more.data(), more.size());
        while (p.next()) {
        }
    });
    EXPECT_NE(text.find("max_reply_bytes"), std::string::npos) << text;
}

TEST(redis_resp, a_bulk_string_past_the_cap_is_refused_before_it_completes) {
    rd::reply_parser p(64 * 1024);
    std::string bulk = "$100000\r\n" + std::string(70 * 1024, 'x');
    EXPECT_EQ(code_of([&] {
                  p.feed(bulk.data(), bulk.size());
                  while (p.next()) {
                  }
              }),
              errc::protocol_error);
    // Replies under the cap still parse, split anywhere, after a reset.
    p.reset();
    std::string ok = "$5\r\nhello\r\n*2\r\n:1\r\n:2\r\n";
    std::vector<raw_reply> got;
    for (char c : ok) {
        p.feed(&c, 1);
        while (auto r = p.next()) {
            got.push_back(std::move(*r));
        }
    }
    ASSERT_EQ(got.size(), 2U);
    EXPECT_EQ(got[0].str, "hello");
    EXPECT_EQ(got[1].elements.size(), 2U);
}

TEST(redis_resp, negative_and_overflowing_array_headers_are_protocol_errors) {
    for (std::string_view bad : {"*-7\r\n", "*99999999999\r\n:1\r\n"}) {
        rd::reply_parser p;
        EXPECT_EQ(code_of([&] {
                      p.feed(bad.data(), bad.size());
                      while (p.next()) {
                      }
                  }),
                  errc::protocol_error)
            << bad;
    }
}

TEST(redis_resp, sha1_matches_the_standard_vectors) {
    EXPECT_EQ(rd::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(rd::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(redis_resp, server_errors_map_to_codes) {
    EXPECT_EQ(rd::error_for("ERR value is not an integer or out of range"), errc::not_a_number);
    EXPECT_EQ(rd::error_for("WRONGTYPE Operation against a key holding the wrong kind of value"),
              errc::backend_error);
    EXPECT_EQ(rd::error_for("LOADING Redis is loading the dataset in memory"),
              errc::backend_unavailable);
    EXPECT_EQ(rd::error_for("BUSY Redis is busy running a script."), errc::backend_unavailable);
    EXPECT_EQ(rd::error_for("NOAUTH Authentication required."), errc::backend_error);
    EXPECT_EQ(rd::error_for("ERR increment or decrement would overflow"), errc::invalid_argument);
    EXPECT_TRUE(rd::is_noscript(reply(kind::error, "NOSCRIPT No matching script.")));
    EXPECT_FALSE(rd::is_noscript(reply(kind::status, "NOSCRIPT")));
}

TEST(redis_resp, bytes_from_string_or_nil_and_errors_otherwise) {
    EXPECT_EQ(rd::to_bytes(reply(kind::string, "v"), "GET", "k"), "v");
    EXPECT_EQ(rd::to_bytes(reply(kind::string, ""), "GET", "k"), "");
    EXPECT_EQ(rd::to_bytes(reply(kind::nil), "GET", "k"), std::nullopt);
    auto wrongtype = [] { (void)rd::to_bytes(reply(kind::error, "WRONGTYPE no"), "GET", "app:k"); };
    EXPECT_EQ(code_of(wrongtype), errc::backend_error);
    auto msg = message_of(wrongtype);
    EXPECT_NE(msg.find("WRONGTYPE no"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GET app:k"), std::string::npos) << msg;
    EXPECT_EQ(code_of([] { (void)rd::to_bytes(reply(kind::integer, {}, 3), "GET", "k"); }),
              errc::protocol_error);
}

TEST(redis_resp, integers_ok_and_arrays) {
    EXPECT_EQ(rd::to_integer(reply(kind::integer, {}, 9), "INCRBY", "k"), 9);
    EXPECT_EQ(code_of([] {
                  (void)rd::to_integer(
                      reply(kind::error, "ERR value is not an integer or out of range"), "INCRBY",
                      "k");
              }),
              errc::not_a_number);
    EXPECT_EQ(code_of([] { (void)rd::to_integer(reply(kind::string, "9"), "INCRBY", "k"); }),
              errc::protocol_error);
    EXPECT_EQ(code_of([] { rd::expect_ok(reply(kind::status, "OK"), "SET", "k"); }),
              boost::system::error_code{});
    EXPECT_EQ(code_of([] { rd::expect_ok(reply(kind::status, "QUEUED"), "SET", "k"); }),
              errc::protocol_error);
    EXPECT_EQ(code_of([] { rd::expect_ok(reply(kind::nil), "SET", "k"); }), errc::protocol_error);
    raw_reply arr = reply(kind::array);
    arr.elements.resize(2);
    EXPECT_EQ(code_of([&] { rd::expect_array(arr, 2, "MGET", "k"); }), boost::system::error_code{});
    EXPECT_EQ(code_of([&] { rd::expect_array(arr, 3, "MGET", "k"); }), errc::protocol_error);
    EXPECT_EQ(code_of([&] { rd::expect_array(arr, std::string_view::npos, "SCAN", "k"); }),
              boost::system::error_code{});
}

TEST(redis_resp, pttl_maps_missing_persistent_and_expiring) {
    using namespace std::chrono_literals;
    EXPECT_EQ(rd::to_ttl(reply(kind::integer, {}, -2), "PTTL", "k"), std::nullopt);
    auto never = rd::to_ttl(reply(kind::integer, {}, -1), "PTTL", "k");
    ASSERT_TRUE(never.has_value());
    EXPECT_TRUE(never->is_never());
    EXPECT_EQ(rd::to_ttl(reply(kind::integer, {}, 1500), "PTTL", "k")->duration(), 1500ms);
    // About to expire: still a TTL, never "no expiry".
    EXPECT_EQ(rd::to_ttl(reply(kind::integer, {}, 0), "PTTL", "k")->duration(), 1ms);
    EXPECT_EQ(code_of([] { (void)rd::to_ttl(reply(kind::integer, {}, -7), "PTTL", "k"); }),
              errc::protocol_error);
}

TEST(redis_resp, long_keys_are_shortened_in_messages) {
    std::string key(1000, 'k');
    auto msg = message_of([&] { (void)rd::to_bytes(reply(kind::error, "ERR x"), "GET", key); });
    EXPECT_LT(msg.size(), 400U);
    EXPECT_NE(msg.find("1000 bytes"), std::string::npos) << msg;
}

TEST(redis_resp, glob_escape_quotes_metacharacters) {
    EXPECT_EQ(rd::glob_escape("plain:ns"), "plain:ns");
    EXPECT_EQ(rd::glob_escape("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
}

// ---------------------------------------------------------------------------------------------
// The factory validates its settings without connecting.

using asiocache::backend_config;
using asiocache::backends::make_redis_backend;
using asiocache::backends::redis_backend_from_config;

TEST(redis_factory, builds_without_connecting_and_reports_traits) {
    boost::asio::io_context io;
    auto b = redis_backend_from_config(io.get_executor(),
                                       {.scheme = "redis", .endpoints = {{"127.0.0.1", 1}}});
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->traits().name, "redis");
    EXPECT_TRUE(b->traits().enforces_deadlines);
    EXPECT_EQ(b->build_key("app", "k"), "app:k");
    EXPECT_EQ(b->build_key("", "k"), "k");
    auto stats = asiocache::backends::redis_statistics(*b);
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->connects, 0U);
}

TEST(redis_factory, unknown_and_conflicting_parameters_are_invalid_config) {
    boost::asio::io_context io;
    auto ex = io.get_executor();
    backend_config typo{.scheme = "redis", .params = {{"max_inflight", "5"}}};
    auto msg = message_of([&] { (void)redis_backend_from_config(ex, typo); });
    EXPECT_NE(msg.find("max_inflight"), std::string::npos) << msg;
    EXPECT_EQ(code_of([&] { (void)redis_backend_from_config(ex, typo); }), errc::invalid_config);

    backend_config twice{.scheme = "redis", .db = 1, .params = {{"db", "2"}}};
    EXPECT_EQ(code_of([&] { (void)redis_backend_from_config(ex, twice); }), errc::invalid_config);
    backend_config no_path{.scheme = "redis+unix"};
    EXPECT_EQ(code_of([&] { (void)redis_backend_from_config(ex, no_path); }), errc::invalid_config);
    backend_config zero_pool{.scheme = "redis", .params = {{"pool_size", "0"}}};
    EXPECT_EQ(code_of([&] { (void)redis_backend_from_config(ex, zero_pool); }),
              errc::invalid_config);
    backend_config wrong_scheme{.scheme = "memcached"};
    EXPECT_EQ(code_of([&] { (void)redis_backend_from_config(ex, wrong_scheme); }),
              errc::invalid_config);
    EXPECT_EQ(code_of([&] {
                  (void)make_redis_backend(ex, {.username = "alice"});  // no password
              }),
              errc::invalid_config);
}

TEST(redis_factory, accepts_every_documented_parameter) {
    boost::asio::io_context io;
    backend_config all{.scheme = "redis+unix",
                       .path = "/tmp/redis.sock",
                       .password = "pw",
                       .params = {{"db", "3"},
                                  {"connect_timeout", "250ms"},
                                  {"max_in_flight", "64"},
                                  {"pool", "2"},
                                  {"reconnect_min", "10ms"},
                                  {"reconnect_max", "1s"},
                                  {"health_check", "500ms"},
                                  {"max_reply_bytes", "16m"}}};
    EXPECT_NE(redis_backend_from_config(io.get_executor(), all), nullptr);
}

TEST(redis_factory, password_never_appears_in_config_errors) {
    boost::asio::io_context io;
    backend_config cfg{.scheme = "redis",
                       .endpoints = {{"127.0.0.1", 6380}},
                       .username = "alice",
                       .password = "hunter2-secret",
                       .params = {{"bogus", "1"}}};
    auto msg = message_of([&] { (void)redis_backend_from_config(io.get_executor(), cfg); });
    EXPECT_FALSE(msg.empty());
    EXPECT_EQ(msg.find("hunter2-secret"), std::string::npos) << msg;
}

}  // namespace
