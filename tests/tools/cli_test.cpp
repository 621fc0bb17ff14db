// SPDX-License-Identifier: MIT
// The asiocache command-line tool end to end: the built binary is spawned as a child process,
// against memory:// for argument handling and against real redis-server and memcached
// processes (local_server) for the cache operations, including two tool processes sharing one
// server.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "asiocache/backends/builtin.hpp"
#include "local_cluster.hpp"
#include "local_server.hpp"
#include "process.hpp"
#include "server_kinds.hpp"

#ifndef ASIOCACHE_CLI_BIN
#error "ASIOCACHE_CLI_BIN must name the asiocache binary"
#endif

namespace {

using asiocache::test::local_server;
using asiocache::test::process_result;

// Runs the tool with `args`; `input` goes to its standard input. A run past `limit` is killed
// (exit -1); `plan` sends it a signal meanwhile.
auto cli_limited(std::vector<std::string> args, std::chrono::milliseconds limit,
                 asiocache::test::signal_plan plan = {}) -> process_result {
    args.insert(args.begin(), ASIOCACHE_CLI_BIN);
    return asiocache::test::run_process(args, {}, {"ASIOCACHE_URL", "ASIOCACHE_CONFIG"}, limit,
                                        plan);
}

// Standard output's lines, without their newlines.
auto lines_of(std::string const& text) -> std::vector<std::string> {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// watch --json's lines, parsed; a line that is not JSON fails the test.
auto json_lines(std::string const& text) -> std::vector<nlohmann::json> {
    std::vector<nlohmann::json> out;
    for (auto const& line : lines_of(text)) {
        auto doc = nlohmann::json::parse(line, nullptr, false);
        EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << line;
        out.push_back(std::move(doc));
    }
    return out;
}

// Runs the tool with `args`; `input` goes to its standard input.
auto cli(std::vector<std::string> args, std::string const& input = {},
         std::vector<std::string> const& env = {"ASIOCACHE_URL", "ASIOCACHE_CONFIG"})
    -> process_result {
    args.insert(args.begin(), ASIOCACHE_CLI_BIN);
    return asiocache::test::run_process(args, input, env);
}

auto describe(process_result const& r) -> std::string {
    return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

auto contains(std::string const& text, std::string_view part) -> bool {
    return text.find(part) != std::string::npos;
}

// Every byte value, NULs and newlines included: what must survive a round trip.
auto all_bytes() -> std::string {
    std::string out;
    for (int round = 0; round < 2; ++round) {
        for (int b = 0; b < 256; ++b) {
            out += static_cast<char>(b);
        }
    }
    out += "\n\r\n";
    return out;
}

// ---- arguments, help and exit codes (no server) ----

TEST(cli_test, help_for_every_subcommand) {
    auto top = cli({"--help"});
    EXPECT_EQ(top.exit_code, 0) << describe(top);
    for (auto const* name : {"get", "set", "add", "del", "exists", "incr", "expire", "ttl", "mget",
                             "mset", "clear", "flush", "stats", "watch", "raw"}) {
        EXPECT_TRUE(contains(top.out, name)) << name << " missing from --help";
        auto r = cli({"memory://", name, "--help"});
        EXPECT_EQ(r.exit_code, 0) << name << ": " << describe(r);
        EXPECT_TRUE(contains(r.out, "Usage")) << name << ": " << r.out;
        EXPECT_TRUE(contains(r.out, name)) << name << ": " << r.out;
    }
    EXPECT_TRUE(contains(top.out, "Exit codes"));
}

TEST(cli_test, usage_errors_exit_2_and_say_what_to_do) {
    struct bad_case {
        std::vector<std::string> args;
        std::string says;
    };
    std::vector<bad_case> cases{
        {{}, "no command given"},
        {{"memory://"}, "commands: get, mget"},
        {{"memory://", "frobnicate"}, "unknown command 'frobnicate'"},
        {{"memory://", "get"}, "key"},
        {{"get", "k"}, "ASIOCACHE_URL"},
        {{"memory://?ttl=soon", "get", "k"}, "'ttl'"},
        {{"memory://?bogus=1", "get", "k"}, "bogus"},
        {{"nosuch://h", "get", "k"}, "'nosuch'"},
        {{"memory://", "--serializer", "pickle", "get", "k"}, "pickle"},
        {{"memory://", "--ttl", "later", "set", "k", "v"}, "'--ttl'"},
        {{"memory://", "mset", "a", "1", "b"}, "pairs"},
        {{"memory://", "--serializer", "json", "set", "k", "not json"}, "quote text"},
        {{"memory://", "clear"}, "--namespace"},
        {{"memory://", "expire", "k", "soon"}, "'ttl'"},
        {{"memory://", "incr", "k", "two"}, "two"},
        {{"memory://", "mset", "a", "-", "b", "-"}, "standard input"},
        {{"unknown-alias", "get", "k"}, "unknown-alias"},
        {{"memory://", "watch", "--interval", "99"}, "--interval"},
        {{"memory://", "watch", "--count", "0"}, "--count"},
    };
    for (auto const& c : cases) {
        auto r = cli(c.args);
        std::string line;
        for (auto const& a : c.args) {
            line += a + " ";
        }
        EXPECT_EQ(r.exit_code, 2) << line << describe(r);
        EXPECT_TRUE(contains(r.err, c.says)) << line << ": stderr lacks '" << c.says << "'\n"
                                             << describe(r);
        EXPECT_TRUE(r.out.empty()) << line << describe(r);
    }
}

TEST(cli_test, passwords_never_reach_the_terminal) {
    for (auto const* url :
         {"redis://app:hunter2@127.0.0.1:1?ttl=soon", "redis://app:hunter2@127.0.0.1:1?bogus=1",
          "memcached://app:hunter2@127.0.0.1:1/x", "redis://app:hunter2@h/x/y"}) {
        auto r = cli({url, "get", "k"});
        EXPECT_NE(r.exit_code, 0) << url;
        EXPECT_FALSE(contains(r.err + r.out, "hunter2")) << url << ": " << describe(r);
    }
}

TEST(cli_test, memory_miss_and_hit_in_one_process) {
    auto miss = cli({"memory://", "get", "k"});
    EXPECT_EQ(miss.exit_code, 1) << describe(miss);
    EXPECT_EQ(miss.out, "");
    EXPECT_EQ(miss.err, "");  // a miss is not an error
    auto json = cli({"memory://", "--json", "get", "k"});
    EXPECT_EQ(json.exit_code, 1);
    EXPECT_EQ(nlohmann::json::parse(json.out), (nlohmann::json{{"key", "k"}, {"hit", false}}));
    auto exists = cli({"memory://", "exists", "k"});
    EXPECT_EQ(exists.exit_code, 1);
    EXPECT_EQ(exists.out, "false\n");
    auto incr = cli({"memory://", "incr", "n", "-5"});
    EXPECT_EQ(incr.exit_code, 0) << describe(incr);
    EXPECT_EQ(incr.out, "-5\n");
    auto set = cli({"memory://", "set", "k", "v"});
    EXPECT_EQ(set.exit_code, 0) << describe(set);
}

TEST(cli_test, url_from_the_environment_and_aliases_from_a_config_file) {
    auto r = cli({"--json", "stats"}, {}, {"ASIOCACHE_URL=memory://?namespace=fromenv"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(nlohmann::json::parse(r.out).at("namespace"), "fromenv");

    auto path = std::filesystem::temp_directory_path() /
                ("asiocache-cli-" + std::to_string(::getpid()) + ".json");
    std::ofstream(path) << R"({"default": "memory://", "sessions": "memory://?namespace=s"})";
    auto by_flag = cli({"--config", path.string(), "sessions", "--json", "stats"});
    auto by_env = cli({"sessions", "--json", "stats"}, {}, {"ASIOCACHE_CONFIG=" + path.string()});
    std::filesystem::remove(path);
    ASSERT_EQ(by_flag.exit_code, 0) << describe(by_flag);
    EXPECT_EQ(nlohmann::json::parse(by_flag.out).at("namespace"), "s");
    ASSERT_EQ(by_env.exit_code, 0) << describe(by_env);
    EXPECT_EQ(nlohmann::json::parse(by_env.out).at("namespace"), "s");
}

TEST(cli_test, stats_shows_memory_counters_and_a_redacted_url) {
    auto r = cli({"memory://?namespace=n&max_entries=10", "--json", "stats"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc.at("backend"), "memory");
    EXPECT_TRUE(doc.contains("hits"));
    EXPECT_TRUE(doc.at("supports_ttl").get<bool>());
    auto text = cli({"memory://", "stats"});
    EXPECT_TRUE(contains(text.out, "backend: memory")) << text.out;
}

TEST(cli_test, watch_on_memory_prints_one_json_line_per_refresh) {
    auto started = std::chrono::steady_clock::now();
    auto r = cli({"memory://", "--json", "watch", "--count", "3", "--interval", "100"});
    auto took = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 3U) << r.out;
    for (auto const& l : lines) {
        ASSERT_TRUE(l.at("ops_per_sec").is_number()) << l;
        EXPECT_GE(l.at("ops_per_sec").get<double>(), 0) << l;
        EXPECT_EQ(l.at("keys"), 0) << l;  // memory:// is this process's own, and empty
        EXPECT_TRUE(l.at("hit_ratio").is_null()) << l;  // no lookups: no ratio
        EXPECT_GE(l.at("interval_ms").get<double>(), 99) << l;
    }
    // A baseline and three intervals of 100 ms.
    EXPECT_GE(took, std::chrono::milliseconds(300));
    EXPECT_LT(took, std::chrono::seconds(5));
    auto plain = cli({"memory://", "watch", "--count", "2", "--interval", "100"});
    ASSERT_EQ(plain.exit_code, 0) << describe(plain);
    auto text = lines_of(plain.out);
    ASSERT_EQ(text.size(), 3U) << plain.out;  // the header, then one line per refresh
    EXPECT_TRUE(contains(text[0], "ops/s")) << plain.out;
}

// ---- against real servers ----

class server_cli_test : public ::testing::TestWithParam<local_server::kind> {
protected:
    void SetUp() override {
        bool redis = GetParam() == local_server::kind::redis;
        if (!asiocache::test::backend_built(redis ? "redis" : "memcached")) {
            GTEST_SKIP() << (redis ? "redis" : "memcached") << " backend not in this build";
        }
        if (redis) {
            server_.emplace_from(local_server::redis());
        } else {
            server_.emplace_from(local_server::memcached());
        }
        if (!server_.get()) {
            ASIOCACHE_SKIP_OR_FAIL(redis ? "redis-server not found" : "memcached not found");
        }
        url_ = (redis ? "redis://" : "memcached://") + server_.get()->address();
    }

    [[nodiscard]] auto redis() const -> bool { return GetParam() == local_server::kind::redis; }

    // Runs the tool against this test's server.
    auto run(std::vector<std::string> args, std::string const& input = {}) -> process_result {
        args.insert(args.begin(), url_);
        return cli(std::move(args), input);
    }

    // local_server is move-constructible only: hold it where it can be built in place.
    struct server_slot {
        std::unique_ptr<local_server> p;
        void emplace_from(std::optional<local_server> s) {
            if (s) {
                p = std::make_unique<local_server>(std::move(*s));
            }
        }
        [[nodiscard]] auto get() const -> local_server* { return p.get(); }
    };
    server_slot server_;
    std::string url_;
};

TEST_P(server_cli_test, set_then_get_in_another_process) {
    auto set = run({"set", "greeting", "hello world"});
    ASSERT_EQ(set.exit_code, 0) << describe(set);
    auto get = run({"get", "greeting"});
    EXPECT_EQ(get.exit_code, 0) << describe(get);
    EXPECT_EQ(get.out, "hello world");  // exact: no newline added in a pipe
    auto miss = run({"get", "absent"});
    EXPECT_EQ(miss.exit_code, 1) << describe(miss);
}

TEST_P(server_cli_test, binary_values_round_trip_byte_exactly_through_stdin) {
    auto bytes = all_bytes();
    auto set = run({"set", "blob", "-"}, bytes);
    ASSERT_EQ(set.exit_code, 0) << describe(set);
    auto get = run({"get", "blob"});
    ASSERT_EQ(get.exit_code, 0) << describe(get);
    EXPECT_EQ(get.out, bytes);
    auto json = run({"--json", "get", "blob"});
    ASSERT_EQ(json.exit_code, 0) << describe(json);
    EXPECT_TRUE(nlohmann::json::parse(json.out).at("value").contains("base64"));
    auto empty = run({"set", "empty", ""});
    ASSERT_EQ(empty.exit_code, 0) << describe(empty);
    auto got = run({"get", "empty"});
    EXPECT_EQ(got.exit_code, 0);  // an empty value is a hit
    EXPECT_EQ(got.out, "");
}

TEST_P(server_cli_test, two_processes_share_one_server) {
    // Two tool processes at once, each adding to one counter, then a third reading it.
    process_result a;
    process_result b;
    std::thread ta([&] { a = run({"incr", "counter", "5"}); });
    std::thread tb([&] { b = run({"incr", "counter", "7"}); });
    ta.join();
    tb.join();
    ASSERT_EQ(a.exit_code, 0) << describe(a);
    ASSERT_EQ(b.exit_code, 0) << describe(b);
    auto get = run({"get", "counter"});
    EXPECT_EQ(get.out, "12");
    std::vector<std::string> seen{a.out, b.out};
    std::sort(seen.begin(), seen.end());
    // One process saw its own delta first; the other saw the sum.
    EXPECT_TRUE(seen == (std::vector<std::string>{"12\n", "5\n"}) ||
                seen == (std::vector<std::string>{"12\n", "7\n"}))
        << a.out << " / " << b.out;
}

TEST_P(server_cli_test, add_del_exists_and_incr_exit_codes) {
    EXPECT_EQ(run({"add", "k", "1"}).exit_code, 0);
    auto again = run({"add", "k", "2"});
    EXPECT_EQ(again.exit_code, 1) << describe(again);
    EXPECT_TRUE(contains(again.err, "use set")) << again.err;
    EXPECT_EQ(run({"get", "k"}).out, "1");
    EXPECT_EQ(run({"exists", "k"}).exit_code, 0);
    auto del = run({"del", "k", "nope"});
    EXPECT_EQ(del.exit_code, 0) << describe(del);
    EXPECT_EQ(del.out, "1\n");
    EXPECT_EQ(run({"del", "k"}).exit_code, 1);
    EXPECT_EQ(run({"exists", "k"}).exit_code, 1);
    ASSERT_EQ(run({"set", "text", "abc"}).exit_code, 0);
    auto nan = run({"incr", "text"});
    EXPECT_EQ(nan.exit_code, 3) << describe(nan);
    EXPECT_TRUE(contains(nan.err, "integers")) << nan.err;
}

TEST_P(server_cli_test, mset_and_mget_in_one_call) {
    auto set = run({"mset", "a", "1", "b", "two", "c", "-"}, std::string("x\0y", 3));
    ASSERT_EQ(set.exit_code, 0) << describe(set);
    auto get = run({"--json", "mget", "a", "b", "c", "missing"});
    EXPECT_EQ(get.exit_code, 1) << describe(get);  // one key is missing
    auto doc = nlohmann::json::parse(get.out);
    ASSERT_EQ(doc.size(), 4U);
    EXPECT_EQ(doc[0].at("value"), "1");
    EXPECT_EQ(doc[1].at("value"), "two");
    EXPECT_EQ(doc[2].at("value"), std::string("x\0y", 3));
    EXPECT_FALSE(doc[3].at("hit").get<bool>());
    auto plain = run({"mget", "a", "b"});
    EXPECT_EQ(plain.exit_code, 0);
    EXPECT_EQ(plain.out, "1\ntwo\n");
}

TEST_P(server_cli_test, json_serializer_takes_and_prints_json) {
    auto set = run({"--serializer", "json", "set", "doc",
                    R"({"name": "caf\u00e9", "n": [1, 2.5, NaN, Infinity], "ok": true})"});
    ASSERT_EQ(set.exit_code, 0) << describe(set);
    auto get = run({"--serializer", "json", "get", "doc"});
    ASSERT_EQ(get.exit_code, 0) << describe(get);
    EXPECT_TRUE(contains(get.out, "NaN")) << get.out;
    EXPECT_TRUE(contains(get.out, "Infinity")) << get.out;
    EXPECT_TRUE(contains(get.out, "\"ok\":true")) << get.out;
    // The same bytes, read raw, are JSON text.
    auto raw = run({"get", "doc"});
    EXPECT_TRUE(contains(raw.out, "\"name\"")) << raw.out;
    auto bad = run({"--serializer", "json", "get", "doc-missing"});
    EXPECT_EQ(bad.exit_code, 1);
    ASSERT_EQ(run({"set", "notjson", "{oops"}).exit_code, 0);
    auto undecodable = run({"--serializer", "json", "get", "notjson"});
    EXPECT_EQ(undecodable.exit_code, 3) << describe(undecodable);
    EXPECT_TRUE(contains(undecodable.err, "--serializer bytes")) << undecodable.err;
}

TEST_P(server_cli_test, namespace_prefixes_keys_as_aiocache_does) {
    ASSERT_EQ(run({"--namespace", "app", "set", "k", "v"}).exit_code, 0);
    EXPECT_EQ(run({"get", redis() ? "app:k" : "appk"}).out, "v");
    EXPECT_EQ(run({"--namespace", "app", "get", "k"}).out, "v");
    EXPECT_EQ(run({"--namespace", "other", "get", "k"}).exit_code, 1);
}

TEST_P(server_cli_test, ttl_and_expire) {
    ASSERT_EQ(run({"--ttl", "100s", "set", "k", "v"}).exit_code, 0);
    auto ttl = run({"ttl", "k"});  // memcached: whole seconds, from `mg <key> t`
    ASSERT_EQ(ttl.exit_code, 0) << describe(ttl);
    auto ms = std::stoll(ttl.out);
    EXPECT_GT(ms, 90'000);
    EXPECT_LE(ms, 100'000);
    EXPECT_EQ(run({"expire", "k", "0"}).exit_code, 0);
    EXPECT_EQ(run({"ttl", "k"}).out, "-1\n");
    EXPECT_EQ(run({"expire", "k", "20s"}).exit_code, 0);
    auto json = run({"--json", "ttl", "k"});
    EXPECT_LE(nlohmann::json::parse(json.out).at("ttl_ms").get<long long>(), 20'000);
    EXPECT_EQ(run({"ttl", "missing"}).exit_code, 1);
    EXPECT_EQ(run({"expire", "missing", "5s"}).exit_code, 1);
}

TEST_P(server_cli_test, clear_removes_one_namespace_and_flush_everything) {
    ASSERT_EQ(run({"--namespace", "a", "mset", "1", "x", "2", "y"}).exit_code, 0);
    ASSERT_EQ(run({"--namespace", "b", "set", "1", "z"}).exit_code, 0);
    auto clear = run({"--namespace", "a", "clear"});
    if (!redis()) {
        EXPECT_EQ(clear.exit_code, 3) << describe(clear);  // memcached cannot list keys
    } else {
        EXPECT_EQ(clear.exit_code, 0) << describe(clear);
        EXPECT_EQ(clear.out, "2\n");
        EXPECT_EQ(run({"--namespace", "a", "get", "1"}).exit_code, 1);
        EXPECT_EQ(run({"--namespace", "b", "get", "1"}).out, "z");
    }
    EXPECT_EQ(run({"flush"}).exit_code, 0);
    EXPECT_EQ(run({"--namespace", "b", "get", "1"}).exit_code, 1);
}

TEST_P(server_cli_test, stats_names_the_backend) {
    auto r = run({"--json", "stats"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(nlohmann::json::parse(r.out).at("backend"), redis() ? "redis" : "memcached");
}

TEST_P(server_cli_test, unreachable_server_exits_3_with_advice) {
    auto port = asiocache::test::free_port();
    auto url =
        std::string(redis() ? "redis" : "memcached") + "://127.0.0.1:" + std::to_string(port);
    auto r = cli({url, "--timeout", "2s", "get", "k"});
    EXPECT_EQ(r.exit_code, 3) << describe(r);
    EXPECT_TRUE(contains(r.err, "127.0.0.1:" + std::to_string(port))) << r.err;
}

TEST_P(server_cli_test, raw_passes_commands_through) {
    if (!redis()) {
        GTEST_SKIP() << "raw is covered for redis; memcached's raw form is the backend's own";
    }
    auto ping = run({"raw", "PING"});
    EXPECT_EQ(ping.exit_code, 0) << describe(ping);
    EXPECT_EQ(ping.out, "PONG\n");
    ASSERT_EQ(run({"raw", "--", "SET", "neg", "-1"}).exit_code, 0);
    EXPECT_EQ(run({"get", "neg"}).out, "-1");
    auto err = run({"raw", "NOSUCHCOMMAND"});
    EXPECT_EQ(err.exit_code, 3) << describe(err);
    auto json = run({"--json", "raw", "INCR", "neg"});
    EXPECT_EQ(nlohmann::json::parse(json.out), 0);
}

TEST_P(server_cli_test, stats_json_counts_hits_misses_and_the_urls_keys) {
    if (!redis()) {
        GTEST_SKIP() << "redis only; memcached has stats_json_lists_each_memcached_server";
    }
    // Database 3, which only this test writes: 4 keys there, 1 in database 0.
    auto db3 = url_ + "/3";
    ASSERT_EQ(cli({db3, "mset", "a", "1", "b", "2", "c", "3", "d", "4"}).exit_code, 0);
    ASSERT_EQ(run({"set", "elsewhere", "x"}).exit_code, 0);
    auto before = cli({db3, "--json", "stats"});
    ASSERT_EQ(before.exit_code, 0) << describe(before);
    for (auto const* key : {"a", "b", "c"}) {
        ASSERT_EQ(cli({db3, "get", key}).exit_code, 0);
    }
    for (auto const* key : {"nope1", "nope2"}) {
        ASSERT_EQ(cli({db3, "get", key}).exit_code, 1);
    }
    auto after = cli({db3, "--json", "stats"});
    ASSERT_EQ(after.exit_code, 0) << describe(after);
    auto was = nlohmann::json::parse(before.out).at("server");
    auto doc = nlohmann::json::parse(after.out);
    auto now = doc.at("server");
    EXPECT_EQ(doc.at("backend"), "redis");  // the traits are still there
    EXPECT_EQ(now.at("address"), server_.get()->address());
    for (auto const* field :
         {"keyspace_hits", "keyspace_misses", "used_memory", "evicted_keys", "expired_keys",
          "total_commands_processed", "instantaneous_ops_per_sec", "connected_clients", "db",
          "keys", "expires"}) {
        EXPECT_TRUE(now.at(field).is_number_integer()) << field << ": " << now;
    }
    EXPECT_TRUE(now.at("used_memory_human").is_string()) << now;
    EXPECT_EQ(now.at("db"), 3);
    EXPECT_EQ(now.at("keys"), 4);
    // This server serves this test alone: the gets above are the only lookups in between.
    auto hits = now.at("keyspace_hits").get<std::int64_t>();
    auto misses = now.at("keyspace_misses").get<std::int64_t>();
    EXPECT_EQ(hits - was.at("keyspace_hits").get<std::int64_t>(), 3);
    EXPECT_EQ(misses - was.at("keyspace_misses").get<std::int64_t>(), 2);
    ASSERT_TRUE(now.at("hit_ratio").is_number()) << now;
    EXPECT_DOUBLE_EQ(now.at("hit_ratio").get<double>(),
                     static_cast<double>(hits) / static_cast<double>(hits + misses));
    EXPECT_GT(now.at("used_memory").get<std::int64_t>(), 0);
    EXPECT_GT(now.at("total_commands_processed").get<std::int64_t>(),
              was.at("total_commands_processed").get<std::int64_t>() + 5);
    EXPECT_GE(now.at("connected_clients").get<std::int64_t>(), 1);
    EXPECT_EQ(nlohmann::json::parse(run({"--json", "stats"}).out).at("server").at("keys"), 1);

    auto plain = cli({db3, "stats"});
    ASSERT_EQ(plain.exit_code, 0) << describe(plain);
    EXPECT_TRUE(contains(plain.out, "backend: redis\n")) << plain.out;
    EXPECT_TRUE(contains(plain.out, "# server " + server_.get()->address() + "\n")) << plain.out;
    EXPECT_TRUE(contains(plain.out, "keyspace_hits: " + std::to_string(hits) + "\n")) << plain.out;
    EXPECT_TRUE(contains(plain.out, "keys: 4\n")) << plain.out;
}

TEST_P(server_cli_test, stats_json_lists_each_memcached_server) {
    if (redis()) {
        GTEST_SKIP() << "memcached only";
    }
    auto second = local_server::memcached();
    ASSERT_TRUE(second);
    auto both = url_ + "," + second->address();
    ASSERT_EQ(cli({both, "mset", "k1", "a", "k2", "b", "k3", "c", "k4", "d", "k5", "e", "k6", "f"})
                  .exit_code,
              0);
    for (auto const* key : {"k1", "k2", "k3"}) {
        ASSERT_EQ(cli({both, "get", key}).exit_code, 0);
    }
    for (auto const* key : {"nope1", "nope2"}) {
        ASSERT_EQ(cli({both, "get", key}).exit_code, 1);
    }
    auto r = cli({both, "--json", "stats"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto servers = nlohmann::json::parse(r.out).at("servers");
    ASSERT_EQ(servers.size(), 2U) << r.out;
    EXPECT_EQ(servers[0].at("address"), server_.get()->address());
    EXPECT_EQ(servers[1].at("address"), second->address());
    std::int64_t items = 0;
    std::int64_t hits = 0;
    std::int64_t misses = 0;
    for (auto const& s : servers) {
        for (auto const* field :
             {"get_hits", "get_misses", "evictions", "bytes", "limit_maxbytes", "curr_items",
              "curr_connections", "cmd_get", "cmd_set", "uptime"}) {
            EXPECT_TRUE(s.at(field).is_number_integer()) << field << ": " << s;
        }
        auto h = s.at("get_hits").get<std::int64_t>();
        auto m = s.at("get_misses").get<std::int64_t>();
        if (h + m == 0) {
            EXPECT_TRUE(s.at("hit_ratio").is_null()) << s;
        } else {
            EXPECT_DOUBLE_EQ(s.at("hit_ratio").get<double>(),
                             static_cast<double>(h) / static_cast<double>(h + m));
        }
        EXPECT_FALSE(s.contains("error")) << s;
        items += s.at("curr_items").get<std::int64_t>();
        hits += h;
        misses += m;
    }
    // Both servers are this test's alone.
    EXPECT_EQ(items, 6);
    EXPECT_EQ(hits, 3);
    EXPECT_EQ(misses, 2);
    auto plain = cli({both, "stats"});
    EXPECT_TRUE(contains(plain.out, "# server " + second->address() + "\n")) << plain.out;
    EXPECT_TRUE(contains(plain.out, "limit_maxbytes: ")) << plain.out;
}

TEST_P(server_cli_test, stats_shows_the_servers_that_answer_when_one_is_down) {
    if (redis()) {
        GTEST_SKIP() << "memcached only: a redis URL names one server";
    }
    auto dead = "127.0.0.1:" + std::to_string(asiocache::test::free_port());
    auto r = cli({url_ + "," + dead, "--timeout", "2s", "--json", "stats"});
    EXPECT_EQ(r.exit_code, 3) << describe(r);
    EXPECT_TRUE(contains(r.err, dead)) << r.err;
    auto servers = nlohmann::json::parse(r.out).at("servers");
    ASSERT_EQ(servers.size(), 2U) << r.out;
    EXPECT_TRUE(servers[0].at("curr_items").is_number()) << servers[0];
    EXPECT_FALSE(servers[0].contains("error")) << servers[0];
    EXPECT_EQ(servers[1].at("address"), dead);
    EXPECT_TRUE(servers[1].at("error").is_string()) << servers[1];
}

TEST_P(server_cli_test, watch_prints_one_json_line_per_refresh) {
    ASSERT_EQ(run({"mset", "a", "1", "b", "2"}).exit_code, 0);
    auto r = run({"--json", "watch", "--count", "3", "--interval", "200"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 3U) << r.out;
    for (auto const& l : lines) {
        ASSERT_TRUE(l.at("ops_per_sec").is_number()) << l;
        EXPECT_GE(l.at("ops_per_sec").get<double>(), 0) << l;
        EXPECT_EQ(l.at("keys"), 2) << l;
        EXPECT_GT(l.at("memory").get<std::int64_t>(), 0) << l;
        EXPECT_GE(l.at("interval_ms").get<double>(), 199) << l;
        EXPECT_FALSE(l.contains("errors")) << l;
        if (redis()) {
            EXPECT_GE(l.at("ops").get<std::int64_t>(), 1) << l;  // its own INFO, at least
        } else {
            EXPECT_EQ(l.at("ops"), 0) << l;  // nobody else gets or sets
        }
    }
}

TEST_P(server_cli_test, watch_counts_the_gets_made_while_it_runs) {
    ASSERT_EQ(run({"mset", "a", "1", "b", "2", "c", "3"}).exit_code, 0);
    process_result r;
    std::thread watcher([&] {
        r = run({"--json", "watch", "--count", "2", "--interval", "1500"});
    });
    // Inside the first interval (after the baseline, well before the last reading): 3 hits,
    // 2 misses.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (auto const* key : {"a", "b", "c", "nope1", "nope2"}) {
        run({"get", key});
    }
    watcher.join();
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 2U) << r.out;
    std::int64_t ops = 0;
    std::int64_t hits = 0;
    std::int64_t misses = 0;
    for (auto const& l : lines) {
        ops += l.at("ops").get<std::int64_t>();
        hits += l.at("hits").get<std::int64_t>();
        misses += l.at("misses").get<std::int64_t>();
        // ops_per_sec is the interval's count over its length.
        EXPECT_NEAR(l.at("ops_per_sec").get<double>() * l.at("interval_ms").get<double>() / 1000,
                    l.at("ops").get<double>(), 0.01)
            << l;
        if (l.at("hits").get<std::int64_t>() + l.at("misses").get<std::int64_t>() > 0) {
            auto h = l.at("hits").get<double>();
            EXPECT_DOUBLE_EQ(l.at("hit_ratio").get<double>(),
                             h / (h + l.at("misses").get<double>()));
        } else {
            EXPECT_TRUE(l.at("hit_ratio").is_null()) << l;
        }
    }
    EXPECT_EQ(hits, 3) << r.out;
    EXPECT_EQ(misses, 2) << r.out;
    if (redis()) {
        EXPECT_GE(ops, 5 + 2) << r.out;  // the gets, and watch's INFO each refresh
    } else {
        EXPECT_EQ(ops, 5) << r.out;  // memcached counts gets and sets only
    }
}

TEST_P(server_cli_test, watch_reports_a_dead_server_on_each_line_and_keeps_going) {
    process_result r;
    auto started = std::chrono::steady_clock::now();
    std::thread watcher([&] {
        r = cli_limited(
            {url_, "--timeout", "1s", "--json", "watch", "--count", "6", "--interval", "300"},
            std::chrono::seconds(20));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    server_.get()->stop();
    watcher.join();
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.exit_code, 3) << describe(r);  // the last refresh failed
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 6U) << r.out;
    EXPECT_FALSE(lines.front().contains("errors")) << r.out;  // it was up at first
    for (std::size_t i = 3; i < lines.size(); ++i) {          // and down from 0.7 s on
        ASSERT_TRUE(lines[i].contains("errors")) << lines[i];
        EXPECT_EQ(lines[i].at("errors").at(0).at("address"), server_.get()->address());
        EXPECT_TRUE(lines[i].at("ops_per_sec").is_null()) << lines[i];
    }
    // Six intervals, and at most the 1 s timeout per refresh besides.
    EXPECT_LT(took, std::chrono::milliseconds(6 * 300 + 6 * 1000 + 2000));
}

TEST_P(server_cli_test, watch_ends_cleanly_on_sigint) {
    auto started = std::chrono::steady_clock::now();
    auto r = cli_limited({url_, "watch", "--interval", "100"}, std::chrono::seconds(10),
                         {.sig = SIGINT, .after = std::chrono::milliseconds(450)});
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(r.err, "");
    auto lines = lines_of(r.out);
    ASSERT_GE(lines.size(), 2U) << r.out;  // the header and a refresh at least
    EXPECT_TRUE(contains(lines[0], "ops/s")) << r.out;
    EXPECT_LT(took, std::chrono::seconds(3));
}

INSTANTIATE_TEST_SUITE_P(servers, server_cli_test, asiocache::test::both_server_kinds(),
                         asiocache::test::kind_param_name{});

// On a Redis Cluster, stats shows each master's INFO, and the keys and lookups of all of them
// add up to what this test did (the cluster is its own).
TEST(cli_cluster_test, stats_lists_every_master_of_a_cluster) {
    auto cluster = asiocache::test::local_cluster::start();
    if (!cluster) {
        ASIOCACHE_SKIP_OR_FAIL("redis-server or redis-cli not found");
    }
    auto url = cluster->url();
    ASSERT_EQ(cli({url, "mset", "k1", "a", "k2", "b", "k3", "c", "k4", "d", "k5", "e", "k6", "f"})
                  .exit_code,
              0);
    for (auto const* key : {"k1", "k2", "k3"}) {
        ASSERT_EQ(cli({url, "get", key}).exit_code, 0);
    }
    for (auto const* key : {"nope1", "nope2"}) {
        ASSERT_EQ(cli({url, "get", key}).exit_code, 1);
    }
    auto r = cli({url, "--json", "stats"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc.at("backend"), "redis-cluster");
    auto servers = doc.at("servers");
    ASSERT_EQ(servers.size(), 3U) << r.out;
    auto masters = cluster->masters();
    std::int64_t keys = 0;
    std::int64_t hits = 0;
    std::int64_t misses = 0;
    for (auto const& s : servers) {
        auto address = s.at("address").get<std::string>();
        auto port = static_cast<std::uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
        EXPECT_NE(std::find(masters.begin(), masters.end(), port), masters.end()) << address;
        EXPECT_FALSE(s.contains("error")) << s;
        keys += s.at("keys").get<std::int64_t>();
        hits += s.at("keyspace_hits").get<std::int64_t>();
        misses += s.at("keyspace_misses").get<std::int64_t>();
    }
    EXPECT_EQ(keys, 6);
    EXPECT_EQ(hits, 3);
    EXPECT_EQ(misses, 2);
    auto plain = cli({url, "stats"});
    ASSERT_EQ(plain.exit_code, 0) << describe(plain);
    EXPECT_TRUE(contains(plain.out, "backend: redis-cluster\n")) << plain.out;
    EXPECT_TRUE(contains(plain.out, "# server 127.0.0.1:")) << plain.out;
}

}  // namespace
