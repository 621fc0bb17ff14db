// SPDX-License-Identifier: MIT
// The README demo across processes, end to end: `slack_replies_demo --processes 4` against real
// redis-server and memcached processes (local_server: 127.0.0.1, free ports). With the lease,
// the four processes make one API call per thread between them, 20 in all; usage errors exit 2
// and start nothing. Also the demo's one-process mode, without a server and on each server: its
// fail-safe scene serves every fetch past the TTL stale while the API refuses, and honours the
// 429s' Retry-After.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <regex>
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

// The numbers of the row `label` of the first table after the line starting with `after`.
auto row_after(std::string const& out, std::string_view after, std::string_view label)
    -> std::optional<std::vector<long>> {
    std::istringstream lines(out);
    std::string line;
    bool seen = false;
    while (std::getline(lines, line)) {
        if (!seen) {
            seen = line.starts_with(after);
            continue;
        }
        // Labels are padded to 28 columns; the numbers follow.
        if (line.size() > 28 && line.starts_with(label) &&
            line.find_first_not_of(' ', label.size()) >= 28) {
            std::istringstream row(line.substr(28));
            std::vector<long> numbers;
            long n = 0;
            while (row >> n) {
                numbers.push_back(n);
            }
            return numbers;
        }
    }
    return std::nullopt;
}

// The fail-safe scene's rows; columns: with fail-safe as the API answers 429, with fail-safe
// while the client holds back, without fail-safe.
auto fail_safe_row(std::string const& out, std::string_view label) -> std::vector<long> {
    return row_after(out, "Fail-safe:", label).value_or(std::vector<long>{});
}

// What every run of the one-process demo promises, whatever the cache: the first scenes' result,
// then past the TTL every fetch served stale with fail-safe and none failed, and every fetch
// failed without it.
void expect_fail_safe_scene(process_result const& r) {
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "OK: with cached(), 20 API calls for 20 threads and 0 failures."))
        << r.out;
    EXPECT_EQ(fail_safe_row(r.out, "fetches"), (std::vector<long>{1000, 1000, 1000})) << r.out;
    EXPECT_EQ(fail_safe_row(r.out, "  served stale (fail-safe)"),
              (std::vector<long>{1000, 1000, 0}))
        << r.out;
    EXPECT_EQ(fail_safe_row(r.out, "  failed (ratelimited)"), (std::vector<long>{0, 0, 1000}))
        << r.out;
    EXPECT_TRUE(contains(r.out, "OK: with fail_safe_max, 2000 of 2000 fetches past the TTL were "
                                "served stale and 0 failed; without it, 1000 of 1000 failed."))
        << r.out;

    // The first burst reaches the API and gets 429s; the next two are held back, all of them.
    auto calls = fail_safe_row(r.out, "API calls made");
    auto refused = fail_safe_row(r.out, "  refused with 429");
    auto held = fail_safe_row(r.out, "held back by Retry-After");
    ASSERT_EQ(calls.size(), 3U) << r.out;
    ASSERT_EQ(refused.size(), 3U) << r.out;
    ASSERT_EQ(held.size(), 3U) << r.out;
    EXPECT_GE(calls[0], 1) << r.out;
    EXPECT_EQ(refused[0], calls[0]) << "every call that reached the API got a 429: " << r.out;
    // Each key's first call either reached the API or was held back (a later one may be too).
    EXPECT_GE(calls[0] + held[0], 20) << r.out;
    EXPECT_EQ(calls[1], 0) << r.out;
    EXPECT_EQ(calls[2], 0) << r.out;
    EXPECT_GE(held[1], 20) << r.out;
    EXPECT_GE(held[2], 20) << r.out;

    // The bucket was empty: a token is 1.2 s away at 50 calls a minute, so Slack says 2 (whole
    // seconds, rounded up); a little later, 1.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m,
                                  std::regex(R"(Retry-After: (\d+) s on the 429s; until it passed, )"
                                             R"(the workspace's clients held back (\d+) calls )"
                                             R"(without reaching the API\.)")))
        << r.out;
    auto retry_after = std::stol(m[1]);
    EXPECT_GE(retry_after, 1) << r.out;
    EXPECT_LE(retry_after, 2) << r.out;
    EXPECT_EQ(std::stol(m[2]), held[0] + held[1] + held[2]) << r.out;
}

TEST(demo_processes_default_mode_test, stale_replies_are_served_while_the_api_refuses) {
    expect_fail_safe_scene(demo({}));
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

TEST_P(demo_processes_test, one_process_serves_stale_replies_from_the_server_past_the_ttl) {
    expect_fail_safe_scene(demo({"--url", GetParam() + "://" + server_->address()}));
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
