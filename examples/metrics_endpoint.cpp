// SPDX-License-Identifier: MIT
// A cache and a memoized function watched by a metrics collector, served at /metrics for
// Prometheus to scrape.
//
//   metrics_endpoint_example                 # runs a workload, scrapes itself once, prints it
//   metrics_endpoint_example --serve 9464    # then serves http://127.0.0.1:9464/metrics
//                                            # until Ctrl-C (curl it, or point Prometheus at it)
//   metrics_endpoint_example --url redis://127.0.0.1:6379/0   # the same on another backend
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/builtin.hpp"
#include "asiocache/metrics_http.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;

// A hundred lookups of twenty threads' replies: the first of each computes, the rest hit.
auto workload(asiocache::cache c,
              std::function<asiocache::task<std::string>(std::string)> replies)
    -> asiocache::task<void> {
    for (int i = 0; i < 100; ++i) {
        co_await replies(fmt::format("C1:1700000000.{:06}", i % 20));
    }
    co_await c.set("greeting", std::string("hello"));
    co_await c.get<std::string>("greeting");
    co_await c.get<std::string>("missing");
}

// One GET over loopback with a plain socket: what a scraper sees, headers included.
auto scrape(std::uint16_t port) -> std::string {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    asio::write(s, asio::buffer(req));
    std::string got;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(got), ec);  // until the server closes
    return got;
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = "memory://?namespace=demo";
    int serve_port = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--serve" && i + 1 < argc) {
            serve_port = std::atoi(argv[++i]);
        } else if (a == "--url" && i + 1 < argc) {
            url = argv[++i];
        } else {
            std::fprintf(stderr, "usage: %s [--url URL] [--serve PORT]\n", argv[0]);
            return 2;
        }
    }
    try {
        asio::io_context io;
        auto c = asiocache::make_cache(url, io.get_executor());
        asiocache::metrics::collector figures;
        figures.watch(c, url);  // the label is the URL, with any password redacted

        auto fetch = [](std::string thread) -> asiocache::task<std::string> {
            co_return "replies of " + thread;  // the rate-limited API call, in a real service
        };
        auto replies = asiocache::cached(c, fetch, {.key_prefix = "replies"});
        figures.watch_memo(replies, "conversations_replies");

        std::exception_ptr failed;
        asio::co_spawn(
            io, workload(c, [replies](std::string t) { return replies(std::move(t)); }),
            [&](std::exception_ptr e) { failed = e; });
        io.run();
        if (failed) {
            std::rethrow_exception(failed);
        }

        io.restart();
        asiocache::metrics::http_endpoint endpoint(
            io.get_executor(), figures,
            {.port = static_cast<std::uint16_t>(serve_port > 0 ? serve_port : 0)});
        std::thread server([&io] { io.run(); });
        auto answer = scrape(endpoint.port());
        std::fputs(answer.c_str(), stdout);
        bool const ok = answer.starts_with("HTTP/1.1 200") &&
                        answer.find("asiocache_memo_upstream_calls_total{function=\"conversations_"
                                    "replies\"} 20") != std::string::npos;
        if (serve_port > 0 && ok) {
            std::fprintf(stderr, "serving http://127.0.0.1:%u/metrics; Ctrl-C stops\n",
                         static_cast<unsigned>(endpoint.port()));
            asio::signal_set stop(io, SIGINT, SIGTERM);
            stop.async_wait([&](boost::system::error_code, int) { endpoint.close(); });
            server.join();
        } else {
            endpoint.close();
            server.join();
        }
        if (!ok) {
            std::fprintf(stderr, "metrics_endpoint: the scrape did not show 20 upstream calls\n");
            return 1;
        }
        return 0;
    } catch (std::exception const& e) {
        std::fprintf(stderr, "metrics_endpoint: %s\n", e.what());
        return 1;
    }
}
