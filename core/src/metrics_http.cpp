// SPDX-License-Identifier: MIT
#include "asiocache/metrics_http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <list>
#include <mutex>

namespace asiocache::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
constexpr auto no_throw = asio::as_tuple(asio::use_awaitable);
}  // namespace

struct http_endpoint::state : std::enable_shared_from_this<state> {
    state(asio::any_io_executor ex, std::function<std::string()> b, http_options o)
        : executor(std::move(ex)),
          acceptor(asio::make_strand(executor)),
          body(std::move(b)),
          opts(std::move(o)) {}

    asio::any_io_executor executor;
    tcp::acceptor acceptor;
    std::function<std::string()> body;
    http_options opts;

    std::mutex mutex;  // guards `closed`, `streams` and `body`: no body call starts after close()
    bool closed = false;
    std::list<std::weak_ptr<beast::tcp_stream>> streams;
    std::atomic<std::size_t> active{0};
    std::uint16_t port = 0;  // set once by listen(), before anything runs

    std::atomic<std::uint64_t> scrapes{0};
    std::atomic<std::uint64_t> not_found{0};
    std::atomic<std::uint64_t> bad_requests{0};
    std::atomic<std::uint64_t> timeouts{0};
    std::atomic<std::uint64_t> refused{0};

    void listen() {
        tcp::endpoint at(asio::ip::make_address(opts.address), opts.port);
        acceptor.open(at.protocol());
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(at);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        asio::co_spawn(acceptor.get_executor(), accept_loop(shared_from_this()), asio::detached);
    }

    static auto accept_loop(std::shared_ptr<state> self) -> asio::awaitable<void> {
        for (;;) {
            auto [ec, socket] = co_await self->acceptor.async_accept(
                asio::make_strand(self->executor), no_throw);
            if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) {
                co_return;
            }
            if (ec) {
                // Out of descriptors, say: the pending connection stays queued and would fail
                // again at once. Pause rather than spin.
                if (ec != asio::error::connection_aborted) {
                    asio::steady_timer pause(self->acceptor.get_executor(),
                                             std::chrono::milliseconds(100));
                    co_await pause.async_wait(no_throw);
                }
                continue;
            }
            if (self->active.load(relaxed) >= self->opts.max_connections) {
                self->refused.fetch_add(1, relaxed);
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
            {
                std::lock_guard lock(self->mutex);
                if (self->closed) {
                    co_return;
                }
                // Forget connections that ended, so that the list stays as long as the live ones.
                self->streams.remove_if([](auto const& w) { return w.expired(); });
                self->streams.push_back(stream);
            }
            self->active.fetch_add(1, relaxed);
            auto ex = stream->get_executor();
            asio::co_spawn(ex, serve(self, std::move(stream)), asio::detached);
        }
    }

