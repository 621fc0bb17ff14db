// SPDX-License-Identifier: MIT
#pragma once
// One multiplexed, auto-pipelining connection driven by Asio, shared by the Redis and the
// memcached backends. Internal.
//
// What is the same for both servers lives here: the submission inbox, write batching with a
// direct write first, deadlines (one watchdog per connection), cancellation, connect with a
// timeout, a handshake that must be answered before the connection counts, reconnect with
// jittered exponential backoff, health checks, and posting completions in slices. What differs
// is a protocol policy `P`:
//
//   struct P {
//       using settings = ...;  // label, host, port, unix_path, connect_timeout, reconnect_min,
//                              // reconnect_max, health_check_interval, max_in_flight
//       using parser = ...;    // feed(char const*, size_t); next() -> optional<reply>; reset();
//                              // buffered() -> size_t
//       using reply = ...;     // one parsed reply
//       using result = ...;    // what a request completes with
//       class collector;       // collector(size_t expect); bool take(reply&&) (true: complete);
//                              // result take_result()
//       static auto make_parser(settings const&) -> parser;
//       static auto error_result(std::string text) -> result;
//       static auto handshake(settings const&) -> net::handshake;
//       static auto check_handshake(std::string_view step, reply const&)
//           -> std::optional<net::failure>;     // nullopt: step accepted
//       static auto probe() -> std::pair<std::string, std::size_t>;  // health check request
//   };
//
// Replies are matched to requests in order: every protocol used here answers in order.

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

namespace asiocache::backends::net {

/// Why a connect attempt failed: the code pending requests fail with, and the diagnostic.
struct failure {
    errc code = errc::backend_unavailable;
    std::string why;
};

/// The requests a new connection sends before it serves callers, in one write, and the name of
/// each step (one reply each). The bytes may hold a password: they are wiped after the write.
struct handshake {
    std::string bytes;
    std::vector<std::string> steps;
};

/// A request: preformatted command bytes, what completes it (the policy's collector), a
/// deadline and a type-erased completion `void(error_code, result)`. All fields but the
/// handler's cancellation slot are touched on the connection's strand only.
template <class P>
class basic_request : public std::enable_shared_from_this<basic_request<P>> {
public:
    using result_type = typename P::result;

    basic_request(std::string cmd, std::size_t expect, deadline dl)
        : cmd_(std::move(cmd)), collector_(expect), deadline_(dl) {}
    virtual ~basic_request() = default;
    basic_request(basic_request const&) = delete;
    auto operator=(basic_request const&) -> basic_request& = delete;

    /// Records one reply; true when the request is complete.
    auto take(typename P::reply&& r) -> bool { return collector_.take(std::move(r)); }
    /// Completes the caller once; later calls do nothing. The completion is always posted to
    /// the caller's executor, never run inline: a caller's own work (and its exceptions) never
    /// runs inside the connection's read loop or its initiating function.
    void finish(boost::system::error_code ec, result_type r) {
        if (done_) {
            return;
        }
        done_ = true;
        complete(ec, std::move(r));
    }
    void finish_error(errc e, std::string detail) {
        finish(make_error_code(e), P::error_result(std::move(detail)));
    }
    /// Completes with the collected result, but later: the result is kept and `run_staged()`
    /// invokes the caller. False if the request was already done (timed out, cancelled). The
    /// read loop stages every request a read completes and posts them in slices per executor,
    /// instead of one post per request.
    auto stage_result() -> bool {
        if (done_) {
            return false;
        }
        done_ = true;
        stage({}, collector_.take_result());
        return true;
    }
    /// Invokes the caller with the staged result, on the calling thread.
    virtual void run_staged() = 0;
    /// The executor the caller resumes on (empty for the connection's own requests).
    [[nodiscard]] virtual auto completion_executor() const -> boost::asio::any_io_executor = 0;
    /// Appends the command bytes to a write batch and frees them.
    void move_command_to(std::string& out) {
        out += cmd_;
        cmd_ = std::string();
    }

    [[nodiscard]] auto done() const noexcept -> bool { return done_; }
    [[nodiscard]] auto when() const noexcept -> deadline { return deadline_; }

protected:
    virtual void complete(boost::system::error_code ec, result_type r) = 0;
    virtual void stage(boost::system::error_code ec, result_type r) = 0;

private:
    std::string cmd_;
    typename P::collector collector_;
    deadline deadline_;
    bool done_ = false;
};

/// Pipelines requests over one socket. Every member function except `async_exec`,
/// `async_close` and `shutdown` runs on the connection's strand.
template <class P>
class pipelined_connection : public std::enable_shared_from_this<pipelined_connection<P>> {
public:
    using settings_type = typename P::settings;
    using result_type = typename P::result;
    using request = basic_request<P>;

