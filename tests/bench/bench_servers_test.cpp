// SPDX-License-Identifier: MIT
// `asiocache bench` against real servers (redis-server and memcached on free 127.0.0.1 ports):
// a short run with bounded operation counts whose JSON must add up, with the raw-client
// baseline, and a run during which the server is stopped, whose errors must be reported. And
// a short run against a Redis Cluster of six redis-server processes, with the raw client
// routed by slot, whose keys must land on every master.
#include "asiocache/backends/builtin.hpp"
#include "asiocache/bench/command.hpp"
#include "fault_server.hpp"
#include "local_cluster.hpp"
#include "local_server.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace bench = asiocache::bench;
using asiocache::test::local_cluster;
using asiocache::test::local_server;
using nlohmann::json;

auto builtin_factory() -> bench::bench_cache_factory {
    return [](std::string const& url, boost::asio::any_io_executor ex) {
        return std::make_shared<asiocache::cache>(asiocache::make_cache(url, std::move(ex)));
    };
}

/// Runs `bench ARGS` in process and returns its JSON output and exit code.
auto run_bench_command(std::string const& args) -> std::pair<json, int> {
    CLI::App app{"test"};
    bench::add_bench_command(app, builtin_factory());
    testing::internal::CaptureStdout();
    int code = 0;
    try {
        app.parse("bench " + args, false);
    } catch (CLI::Error const& e) {
        code = e.get_exit_code();
    }
    auto const out = testing::internal::GetCapturedStdout();
    try {
        return {json::parse(out), code};
    } catch (std::exception const& e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "): " << out;
        return {json{}, code};
    }
}

/// The checks every run must pass: counts that add up and ordered percentiles.
void expect_consistent(json const& r) {
    auto const ops = r.at("operations").get<std::uint64_t>();
    std::uint64_t by_op = 0;
    std::uint64_t errors_by_op = 0;
    for (auto const& [name, s] : r.at("by_op").items()) {
        by_op += s.at("count").get<std::uint64_t>();
        errors_by_op += s.at("errors").get<std::uint64_t>();
    }
    EXPECT_EQ(by_op, ops);
    EXPECT_EQ(errors_by_op, r.at("errors").get<std::uint64_t>());
    std::uint64_t by_kind = 0;
    for (auto const& [kind, n] : r.at("errors_by_kind").items()) {
        by_kind += n.get<std::uint64_t>();
    }
    EXPECT_EQ(by_kind, r.at("errors").get<std::uint64_t>());
    auto const& l = r.at("latency_ns");
    EXPECT_EQ(l.at("count").get<std::uint64_t>(), ops);
    EXPECT_LE(l.at("p50").get<std::uint64_t>(), l.at("p90").get<std::uint64_t>());
    EXPECT_LE(l.at("p90").get<std::uint64_t>(), l.at("p99").get<std::uint64_t>());
    EXPECT_LE(l.at("p99").get<std::uint64_t>(), l.at("p999").get<std::uint64_t>());
    EXPECT_LE(l.at("p999").get<std::uint64_t>(), l.at("max").get<std::uint64_t>());
    EXPECT_GT(r.at("throughput").get<double>(), 0.0);
}

class bench_servers_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        auto s = GetParam() == "redis" ? local_server::redis() : local_server::memcached();
        if (!s) {
            ASIOCACHE_SKIP_OR_FAIL(GetParam() + " server not found");
        }
        server_.emplace(std::move(*s));
    }
    auto url() const -> std::string {
        return fmt::format("{}://127.0.0.1:{}", GetParam(), server_->port());
    }

    std::optional<local_server> server_;
};

auto param_name(::testing::TestParamInfo<std::string> const& p) -> std::string { return p.param; }

INSTANTIATE_TEST_SUITE_P(servers, bench_servers_test, ::testing::Values("redis", "memcached"),
                         param_name);

