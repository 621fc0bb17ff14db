// SPDX-License-Identifier: MIT
#include "asiocache/backends/memory.hpp"
#include "asiocache/bench/bench.hpp"
#include "asiocache/bench/command.hpp"
#include "asiocache/bench/report.hpp"
#include "scripted_backend.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace {

namespace bench = asiocache::bench;
using namespace std::chrono_literals;

auto memory_factory() -> bench::bench_cache_factory {
    return [](std::string const& /*url*/, boost::asio::any_io_executor /*ex*/) {
        return std::make_shared<asiocache::cache>(asiocache::backends::make_memory_backend());
    };
}

auto small_run() -> bench::bench_options {
    return {.concurrency = 8,
            .threads = 2,
            .mix = {.get = 60, .set = 10, .multi_get = 15, .increment = 15},
            .multi_get_keys = 4,
            .key_count = 500,
            .value_size_min = 10,
            .value_size_max = 200,
            .operations = 5000,
            .warmup = 0ms,
            .progress = false};
}

void expect_sane(bench::bench_result const& r, std::uint64_t ops) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.operations, ops);
    std::uint64_t by_op = 0;
    for (auto const& [name, l] : r.latency_by_op) {
        by_op += l.count;
    }
    EXPECT_EQ(by_op, r.operations);
    auto const& l = r.latency;
    EXPECT_EQ(l.count, r.operations);
    EXPECT_LE(l.p50, l.p90);
    EXPECT_LE(l.p90, l.p99);
    EXPECT_LE(l.p99, l.p999);
    EXPECT_LE(l.p999, l.max);
    EXPECT_GT(l.max, 0u);
    EXPECT_GT(r.seconds, 0.0);
    EXPECT_GT(r.throughput, 0.0);
    EXPECT_GE(r.cpu_user_seconds + r.cpu_system_seconds, 0.0);
}

TEST(bench_engine_test, memory_run_counts_add_up) {
    auto const o = small_run();
    auto const r = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_TRUE(r.errors_by_kind.empty());
    EXPECT_EQ(r.concurrency, 8u);
    EXPECT_EQ(r.threads, 2u);
    // Reads: one key per get, four per multi_get; every key was prefilled.
    auto const gets = r.latency_by_op.at("get").count;
    auto const multi = r.latency_by_op.at("multi_get").count;
    EXPECT_EQ(r.hits + r.misses, gets + 4 * multi);
    EXPECT_DOUBLE_EQ(r.hit_ratio(), 1.0);
    EXPECT_GT(r.latency_by_op.at("increment").count, 0u);
    EXPECT_EQ(r.latency_by_op.count("noop"), 0u);  // not in the mix, not reported
}

TEST(bench_engine_test, hit_ratio_reflects_unwritten_keys) {
    auto o = small_run();
    o.prefill = false;
    o.mix = {.get = 1, .set = 0};
    o.key_count = 1000;
    auto const r = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(r.hits, 0u);
    EXPECT_EQ(r.misses, o.operations);
    EXPECT_DOUBLE_EQ(r.hit_ratio(), 0.0);

    // Half the operations write: reads hit more and more often as the keys fill up.
    o.mix = {.get = 1, .set = 1};
    auto const half = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(half, o.operations);
    EXPECT_GT(half.hit_ratio(), 0.3);  // sets fill the key space as the run goes on
    EXPECT_LT(half.hit_ratio(), 1.0);
}

TEST(bench_engine_test, same_seed_same_run) {
    auto o = small_run();
    o.threads = 1;
    o.concurrency = 1;
    o.prefill = false;
    o.mix = {.get = 1, .set = 1};
    o.distribution = bench::key_distribution::zipfian;
    auto const a = bench::run_bench(memory_factory(), "memory://", o);
    auto const b = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(a, o.operations);
    EXPECT_EQ(a.hits, b.hits);
    EXPECT_EQ(a.latency_by_op.at("set").count, b.latency_by_op.at("set").count);
    o.seed = 2;
    auto const c = bench::run_bench(memory_factory(), "memory://", o);
    EXPECT_NE(a.hits, c.hits);
}