    static auto serve(std::shared_ptr<state> self, std::shared_ptr<beast::tcp_stream> stream)
        -> asio::awaitable<void> {
        struct leave {
            state& s;
            ~leave() { s.active.fetch_sub(1, relaxed); }
        } counted{*self};
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::empty_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(self->opts.max_header_bytes));
            stream->expires_after(self->opts.request_timeout);
            auto [ec, n] = co_await http::async_read(*stream, buffer, parser, no_throw);
            (void)n;
            if (ec == beast::error::timeout) {
                // A request begun and not finished in time (slowloris); an idle keep-alive
                // connection closed at the same limit is not counted.
                if (parser.got_some()) {
                    self->timeouts.fetch_add(1, relaxed);
                }
                break;
            }
            // Only a request that arrived and could not be read gets an answer; a connection
            // that ended (mid-request or not) or failed is closed.
            auto const& http_errors = http::make_error_code(http::error::bad_method).category();
            bool const malformed = ec && ec.category() == http_errors &&
                                   ec != http::error::end_of_stream &&
                                   ec != http::error::partial_message;
            if (ec && !malformed) {
                break;
            }
            http::response<http::string_body> res;
            res.version(11);
            res.set(http::field::server, "asiocache");
            bool keep_alive = false;
            if (ec) {
                self->bad_requests.fetch_add(1, relaxed);
                res.result(ec == http::error::header_limit
                               ? http::status::request_header_fields_too_large
                               : http::status::bad_request);
                res.set(http::field::content_type, "text/plain; charset=utf-8");
                res.body() = ec == http::error::header_limit ? "request header too large\n"
                                                             : "bad request\n";
                res.prepare_payload();
            } else {
                auto const& req = parser.get();
                keep_alive = req.keep_alive();
                res.version(req.version());
                answer(*self, req, res);
            }
            res.keep_alive(keep_alive);
            stream->expires_after(self->opts.request_timeout);
            auto [wec, wn] = co_await http::async_write(*stream, res, no_throw);
            (void)wn;
            if (wec) {
                if (wec == beast::error::timeout) {
                    self->timeouts.fetch_add(1, relaxed);
                }
                break;
            }
            if (!keep_alive) {
                // Half-close, then drain what the client still sends for a moment: closing
                // with unread input would reset the connection and could lose the answer.
                boost::system::error_code ignored;
                stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
                stream->expires_after(std::chrono::milliseconds(500));
                char sink[4096];
                for (;;) {
                    auto [dec, dn] = co_await stream->async_read_some(asio::buffer(sink), no_throw);
                    (void)dn;
                    if (dec) {
                        break;
                    }
                }
                break;
            }
        }
        boost::system::error_code ignored;
        stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream->socket().close(ignored);
    }

    static void answer(state& self, http::request<http::empty_body> const& req,
                       http::response<http::string_body>& res) {
        auto target = std::string_view(req.target());
        if (auto q = target.find('?'); q != std::string_view::npos) {
            target = target.substr(0, q);
        }
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
            self.bad_requests.fetch_add(1, relaxed);
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "only GET and HEAD\n";
            res.prepare_payload();
            return;
        }
        if (target != self.opts.path) {
            self.not_found.fetch_add(1, relaxed);
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "not found; the figures are at " + self.opts.path + "\n";
            res.prepare_payload();
            return;
        }
        bool failed = false;
        bool closing = false;
        {
            // One body call at a time, and none once close() has returned: what the body reads
            // (the collector) may be gone by then.
            std::lock_guard lock(self.mutex);
            if (self.closed) {
                closing = true;
            } else {
                try {
                    res.body() = self.body();
                } catch (...) {
                    failed = true;  // never shown to the client: it may name internals
                }
            }
        }
        if (failed || closing) {
            res.result(closing ? http::status::service_unavailable
                               : http::status::internal_server_error);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = closing ? "closing\n" : "metrics unavailable\n";
            res.prepare_payload();
            return;
        }
        self.scrapes.fetch_add(1, relaxed);
        res.result(http::status::ok);
        res.set(http::field::content_type, collector::content_type);
        if (req.method() == http::verb::head) {
            // The length of the body a GET would have, and no body.
            auto size = res.body().size();
            res.body().clear();
            res.content_length(size);
        } else {
            res.prepare_payload();
        }
    }

    void close() {
        std::list<std::weak_ptr<beast::tcp_stream>> open;
        {
            std::lock_guard lock(mutex);
            if (closed) {
                return;
            }
            closed = true;
            open.swap(streams);
            body = nullptr;
        }
        // Each socket is closed on its own strand, never concurrently with its operations.
        asio::post(acceptor.get_executor(), [self = shared_from_this()] {
            boost::system::error_code ignored;
            self->acceptor.close(ignored);
        });
        for (auto& w : open) {
            if (auto s = w.lock()) {
                asio::post(s->get_executor(), [s] {
                    boost::system::error_code ignored;
                    s->socket().shutdown(tcp::socket::shutdown_both, ignored);
                    s->socket().close(ignored);
                });
            }
        }
    }
};

http_endpoint::http_endpoint(asio::any_io_executor ex, collector const& figures, http_options o)
    : http_endpoint(std::move(ex), [&figures] { return figures.prometheus(); }, std::move(o)) {}

http_endpoint::http_endpoint(asio::any_io_executor ex, std::function<std::string()> body,
                             http_options o)
    : state_(std::make_shared<state>(std::move(ex), std::move(body), std::move(o))) {
    if (!state_->body) {
        throw_error(errc::invalid_argument, "metrics http endpoint: no body function");
    }
    if (state_->opts.path.empty() || state_->opts.path.front() != '/') {
        throw_error(errc::invalid_argument, "metrics http endpoint: the path must start with '/'");
    }
    if (state_->opts.max_connections == 0 || state_->opts.request_timeout.count() <= 0 ||
        state_->opts.max_header_bytes == 0) {
        throw_error(errc::invalid_argument,
                    "metrics http endpoint: max_connections, request_timeout and "
                    "max_header_bytes must be positive");
    }
    state_->listen();
}

http_endpoint::~http_endpoint() { close(); }

auto http_endpoint::port() const noexcept -> std::uint16_t { return state_->port; }

auto http_endpoint::stats() const noexcept -> http_stats {
    auto const& s = *state_;
    return {s.scrapes.load(relaxed), s.not_found.load(relaxed), s.bad_requests.load(relaxed),
            s.timeouts.load(relaxed), s.refused.load(relaxed)};
}

void http_endpoint::close() { state_->close(); }

}  // namespace asiocache::metrics
