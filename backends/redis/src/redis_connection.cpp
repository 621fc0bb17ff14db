// SPDX-License-Identifier: MIT
#include "redis_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>

namespace asiocache::backends::redis_detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// A batch stops growing here, so one huge burst does not become one huge buffer.
constexpr std::size_t max_batch_bytes = 1024 * 1024;
constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

auto error_reply(std::string text) -> raw_reply {
    raw_reply r;
    r.type = raw_reply::kind::error;
    r.str = std::move(text);
    return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// request

auto request::take(raw_reply&& r) -> bool {
    if (!has_error_) {
        has_error_ = r.type == raw_reply::kind::error;
        result_ = std::move(r);
    }
    return --remaining_ == 0;
}

void request::finish(error_code ec, raw_reply r) {
    if (done_) {
        return;
    }
    done_ = true;
    complete(ec, std::move(r), false);
}

void request::finish_error(errc e, std::string detail) {
    finish(make_error_code(e), error_reply(std::move(detail)));
}

void request::reject(errc e, std::string detail) {
    if (done_) {
        return;
    }
    done_ = true;
    complete(make_error_code(e), error_reply(std::move(detail)), true);
}

void request::move_command_to(std::string& out) {
    out += cmd_;
    cmd_ = std::string();
}

// ---------------------------------------------------------------------------------------------
// connection: submission (any thread)

connection::connection(asio::any_io_executor ex, std::shared_ptr<connection_settings const> s)
    : strand_(asio::make_strand(std::move(ex))),
      settings_(std::move(s)),
      socket_(strand_),
      resolver_(strand_),
      watchdog_(strand_),
      retry_timer_(strand_),
      connect_timer_(strand_) {}

connection::~connection() = default;

// A caller resumed inline by a reply (so already inside the strand) enqueues at once; any
// other caller posts to the strand.
void connection::submit(std::shared_ptr<request> op) {
    asio::dispatch(strand_, [self = shared_from_this(), op = std::move(op)]() mutable {
        self->enqueue(std::move(op));
    });
}

void connection::submit_close(std::shared_ptr<request> op) {
    asio::post(strand_, [self = shared_from_this(), op = std::move(op)] {
        self->close_socket();
        self->watchdog_.cancel();  // nothing left to watch: let io_context::run() return
        self->state_ = state::idle;
        self->failures_ = 0;
        self->fail_everything(self->diag("connection closed"));
        op->finish({}, raw_reply{});
    });
}

void connection::cancel(std::weak_ptr<request> const& op) {
    asio::post(strand_, [op] {
        if (auto r = op.lock()) {
            r->finish(asio::error::operation_aborted, error_reply("operation cancelled"));
        }
    });
}

void connection::shutdown() {
    asio::post(strand_, [self = shared_from_this()] {
        self->close_socket();
        self->state_ = state::shut;
        self->watchdog_.cancel();
        self->fail_everything(self->diag("backend destroyed"));
    });
}

// ---------------------------------------------------------------------------------------------
// connection: on the strand from here on

auto connection::diag(std::string_view what) const -> std::string {
    return fmt::format("{}: {}", settings_->label, what);
}

void connection::enqueue(std::shared_ptr<request> op) {
    if (op->done()) {
        return;  // cancelled before it reached the strand
    }
    // enqueue may run inside the caller's initiating function (see submit): failures found
    // here complete through a post, never inline.
    if (op->when().expired()) {
        op->reject(errc::timeout, diag("deadline passed before the request was sent"));
        return;
    }
    if (state_ == state::shut) {
        op->reject(errc::backend_unavailable, diag("backend destroyed"));
        return;
    }
    if (state_ == state::waiting) {
        // Fail fast between reconnect attempts: nothing queues up while the server is down.
        auto left = std::chrono::ceil<std::chrono::milliseconds>(
            std::max(next_attempt_ - clock::now(), clock::duration::zero()));
        op->reject(errc::backend_unavailable,
                   diag(fmt::format("not connected ({}); next attempt in {} ms", last_error_,
                                    left.count())));
        return;
    }
    // Idle, connecting or connected: queue it. While connecting it waits for the attempt.
    watch(op->when());
    pending_.push_back(std::move(op));
    if (state_ == state::idle) {
        start_connect();
    } else if (state_ == state::connected) {
        schedule_write();
    }
}

void connection::fail_all(std::deque<std::shared_ptr<request>>& q, errc e,
                          std::string const& detail) {
    // Completions may resume callers inline; they only post back here, so `q` is stable, but
    // it is moved out first anyway.
    auto ops = std::move(q);
    q.clear();
    for (auto& op : ops) {
        op->finish_error(e, detail);
    }
}

void connection::fail_everything(std::string const& detail) {
    fail_all(in_flight_, errc::backend_unavailable, detail);
    fail_all(pending_, errc::backend_unavailable, detail);
}

// One timer per connection, armed for the earliest deadline it knows of. It is re-armed only
// when a request brings an earlier deadline than the armed one (rare: deadlines mostly grow),
// and on expiry it fails only the expired requests and re-arms for the next.
void connection::watch(deadline dl) {
    if (dl.is_never() || dl.at >= watch_at_) {
        return;
    }
    watch_at_ = dl.at;
    watchdog_.expires_at(dl.at);
    watchdog_.async_wait(
        [self = shared_from_this(), g = ++watch_generation_](error_code) { self->on_watchdog(g); });
}

void connection::on_watchdog(std::uint64_t generation) {
    if (generation != watch_generation_) {
        return;  // superseded by an earlier deadline, or cancelled
    }
    watch_at_ = clock::time_point::max();
    auto const now = clock::now();
    auto next = clock::time_point::max();
    std::vector<std::shared_ptr<request>> expired;
    for (auto* q : {&pending_, &in_flight_}) {
        for (auto& op : *q) {
            if (op->done()) {
                continue;
            }
            if (op->when().expired(now)) {
                expired.push_back(op);
            } else {
                next = std::min(next, op->when().at);
            }
        }
    }
    if (next != clock::time_point::max()) {
        watch(deadline{next});
    }
    // A request already written stays in the pipeline; its reply is discarded on arrival.
    stats_.timeouts.fetch_add(expired.size(), std::memory_order_relaxed);
    for (auto& op : expired) {
        op->finish_error(errc::timeout, diag("timed out waiting for the server"));
    }
}

void connection::close_socket() {
    ++generation_;
    error_code ignored;
    socket_.close(ignored);
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    writing_ = false;
    reading_ = false;
    write_buf_.clear();
}

void connection::start_connect() {
    state_ = state::connecting;
    auto g = ++generation_;
    auto attempt = connect_attempt(g);
    auto done = [self = shared_from_this(), g](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            self->connect_failed(g, ex.what());
        }
    };
    asio::co_spawn(strand_, std::move(attempt), std::move(done));
}

