// SPDX-License-Identifier: MIT
// The harness of the bad-input corpus: one test per (case, backend), each on a fresh cache over
// a real server, with a neighbouring key stored first and checked afterwards, so that a case
// that fails "cleanly" but damages other data still fails. Plus the test that keeps
// docs/bad-input.md equal to the table.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "asiocache/backends/builtin.hpp"
#include "asiocache/serializers.hpp"
#include "bad_input.hpp"
#include "run_coro.hpp"

namespace asiocache::test::bad_input {
namespace {

auto redis_server() -> local_server* {
    static std::optional<local_server> s = local_server::redis();
    return s ? &*s : nullptr;
}

auto memcached_server() -> local_server* {
    static std::optional<local_server> s = local_server::memcached();
    return s ? &*s : nullptr;
}

// The raw write for memory: a cache over the same backend that stores bytes as they are.
void write_through_backend(env const& e, std::string const& full_key, std::string const& bytes) {
    asiocache::cache raw{e.cache->backend(), {.serializer = asiocache::serializers::bytes()}};
    ASSERT_EQ(raw.build_key(full_key), full_key);
    run(e.io, raw.set(full_key, bytes));
}

}  // namespace

auto env::url(std::string const& query) const -> std::string {
    std::string base = "memory://";
    if (kind == where::redis || kind == where::memcached) {
        base = fmt::format("{}://{}", name_of(kind), server->address());
    }
    return query.empty() ? base : base + "?" + query;
}

auto env::make(std::string const& query) const -> asiocache::cache {
    return asiocache::make_cache(url(query), io.get_executor());
}

void env::write_raw(std::string const& full_key, std::string const& bytes) const {
    if (kind == where::memory) {
        write_through_backend(*this, full_key, bytes);
        return;
    }
    namespace net = boost::asio;
    net::io_context raw_io;
    net::ip::tcp::socket socket(raw_io);
    socket.connect({net::ip::address_v4::loopback(), server->port()});
    std::string command;
    std::string_view expected;
    if (kind == where::redis) {
        command = fmt::format("*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n${}\r\n{}\r\n", full_key.size(),
                              full_key, bytes.size(), bytes);
        expected = "+OK\r\n";
    } else {
        command = fmt::format("set {} 0 0 {}\r\n{}\r\n", full_key, bytes.size(), bytes);
        expected = "STORED\r\n";
    }
    net::write(socket, net::buffer(command));
    std::string reply;
    net::read_until(socket, net::dynamic_buffer(reply), "\r\n");
    ASSERT_EQ(reply, expected) << "raw write of " << full_key;
}

namespace {

struct param {
    std::size_t index;
    where kind;
};

auto params() -> std::vector<param> {
    std::vector<param> out;
    auto const& cases = all_cases();
    for (std::size_t i = 0; i < cases.size(); ++i) {
        if (cases[i].backends == on_none) {
            out.push_back({i, where::none});
            continue;
        }
        for (auto [bit, kind] : {std::pair{on_memory, where::memory}, {on_redis, where::redis},
                                 {on_memcached, where::memcached}}) {
            if ((cases[i].backends & bit) != 0) {
                out.push_back({i, kind});
            }
        }
    }
    return out;
}

class bad_input_test : public ::testing::TestWithParam<param> {};

TEST_P(bad_input_test, fails_cleanly_and_keeps_the_neighbour) {
    auto const& c = all_cases()[GetParam().index];
    auto kind = GetParam().kind;
    boost::asio::io_context io;
    env e{kind, io};
    if (kind == where::none) {
        c.run(e);
        return;
    }
    if (kind != where::memory) {
        e.server = kind == where::redis ? redis_server() : memcached_server();
        if (e.server == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL(fmt::format("{} binary not found", name_of(kind)));
        }
    }
    // The corpus is about bytes meeting serializers: memory:// keeps objects by default, so its
    // cache here takes the JSON serializer, as the network backends' do by default
    // (tests/memory/memory_objects_test.cpp covers objects).
    auto cache = e.make(kind == where::memory ? "namespace=bi&timeout=5s&serializer=json"
                                              : "namespace=bi&timeout=5s");
    e.cache = &cache;
    run(io, cache.clear_all());
    run(io, cache.set("neighbour", std::string("intact")));

    c.run(e);

    // Whatever the case did, the key next to it still holds its value.
    auto neighbour = run(io, cache.get<std::string>("neighbour"));
    EXPECT_EQ(neighbour, std::optional<std::string>("intact")) << c.id << " damaged a neighbour";
    run(io, cache.close());
}

INSTANTIATE_TEST_SUITE_P(corpus, bad_input_test, ::testing::ValuesIn(params()),
                         [](::testing::TestParamInfo<param> const& p) {
                             auto const& c = all_cases()[p.param.index];
                             return fmt::format("{}_{}", c.id, name_of(p.param.kind));
                         });

TEST(bad_input_doc, has_at_least_sixty_cases_with_unique_ids) {
    auto const& cases = all_cases();
    EXPECT_GE(cases.size(), 60U);
    std::set<std::string> ids;
    for (auto const& c : cases) {
        EXPECT_TRUE(ids.insert(c.id).second) << "duplicate id " << c.id;
    }
}

// The table in docs/ is rendered from the cases; set ASIOCACHE_UPDATE_DOCS=1 to rewrite it.
TEST(bad_input_doc, docs_bad_input_md_matches_the_table) {
    auto rendered = render_doc();
    if (char const* update = std::getenv("ASIOCACHE_UPDATE_DOCS");
        update != nullptr && std::string_view(update) == "1") {
        std::ofstream(ASIOCACHE_BAD_INPUT_DOC, std::ios::binary) << rendered;
    }
    std::ifstream in(ASIOCACHE_BAD_INPUT_DOC, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), rendered)
        << ASIOCACHE_BAD_INPUT_DOC << " is out of date: run bad_input_test with "
        << "ASIOCACHE_UPDATE_DOCS=1 and commit the result";
}

}  // namespace
}  // namespace asiocache::test::bad_input
