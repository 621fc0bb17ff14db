// SPDX-License-Identifier: MIT
// The metrics plugin and its exports: figures under a known workload on the memory backend,
// the memoization layer's counters, the Prometheus text read back by the reference parser
// (python3-prometheus-client), and the /metrics endpoint scraped over HTTP on loopback, with
// the requests a hostile or broken client sends.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "asiocache/metrics_http.hpp"
#include "local_server.hpp"
#include "process.hpp"
#include "run_coro.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asiocache::cache;
using asiocache::errc;
using asiocache::op;
using asiocache::task;
using asiocache::test::run;
using asiocache::test::run_error;
using nlohmann::json;
namespace metrics = asiocache::metrics;
namespace asio = boost::asio;

constexpr char const* python = "/usr/bin/python3";

auto parser_script() -> std::string {
    return (std::filesystem::path(ASIOCACHE_TEST_CORE_DIR) / "prometheus_parse.py").string();
}

auto have_parser() -> bool {
    return std::filesystem::exists(python) &&
           asiocache::test::run_process({python, "-c", "import prometheus_client"}).exit_code ==
               0;
}

#define REQUIRE_PARSER()                                                                    \
    do {                                                                                    \
        if (!have_parser()) {                                                               \
            ASIOCACHE_SKIP_OR_FAIL("/usr/bin/python3 with python3-prometheus-client not found"); \
        }                                                                                   \
    } while (false)

/// The exposition as the reference parser reads it: stdin text, or a URL it scrapes.
auto parse(std::string const& text_or_url, bool is_url = false) -> json {
    std::vector<std::string> argv{python, parser_script()};
    if (is_url) {
        argv.push_back(text_or_url);
    }
    auto r = asiocache::test::run_process(argv, is_url ? std::string() : text_or_url);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) {
        return json::object();
    }
    return json::parse(r.out);
}

/// The value of the sample `name` whose labels include every pair of `want`; nullopt if none.
auto sample(json const& doc, std::string const& name,
            std::map<std::string, std::string> const& want) -> std::optional<double> {
    for (auto const& f : doc["families"]) {
        for (auto const& s : f["samples"]) {
            if (s["name"] != name) {
                continue;
            }
            bool all = true;
            for (auto const& [k, v] : want) {
                all = all && s["labels"].contains(k) && s["labels"][k] == v;
            }
            if (all) {
                return s["value"].get<double>();
            }
        }
    }
    return std::nullopt;
}

auto family_type(json const& doc, std::string const& name) -> std::string {
    for (auto const& f : doc["families"]) {
        if (f["name"] == name) {
            return f["type"];
        }
    }
    return "";
}

class metrics_test : public ::testing::Test {
protected:
    asio::io_context io_;
    cache cache_{asiocache::backends::make_memory_backend(), {.ns = "m"}};
    metrics::collector metrics_;
};

