// SPDX-License-Identifier: MIT
// Python aiocache 0.12 interop on a real Redis and memcached. A Python peer (Debian's python3
// with python3-redis and python3-pymemcache) writes every case of cases.json exactly as
// aiocache 0.12 lays it out and asiocache reads it; then asiocache writes and the peer reads
// and compares. docs/wire-format.md describes the layout these tests hold us to.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "asiocache/backends/builtin.hpp"
#include "asiocache/serializers.hpp"
#include "local_server.hpp"
#include "process.hpp"
#include "run_coro.hpp"
#include "server_kinds.hpp"

#ifndef ASIOCACHE_INTEROP_DIR
#error "ASIOCACHE_INTEROP_DIR must name tests/interop"
#endif

namespace {

using namespace std::chrono_literals;
using asiocache::test::local_server;
using asiocache::test::run;
using nlohmann::json;

constexpr char const* python = "/usr/bin/python3";

auto interop_file(char const* name) -> std::string {
    return (std::filesystem::path(ASIOCACHE_INTEROP_DIR) / name).string();
}

// The cases, read with asiocache's own JSON reader (it takes NaN and Infinity as Python does).
auto load_cases() -> json {
    std::ifstream in(interop_file("cases.json"));
    std::stringstream text;
    text << in.rdbuf();
    return asiocache::serializers::json()->parse(text.str());
}

auto python_has_clients() -> bool {
    if (!std::filesystem::exists(python)) {
        return false;
    }
    auto r = asiocache::test::run_process({python, "-c", "import redis, pymemcache"});
    return r.exit_code == 0;
}

// Comparable text of a document: NaN equals NaN, and 100.0 stays apart from 100.
auto text_of(json const& doc) -> std::string { return asiocache::serializers::json()->dump(doc); }

auto ttl_of(json const& c) -> std::optional<std::chrono::milliseconds> {
    if (!c.contains("ttl")) {
        return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(c["ttl"].get<double>() * 1000));
}

class interop_test : public ::testing::TestWithParam<local_server::kind> {
protected:
    void SetUp() override {
        if (!asiocache::test::backend_built(backend())) {
            GTEST_SKIP() << backend() << " backend not in this build";
        }
        if (!python_has_clients()) {
            ASIOCACHE_SKIP_OR_FAIL(
                "/usr/bin/python3 with python3-redis and python3-pymemcache "
                "not found");
        }
        auto s = redis() ? local_server::redis() : local_server::memcached();
        if (!s) {
            ASIOCACHE_SKIP_OR_FAIL(redis() ? "redis-server not found" : "memcached not found");
        }
        server_ = std::make_unique<local_server>(std::move(*s));
        cases_ = load_cases();
    }

    [[nodiscard]] auto redis() const -> bool { return GetParam() == local_server::kind::redis; }
    [[nodiscard]] auto backend() const -> std::string {
        return asiocache::test::kind_name(GetParam());
    }

    // The cache a case is read or written through: its namespace and serializer.
    auto cache_for(json const& c) -> asiocache::cache {
        auto url = fmt::format("{}://{}?serializer={}", backend(), server_->address(),
                               c["serializer"].get<std::string>());
        if (auto ns = c["ns"].get<std::string>(); !ns.empty()) {
            // Spaces in a namespace are percent-encoded in a URL.
            std::string encoded;
            for (char ch : ns) {
                encoded += ch == ' ' ? std::string("%20") : std::string(1, ch);
            }
            url += "&namespace=" + encoded;
        }
        return asiocache::make_cache(url, io_.get_executor());
    }

    auto peer(std::string const& mode) -> asiocache::test::process_result {
        return asiocache::test::run_process(
            {python, interop_file("aiocache_peer.py"), mode, backend(), server_->host(),
             std::to_string(server_->port()), interop_file("cases.json")});
    }

    boost::asio::io_context io_;
    std::unique_ptr<local_server> server_;
    json cases_;
};

TEST_P(interop_test, asiocache_reads_what_aiocache_writes) {
    auto written = peer("write");
    ASSERT_EQ(written.exit_code, 0) << written.out << written.err;
    for (auto const& c : cases_) {
        auto key = c["key"].get<std::string>();
        SCOPED_TRACE("case '" + key + "' in namespace '" + c["ns"].get<std::string>() + "'");
        auto cache = cache_for(c);
        auto const& expected = c["value"];
        if (c["serializer"] == "json") {
            auto got = run(io_, cache.get<json>(key));
            ASSERT_TRUE(got.has_value()) << "miss";  // a stored null is a hit too
            EXPECT_EQ(text_of(*got), text_of(expected));
        } else if (expected.is_string()) {
            EXPECT_EQ(run(io_, cache.get<std::string>(key)), expected.get<std::string>());
        } else if (expected.is_number_integer()) {
            EXPECT_EQ(run(io_, cache.get<std::int64_t>(key)), expected.get<std::int64_t>());
            EXPECT_EQ(run(io_, cache.get<std::string>(key)), expected.dump());
        } else {
            EXPECT_EQ(run(io_, cache.get<double>(key)), expected.get<double>());
        }
        if (auto ttl = ttl_of(c); ttl && redis()) {
            auto left = run(io_, cache.ttl(key));
            ASSERT_TRUE(left.has_value());
            EXPECT_FALSE(left->is_never());
            EXPECT_LE(left->duration(), *ttl);
            EXPECT_GT(left->duration(), *ttl - 10s);
        }
    }
}

TEST_P(interop_test, aiocache_reads_what_asiocache_writes) {
    std::size_t written = 0;
    for (auto const& c : cases_) {
        if (c.contains("raw")) {
            continue;  // forms other writers produce; asiocache writes its own
        }
        auto key = c["key"].get<std::string>();
        auto cache = cache_for(c);
        std::optional<asiocache::expiry> ttl;
        if (auto t = ttl_of(c)) {
            ttl = *t;
        }
        auto const& v = c["value"];
        if (c["serializer"] == "json") {
            run(io_, cache.set(key, v, ttl));
        } else if (v.is_string()) {
            run(io_, cache.set(key, v.get<std::string>(), ttl));
        } else if (v.is_number_integer()) {
            run(io_, cache.set(key, v.get<std::int64_t>(), ttl));
        } else {
            run(io_, cache.set(key, v.get<double>(), ttl));
        }
        ++written;
    }
    auto r = peer("read");
    ASSERT_EQ(r.exit_code, 0) << "python peer: " << r.out << r.err;
    auto report = json::parse(r.out);
    EXPECT_EQ(report["checked"].get<std::size_t>(), written);
    EXPECT_TRUE(report["failures"].empty()) << r.out;
}

TEST_P(interop_test, peer_catches_a_wrong_value) {
    // The read check must be able to fail: store one case wrongly and expect the peer to say so.
    auto const& c = cases_.at(0);
    auto cache = cache_for(c);
    run(io_, cache.set(c["key"].get<std::string>(), json("something else")));
    auto r = peer("read");
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("something else"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(servers, interop_test, asiocache::test::both_server_kinds(),
                         asiocache::test::kind_param_name{});

}  // namespace
