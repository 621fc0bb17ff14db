// SPDX-License-Identifier: MIT
#pragma once
// The member definitions of `pipelined_connection<P>`. Included only by the one source file of
// each protocol, which instantiates the template explicitly; everything else sees the
// declarations and an `extern template`.

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <exception>

#include "asiocache_net/pipelined_connection.hpp"

namespace asiocache::backends::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace detail {

// A batch stops growing here, so one huge burst does not become one huge buffer.
inline constexpr std::size_t max_batch_bytes = 1024 * 1024;
inline constexpr auto awaitable_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// pipelined_connection: submission (any thread)

template <class P>
pipelined_connection<P>::pipelined_connection(asio::any_io_executor ex,
                                              std::shared_ptr<settings_type const> s)
    : strand_(asio::make_strand(std::move(ex))),
      settings_(std::move(s)),
      socket_(std::make_shared<socket_type>(strand_)),
      resolver_(strand_),
      watchdog_(strand_),
      retry_timer_(strand_),
      connect_timer_(strand_),
      health_timer_(strand_),
      parser_(P::make_parser(*settings_)),
      // Any varying seed will do: jitter only has to differ between connections and processes.
      rng_state_(static_cast<std::uint64_t>(clock::now().time_since_epoch().count()) ^
                 reinterpret_cast<std::uintptr_t>(this)) {}

template <class P>
pipelined_connection<P>::~pipelined_connection() = default;

// Callers on any thread append to the inbox; the first of a burst posts the one strand handler
// that moves them all to the queue, so a round of callers resumed together costs one post.
template <class P>
void pipelined_connection<P>::submit(std::shared_ptr<request> op) {
    bool first = false;
    {
        std::lock_guard lock(inbox_mutex_);
        first = inbox_.empty();
        inbox_.push_back(std::move(op));
    }
    if (first) {
        asio::post(strand_, [self = this->shared_from_this()] { self->drain_inbox(); });
    }
}

template <class P>
void pipelined_connection<P>::drain_inbox() {
    std::vector<std::shared_ptr<request>> batch;
    {
        std::lock_guard lock(inbox_mutex_);
        batch.swap(inbox_);
    }
    for (auto& op : batch) {
        enqueue(std::move(op));
    }
}

// Resumes the callers of `ops` from `from` on, a slice at a time: each slice is one handler on
// the callers' executor, and the next slice is posted after it ran, behind the strand handler
// that its callers' new requests scheduled. So a round of 500 replies costs about 30 posts
// instead of 500, and the first callers' next requests are written while later callers still
// wait to resume, which keeps the server busy (one batch of all of them measured 24% slower at
// concurrency 64). A caller's exception leaves its slice after the rest of the slice resumed
// and the next slice was posted.
template <class P>
void pipelined_connection<P>::run_completions(
    boost::asio::any_io_executor ex, std::shared_ptr<std::vector<std::shared_ptr<request>>> ops,
    std::size_t from) {
    constexpr std::size_t slice = 16;
    auto const end = std::min(from + slice, ops->size());
    std::exception_ptr first;
    for (auto i = from; i < end; ++i) {
        try {
            (*ops)[i]->run_staged();
        } catch (...) {
            if (!first) {
                first = std::current_exception();
            }
        }
    }
    if (end < ops->size()) {
        asio::post(ex, [ex, ops = std::move(ops), end]() mutable {
            run_completions(ex, std::move(ops), end);
        });
    }
    if (first) {
        std::rethrow_exception(first);
    }
}

// Posts the requests one read completed, grouped by caller executor (usually one group).
template <class P>
void pipelined_connection<P>::flush_ready() {
    while (!ready_.empty()) {
        auto ex = ready_.front()->completion_executor();
        auto group = std::make_shared<std::vector<std::shared_ptr<request>>>();
        std::vector<std::shared_ptr<request>> rest;
        for (auto& op : ready_) {
            if (op->completion_executor() == ex) {
                group->push_back(std::move(op));
            } else {
                rest.push_back(std::move(op));
            }
        }
        ready_.swap(rest);
        asio::post(ex, [ex, group = std::move(group)]() mutable {
            run_completions(ex, std::move(group), 0);
        });
    }
}

template <class P>
void pipelined_connection<P>::submit_close(std::shared_ptr<request> op) {
    asio::post(strand_, [self = this->shared_from_this(), op = std::move(op)] {
        self->close_socket();
        self->stop_timers();  // nothing left to watch: let io_context::run() return
        self->state_ = state::idle;
        self->failures_ = 0;
        self->fail_everything(self->diag("connection closed"));
        op->finish({}, result_type{});
    });
}

template <class P>
void pipelined_connection<P>::cancel(std::weak_ptr<request> const& op) {
    asio::post(strand_, [op] {
        if (auto r = op.lock()) {
            r->finish(asio::error::operation_aborted, P::error_result("operation cancelled"));
        }
    });
}

template <class P>
void pipelined_connection<P>::shutdown() {
    asio::post(strand_, [self = this->shared_from_this()] {
        self->close_socket();
        self->state_ = state::shut;
        self->stop_timers();
        self->fail_everything(self->diag("backend destroyed"));
    });
}

// ---------------------------------------------------------------------------------------------
// pipelined_connection: on the strand from here on

template <class P>
auto pipelined_connection<P>::diag(std::string_view what) const -> std::string {
    return fmt::format("{}: {}", settings_->label, what);
}

template <class P>
void pipelined_connection<P>::enqueue(std::shared_ptr<request> op) {
    if (op->done()) {
        return;  // cancelled before it reached the strand
    }
    // enqueue may run inside the caller's initiating function (see submit): completions are
    // posted (request::finish), so failing here is not re-entrant.
    if (op->when().expired()) {
        op->finish_error(errc::timeout, diag("deadline passed before the request was sent"));
        return;
    }
    if (state_ == state::shut) {
        op->finish_error(errc::backend_unavailable, diag("backend destroyed"));
        return;
    }
    if (state_ == state::waiting) {
        // Fail fast between reconnect attempts: nothing queues up while the server is down.
        auto left = std::chrono::ceil<std::chrono::milliseconds>(
            std::max(next_attempt_ - clock::now(), clock::duration::zero()));
        op->finish_error(last_error_.code,
                         diag(fmt::format("not connected ({}); next attempt in {} ms",
                                          last_error_.why, left.count())));
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

template <class P>
void pipelined_connection<P>::fail_all(std::deque<std::shared_ptr<request>>& q, errc e,
                                       std::string const& detail) {
    // Completions may resume callers inline; they only post back here, so `q` is stable, but
    // it is moved out first anyway.
    auto ops = std::move(q);
    q.clear();
    for (auto& op : ops) {
        op->finish_error(e, detail);
    }
}

template <class P>
void pipelined_connection<P>::fail_everything(std::string const& detail) {
    fail_all(in_flight_, errc::backend_unavailable, detail);
    fail_all(pending_, errc::backend_unavailable, detail);
}

template <class P>
void pipelined_connection<P>::stop_timers() {
    watchdog_.cancel();
    watch_at_ = clock::time_point::max();
    ++watch_generation_;
    health_timer_.cancel();
}

// One timer per connection, armed for the earliest deadline it knows of. It is re-armed only
// when a request brings an earlier deadline than the armed one (rare: deadlines mostly grow),
// and on expiry it fails only the expired requests and re-arms for the next.
template <class P>
void pipelined_connection<P>::watch(deadline dl) {
    if (dl.is_never() || dl.at >= watch_at_) {
        return;
    }
    watch_at_ = dl.at;
    watchdog_.expires_at(dl.at);
    watchdog_.async_wait([self = this->shared_from_this(), g = ++watch_generation_](error_code) {
        self->on_watchdog(g);
    });
}

template <class P>
void pipelined_connection<P>::on_watchdog(std::uint64_t generation) {
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
    // A request already written stays in the pipeline; its reply is discarded on arrival. One
    // still waiting to be written leaves the queue now, with its bytes, so that expired requests
    // do not pile up behind a full pipeline.
    stats_.timeouts.fetch_add(expired.size(), std::memory_order_relaxed);
    for (auto& op : expired) {
        op->finish_error(errc::timeout, diag("timed out waiting for the server"));
    }
    std::erase_if(pending_, [](auto const& op) { return op->done(); });
}

template <class P>
void pipelined_connection<P>::close_socket() {
    ++generation_;
    error_code ignored;
    socket_->close(ignored);
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    health_timer_.cancel();
    writing_ = false;
    reading_ = false;
    write_buf_.clear();
}

template <class P>
void pipelined_connection<P>::start_connect() {
    state_ = state::connecting;
    stats_.connect_attempts.fetch_add(1, std::memory_order_relaxed);
    auto g = ++generation_;
    auto attempt = connect_attempt(g);
    auto done = [self = this->shared_from_this(), g](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (std::exception const& ex) {
            self->connect_failed(g, failure{errc::backend_unavailable, ex.what()});
        } catch (...) {
            self->connect_failed(g, failure{errc::backend_unavailable, "unknown failure"});
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
template <class P>
auto pipelined_connection<P>::connect_attempt(std::uint64_t g) -> task<void> {
    auto self = this->shared_from_this();
    auto const& s = *settings_;
    parser_.reset();
    socket_ = std::make_shared<socket_type>(strand_);
    auto sock = socket_;
    connect_timed_out_ = false;
    connect_timer_.expires_after(s.connect_timeout);
    auto on_timeout = [self, g](error_code ec) {
        if (ec || g != self->generation_ || self->state_ != state::connecting) {
            return;
        }
        self->connect_timed_out_ = true;
        error_code ignored;
        self->resolver_.cancel();
        self->socket_->close(ignored);
    };
    connect_timer_.async_wait(on_timeout);
    auto failed = [&](std::string what, error_code ec) {
        if (connect_timed_out_) {
            connect_failed(
                g, failure{errc::backend_unavailable, fmt::format("connect timed out after {} ms",
                                                                  s.connect_timeout.count())});
        } else {
            connect_failed(
                g, failure{errc::backend_unavailable, fmt::format("{}: {}", what, ec.message())});
        }
    };

    error_code ec;
    if (!s.unix_path.empty()) {
        socket_type::endpoint_type ep{asio::local::stream_protocol::endpoint(s.unix_path)};
        auto r = co_await sock->async_connect(ep, detail::awaitable_tuple);
        ec = std::get<0>(r);
    } else {
        std::vector<asio::ip::tcp::endpoint> endpoints;
        auto addr = asio::ip::make_address(s.host, ec);
        if (!ec) {
            endpoints.emplace_back(addr, s.port);
        } else {
            auto r = co_await resolver_.async_resolve(s.host, std::to_string(s.port),
                                                      detail::awaitable_tuple);
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
            sock->close(ignored);
            auto r = co_await sock->async_connect(socket_type::endpoint_type(ep),
                                                  detail::awaitable_tuple);
            ec = std::get<0>(r);
            if (!ec) {
                sock->set_option(asio::ip::tcp::no_delay(true), ignored);
                // Keep-alive finds a peer that vanished without a FIN; the health check's probe
                // covers the faster cases.
                sock->set_option(asio::socket_base::keep_alive(true), ignored);
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

    // The protocol's handshake, pipelined in one write. Only a complete, accepted answer
    // proves that the server serves this client: a server that accepts and then closes, or one
    // that refuses every command, fails here and so counts as a failed attempt (with backoff),
    // never as a connection. The buffer may hold a password: it is wiped after the write and
    // never appears in a diagnostic.
    auto hello = P::handshake(s);
    auto const& steps = hello.steps;
    auto w = co_await asio::async_write(*sock, asio::buffer(hello.bytes), detail::awaitable_tuple);
    std::fill(hello.bytes.begin(), hello.bytes.end(), '\0');
    if (g != generation_) {
        co_return;
    }
    if (std::get<0>(w)) {
        failed("handshake write failed", std::get<0>(w));
        co_return;
    }
    std::size_t got = 0;
    while (got < steps.size()) {
        auto r = co_await sock->async_read_some(asio::buffer(read_buf_), detail::awaitable_tuple);
        if (g != generation_) {
            co_return;
        }
        if (std::get<0>(r)) {
            failed(std::get<0>(r) == asio::error::eof ? "server closed the connection during the "
                                                        "handshake"
                                                      : "handshake read failed",
                   std::get<0>(r));
            co_return;
        }
        std::optional<typename P::reply> reply;
        try {
            parser_.feed(read_buf_.data(), std::get<1>(r));
        } catch (std::exception const& e) {
            connect_failed(g,
                           failure{errc::protocol_error, fmt::format("handshake: {}", e.what())});
            co_return;
        }
        while (got < steps.size()) {
            try {
                reply = parser_.next();
            } catch (std::exception const& e) {
                connect_failed(
                    g, failure{errc::protocol_error, fmt::format("handshake: {}", e.what())});
                co_return;
            }
            if (!reply) {
                break;
            }
            if (auto refused = P::check_handshake(steps[got], *reply)) {
                connect_failed(g, *refused);
                co_return;
            }
            ++got;
        }
    }
    // The server sent more than the handshake asked for: whatever it is, it would be taken as
    // the answer to the first request.
    if (parser_.buffered() != 0) {
        connect_failed(g, failure{errc::protocol_error,
                                  "the server sent bytes after the handshake's last reply"});
        co_return;
    }
    connected(g);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class P>
void pipelined_connection<P>::connected(std::uint64_t g) {
    if (g != generation_ || state_ != state::connecting) {
        return;
    }
    connect_timer_.cancel();
    error_code ignored;
    socket_->non_blocking(true, ignored);  // write() tries a direct write first
    state_ = state::connected;
    stats_.connects.fetch_add(1, std::memory_order_relaxed);
    // The failure count is not reset here: a server that answers the handshake and then drops
    // every connection would otherwise be reconnected to in a tight loop. It resets when a
    // connection that stayed up for reconnect_max is lost (see lost()).
    last_error_ = failure{};
    connected_at_ = clock::now();
    last_progress_ = connected_at_;
    arm_health_check();
    read(g);
    write();
}

template <class P>
void pipelined_connection<P>::connect_failed(std::uint64_t g, failure const& why) {
    if (g != generation_ || state_ != state::connecting) {
        return;
    }
    close_socket();
    ++failures_;
    last_error_ = why;
    wait_before_retry();
    fail_all(pending_, why.code, diag(why.why));
}

// Exponential backoff with jitter: reconnect_min doubling per failure up to reconnect_max, the
// actual delay drawn from the upper half of that, so that the clients of a restarted server
// spread their attempts instead of arriving in step.
template <class P>
void pipelined_connection<P>::wait_before_retry() {
    auto base = settings_->reconnect_min;
    for (unsigned i = 1; i < failures_ && base < settings_->reconnect_max; ++i) {
        base *= 2;
    }
    base = std::min(base, settings_->reconnect_max);
    rng_state_ = rng_state_ * 6364136223846793005ULL + 1442695040888963407ULL;  // an LCG step
    auto const half = base.count() / 2;
    auto const spread = static_cast<std::uint64_t>(base.count() - half + 1);
    auto delay =
        std::chrono::milliseconds(half + static_cast<std::int64_t>((rng_state_ >> 33) % spread));
    delay = std::max(delay, std::chrono::milliseconds(1));
    state_ = state::waiting;
    next_attempt_ = clock::now() + delay;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = this->shared_from_this(), g2 = generation_](error_code ec) {
        if (ec || g2 != self->generation_ || self->state_ != state::waiting) {
            return;
        }
        self->start_connect();
    });
}

template <class P>
void pipelined_connection<P>::lost(std::string const& why) {
    auto const uptime = clock::now() - connected_at_;
    close_socket();
    last_error_ = failure{errc::backend_unavailable, why};
    auto flying = std::move(in_flight_);
    in_flight_.clear();
    if (uptime >= settings_->reconnect_max) {
        // A connection that had been serving for a while: reconnect at once, and requests not
        // yet written wait for that attempt.
        failures_ = 0;
        start_connect();
    } else {
        // Lost soon after it was made: the server takes connections but does not keep them.
        ++failures_;
        wait_before_retry();
        fail_all(pending_, errc::backend_unavailable,
                 diag(fmt::format("connection lost ({})", why)));
    }
    fail_all(flying, errc::backend_unavailable, diag(fmt::format("connection lost ({})", why)));
}

// The health check runs every interval while connected. Requests waiting with no byte read for
// two intervals mean the server (or the path to it) stopped answering: the connection is
// dropped, which fails them even when they carry no deadline. An idle connection sends a probe,
// so a black-holed server is found before a caller needs it.
template <class P>
void pipelined_connection<P>::arm_health_check() {
    auto const interval = settings_->health_check_interval;
    if (interval.count() <= 0) {
        return;
    }
    health_timer_.expires_after(interval);
    health_timer_.async_wait([self = this->shared_from_this(), g = generation_](error_code ec) {
        if (!ec) {
            self->on_health_check(g);
        }
    });
}

template <class P>
void pipelined_connection<P>::on_health_check(std::uint64_t g) {
    if (g != generation_ || state_ != state::connected) {
        return;
    }
    auto const interval = settings_->health_check_interval;
    auto const silent = clock::now() - last_progress_;
    if (!in_flight_.empty()) {
        if (silent >= 2 * interval) {
            stats_.health_drops.fetch_add(1, std::memory_order_relaxed);
            lost(
                fmt::format("no reply for {} ms",
                            std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()));
            return;
        }
    } else if (pending_.empty() && silent >= interval) {
        auto [bytes, expect] = P::probe();
        pending_.push_back(
            std::make_shared<internal_request>(std::move(bytes), expect, deadline::never()));
        schedule_write();
    }
    arm_health_check();
}

// Requests enqueued while replies are handed out go out when that round ends, and those
// enqueued during an async_write when it completes; any other burst (coroutines started from
// outside, other threads) is gathered by one post per round, so it still leaves as one batch.
template <class P>
void pipelined_connection<P>::schedule_write() {
    if (reading_ || writing_ || write_scheduled_) {
        return;
    }
    write_scheduled_ = true;
    asio::post(strand_, [self = this->shared_from_this()] {
        self->write_scheduled_ = false;
        self->write();
    });
}

// Builds a batch from the queue and writes it: first without blocking, which usually sends it
// all with no completion to wait for; what the socket does not take goes out with
// async_write, and nothing else is written until it completes.
template <class P>
void pipelined_connection<P>::write() {
    auto const room = settings_->max_in_flight;
    while (!writing_ && !reading_ && state_ == state::connected && !pending_.empty()) {
        write_buf_.clear();
        if (in_flight_.empty()) {
            last_progress_ = clock::now();  // the health check measures silence from here
        }
        while (!pending_.empty() && in_flight_.size() < room &&
               write_buf_.size() < detail::max_batch_bytes) {
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
        std::size_t n = socket_->write_some(asio::buffer(write_buf_), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            ec = {};
            n = 0;
        }
        if (ec) {
            // Reported through the strand: write() can run inside a caller's initiation.
            asio::post(strand_, [self = this->shared_from_this(), g = generation_, ec] {
                if (g == self->generation_) {
                    self->lost(fmt::format("write failed: {}", ec.message()));
                }
            });
            return;
        }
        if (n == write_buf_.size()) {
            continue;
        }
        // The rest goes out asynchronously from a buffer of its own, held by the operation
        // together with its socket: a reconnect can neither free these bytes nor receive them.
        writing_ = true;
        auto rest = std::make_shared<std::string>(std::move(write_buf_));
        write_buf_ = std::string();
        auto sock = socket_;
        asio::async_write(*sock, asio::buffer(rest->data() + n, rest->size() - n),
                          [self = this->shared_from_this(), g = generation_, sock, rest](
                              error_code wec, std::size_t) {
                              if (g != self->generation_) {
                                  return;
                              }
                              self->writing_ = false;
                              if (wec) {
                                  self->lost(fmt::format("write failed: {}", wec.message()));
                                  return;
                              }
                              if (rest->capacity() <= detail::max_batch_bytes) {
                                  rest->clear();
                                  self->write_buf_ = std::move(*rest);  // reuse the allocation
                              }
                              self->write();
                          });
        return;
    }
    if (write_buf_.capacity() > detail::max_batch_bytes && !writing_) {
        write_buf_ = std::string();
    }
}

template <class P>
void pipelined_connection<P>::read(std::uint64_t g) {
    auto sock = socket_;
    sock->async_read_some(asio::buffer(read_buf_),
                          [self = this->shared_from_this(), g, sock](error_code ec, std::size_t n) {
                              self->on_read(g, ec, n);
                          });
}

template <class P>
void pipelined_connection<P>::on_read(std::uint64_t g, error_code ec, std::size_t n) {
    if (g != generation_) {
        return;
    }
    if (ec) {
        lost(ec == asio::error::eof ? std::string("server closed the connection") : ec.message());
        return;
    }
    last_progress_ = clock::now();
    // Completions are staged and posted after the loop, so no caller runs in it; `reading_`
    // still holds back writes until the round is over, so that it goes out as one batch.
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
                // Staged for the batch below; nothing for a timed-out or cancelled request, or
                // for the health check's own probe.
                if (op->stage_result() && op->completion_executor()) {
                    ready_.push_back(std::move(op));
                }
            }
        }
    } catch (std::exception const& e) {
        // Malformed or oversized replies, and allocation failures: the connection cannot be
        // trusted to be in step with its requests any more, so it is replaced.
        failure = e.what();
    } catch (...) {
        failure = "unknown failure while reading replies";
    }
    reading_ = false;
    flush_ready();
    if (g != generation_) {
        return;
    }
    if (!failure.empty()) {
        fail_all(in_flight_, errc::protocol_error, diag(failure));
        lost(failure);
        return;
    }
    write();
    read(g);
}

}  // namespace asiocache::backends::net