    pipelined_connection(boost::asio::any_io_executor ex, std::shared_ptr<settings_type const> s);
    ~pipelined_connection();
    pipelined_connection(pipelined_connection const&) = delete;
    auto operator=(pipelined_connection const&) -> pipelined_connection& = delete;

    /**
     * Sends `cmd` (one or more commands) and completes when the policy's collector, made from
     * `expect`, says the request is complete.
     *
     * *Completes with* `void(error_code, result)` on the token's associated executor. On
     * failure the error is an `asiocache::errc` (`timeout`, `backend_unavailable`,
     * `protocol_error`, or the handshake's code) or `boost::asio::error::operation_aborted`,
     * and the result is the policy's `error_result` with the diagnostic.
     *
     * *Cancellation*: any cancellation type completes at once with `operation_aborted`; a
     * request already written stays in the pipeline and its reply is discarded.
     *
     * *Thread safety*: callable from any thread.
     */
    template <class CompletionToken>
    auto async_exec(std::string cmd, std::size_t expect, deadline dl, CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken,
                                           void(boost::system::error_code, result_type)>(
            [self = this->shared_from_this()](auto handler, std::string bytes, std::size_t n,
                                              deadline when) {
                using handler_type = std::decay_t<decltype(handler)>;
                auto op = std::make_shared<handler_request<handler_type>>(
                    std::move(handler), self->strand_, std::move(bytes), n, when);
                op->bind_cancellation(self);
                self->submit(std::move(op));
            },
            token, std::move(cmd), expect, dl);
    }

    /// Closes the socket and fails pending requests with `backend_unavailable`. The next
    /// request connects again. Completes with `void(error_code, result)`, never failing.
    template <class CompletionToken>
    auto async_close(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken,
                                           void(boost::system::error_code, result_type)>(
            [self = this->shared_from_this()](auto handler) {
                using handler_type = std::decay_t<decltype(handler)>;
                auto op = std::make_shared<handler_request<handler_type>>(
                    std::move(handler), self->strand_, std::string(), 1, deadline::never());
                self->submit_close(std::move(op));
            },
            token);
    }

    /// Closes for good: no reconnect; requests fail. Callable from any thread (posts).
    void shutdown();

    /// Counters, written on the strand and readable from any thread.
    struct counters {
        std::atomic<std::uint64_t> requests{0};
        std::atomic<std::uint64_t> writes{0};
        std::atomic<std::uint64_t> connects{0};
        std::atomic<std::uint64_t> timeouts{0};
        std::atomic<std::uint64_t> connect_attempts{0};
        std::atomic<std::uint64_t> health_drops{0};
    };
    [[nodiscard]] auto stats() const noexcept -> counters const& { return stats_; }

private:
    template <class Handler>
    class handler_request;
    class internal_request;

    enum class state { idle, connecting, connected, waiting, shut };

    void submit(std::shared_ptr<request> op);
    void drain_inbox();
    void submit_close(std::shared_ptr<request> op);
    void flush_ready();
    static void run_completions(boost::asio::any_io_executor ex,
                                std::shared_ptr<std::vector<std::shared_ptr<request>>> ops,
                                std::size_t from);
    void cancel(std::weak_ptr<request> const& op);
    void enqueue(std::shared_ptr<request> op);
    void watch(deadline dl);
    void on_watchdog(std::uint64_t generation);
    void start_connect();
    auto connect_attempt(std::uint64_t generation) -> task<void>;
    void connect_failed(std::uint64_t generation, failure const& why);
    void wait_before_retry();
    void connected(std::uint64_t generation);
    void arm_health_check();
    void on_health_check(std::uint64_t generation);
    void read(std::uint64_t generation);
    void on_read(std::uint64_t generation, boost::system::error_code ec, std::size_t n);
    void schedule_write();
    void write();
    void lost(std::string const& why);
    void close_socket();
    void fail_all(std::deque<std::shared_ptr<request>>& q, errc e, std::string const& detail);
    void fail_everything(std::string const& detail);
    void stop_timers();
    [[nodiscard]] auto diag(std::string_view what) const -> std::string;

    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    using socket_type = boost::asio::generic::stream_protocol::socket;

    strand_type strand_;
    std::shared_ptr<settings_type const> settings_;
    // One socket object per connect attempt: an operation still queued for an old socket holds
    // that socket, so it can never touch the new connection.
    std::shared_ptr<socket_type> socket_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer watchdog_;
    boost::asio::steady_timer retry_timer_;
    boost::asio::steady_timer connect_timer_;
    boost::asio::steady_timer health_timer_;
    typename P::parser parser_;

