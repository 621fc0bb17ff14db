// SPDX-License-Identifier: MIT
// The meta-protocol codec: replies parsed from hand-built bytes (split anywhere, hostile sizes),
// then the same formatter and parser against a real memcached, over a plain blocking socket.
#include "meta_protocol.hpp"

#include "asiocache/errors.hpp"
#include "local_server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace meta = asiocache::backends::meta;
using kind = meta::reply::kind;
using asiocache::errc;

auto parse_all(std::string_view bytes, std::size_t chunk) -> std::vector<meta::reply> {
    meta::parser p;
    std::vector<meta::reply> out;
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
        auto piece = bytes.substr(i, chunk);
        p.feed(piece.data(), piece.size());
        while (auto r = p.next()) {
            out.push_back(std::move(*r));
        }
    }
    EXPECT_EQ(p.buffered(), 0U);
    return out;
}

auto code_of(std::string_view bytes, meta::parser p = meta::parser()) -> boost::system::error_code {
    try {
        p.feed(bytes.data(), bytes.size());
        while (p.next()) {
        }
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

TEST(meta_protocol, parses_every_reply_kind_split_at_every_byte) {
    std::string_view const bytes =
        "VA 5 O1 t-1 c9\r\nhe\r\no\r\nHD O2\r\nEN\r\nNF\r\nNS O3\r\nEX\r\nMN\r\n"
        "CLIENT_ERROR bad command line format\r\nSERVER_ERROR out of memory\r\nERROR\r\n"
        "VA 0\r\n\r\n";
    for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, bytes.size()}) {
        auto r = parse_all(bytes, chunk);
        ASSERT_EQ(r.size(), 11U) << chunk;
        EXPECT_EQ(r[0].type, kind::value);
        EXPECT_EQ(r[0].data, "he\r\no");  // a value may hold \r\n: its size decides
        EXPECT_EQ(r[0].flag('O'), "1");
        EXPECT_EQ(r[0].flag_int('t'), -1);
        EXPECT_EQ(r[0].flag_int('c'), 9);
        EXPECT_FALSE(r[0].flag('k').has_value());
        EXPECT_EQ(r[1].type, kind::stored);
        EXPECT_EQ(r[1].flag_int('O'), 2);
        EXPECT_EQ(r[2].type, kind::miss);
        EXPECT_EQ(r[3].type, kind::not_found);
        EXPECT_EQ(r[4].type, kind::not_stored);
        EXPECT_EQ(r[5].type, kind::exists);
        EXPECT_EQ(r[6].type, kind::noop);
        EXPECT_EQ(r[7].type, kind::client_error);
        EXPECT_EQ(r[7].data, "bad command line format");
        EXPECT_EQ(r[8].type, kind::server_error);
        EXPECT_EQ(r[9].type, kind::error);
        EXPECT_EQ(r[10].type, kind::value);
        EXPECT_TRUE(r[10].data.empty());
    }
}

TEST(meta_protocol, parses_the_classic_replies_of_stats_version_and_flush_all) {
    std::string const bytes =
        "STAT item_size_max 1048576\r\nSTAT evictions on\r\nEND\r\nVERSION 1.6.18\r\nOK\r\n";
    for (std::size_t chunk = 1; chunk <= bytes.size(); ++chunk) {
        auto r = parse_all(bytes, chunk);
        ASSERT_EQ(r.size(), 5U) << "chunk " << chunk;
        EXPECT_EQ(r[0].type, kind::stat);
        EXPECT_EQ(r[0].data, "item_size_max 1048576");
        EXPECT_EQ(r[1].data, "evictions on");
        EXPECT_EQ(r[2].type, kind::end);
        EXPECT_EQ(r[3].type, kind::version);
        EXPECT_EQ(r[3].data, "1.6.18");
        EXPECT_EQ(r[4].type, kind::ok);
    }
    // Near misses stay protocol errors.
    EXPECT_EQ(code_of("OKAY\r\n"), errc::protocol_error);
    EXPECT_EQ(code_of("ENDS\r\n"), errc::protocol_error);
}