// g++ 12 at -O2 reports the awaitable frame's own operator delete as mismatched for this
// coroutine (a false positive: Asio allocates and frees the frame with its recycling
// allocator). The diagnostic is silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
auto connection::connect_attempt(std::uint64_t g) -> task<void> {
    auto self = shared_from_this();
    auto const& s = *settings_;
    parser_.reset();
    {
        socket_type fresh(strand_);
        socket_ = std::move(fresh);
    }
    connect_timed_out_ = false;
    connect_timer_.expires_after(s.connect_timeout);
    auto on_timeout = [self, g](error_code ec) {
        if (ec || g != self->generation_ || self->state_ != state::connecting) {
            return;
        }
        self->connect_timed_out_ = true;
        error_code ignored;
        self->resolver_.cancel();
        self->socket_.close(ignored);
    };
    connect_timer_.async_wait(on_timeout);
    auto failed = [&](std::string what, error_code ec) {
        if (connect_timed_out_) {
            connect_failed(g,
                           fmt::format("connect timed out after {} ms", s.connect_timeout.count()));
        } else {
            connect_failed(g, fmt::format("{}: {}", what, ec.message()));
        }
    };

    error_code ec;
    if (!s.unix_path.empty()) {
        socket_type::endpoint_type ep{asio::local::stream_protocol::endpoint(s.unix_path)};
        auto r = co_await socket_.async_connect(ep, awaitable_tuple);
        ec = std::get<0>(r);
    } else {
        std::vector<asio::ip::tcp::endpoint> endpoints;
        auto addr = asio::ip::make_address(s.host, ec);
        if (!ec) {
            endpoints.emplace_back(addr, s.port);
        } else {
            auto r =
                co_await resolver_.async_resolve(s.host, std::to_string(s.port), awaitable_tuple);
            if (g != generation_) {
                co_return;
            }
            ec = std::get<0>(r);
            if (ec) {
                failed(fmt::format("cannot resolve '{}'", s.host), ec);
                co_return;
            }
            for (auto const& entry : std::get<1>(r)) {
                endpoints.push_back(entry.endpoint());
            }
        }
        ec = asio::error::host_not_found;
        for (auto const& ep : endpoints) {
            if (g != generation_ || connect_timed_out_) {
                break;
            }
            error_code ignored;
            socket_.close(ignored);
            auto r =
                co_await socket_.async_connect(socket_type::endpoint_type(ep), awaitable_tuple);
            ec = std::get<0>(r);
            if (!ec) {
                socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                break;
            }
        }
    }
    if (g != generation_) {
        co_return;
    }
    if (ec) {
        failed("connect failed", ec);
        co_return;
    }

    // AUTH and SELECT, pipelined in one write. The buffer holds the password: it is wiped
    // after the write and never appears in a diagnostic.
    std::string hello;
    std::vector<std::string_view> steps;
    if (s.password) {
        if (s.username) {
            append_command(hello, {"AUTH", *s.username, *s.password});
        } else {
            append_command(hello, {"AUTH", *s.password});
        }
        steps.emplace_back("AUTH");
    }
    if (s.db != 0) {
        append_command(hello, {"SELECT", std::to_string(s.db)});
        steps.emplace_back("SELECT");
    }
    if (!steps.empty()) {
        auto w = co_await asio::async_write(socket_, asio::buffer(hello), awaitable_tuple);
        std::fill(hello.begin(), hello.end(), '\0');
        if (g != generation_) {
            co_return;
        }
        if (std::get<0>(w)) {
            failed("handshake write failed", std::get<0>(w));
            co_return;
        }
        std::size_t got = 0;
        while (got < steps.size()) {
            auto r = co_await socket_.async_read_some(asio::buffer(read_buf_), awaitable_tuple);
            if (g != generation_) {
                co_return;
            }
            if (std::get<0>(r)) {
                failed("handshake read failed", std::get<0>(r));
                co_return;
            }
            parser_.feed(read_buf_.data(), std::get<1>(r));
            while (got < steps.size()) {
                auto reply = parser_.next();
                if (!reply) {
                    break;
                }
                if (reply->type == raw_reply::kind::error) {
                    connect_failed(g, fmt::format("{} rejected: {}", steps[got], reply->str));
                    co_return;
                }
                ++got;
            }
        }
    }
    connected(g);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void connection::connected(std::uint64_t g) {
    if (g != generation_ || state_ != state::connecting) {
        return;
    }
    connect_timer_.cancel();
    error_code ignored;
    socket_.non_blocking(true, ignored);  // write() tries a direct write first
    state_ = state::connected;
    stats_.connects.fetch_add(1, std::memory_order_relaxed);
    failures_ = 0;
    last_error_.clear();
    read(g);
    write();
}

void connection::connect_failed(std::uint64_t g, std::string const& why) {
    if (g != generation_ || state_ != state::connecting) {
        return;
    }
    close_socket();
    ++failures_;
    last_error_ = why;
    // The first retry after a drop is immediate (start_connect from lost()); from the first
    // failed attempt on, the delay starts at reconnect_min and doubles up to reconnect_max.
    auto delay = settings_->reconnect_min;
    for (unsigned i = 1; i < failures_ && delay < settings_->reconnect_max; ++i) {
        delay *= 2;
    }
    delay = std::min(delay, settings_->reconnect_max);
    state_ = state::waiting;
    next_attempt_ = clock::now() + delay;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = shared_from_this(), g2 = generation_](error_code ec) {
        if (ec || g2 != self->generation_ || self->state_ != state::waiting) {
            return;
        }
        self->start_connect();
    });
    fail_all(pending_, errc::backend_unavailable, diag(why));
}

