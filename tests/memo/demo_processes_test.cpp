// SPDX-License-Identifier: MIT
// The README demo across processes, end to end: `slack_replies_demo --processes 4` against real
// redis-server and memcached processes (local_server: 127.0.0.1, free ports). With the lease,
// the four processes make one API call per thread between them, 20 in all; usage errors exit 2
// and start nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "local_cluster.hpp"
#include "local_server.hpp"
#include "tools/process.hpp"

#ifndef ASIOCACHE_DEMO_BIN
#error "ASIOCACHE_DEMO_BIN must name the slack_replies_demo binary"
#endif

namespace {

using asiocache::test::local_server;
using asiocache::test::process_result;
using namespace std::chrono_literals;

// Two rounds of children, each bounded by the demo itself (30 s); this bounds the whole run.
auto demo(std::vector<std::string> args) -> process_result {
    args.insert(args.begin(), ASIOCACHE_DEMO_BIN);
    return asiocache::test::run_process(args, {}, {}, 90s);
}

auto describe(process_result const& r) -> std::string {
    return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

auto contains(std::string const& text, std::string_view part) -> bool {
    return text.find(part) != std::string::npos;
}

struct totals {
    long with_lease = -1;
    long without_lease = -1;
};

// The table's "total" row: API calls with the lease, then without it.
auto totals_of(std::string const& out) -> std::optional<totals> {
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with("total ")) {
            std::istringstream row(line.substr(6));
            totals t;
            if (row >> t.with_lease >> t.without_lease) {
                return t;
            }
        }
    }
    return std::nullopt;
}

/// One server of each kind per test process, started on first use.
auto server_for(std::string const& kind) -> local_server const* {
    if (kind == "redis") {
        static auto redis = local_server::redis();
        return redis ? &*redis : nullptr;
    }
    static auto memcached = local_server::memcached();
    return memcached ? &*memcached : nullptr;
}

class demo_processes_test : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        server_ = server_for(GetParam());
        if (server_ == nullptr) {
            ASIOCACHE_SKIP_OR_FAIL(GetParam() + " server not found");
        }
    }

    local_server const* server_ = nullptr;
};

auto param_name(::testing::TestParamInfo<std::string> const& p) -> std::string { return p.param; }

INSTANTIATE_TEST_SUITE_P(servers, demo_processes_test, ::testing::Values("redis", "memcached"),
                         param_name);

TEST_P(demo_processes_test, four_processes_with_the_lease_make_one_api_call_per_thread) {
    auto url = GetParam() + "://" + server_->address();
    auto r = demo({"--processes", "4", url});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto t = totals_of(r.out);
    ASSERT_TRUE(t) << "no total row: " << r.out;
    EXPECT_EQ(t->with_lease, 20) << r.out;
    // Without the lease each process computes what it misses: at least one call per thread
    // (the namespace is fresh), at most one per thread and process. How many depends on timing.
    EXPECT_GE(t->without_lease, 20) << r.out;
    EXPECT_LE(t->without_lease, 80) << r.out;
    EXPECT_TRUE(contains(r.out, "OK: with the lease, 4 processes made 20 API calls")) << r.out;
    for (int k = 1; k <= 4; ++k) {
        EXPECT_TRUE(contains(r.out, "process " + std::to_string(k) + " (250 fetches)")) << r.out;
    }
}

TEST_P(demo_processes_test, the_url_flag_works_too) {
    auto r = demo({"--processes=2", "--url", GetParam() + "://" + server_->address()});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto t = totals_of(r.out);
    ASSERT_TRUE(t) << "no total row: " << r.out;
    EXPECT_EQ(t->with_lease, 20) << r.out;
}

// The same with real processes on a real Redis Cluster (3 masters, a replica each): the lease
// works across processes on a cluster as on one server.
TEST(demo_processes_cluster_test, four_processes_share_a_redis_cluster) {
    auto cluster = asiocache::test::local_cluster::start();
    if (!cluster) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto r = demo({"--processes", "4", cluster->url()});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto t = totals_of(r.out);
    ASSERT_TRUE(t) << "no total row: " << r.out;
    EXPECT_EQ(t->with_lease, 20) << r.out;
    EXPECT_TRUE(contains(r.out, "OK: with the lease, 4 processes made 20 API calls")) << r.out;
}

TEST(demo_processes_usage_test, processes_without_a_server_url_exit_2_and_start_nothing) {
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    std::vector<bad_case> cases{
        {{"--processes", "4"}, "without a URL the demo uses memory://"},
        {{"--processes", "4", "memory://"}, "memory:// is inside each process"},
        {{"--processes", "4", "--url", "memory://"}, "memory:// is inside each process"},
        {{"--processes", "4", "nosuch://h"}, "nosuch:// is not a cache server"},
        {{"--processes", "1", "redis://127.0.0.1:1"}, "from 2 to 16"},
        {{"--processes", "17", "redis://127.0.0.1:1"}, "from 2 to 16"},
        {{"--processes", "four", "redis://127.0.0.1:1"}, "from 2 to 16"},
    };
    for (auto const& c : cases) {
        auto r = demo(c.args);
        std::string line;
        for (auto const& a : c.args) {
            line += a + " ";
        }
        EXPECT_EQ(r.exit_code, 2) << line << describe(r);
        EXPECT_TRUE(contains(r.err, c.says)) << line << describe(r);
        EXPECT_EQ(r.out, "") << line << ": a usage error must start nothing";
    }
    auto r = demo({"--processes", "4"});
    EXPECT_TRUE(contains(r.err, "redis://127.0.0.1:6379")) << "names a URL that works: " << r.err;
    EXPECT_TRUE(contains(r.err, "Nothing was started")) << r.err;
}

}  // namespace