TEST_P(bench_servers_test, a_bounded_run_with_baseline_adds_up) {
    auto const [j, code] = run_bench_command(
        url() + " --json -n 3000 -w 0 -c 16 -k 200 --multi-get-keys 5 --serializer bytes"
                " -m get=5,set=2,multi_get=1,increment=1,memo=1 --baseline --no-progress");
    ASSERT_EQ(code, 0);
    ASSERT_EQ(j.at("results").size(), 1u);
    auto const& a = j.at("results")[0].at("asiocache");
    ASSERT_TRUE(a.at("ok").get<bool>()) << a.dump();
    EXPECT_EQ(a.at("operations").get<std::uint64_t>(), 3000u);
    EXPECT_EQ(a.at("errors").get<std::uint64_t>(), 0u) << a.dump();
    expect_consistent(a);
    // Every key was prefilled: gets and multi-gets hit; memoized calls miss once per key at
    // most. Reads: one per get and memo, five per multi_get.
    auto const& by_op = a.at("by_op");
    auto const reads = by_op.at("get").at("count").get<std::uint64_t>() +
                       by_op.at("memo").at("count").get<std::uint64_t>() +
                       5 * by_op.at("multi_get").at("count").get<std::uint64_t>();
    EXPECT_EQ(a.at("hits").get<std::uint64_t>() + a.at("misses").get<std::uint64_t>(), reads);
    EXPECT_LE(a.at("misses").get<std::uint64_t>(), 200u);

    auto const& b = j.at("results")[0].at("baseline");
    ASSERT_TRUE(b.at("ok").get<bool>()) << b.dump();
    EXPECT_EQ(b.at("operations").get<std::uint64_t>(), 3000u);
    EXPECT_EQ(b.at("errors").get<std::uint64_t>(), 0u) << b.dump();
    expect_consistent(b);
}

TEST_P(bench_servers_test, a_server_stopped_mid_run_shows_up_as_errors) {
    std::thread stopper([this] {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        server_->stop();
    });
    auto const [j, code] = run_bench_command(
        url() + " --json -d 1500ms -w 0 -c 8 -k 200 --timeout 250ms --no-progress");
    stopper.join();
    EXPECT_EQ(code, 0);  // the run itself completed; its operations failed
    ASSERT_EQ(j.at("results").size(), 1u);
    auto const& a = j.at("results")[0].at("asiocache");
    ASSERT_TRUE(a.at("ok").get<bool>()) << a.dump();
    expect_consistent(a);
    auto const errors = a.at("errors").get<std::uint64_t>();
    EXPECT_GT(errors, 0u) << a.dump();
    EXPECT_LT(errors, a.at("operations").get<std::uint64_t>());  // the first 400 ms succeeded
    for (auto const& [kind, n] : a.at("errors_by_kind").items()) {
        EXPECT_TRUE(kind == "backend_unavailable" || kind == "timeout") << kind;
    }
    EXPECT_FALSE(a.at("first_error").get<std::string>().empty());
}

// The bench against a server whose every GET answer is hostile (an array header of 2^31
// elements, then a stream of elements past the reply cap; before the reply cap, this aborted
// the process with std::bad_alloc): the run completes, and reports the failures by kind.
TEST(bench_hostile_server, a_hostile_reply_is_an_error_in_the_report_not_a_crash) {
    std::string hostile = "*2147483647\r\n";
    for (int i = 0; i < 30000; ++i) {
        hostile += ":1\r\n";
    }
    asiocache::test::fault_server server(asiocache::test::redis_like([&](auto const& argv) {
        if (argv.front() == "GET" || argv.front() == "get") {
            return asiocache::test::reply_plan{.bytes = hostile};
        }
        return asiocache::test::reply_plan{.bytes = "+OK\r\n"};
    }));
    auto const [j, code] = run_bench_command(
        fmt::format("redis://127.0.0.1:{}?max_reply_bytes=64k --json -d 1s -w 0 -c 4 -k 20 "
                    "--timeout 250ms -m get=1 --serializer bytes --no-progress",
                    server.port()));
    EXPECT_EQ(code, 0);
    ASSERT_EQ(j.at("results").size(), 1u);
    auto const& a = j.at("results")[0].at("asiocache");
    expect_consistent(a);
    EXPECT_GT(a.at("errors").get<std::uint64_t>(), 0u) << a.dump();
    EXPECT_EQ(a.at("hits").get<std::uint64_t>(), 0u);
    for (auto const& [kind, n] : a.at("errors_by_kind").items()) {
        EXPECT_TRUE(kind == "protocol_error" || kind == "backend_unavailable" || kind == "timeout")
            << kind;
    }
}