// 10 sets, 30 gets that hit and 10 that miss, a multi_get of 5 keys (3 found), one increment on
// a string: the figures and the exposition say exactly that.
TEST_F(metrics_test, a_known_workload_gives_exact_counts) {
    auto& plugin = metrics_.watch(cache_, "sessions");
    for (int i = 0; i < 10; ++i) {
        run(io_, cache_.set("k" + std::to_string(i), i));
    }
    for (int i = 0; i < 40; ++i) {
        auto v = run(io_, cache_.get<int>("k" + std::to_string(i % 10 + (i >= 30 ? 100 : 0))));
        EXPECT_EQ(v.has_value(), i < 30);
    }
    run(io_, cache_.multi_get<int>({"k1", "k2", "k3", "x1", "x2"}));
    run(io_, cache_.set("word", std::string("hello")));
    EXPECT_EQ(run_error(io_, cache_.increment("word")), errc::not_a_number);

    auto s = plugin.snapshot();
    auto const& get = s.ops[static_cast<std::size_t>(op::get)];
    EXPECT_EQ(get.count(), 40U);
    EXPECT_EQ(get.error_count(), 0U);
    EXPECT_EQ(s.ops[static_cast<std::size_t>(op::set)].count(), 11U);
    EXPECT_EQ(s.ops[static_cast<std::size_t>(op::multi_get)].count(), 1U);
    auto const& incr = s.ops[static_cast<std::size_t>(op::increment)];
    EXPECT_EQ(incr.count(), 1U);
    EXPECT_EQ(incr.errors[static_cast<std::size_t>(errc::not_a_number)], 1U);
    EXPECT_EQ(s.hits, 33U);
    EXPECT_EQ(s.misses, 12U);
    EXPECT_GT(get.sum_ns, 0U);

    REQUIRE_PARSER();
    auto doc = parse(metrics_.prometheus());
    std::map<std::string, std::string> const of{{"cache", "sessions"}, {"backend", "memory"}};
    auto with = [&](std::map<std::string, std::string> extra) {
        extra.insert(of.begin(), of.end());
        return extra;
    };
    EXPECT_EQ(family_type(doc, "asiocache_operations"), "counter");
    EXPECT_EQ(family_type(doc, "asiocache_operation_duration_seconds"), "histogram");
    EXPECT_EQ(sample(doc, "asiocache_operations_total", with({{"op", "get"}})), 40);
    EXPECT_EQ(sample(doc, "asiocache_operations_total", with({{"op", "set"}})), 11);
    EXPECT_EQ(sample(doc, "asiocache_operations_total", with({{"op", "multi_get"}})), 1);
    EXPECT_EQ(sample(doc, "asiocache_lookups_total", with({{"result", "hit"}})), 33);
    EXPECT_EQ(sample(doc, "asiocache_lookups_total", with({{"result", "miss"}})), 12);
    EXPECT_EQ(sample(doc, "asiocache_operation_errors_total",
                     with({{"op", "increment"}, {"error", "not_a_number"}})),
              1);
    EXPECT_EQ(sample(doc, "asiocache_operation_errors_total", with({{"op", "get"}})),
              std::nullopt)
        << "no error series for an operation that never failed";
    // The histogram: cumulative buckets, +Inf equal to the count, a positive sum.
    EXPECT_EQ(sample(doc, "asiocache_operation_duration_seconds_count", with({{"op", "get"}})),
              40);
    EXPECT_EQ(sample(doc, "asiocache_operation_duration_seconds_bucket",
                     with({{"op", "get"}, {"le", "+Inf"}})),
              40);
    EXPECT_GT(sample(doc, "asiocache_operation_duration_seconds_sum", with({{"op", "get"}}))
                  .value_or(0),
              0);
    double previous = 0;
    int buckets = 0;
    for (auto const& f : doc["families"]) {
        for (auto const& smp : f["samples"]) {
            if (smp["name"] == "asiocache_operation_duration_seconds_bucket" &&
                smp["labels"]["op"] == "get") {
                EXPECT_GE(smp["value"].get<double>(), previous);
                previous = smp["value"].get<double>();
                ++buckets;
            }
        }
    }
    EXPECT_EQ(buckets, static_cast<int>(metrics::latency_buckets));
}

TEST_F(metrics_test, failures_are_counted_by_kind_and_not_as_misses) {
    auto& plugin = metrics_.watch(cache_, "c");
    run(io_, cache_.set("n", std::string("x")));
    EXPECT_EQ(run_error(io_, cache_.get<int>("n")), errc::serialization_failed);
    EXPECT_EQ(run_error(io_, cache_.multi_get<int>({"n", "m"})), errc::serialization_failed);
    auto s = plugin.snapshot();
    auto const& get = s.ops[static_cast<std::size_t>(op::get)];
    EXPECT_EQ(get.count(), 1U);
    EXPECT_EQ(get.errors[static_cast<std::size_t>(errc::serialization_failed)], 1U);
    EXPECT_EQ(get.error_count(), 1U);
    EXPECT_EQ(s.ops[static_cast<std::size_t>(op::multi_get)].error_count(), 1U);
    EXPECT_EQ(s.hits + s.misses, 0U) << "failed reads are neither hits nor misses";
}

// The plugins' timestamps (the time-stamp counter, where the kernel trusts it) agree with
// steady_clock: an op_clock interval lies between a steady_clock interval taken inside it and
// one taken around it (a preemption can only widen the outer one), within 5%.
TEST(op_clock_test, intervals_agree_with_steady_clock) {
    using asiocache::detail::op_clock;
    using steady = std::chrono::steady_clock;
    (void)op_clock::between(0, 1);  // the first calls settle the mode and measure the rate
    for (auto pause : {1ms, 20ms}) {
        auto const outer0 = steady::now();
        auto const t0 = op_clock::now();
        auto const inner0 = steady::now();
        std::this_thread::sleep_for(pause);
        auto const inner1 = steady::now();
        auto const t1 = op_clock::now();
        auto const outer1 = steady::now();
        auto const measured = op_clock::between(t0, t1);
        auto const inner = std::chrono::duration_cast<std::chrono::nanoseconds>(inner1 - inner0);
        auto const outer = std::chrono::duration_cast<std::chrono::nanoseconds>(outer1 - outer0);
        EXPECT_GE(measured, inner - inner / 20 - 5us) << "uses_tsc " << op_clock::uses_tsc();
        EXPECT_LE(measured, outer + outer / 20 + 5us) << "uses_tsc " << op_clock::uses_tsc();
    }
    EXPECT_EQ(op_clock::between(10, 5).count(), 0) << "never negative";
}