TEST(bench_engine_test, duration_mode_stops_on_time) {
    auto o = small_run();
    o.operations = 0;
    o.duration = 200ms;
    o.warmup = 50ms;
    auto const t0 = std::chrono::steady_clock::now();
    auto const r = bench::run_bench(memory_factory(), "memory://", o);
    auto const elapsed = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r.ok);
    EXPECT_GT(r.operations, 0u);
    EXPECT_NEAR(r.seconds, 0.2, 0.15);
    EXPECT_LT(elapsed, 5s);
}

TEST(bench_engine_test, errors_and_timeouts_are_reported_by_kind) {
    auto fake = std::make_shared<asiocache::test::scripted_backend>();
    fake->fail_next(asiocache::op::get, asiocache::errc::backend_unavailable);
    fake->stall_next(asiocache::op::set);
    auto factory = [fake](std::string const&, boost::asio::any_io_executor) {
        return std::make_shared<asiocache::cache>(fake);
    };
    bench::bench_options o{.concurrency = 4,
                           .threads = 1,
                           .mix = {.get = 1, .set = 1},
                           .key_count = 50,
                           .operations = 400,
                           .warmup = 0ms,
                           .prefill = false,
                           .timeout = 50ms,
                           .progress = false};
    auto const r = bench::run_bench(factory, "scripted://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(r.errors, 2u);
    EXPECT_EQ(r.errors_by_kind.at("backend_unavailable"), 1u);
    EXPECT_EQ(r.errors_by_kind.at("timeout"), 1u);
    EXPECT_EQ(r.errors_by_op.at("get"), 1u);
    EXPECT_EQ(r.errors_by_op.at("set"), 1u);
    EXPECT_FALSE(r.first_error.empty());
    EXPECT_GE(r.latency.max, 50'000'000u);  // the stalled set waited for its timeout

    auto const j = bench::to_json(r);
    EXPECT_EQ(j.at("errors").get<std::uint64_t>(), 2u);
    EXPECT_EQ(j.at("errors_by_kind").at("timeout").get<std::uint64_t>(), 1u);
}

TEST(bench_engine_test, a_factory_that_fails_is_reported_not_thrown) {
    auto factory = [](std::string const&,
                      boost::asio::any_io_executor) -> std::shared_ptr<asiocache::cache> {
        throw std::runtime_error("backend not built: nope://");
    };
    auto const r = bench::run_bench(factory, "nope://", small_run());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("backend not built"), std::string::npos);
    EXPECT_EQ(r.operations, 0u);
}

TEST(bench_engine_test, invalid_options_throw) {
    auto o = small_run();
    o.concurrency = 0;
    EXPECT_THROW(bench::validate(o), std::invalid_argument);
    o = small_run();
    o.mix = {.get = 0, .set = 0};
    EXPECT_THROW(bench::validate(o), std::invalid_argument);
    o = small_run();
    o.mix.custom = 1;
    EXPECT_THROW(bench::validate(o), std::invalid_argument);
    o = small_run();
    o.value_size_min = 10;
    o.value_size_max = 5;
    EXPECT_THROW(bench::run_bench(memory_factory(), "memory://", o), std::invalid_argument);
    EXPECT_THROW(bench::parse_op_mix("get=1,fetch=2"), std::invalid_argument);
    EXPECT_THROW(bench::parse_op_mix("get=x"), std::invalid_argument);
    auto const m = bench::parse_op_mix("get=80,multi_get=5,increment");
    EXPECT_EQ(m.get, 80u);
    EXPECT_EQ(m.set, 0u);
    EXPECT_EQ(m.multi_get, 5u);
    EXPECT_EQ(m.increment, 1u);
    EXPECT_EQ(bench::to_string(m), "get=80,multi_get=5,increment=1");
    EXPECT_EQ(bench::parse_duration_arg("250ms"), 250ms);
    EXPECT_EQ(bench::parse_duration_arg("1.5"), 1500ms);
    EXPECT_EQ(bench::parse_duration_arg("2m"), 120000ms);
    EXPECT_THROW(bench::parse_duration_arg("5h"), std::invalid_argument);
}