TEST(meta_protocol, hostile_replies_are_protocol_errors_before_any_allocation) {
    EXPECT_EQ(code_of("VA 99999999999999999999\r\n"), errc::protocol_error);  // overflows
    EXPECT_EQ(code_of("VA 2000\r\n", meta::parser(4096, 1024)), errc::protocol_error);
    EXPECT_EQ(code_of("VA x\r\n"), errc::protocol_error);
    EXPECT_EQ(code_of("VA\r\n"), errc::protocol_error);
    EXPECT_EQ(code_of("VA 2\r\nabXY"), errc::protocol_error);  // no \r\n after the data
    EXPECT_EQ(code_of("HELLO\r\n"), errc::protocol_error);
    EXPECT_EQ(code_of(std::string(5000, 'H')), errc::protocol_error);  // a line with no end
    EXPECT_EQ(code_of("HD " + std::string(5000, 'x') + "\r\n"), errc::protocol_error);
    // A value under the cap waits for its bytes rather than failing.
    meta::parser p(4096, 1024);
    std::string_view partial = "VA 1000\r\nabc";
    p.feed(partial.data(), partial.size());
    EXPECT_FALSE(p.next().has_value());
}

TEST(meta_protocol, formats_requests) {
    std::string out;
    meta::append_get(out, "k", "v t f");
    meta::append_set(out, "k", "hello", "T60 F0");
    meta::append_delete(out, "k", "q");
    meta::append_arithmetic(out, "n", "N0 J5 D3 v");
    meta::append_noop(out);
    EXPECT_EQ(out,
              "mg k v t f\r\nms k 5 T60 F0\r\nhello\r\nmd k q\r\nma n N0 J5 D3 v\r\nmn\r\n");
    EXPECT_TRUE(meta::is_text_key("app:key"));
    EXPECT_FALSE(meta::is_text_key(""));
    EXPECT_FALSE(meta::is_text_key("a b"));
    EXPECT_FALSE(meta::is_text_key("a\nb"));
    EXPECT_FALSE(meta::is_text_key(std::string(251, 'k')));
}

// The codec against memcached itself: what the formatter writes, the server understands, and
// what it answers, the parser reads, including a quiet batch closed by mn.
TEST(meta_protocol, speaks_to_a_real_memcached) {
    auto server = asiocache::test::local_server::memcached();
    if (!server) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket sock(io);
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), server->port()});
    meta::parser p;
    auto exchange = [&](std::string const& req, std::size_t replies) {
        boost::asio::write(sock, boost::asio::buffer(req));
        std::vector<meta::reply> got;
        std::array<char, 4096> buf{};
        while (got.size() < replies) {
            auto n = sock.read_some(boost::asio::buffer(buf));
            p.feed(buf.data(), n);
            while (auto r = p.next()) {
                got.push_back(std::move(*r));
            }
        }
        return got;
    };

    std::string req;
    meta::append_set(req, "mk", "hello\r\nworld", "T0 O7");
    meta::append_get(req, "mk", "v t O8");
    meta::append_get(req, "absent", "v");
    meta::append_set(req, "mk", "other", "ME O9");  // mode E: add, which must not store
    meta::append_arithmetic(req, "ctr", "N0 J5 D3 v");  // auto-create at 5, then no increment
    meta::append_arithmetic(req, "ctr", "D3 v");
    meta::append_delete(req, "absent", "");
    auto r = exchange(req, 7);
    EXPECT_EQ(r[0].type, kind::stored);
    EXPECT_EQ(r[0].flag_int('O'), 7);
    EXPECT_EQ(r[1].type, kind::value);
    EXPECT_EQ(r[1].data, "hello\r\nworld");
    EXPECT_EQ(r[1].flag_int('t'), -1);  // no expiry
    EXPECT_EQ(r[1].flag_int('O'), 8);
    EXPECT_EQ(r[2].type, kind::miss);
    EXPECT_EQ(r[3].type, kind::not_stored);
    EXPECT_EQ(r[4].type, kind::value);
    EXPECT_EQ(r[4].data, "5");
    EXPECT_EQ(r[5].data, "8");
    EXPECT_EQ(r[6].type, kind::not_found);

    // Quiet mode: successes are silent, failures speak with their opaque, mn ends the batch.
    req.clear();
    meta::append_set(req, "q1", "a", "q O1");
    meta::append_set(req, "mk", "b", "ME q O2");  // fails: the key exists
    meta::append_set(req, "q3", "c", "q O3");
    meta::append_noop(req);
    r = exchange(req, 2);
    ASSERT_EQ(r.size(), 2U);
    EXPECT_EQ(r[0].type, kind::not_stored);
    EXPECT_EQ(r[0].flag_int('O'), 2);
    EXPECT_EQ(r[1].type, kind::noop);

    // A server without the meta protocol answers ERROR; memcached 1.6 knows mn.
    req = "bogus_command\r\n";
    r = exchange(req, 1);
    EXPECT_EQ(r[0].type, kind::error);
}

}  // namespace