TEST(metrics_buckets_test, each_wall_time_falls_in_the_first_bucket_that_holds_it) {
    EXPECT_EQ(metrics::cache_metrics::bucket_of(0), 0U);
    EXPECT_EQ(metrics::cache_metrics::bucket_of(1'000), 0U) << "le is inclusive";
    EXPECT_EQ(metrics::cache_metrics::bucket_of(1'001), 1U);
    EXPECT_EQ(metrics::cache_metrics::bucket_of(2'500'000), 10U);
    EXPECT_EQ(metrics::cache_metrics::bucket_of(10'000'000'000), 21U);
    EXPECT_EQ(metrics::cache_metrics::bucket_of(10'000'000'001), 22U) << "+Inf";
    EXPECT_EQ(metrics::cache_metrics::bucket_of(UINT64_MAX), 22U);
}

TEST_F(metrics_test, memoized_functions_report_calls_upstream_calls_and_shared_flights) {
    int upstream = 0;
    auto fetch = [&upstream](int x) -> task<int> {
        ++upstream;
        co_return x * 2;
    };
    auto memo = asiocache::cached(cache_, fetch, {.key_prefix = "double"});
    metrics_.watch_memo(memo, "double");
    EXPECT_EQ(run(io_, memo(1)), 2);
    EXPECT_EQ(run(io_, memo(1)), 2);
    EXPECT_EQ(run(io_, memo(1)), 2);
    EXPECT_EQ(run(io_, memo(2)), 4);
    EXPECT_EQ(upstream, 2);

    REQUIRE_PARSER();
    auto doc = parse(metrics_.prometheus());
    std::map<std::string, std::string> const of{{"function", "double"}};
    EXPECT_EQ(sample(doc, "asiocache_memo_calls_total", of), 4);
    EXPECT_EQ(sample(doc, "asiocache_memo_hits_total", of), 2);
    EXPECT_EQ(sample(doc, "asiocache_memo_misses_total", of), 2);
    EXPECT_EQ(sample(doc, "asiocache_memo_upstream_calls_total", of), 2);
    EXPECT_EQ(sample(doc, "asiocache_memo_shared_flights_total", of), 0);
    EXPECT_EQ(sample(doc, "asiocache_memo_fail_open_total", of), 0);
}

TEST_F(metrics_test, labels_are_escaped_and_passwords_never_printed) {
    cache other{asiocache::backends::make_memory_backend()};
    metrics_.watch(cache_, "redis://:s3cret@127.0.0.1:6379/0");
    std::string const odd = "a \"quoted\" back\\slash\nnewline";
    metrics_.watch(other, odd);
    run(io_, cache_.get<int>("k"));
    run(io_, other.get<int>("k"));
    auto text = metrics_.prometheus();
    EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;

    REQUIRE_PARSER();
    auto doc = parse(text);
    EXPECT_EQ(sample(doc, "asiocache_operations_total", {{"cache", odd}, {"op", "get"}}), 1);
    EXPECT_EQ(sample(doc, "asiocache_operations_total",
                     {{"cache", "redis://:***@127.0.0.1:6379/0"}, {"op", "get"}}),
              1);
}

// --- The /metrics endpoint --------------------------------------------------------------------

/// The endpoint's io_context on a thread of its own, as a service runs it.
class metrics_http_test : public metrics_test {
protected:
    void start(metrics::http_options o = {}) {
        endpoint_.emplace(io_.get_executor(), metrics_, std::move(o));
        thread_ = std::thread([this] { io_.run(); });
    }
    void TearDown() override {
        if (endpoint_) {
            endpoint_->close();
        }
        work_.reset();
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    auto url(std::string_view path = "/metrics") const -> std::string {
        return "http://127.0.0.1:" + std::to_string(endpoint_->port()) + std::string(path);
    }

    /// A blocking client socket to the endpoint.
    auto connect() -> asio::ip::tcp::socket {
        asio::ip::tcp::socket s(client_io_);
        s.connect({asio::ip::make_address("127.0.0.1"), endpoint_->port()});
        return s;
    }
    /// Sends `request` and reads until the server closes or `limit` passes; returns what came.
    auto exchange(std::string const& request, std::chrono::milliseconds limit = 5s)
        -> std::string {
        auto s = connect();
        asio::write(s, asio::buffer(request));
        return read_until_close(s, limit);
    }
    static auto read_until_close(asio::ip::tcp::socket& s, std::chrono::milliseconds limit)
        -> std::string {
        timeval tv{static_cast<time_t>(limit.count() / 1000),
                   static_cast<suseconds_t>((limit.count() % 1000) * 1000)};
        ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string got;
        char buf[4096];
        for (;;) {
            boost::system::error_code ec;
            auto n = s.read_some(asio::buffer(buf), ec);
            got.append(buf, n);
            if (ec) {
                return got;
            }
        }
    }

    asio::io_context client_io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
    std::optional<metrics::http_endpoint> endpoint_;
    std::thread thread_;
};

TEST_F(metrics_http_test, a_scrape_over_http_parses_and_counts_the_workload) {
    metrics_.watch(cache_, "sessions");
    asio::io_context mine;
    run(mine, cache_.set("a", 1));
    run(mine, cache_.get<int>("a"));
    run(mine, cache_.get<int>("b"));
    start();
    REQUIRE_PARSER();
    auto doc = parse(url(), true);
    EXPECT_EQ(doc.value("content_type", ""), std::string(metrics::collector::content_type));
    EXPECT_EQ(sample(doc, "asiocache_lookups_total", {{"cache", "sessions"}, {"result", "hit"}}),
              1);
    EXPECT_EQ(sample(doc, "asiocache_lookups_total", {{"cache", "sessions"}, {"result", "miss"}}),
              1);
    EXPECT_EQ(endpoint_->stats().scrapes, 1U);
}

TEST_F(metrics_http_test, wrong_paths_methods_and_bodies_get_errors_and_nothing_else) {
    start();
    auto not_found = exchange("GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(not_found.starts_with("HTTP/1.1 404")) << not_found;
    auto post = exchange("POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(post.starts_with("HTTP/1.1 405")) << post;
    EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
    auto body = exchange(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_TRUE(body.starts_with("HTTP/1.1 400")) << body;
    auto garbage = exchange("\x01\x02 not http at all\r\n\r\n");
    EXPECT_TRUE(garbage.starts_with("HTTP/1.1 400")) << garbage;
    auto head = exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
    EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "a HEAD answer has no body: " << head;
    auto st = endpoint_->stats();
    EXPECT_EQ(st.not_found, 1U);
    EXPECT_EQ(st.bad_requests, 3U);
    EXPECT_EQ(st.scrapes, 1U);
}

TEST_F(metrics_http_test, huge_headers_get_431_and_the_connection_closed) {
    start({.max_header_bytes = 4096});
    std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') +
                      "\r\n\r\n";
    auto s = connect();
    boost::system::error_code ec;
    asio::write(s, asio::buffer(req), ec);  // the server may close before taking it all
    auto got = read_until_close(s, 5s);
    EXPECT_TRUE(got.starts_with("HTTP/1.1 431")) << got.substr(0, 200);
    EXPECT_EQ(endpoint_->stats().bad_requests, 1U);
}

// A client that sends its request a byte at a time is cut off at the request timeout, and
// scrapes and cache operations go on meanwhile.
TEST_F(metrics_http_test, a_slow_client_is_closed_at_the_request_timeout) {
    metrics_.watch(cache_, "c");
    start({.request_timeout = 500ms});
    auto slow = connect();
    // A head that never ends, sent a byte every 50 ms.
    std::string const req = "GET /metrics HTTP/1.1\r\nX-Slow: " + std::string(100, 'a');
    auto const begin = std::chrono::steady_clock::now();
    bool closed = false;
    asio::io_context mine;
    for (std::size_t i = 0; i < req.size() && !closed; ++i) {
        boost::system::error_code ec;
        asio::write(slow, asio::buffer(req.data() + i, 1), ec);
        pollfd p{slow.native_handle(), POLLIN, 0};
        closed = ec || ::poll(&p, 1, 0) > 0;  // readable: the server closed (nothing else comes)
        // Meanwhile the cache works.
        run(mine, cache_.set("k", static_cast<int>(i)));
        EXPECT_EQ(run(mine, cache_.get<int>("k")), static_cast<int>(i));
        std::this_thread::sleep_for(50ms);
    }
    auto const took = std::chrono::steady_clock::now() - begin;
    EXPECT_TRUE(closed) << "the slow connection was never closed";
    EXPECT_LT(took, 2500ms) << "the slow connection outlived its request timeout";
    auto rest = read_until_close(slow, 3s);
    EXPECT_EQ(rest.find("200 OK"), std::string::npos) << rest;
    // The socket closes before the server's coroutine counts the timeout: wait for the count.
    auto const until = std::chrono::steady_clock::now() + 3s;
    while (endpoint_->stats().timeouts == 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(endpoint_->stats().timeouts, 1U);
    auto ok = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(ok.starts_with("HTTP/1.1 200")) << ok.substr(0, 200);
}

// A client that connects and says nothing is closed at the request timeout; an idle
// connection is not a slow request, so it is not counted as one.
TEST_F(metrics_http_test, a_silent_client_is_closed_at_the_request_timeout) {
    start({.request_timeout = 300ms});
    auto silent = connect();
    auto const begin = std::chrono::steady_clock::now();
    auto got = read_until_close(silent, 3s);
    auto const took = std::chrono::steady_clock::now() - begin;
    EXPECT_TRUE(got.empty()) << got;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 2500ms);
    EXPECT_EQ(endpoint_->stats().timeouts, 0U);
}

TEST_F(metrics_http_test, head_announces_the_length_of_the_get_body) {
    metrics_.watch(cache_, "c");
    start();
    auto get = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto head = exchange("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto body_at = get.find("\r\n\r\n");
    ASSERT_NE(body_at, std::string::npos) << get;
    auto const body_size = get.size() - body_at - 4;
    EXPECT_GT(body_size, 0U);
    EXPECT_NE(head.find("Content-Length: " + std::to_string(body_size) + "\r\n"),
              std::string::npos)
        << head;
    EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
}

TEST_F(metrics_test, the_same_labels_twice_are_refused) {
    metrics_.watch(cache_, "c");
    cache other{asiocache::backends::make_memory_backend()};
    EXPECT_THROW(metrics_.watch(other, "c"), boost::system::system_error);
    auto twice = [](int x) -> task<int> { co_return 2 * x; };
    auto memo = asiocache::cached(cache_, twice, {.key_prefix = "twice"});
    metrics_.watch_memo(memo, "twice");
    EXPECT_THROW(metrics_.watch_memo(memo, "twice"), boost::system::system_error);
    run(io_, other.get<int>("k"));
    EXPECT_EQ(metrics_.prometheus().find("op=\"get\"} 1"), std::string::npos)
        << "the refused cache got no plugin";
}

TEST_F(metrics_http_test, connections_over_the_limit_are_closed_at_once) {
    start({.request_timeout = 3s, .max_connections = 2});
    // The endpoint accepts in order, so it holds the first two when the third arrives.
    auto a = connect();
    auto b = connect();
    auto const begin = std::chrono::steady_clock::now();
    auto third = connect();
    auto got = read_until_close(third, 2s);
    EXPECT_TRUE(got.empty()) << got;
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms) << "closed at once, not later";
    EXPECT_EQ(endpoint_->stats().refused, 1U);
    // The two held connections still get their answers.
    asio::write(a, asio::buffer(std::string(
                       "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
    EXPECT_TRUE(read_until_close(a, 3s).starts_with("HTTP/1.1 200"));
}

TEST_F(metrics_http_test, keep_alive_serves_several_scrapes_on_one_connection) {
    start();
    auto s = connect();
    std::string const req = "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(s, asio::buffer(req + req + req + "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                                  "Connection: close\r\n\r\n"));
    auto got = read_until_close(s, 5s);
    std::size_t answers = 0;
    for (auto at = got.find("HTTP/1.1 200"); at != std::string::npos;
         at = got.find("HTTP/1.1 200", at + 1)) {
        ++answers;
    }
    EXPECT_EQ(answers, 4U) << got;
    EXPECT_EQ(endpoint_->stats().scrapes, 4U);
}

TEST(metrics_http_options_test, bad_options_are_refused) {
    asio::io_context io;
    metrics::collector c;
    EXPECT_THROW(metrics::http_endpoint(io.get_executor(), c, {.path = "metrics"}),
                 boost::system::system_error);
    EXPECT_THROW(metrics::http_endpoint(io.get_executor(), c, {.max_connections = 0}),
                 boost::system::system_error);
    EXPECT_THROW(metrics::http_endpoint(io.get_executor(), c, {.address = "not an address"}),
                 boost::system::system_error);
}

}  // namespace