TEST(bench_engine_test, custom_and_noop_operations_run) {
    auto o = small_run();
    o.mix = {.get = 0, .set = 0, .custom = 1, .noop = 1};
    int calls = 0;
    o.threads = 1;
    o.custom = [&calls](asiocache::cache& c, std::string key) -> asiocache::task<bool> {
        ++calls;
        auto v = co_await c.get<std::string>(std::move(key));
        co_return v.has_value();
    };
    auto const r = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(static_cast<std::uint64_t>(calls), r.latency_by_op.at("custom").count);
    EXPECT_EQ(r.hits, r.latency_by_op.at("custom").count);
    EXPECT_GT(r.latency_by_op.at("noop").count, 0u);
}

TEST(bench_engine_test, memoized_calls_run_the_upstream_once_per_key) {
    auto o = small_run();
    o.mix = {.get = 0, .set = 0, .memo = 1};
    o.threads = 1;
    o.key_count = 50;
    auto const r = bench::run_bench(memory_factory(), "memory://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(r.errors, 0u) << r.first_error;
    EXPECT_EQ(r.hits + r.misses, r.latency_by_op.at("memo").count);
    // The memoized keys were not prefilled: the first call of each key runs the upstream, and
    // every later call is served by the cache or by that call.
    EXPECT_GE(r.misses, 1u);
    EXPECT_LE(r.misses, o.key_count);
    // The baseline's "memo" reads the value a program already holds.
    auto const b = bench::run_baseline("memory://", o);
    expect_sane(b, o.operations);
    EXPECT_DOUBLE_EQ(b.hit_ratio(), 1.0);
}

TEST(bench_engine_test, map_baseline_runs_the_same_workload) {
    auto const o = small_run();
    auto const r = bench::run_baseline("memory://", o);
    expect_sane(r, o.operations);
    EXPECT_EQ(r.target, "std::unordered_map+mutex");
    EXPECT_EQ(r.errors, 0u);
    EXPECT_DOUBLE_EQ(r.hit_ratio(), 1.0);
    auto const none = bench::run_baseline("tiered://x", o);
    EXPECT_FALSE(none.ok);
}

TEST(bench_engine_test, network_baselines_report_a_server_that_is_not_there) {
    auto o = small_run();
    o.operations = 10;
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    auto const redis = bench::run_baseline("redis://127.0.0.1:1/0", o);
    EXPECT_FALSE(redis.ok);
    EXPECT_NE(redis.error.find("127.0.0.1:1"), std::string::npos) << redis.error;
    auto const mc = bench::run_baseline("memcached://127.0.0.1:1", o);
    EXPECT_FALSE(mc.ok);
    EXPECT_FALSE(mc.error.empty());
    // A cluster whose seeds are all unreachable: every seed is tried, and named.
    auto const cluster = bench::run_baseline("redis-cluster://127.0.0.1:1,127.0.0.1:2", o);
    EXPECT_FALSE(cluster.ok);
    EXPECT_NE(cluster.error.find("127.0.0.1:2"), std::string::npos) << cluster.error;
    // A cluster has database 0 only: refused before connecting.
    auto const db = bench::run_baseline("redis-cluster://127.0.0.1:1/2", o);
    EXPECT_FALSE(db.ok);
    EXPECT_NE(db.error.find("database 0"), std::string::npos) << db.error;
}

TEST(bench_report_test, sweep_with_baseline_writes_json_and_summary) {
    auto o = small_run();
    o.operations = 2000;
    bench::suite_options s{.sweep = {1, 4}, .baseline = true};
    auto const rep = bench::run_suite(memory_factory(), {"memory://", "memory://?x"}, o, s);
    ASSERT_EQ(rep.points.size(), 2u);
    ASSERT_EQ(rep.points[0].size(), 2u);
    EXPECT_FALSE(rep.any_failed());
    EXPECT_EQ(rep.points[0][0].result.threads, 1u);  // threads capped by concurrency
    ASSERT_TRUE(rep.points[0][1].ratio().has_value());
    EXPECT_GT(*rep.points[0][1].ratio(), 0.0);

    auto const j = bench::to_json(rep);
    ASSERT_EQ(j.at("results").size(), 4u);
    for (auto const& e : j.at("results")) {
        auto const& a = e.at("asiocache");
        EXPECT_EQ(a.at("operations").get<std::uint64_t>(), 2000u);
        auto const& l = a.at("latency_ns");
        EXPECT_LE(l.at("p50").get<std::uint64_t>(), l.at("p99").get<std::uint64_t>());
        EXPECT_FALSE(e.at("baseline").is_null());
        EXPECT_TRUE(e.at("ratio_to_baseline").is_number());
    }

    auto const dir = std::filesystem::temp_directory_path() /
                     ("asiocache_bench_test_" + std::to_string(::getpid()));
    auto const notes = bench::write_report(rep, dir);
    EXPECT_FALSE(notes.empty());
    EXPECT_TRUE(std::filesystem::exists(dir / "report.json"));
    EXPECT_TRUE(std::filesystem::exists(dir / "summary.md"));
    std::ifstream in(dir / "report.json");
    EXPECT_EQ(nlohmann::json::parse(in).at("sweep").size(), 2u);
    std::filesystem::remove_all(dir);

    std::ostringstream table;
    bench::print_table(table, rep);
    EXPECT_NE(table.str().find("concurrency 4"), std::string::npos);
    EXPECT_NE(table.str().find("vs raw client"), std::string::npos);
}

TEST(bench_report_test, passwords_are_not_printed) {
    EXPECT_EQ(bench::display_url("redis://user:secret@h:1/0"), "redis://***@h:1/0");
    EXPECT_EQ(bench::display_url("redis://h:1/0?a=b@c"), "redis://h:1/0?a=b@c");
    EXPECT_EQ(bench::display_url("memory://"), "memory://");
}

TEST(bench_command_test, json_output_is_sane) {
    CLI::App app{"test"};
    bench::add_bench_command(app, memory_factory());
    testing::internal::CaptureStdout();
    app.parse("bench memory:// --json -n 3000 -w 0 -c 4 -m get=3,set=1 --no-progress", false);
    auto const out = testing::internal::GetCapturedStdout();
    auto const j = nlohmann::json::parse(out);
    ASSERT_EQ(j.at("results").size(), 1u);
    auto const& a = j.at("results")[0].at("asiocache");
    EXPECT_EQ(a.at("operations").get<std::uint64_t>(), 3000u);
    EXPECT_EQ(a.at("errors").get<std::uint64_t>(), 0u);
    EXPECT_EQ(a.at("by_op").at("get").at("count").get<std::uint64_t>() +
                  a.at("by_op").at("set").at("count").get<std::uint64_t>(),
              3000u);
    EXPECT_EQ(j.at("workload").at("mix").get<std::string>(), "get=3,set=1");
}

TEST(bench_command_test, a_url_that_cannot_run_exits_with_2) {
    CLI::App app{"test"};
    auto failing = [](std::string const& url,
                      boost::asio::any_io_executor) -> std::shared_ptr<asiocache::cache> {
        throw std::runtime_error("backend not built: " + url);
    };
    bench::add_bench_command(app, failing);
    testing::internal::CaptureStdout();
    try {
        app.parse("bench redis://127.0.0.1:1 -n 10 -w 0 --no-progress", false);
        ADD_FAILURE() << "expected a RuntimeError";
    } catch (CLI::RuntimeError const& e) {
        EXPECT_EQ(e.get_exit_code(), 2);
    }
    auto const out = testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("backend not built"), std::string::npos) << out;

    CLI::App bad{"test"};
    bench::add_bench_command(bad, memory_factory());
    testing::internal::CaptureStderr();
    try {
        bad.parse("bench memory:// -m fetch=1", false);
        ADD_FAILURE() << "expected a RuntimeError";
    } catch (CLI::RuntimeError const& e) {
        EXPECT_EQ(e.get_exit_code(), 1);
    }
    EXPECT_NE(testing::internal::GetCapturedStderr().find("fetch"), std::string::npos);
}

}  // namespace