    state state_ = state::idle;
    std::uint64_t generation_ = 0;  // bumped whenever the socket is (re)opened or closed
    // Requests submitted from any thread, moved to `pending_` by one strand handler per batch
    // (one post for a burst of callers, not one each).
    std::mutex inbox_mutex_;
    std::vector<std::shared_ptr<request>> inbox_;
    std::vector<std::shared_ptr<request>> ready_;     // completed by this read, to post
    std::deque<std::shared_ptr<request>> pending_;    // waiting to be written
    std::deque<std::shared_ptr<request>> in_flight_;  // written, awaiting replies, in order
    bool writing_ = false;                            // an async_write is outstanding
    bool reading_ = false;  // replies are being handed out: writes wait for the whole batch
    bool write_scheduled_ = false;
    std::string write_buf_;  // the batch being built; a partial write moves it to its own buffer
    std::array<char, 64 * 1024> read_buf_{};
    clock::time_point watch_at_ = clock::time_point::max();
    std::uint64_t watch_generation_ = 0;
    bool connect_timed_out_ = false;
    unsigned failures_ =
        0;  // failed attempts and short-lived connections since the last stable one
    failure last_error_;
    clock::time_point next_attempt_{};
    clock::time_point connected_at_{};
    clock::time_point last_progress_{};  // last byte read, or the first request sent after idle
    std::uint64_t rng_state_;            // jitter for the reconnect delay
    counters stats_;
};

/// The request type for one concrete completion handler: it owns the handler and keeps its
/// executor's work alive until completion.
template <class P>
template <class Handler>
class pipelined_connection<P>::handler_request final : public basic_request<P> {
public:
    using executor_type = boost::asio::associated_executor_t<Handler, strand_type>;
    using work_type = typename boost::asio::prefer_result<
        executor_type, boost::asio::execution::outstanding_work_t::tracked_t>::type;

    handler_request(Handler h, strand_type const& fallback, std::string cmd, std::size_t expect,
                    deadline dl)
        : basic_request<P>(std::move(cmd), expect, dl),
          handler_(std::move(h)),
          work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, fallback),
                                    boost::asio::execution::outstanding_work.tracked)) {}

    /// Routes the caller's cancellation to the strand; holds only weak references, so a slot
    /// that outlives the request does nothing.
    void bind_cancellation(std::shared_ptr<pipelined_connection> const& conn) {
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (!slot.is_connected()) {
            return;
        }
        std::weak_ptr<pipelined_connection> wc = conn;
        std::weak_ptr<basic_request<P>> wr = this->weak_from_this();
        slot.assign([wc, wr](boost::asio::cancellation_type) {
            if (auto c = wc.lock()) {
                c->cancel(wr);
            }
        });
    }

protected:
    void stage(boost::system::error_code ec, result_type r) override {
        staged_ec_ = ec;
        staged_ = std::move(r);
    }

    void run_staged() override {
        auto guard = std::move(work_);  // keeps the executor's work until the handler returns
        auto slot = boost::asio::get_associated_cancellation_slot(handler_);
        if (slot.is_connected()) {
            slot.clear();
        }
        std::move(handler_)(staged_ec_, std::move(staged_));
    }

    // The executors handed out and posted to do not count as work: the request's own work
    // guard keeps the caller's context running, and it is released on the caller's thread
    // (in run_staged, or with the posted function). A tracked copy destroyed on the
    // connection's thread could outlive a caller's io_context that finished its work.
    [[nodiscard]] auto completion_executor() const -> boost::asio::any_io_executor override {
        return boost::asio::prefer(work_, boost::asio::execution::outstanding_work.untracked);
    }

    void complete(boost::system::error_code ec, result_type r) override {
        boost::asio::any_io_executor ex =
            boost::asio::prefer(work_, boost::asio::execution::outstanding_work.untracked);
        auto fn = [h = std::move(handler_), ec, r = std::move(r),
                   work = std::move(work_)]() mutable {
            auto slot = boost::asio::get_associated_cancellation_slot(h);
            if (slot.is_connected()) {
                slot.clear();
            }
            std::move(h)(ec, std::move(r));
        };
        // Posted, never dispatched: the caller resumes outside the connection's strand and
        // read loop, so its work and exceptions stay its own.
        boost::asio::post(ex, std::move(fn));
    }

private:
    Handler handler_;
    work_type work_;
    boost::system::error_code staged_ec_;
    result_type staged_{};
};

/// A request the connection makes for itself (the health check's probe): nobody waits for it.
template <class P>
class pipelined_connection<P>::internal_request final : public basic_request<P> {
public:
    using basic_request<P>::basic_request;

    void run_staged() override {}
    [[nodiscard]] auto completion_executor() const -> boost::asio::any_io_executor override {
        return {};
    }

protected:
    void complete(boost::system::error_code, result_type) override {}
    void stage(boost::system::error_code, result_type) override {}
};

}  // namespace asiocache::backends::net