void connection::lost(std::string const& why) {
    close_socket();
    last_error_ = why;
    auto flying = std::move(in_flight_);
    in_flight_.clear();
    // Reconnect at once; requests not yet written wait for that attempt.
    start_connect();
    fail_all(flying, errc::backend_unavailable, diag(fmt::format("connection lost ({})", why)));
}

// Requests enqueued while replies are handed out go out when that round ends, and those
// enqueued during an async_write when it completes; any other burst (coroutines started from
// outside, other threads) is gathered by one post per round, so it still leaves as one batch.
void connection::schedule_write() {
    if (reading_ || writing_ || write_scheduled_) {
        return;
    }
    write_scheduled_ = true;
    asio::post(strand_, [self = shared_from_this()] {
        self->write_scheduled_ = false;
        self->write();
    });
}

// Builds a batch from the queue and writes it: first without blocking, which usually sends it
// all with no completion to wait for; what the socket does not take goes out with
// async_write, and nothing else is written until it completes.
void connection::write() {
    auto const room = settings_->max_in_flight;
    while (!writing_ && !reading_ && state_ == state::connected && !pending_.empty()) {
        write_buf_.clear();
        while (!pending_.empty() && in_flight_.size() < room &&
               write_buf_.size() < max_batch_bytes) {
            auto op = std::move(pending_.front());
            pending_.pop_front();
            if (op->done()) {
                continue;  // timed out or cancelled before it was written: never sent
            }
            op->move_command_to(write_buf_);
            in_flight_.push_back(std::move(op));
            stats_.requests.fetch_add(1, std::memory_order_relaxed);
        }
        if (write_buf_.empty()) {
            return;
        }
        stats_.writes.fetch_add(1, std::memory_order_relaxed);
        error_code ec;
        std::size_t n = socket_.write_some(asio::buffer(write_buf_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            ec = {};
            n = 0;
        }
        if (ec) {
            // Reported through the strand: write() can run inside a caller's initiation.
            asio::post(strand_, [self = shared_from_this(), g = generation_, ec] {
                if (g == self->generation_) {
                    self->lost(fmt::format("write failed: {}", ec.message()));
                }
            });
            return;
        }
        if (n == write_buf_.size()) {
            continue;
        }
        writing_ = true;
        asio::async_write(
            socket_, asio::buffer(write_buf_.data() + n, write_buf_.size() - n),
            [self = shared_from_this(), g = generation_](error_code wec, std::size_t) {
                if (g != self->generation_) {
                    return;
                }
                self->writing_ = false;
                if (wec) {
                    self->lost(fmt::format("write failed: {}", wec.message()));
                    return;
                }
                self->write();
            });
        return;
    }
    if (write_buf_.capacity() > max_batch_bytes && !writing_) {
        write_buf_ = std::string();
    }
}

void connection::read(std::uint64_t g) {
    socket_.async_read_some(
        asio::buffer(read_buf_),
        [self = shared_from_this(), g](error_code ec, std::size_t n) { self->on_read(g, ec, n); });
}

void connection::on_read(std::uint64_t g, error_code ec, std::size_t n) {
    if (g != generation_) {
        return;
    }
    if (ec) {
        lost(ec == asio::error::eof ? std::string("server closed the connection") : ec.message());
        return;
    }
    // Callers resumed below may enqueue their next request inline; `reading_` holds those back
    // so that the whole round goes out as one batch afterwards.
    std::string failure;
    reading_ = true;
    try {
        parser_.feed(read_buf_.data(), n);
        while (auto reply = parser_.next()) {
            if (in_flight_.empty()) {
                failure = "a reply arrived with no request waiting for it";
                break;
            }
            if (in_flight_.front()->take(std::move(*reply))) {
                auto op = std::move(in_flight_.front());
                in_flight_.pop_front();
                op->finish_with_result();  // does nothing for a timed-out or cancelled request
            }
        }
    } catch (boost::system::system_error const& e) {
        failure = e.what();
    }
    reading_ = false;
    if (g != generation_) {
        return;
    }
    if (!failure.empty()) {
        lost(failure);
        return;
    }
    write();
    read(g);
}

}  // namespace asiocache::backends::redis_detail