/// Keys on each master of `c`, by DBSIZE.
auto keys_per_master(local_cluster const& c) -> std::vector<std::uint64_t> {
    std::vector<std::uint64_t> out;
    for (auto const port : c.masters()) {
        out.push_back(std::stoull(c.cli(port, {"DBSIZE"})));
    }
    return out;
}

// One case, so one cluster (about 2 s to start): the command with its baseline on the
// cluster's URL, then the baseline alone on an emptied cluster, found through a seed list
// whose first seed is down.
TEST(bench_cluster_test, a_short_run_and_its_baseline_route_keys_to_every_master) {
    auto c = local_cluster::start();
    if (!c) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto const [j, code] = run_bench_command(
        c->url() + " --json -d 1s -w 100ms -c 32 -k 300 --multi-get-keys 5 --serializer bytes"
                   " -m get=5,set=2,multi_get=1,increment=1,memo=1 --baseline --no-progress");
    ASSERT_EQ(code, 0);
    ASSERT_EQ(j.at("results").size(), 1u);
    for (auto const* side : {"asiocache", "baseline"}) {
        auto const& r = j.at("results")[0].at(side);
        ASSERT_TRUE(r.at("ok").get<bool>()) << side << ": " << r.dump();
        EXPECT_GT(r.at("operations").get<std::uint64_t>(), 0u) << side;
        EXPECT_EQ(r.at("errors").get<std::uint64_t>(), 0u) << side << ": " << r.dump();
        expect_consistent(r);
        // Every key was prefilled: reads hit (memoized calls miss once per key at most). Reads:
        // one per get and memo, five per multi_get.
        auto const& by_op = r.at("by_op");
        auto const reads = by_op.at("get").at("count").get<std::uint64_t>() +
                           by_op.at("memo").at("count").get<std::uint64_t>() +
                           5 * by_op.at("multi_get").at("count").get<std::uint64_t>();
        EXPECT_EQ(r.at("hits").get<std::uint64_t>() + r.at("misses").get<std::uint64_t>(), reads)
            << side;
        EXPECT_LE(r.at("misses").get<std::uint64_t>(), 300u) << side;
        EXPECT_GT(r.at("cpu_per_op_us").get<double>(), 0.0) << side;
    }
    auto const& b = j.at("results")[0].at("baseline");
    EXPECT_EQ(b.at("target").get<std::string>(), "raw hiredis cluster");
    for (auto const n : keys_per_master(*c)) {
        EXPECT_GT(n, 0u);
    }

    // The baseline alone: its prefill writes the 300 keys, each on its slot's master, and
    // nothing else (gets only). The first seed refuses connections; the second answers.
    c->flush_all();
    auto const seed = c->ports()[1];
    bench::bench_options o{.concurrency = 16, .mix = {.get = 1, .set = 0}, .key_count = 300,
                           .operations = 2000, .warmup = std::chrono::milliseconds(0),
                           .progress = false};
    auto const r = bench::run_baseline(c->url(), o,
                                       {.redis = fmt::format("127.0.0.1:1,127.0.0.1:{}", seed)});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.operations, 2000u);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.hits, 2000u);
    EXPECT_NE(r.note.find(fmt::format("3 masters, slots from CLUSTER SLOTS of 127.0.0.1:{}", seed)),
              std::string::npos)
        << r.note;
    auto const keys = keys_per_master(*c);
    ASSERT_EQ(keys.size(), 3u);
    std::uint64_t total = 0;
    for (auto const n : keys) {
        EXPECT_GT(n, 50u);  // 300 keys over 3 masters: about 100 each
        total += n;
    }
    EXPECT_EQ(total, 300u);
}

}  // namespace
