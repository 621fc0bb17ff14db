// SPDX-License-Identifier: MIT
#pragma once

/// An HTTP endpoint that serves a collector's figures at `/metrics`, for Prometheus to scrape.
/// Optional: it is the `asiocache::metrics_http` library (Boost.Beast), apart from the core.

#include "asiocache/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace asiocache::metrics {

struct http_options {
    /// The address to listen on. Default loopback only: exposing figures beyond the host is
    /// a choice to make explicitly ("0.0.0.0", "::").
    std::string address = "127.0.0.1";
    /// The port; 0 takes a free one (read it with `port()`).
    std::uint16_t port = 0;
    /// The path served; anything else is 404. A query string is ignored.
    std::string path = "/metrics";
    /// A request must arrive whole within this time, and an idle keep-alive connection is
    /// closed after it: a client that sends a byte at a time (slowloris) holds a connection
    /// for this long at most.
    std::chrono::milliseconds request_timeout{5000};
    /// Connections served at once; more are closed as soon as they are accepted.
    std::size_t max_connections = 64;
    /// Largest request head (request line and headers); larger ones get 431 and a close.
    std::size_t max_header_bytes = 8192;
};

/// What the endpoint has done since it started.
struct http_stats {
    std::uint64_t scrapes = 0;        ///< Requests answered with the figures (200).
    std::uint64_t not_found = 0;      ///< Requests for another path (404).
    std::uint64_t bad_requests = 0;   ///< Malformed, oversized or wrong-method requests.
    std::uint64_t timeouts = 0;       ///< Connections closed because a request came too slowly.
    std::uint64_t refused = 0;        ///< Connections closed at once, over `max_connections`.
};

/// Serves `GET /metrics` (and `HEAD`) over HTTP/1.1 with keep-alive, on the given executor.
/// The body comes from `collector::prometheus()`, or from any function given instead, called
/// on the endpoint's executor for each scrape.
///
/// Hostile clients cost bounded resources: a request head is capped at `max_header_bytes`, a
/// request that carries a body is refused, each request must arrive within `request_timeout`,
/// and at most `max_connections` are served at once. None of it touches the caches: the
/// figures are atomics read without a lock on the caches' side.
///
/// The endpoint listens from construction (errors: `boost::system::system_error`, e.g. the port
/// is taken) until `close()` or destruction; both close the listener and every connection.
/// The object may be destroyed from any thread; connections still finishing keep what they
/// need alive.
class http_endpoint {
public:
    http_endpoint(boost::asio::any_io_executor ex, collector const& figures, http_options o = {});
    http_endpoint(boost::asio::any_io_executor ex, std::function<std::string()> body,
                  http_options o = {});
    ~http_endpoint();
    http_endpoint(http_endpoint const&) = delete;
    auto operator=(http_endpoint const&) -> http_endpoint& = delete;

    /// The port it listens on.
    [[nodiscard]] auto port() const noexcept -> std::uint16_t;
    [[nodiscard]] auto stats() const noexcept -> http_stats;
    /// Stops listening and closes every connection. Idempotent.
    void close();

    struct state;

private:
    std::shared_ptr<state> state_;
};

}  // namespace asiocache::metrics
