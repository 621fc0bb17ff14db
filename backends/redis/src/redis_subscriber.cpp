// SPDX-License-Identifier: MIT
// A subscribed Redis connection (RESP2): it subscribes to its channels and patterns at every
// connect and hands over what is published there. With `tracking`, it first asks for its own
// invalidations (`CLIENT TRACKING ON REDIRECT <its id> BCAST [PREFIX p]...`) and subscribes to
// `__redis__:invalidate`: in broadcasting mode the server then names every key any client
// writes (under the prefixes), whoever reads it; a nil payload means FLUSHDB or FLUSHALL. The
// connection is checked with PING (allowed while subscribed) and rebuilt with backoff when
// lost; the hooks hear `state(false)` at once and `state(true)` only once every subscription
// is confirmed again.
#include "redis_subscriber.hpp"

#include "asiocache/backends/redis_tracking.hpp"
#include "asiocache/errors.hpp"
#include "redis_ops.hpp"
#include "resp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>

namespace asiocache::backends {
namespace redis_detail {

namespace asio = boost::asio;
using boost::system::error_code;
using steady = std::chrono::steady_clock;
using redis_detail::append_command;
using redis_detail::reply_parser;

constexpr std::string_view invalidate_channel = "__redis__:invalidate";

class subscriber_impl final : public subscriber,
                              public std::enable_shared_from_this<subscriber_impl> {
public:
    subscriber_impl(asio::any_io_executor ex, subscriber_options o)
        : strand_(asio::make_strand(ex)),
          opts_(std::move(o)),
          timer_(strand_),
          ping_timer_(strand_),
          resolver_(strand_),
          socket_(strand_) {
        label_ = opts_.connection.unix_path.empty()
                     ? fmt::format("redis {} {}:{}", opts_.what, opts_.connection.host,
                                   opts_.connection.port)
                     : fmt::format("redis {} unix:{}", opts_.what, opts_.connection.unix_path);
    }

    void start(subscriber_hooks h) override {
        handler_ = std::move(h);
        asio::co_spawn(strand_, run(shared_from_this()), asio::detached);
    }

    void stop() override {
        stopped_.store(true, std::memory_order_release);
        asio::post(strand_, [self = shared_from_this()] {
            error_code ignored;
            self->socket_.close(ignored);
            self->timer_.cancel();
            self->ping_timer_.cancel();
            self->resolver_.cancel();
        });
    }

    [[nodiscard]] auto describe() const -> std::string override { return label_; }

    [[nodiscard]] auto stats() const -> redis_tracking_stats override {
        return {.messages = messages_.load(std::memory_order_relaxed),
                .keys = keys_.load(std::memory_order_relaxed),
                .subscribes = subscribes_.load(std::memory_order_relaxed),
                .losses = losses_.load(std::memory_order_relaxed),
                .refusals = refusals_.load(std::memory_order_relaxed),
                .up = up_.load(std::memory_order_acquire)};
    }

private:
    [[nodiscard]] auto stopped() const noexcept -> bool {
        return stopped_.load(std::memory_order_acquire);
    }
    /// Ends a session that `stop` raced with (it may have landed while nothing could see it).
    void check_stopped() const {
        if (stopped()) {
            throw_error(errc::backend_unavailable, fmt::format("{}: stopped", label_));
        }
    }

    auto run(std::shared_ptr<subscriber_impl> self) -> task<void> {
        std::chrono::milliseconds backoff{0};
        std::minstd_rand jitter(static_cast<unsigned>(
            steady::now().time_since_epoch().count() ^ reinterpret_cast<std::uintptr_t>(this)));
        while (!stopped()) {
            auto const began = steady::now();
            try {
                co_await session();
            } catch (std::exception const& e) {
                last_error_ = e.what();
            }
            if (up_.exchange(false, std::memory_order_acq_rel)) {
                losses_.fetch_add(1, std::memory_order_relaxed);
                if (handler_.state) {
                    handler_.state(false);
                }
            }
            error_code ignored;
            socket_.close(ignored);
            if (stopped()) {
                break;
            }
            // Backoff doubles from reconnect_min to reconnect_max; a session that lasted
            // longer than reconnect_max starts over from an immediate retry.
            auto const& c = opts_.connection;
            if (steady::now() - began > c.reconnect_max) {
                backoff = std::chrono::milliseconds(0);
            }
            if (backoff.count() > 0) {
                auto spread = std::uniform_int_distribution<long>(0, backoff.count() / 2)(jitter);
                timer_.expires_after(backoff + std::chrono::milliseconds(spread));
                error_code ec;
                co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
            backoff = std::min(std::max(backoff * 2, c.reconnect_min), c.reconnect_max);
        }
        (void)self;
    }

    /// One connection: connect, subscribe, then hand over messages until it fails.
    auto session() -> task<void> {
        auto const& c = opts_.connection;
        parser_ = std::make_unique<reply_parser>(c.max_reply_bytes);
        socket_ = asio::generic::stream_protocol::socket(strand_);
        // One timer bounds the connect and the handshake.
        connect_timed_out_ = false;
        timer_.expires_after(c.connect_timeout);
        timer_.async_wait([self = shared_from_this(), g = ++generation_](error_code ec) {
            if (!ec && g == self->generation_ && !self->up_.load(std::memory_order_acquire)) {
                self->connect_timed_out_ = true;
                error_code ignored;
                self->socket_.close(ignored);
            }
        });
        error_code ec;
        if (!c.unix_path.empty()) {
            co_await socket_.async_connect(
                asio::generic::stream_protocol::endpoint(
                    asio::local::stream_protocol::endpoint(c.unix_path)),
                asio::redirect_error(asio::use_awaitable, ec));
        } else {
            auto addr = asio::ip::make_address(c.host, ec);
            asio::ip::tcp::endpoint ep;
            if (!ec) {
                ep = asio::ip::tcp::endpoint(addr, c.port);
            } else {
                auto r = co_await resolver_.async_resolve(
                    c.host, std::to_string(c.port), asio::redirect_error(asio::use_awaitable, ec));
                if (ec || r.empty()) {
                    throw_error(errc::backend_unavailable,
                                fmt::format("{}: cannot resolve '{}'", label_, c.host));
                }
                ep = r.begin()->endpoint();
                check_stopped();
            }
            co_await socket_.async_connect(asio::generic::stream_protocol::endpoint(ep),
                                           asio::redirect_error(asio::use_awaitable, ec));
        }
        check_stopped();
        if (ec) {
            throw_error(errc::backend_unavailable,
                        fmt::format("{}: {}", label_,
                                    connect_timed_out_ ? std::string("connect timed out") : ec.message()));
        }

        // AUTH, then our own id, which the tracking redirects to.
        std::string out;
        std::size_t expected = 1;
        if (c.password) {
            if (c.username) {
                append_command(out, {"AUTH", *c.username, *c.password});
            } else {
                append_command(out, {"AUTH", *c.password});
            }
            ++expected;
        }
        append_command(out, {"CLIENT", "ID"});
        co_await asio::async_write(socket_, asio::buffer(out), asio::use_awaitable);
        std::fill(out.begin(), out.end(), '\0');
        out.clear();
        raw_reply id;
        for (std::size_t i = 0; i < expected; ++i) {
            id = co_await next_reply();
            if (id.type == raw_reply::kind::error) {
                throw_error(errc::backend_error,
                            fmt::format("{}: {}", label_, i + 1 < expected || !c.password
                                                              ? id.str
                                                              : std::string("AUTH refused")));
            }
        }
        if (id.type != raw_reply::kind::integer) {
            throw_error(errc::protocol_error, fmt::format("{}: CLIENT ID gave no integer", label_));
        }
        std::size_t confirmations = 0;
        if (opts_.tracking) {
            std::vector<std::string> args{"CLIENT", "TRACKING", "ON", "REDIRECT",
                                          std::to_string(id.integer), "BCAST"};
            for (auto const& p : opts_.prefixes) {
                args.emplace_back("PREFIX");
                args.push_back(p);
            }
            std::vector<std::string_view> views(args.begin(), args.end());
            append_command(out, views);
            append_command(out, {"SUBSCRIBE", invalidate_channel});
            ++confirmations;
        }
        for (auto const& ch : opts_.channels) {
            append_command(out, {"SUBSCRIBE", ch});
            ++confirmations;
        }
        for (auto const& p : opts_.patterns) {
            append_command(out, {"PSUBSCRIBE", p});
            ++confirmations;
        }
        co_await asio::async_write(socket_, asio::buffer(out), asio::use_awaitable);
        if (opts_.tracking) {
            auto tracking = co_await next_reply();
            if (tracking.type == raw_reply::kind::error) {
                refusals_.fetch_add(1, std::memory_order_relaxed);
                throw_error(errc::backend_error,
                            fmt::format("{}: CLIENT TRACKING refused: {}", label_, tracking.str));
            }
        }
        for (std::size_t i = 0; i < confirmations; ++i) {
            auto sub = co_await next_reply();
            if (sub.type == raw_reply::kind::array && !sub.elements.empty() &&
                (sub.elements[0].str == "message" || sub.elements[0].str == "pmessage")) {
                --i;  // published before every subscription was confirmed: not ours to judge
                continue;
            }
            if (sub.type != raw_reply::kind::array || sub.elements.size() != 3 ||
                (sub.elements[0].str != "subscribe" && sub.elements[0].str != "psubscribe")) {
                throw_error(errc::protocol_error,
                            fmt::format("{}: subscription not confirmed{}", label_,
                                        sub.type == raw_reply::kind::error ? ": " + sub.str
                                                                           : std::string()));
            }
        }
        check_stopped();
        timer_.cancel();
        subscribes_.fetch_add(1, std::memory_order_relaxed);
        up_.store(true, std::memory_order_release);
        if (handler_.state) {
            handler_.state(true);
        }
        last_read_ = steady::now();
        if (c.health_check_interval.count() > 0) {
            asio::co_spawn(strand_, pinger(shared_from_this(), generation_), asio::detached);
        }
        for (;;) {
            deliver(co_await next_reply());
        }
    }

    /// The next complete reply, reading as needed. Throws when the connection ends.
    auto next_reply() -> task<raw_reply> {
        for (;;) {
            if (auto r = parser_->next()) {
                co_return std::move(*r);
            }
            auto n = co_await socket_.async_read_some(asio::buffer(buf_), asio::use_awaitable);
            last_read_ = steady::now();
            parser_->feed(buf_.data(), n);
        }
    }

    /// Hands a published message to the hooks: `message` and `pmessage` alike.
    void deliver(raw_reply r) {
        if (r.type != raw_reply::kind::array || r.elements.empty()) {
            return;
        }
        auto const& kind = r.elements[0].str;
        std::size_t channel = 0;
        if (kind == "message" && r.elements.size() == 3) {
            channel = 1;
        } else if (kind == "pmessage" && r.elements.size() == 4) {
            channel = 2;
        } else {
            return;  // "pong", or a confirmation
        }
        messages_.fetch_add(1, std::memory_order_relaxed);
        auto& payload = r.elements[channel + 1];
        if (opts_.tracking && r.elements[channel].str == invalidate_channel &&
            payload.type == raw_reply::kind::array) {
            keys_.fetch_add(payload.elements.size(), std::memory_order_relaxed);
        }
        if (handler_.message) {
            handler_.message(r.elements[channel].str, std::move(payload));
        }
    }

    /// PING every interval; a connection that has shown no byte for two intervals is dropped,
    /// which ends the session (the reader fails) and starts a new one.
    auto pinger(std::shared_ptr<subscriber_impl> self, std::uint64_t g) -> task<void> {
        auto const interval = opts_.connection.health_check_interval;
        auto& t = ping_timer_;
        std::string ping;
        append_command(ping, {"PING"});
        while (!stopped() && g == generation_ && up_.load(std::memory_order_acquire)) {
            t.expires_after(interval);
            error_code ec;
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            if (stopped() || g != generation_ || !up_.load(std::memory_order_acquire)) {
                break;
            }
            if (steady::now() - last_read_ > 2 * interval) {
                error_code ignored;
                socket_.close(ignored);
                break;
            }
            co_await asio::async_write(socket_, asio::buffer(ping),
                                       asio::redirect_error(asio::use_awaitable, ec));
        }
        (void)self;
    }

    asio::strand<asio::any_io_executor> strand_;
    subscriber_options opts_;
    asio::steady_timer timer_;
    asio::steady_timer ping_timer_;
    asio::ip::tcp::resolver resolver_;
    asio::generic::stream_protocol::socket socket_;
    std::unique_ptr<reply_parser> parser_;
    std::array<char, 16 * 1024> buf_{};
    subscriber_hooks handler_;
    std::string label_;
    std::string last_error_;
    std::uint64_t generation_ = 0;
    bool connect_timed_out_ = false;
    steady::time_point last_read_{};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> messages_{0};
    std::atomic<std::uint64_t> keys_{0};
    std::atomic<std::uint64_t> subscribes_{0};
    std::atomic<std::uint64_t> losses_{0};
    std::atomic<std::uint64_t> refusals_{0};
};

auto make_subscriber(boost::asio::any_io_executor ex, subscriber_options o)
    -> std::shared_ptr<subscriber> {
    return std::make_shared<subscriber_impl>(std::move(ex), std::move(o));
}

}  // namespace redis_detail

auto redis_channel_options(backend_config& cfg) -> redis_options {
    redis_options o;
    if (!cfg.path.empty()) {
        o.unix_path = cfg.path;
    } else if (!cfg.endpoints.empty()) {
        o.host = cfg.endpoints.front().host;
        if (cfg.endpoints.front().port != 0) {
            o.port = cfg.endpoints.front().port;
        }
    }
    redis_detail::take_connection_params(cfg, o, cfg.scheme);
    return o;
}

namespace {

/// Invalidations from CLIENT TRACKING: the subscriber's messages on `__redis__:invalidate`.
class tracking_source final : public invalidation_source {
public:
    tracking_source(boost::asio::any_io_executor ex, redis_tracking_options o)
        : sub_(redis_detail::make_subscriber(
              std::move(ex), {.connection = std::move(o.connection),
                              .what = "tracking",
                              .tracking = true,
                              .prefixes = std::move(o.prefixes)})) {}
    ~tracking_source() override { sub_->stop(); }

    void start(invalidation_handler h) override {
        redis_detail::subscriber_hooks hooks;
        hooks.state = h.state;
        hooks.message = [h](std::string_view channel, raw_reply&& payload) {
            if (channel != redis_detail::invalidate_channel) {
                return;
            }
            if (payload.type != raw_reply::kind::array) {
                if (h.flush) {
                    h.flush();  // nil: FLUSHDB or FLUSHALL
                }
                return;
            }
            std::vector<std::string> keys;
            keys.reserve(payload.elements.size());
            for (auto& k : payload.elements) {
                keys.push_back(std::move(k.str));
            }
            if (h.keys) {
                h.keys(keys);
            }
        };
        sub_->start(std::move(hooks));
    }
    void stop() override { sub_->stop(); }
    [[nodiscard]] auto describe() const -> std::string override { return sub_->describe(); }
    [[nodiscard]] auto stats() const -> redis_tracking_stats { return sub_->stats(); }

private:
    std::shared_ptr<redis_detail::subscriber> sub_;
};

/// Invalidations published by writers on a channel (for an L2 that cannot report writes, as
/// memcached): JSON payloads, an array of keys or `null` for everything.
class backplane_source final : public invalidation_source {
public:
    backplane_source(boost::asio::any_io_executor ex, redis_backplane_options o)
        : channel_(o.channel),
          sub_(redis_detail::make_subscriber(ex, {.connection = o.connection,
                                                  .what = "backplane",
                                                  .channels = {o.channel}})),
          publisher_(make_redis_backend(ex, o.connection)) {
        if (channel_.empty()) {
            throw_error(errc::invalid_argument, "backplane: the channel name is empty");
        }
    }
    ~backplane_source() override { sub_->stop(); }

    void start(invalidation_handler h) override {
        redis_detail::subscriber_hooks hooks;
        hooks.state = h.state;
        hooks.message = [h, channel = channel_](std::string_view ch, raw_reply&& payload) {
            if (ch != channel || payload.type != raw_reply::kind::string) {
                return;
            }
            std::vector<std::string> keys;
            bool all = false;
            try {
                auto doc = nlohmann::json::parse(payload.str);
                if (doc.is_null()) {
                    all = true;
                } else {
                    keys = doc.get<std::vector<std::string>>();
                }
            } catch (std::exception const&) {
                all = true;  // a message we cannot read may have named anything
            }
            if (all) {
                if (h.flush) {
                    h.flush();
                }
            } else if (h.keys) {
                h.keys(keys);
            }
        };
        sub_->start(std::move(hooks));
    }
    void stop() override { sub_->stop(); }
    [[nodiscard]] auto describe() const -> std::string override { return sub_->describe(); }
    [[nodiscard]] auto publishes() const noexcept -> bool override { return true; }
    [[nodiscard]] auto stats() const -> redis_tracking_stats { return sub_->stats(); }

    auto publish(std::vector<std::string> keys, bool all) -> task<void> override {
        std::vector<std::string> argv{"PUBLISH", channel_,
                                      all ? std::string("null") : nlohmann::json(keys).dump()};
        co_await publisher_->raw(std::move(argv), deadline::after(publisher_timeout));
    }

private:
    static constexpr std::chrono::milliseconds publisher_timeout{2000};
    std::string channel_;
    std::shared_ptr<redis_detail::subscriber> sub_;
    std::shared_ptr<backend> publisher_;
};

}  // namespace

auto make_redis_backplane_source(boost::asio::any_io_executor ex, redis_backplane_options o)
    -> std::shared_ptr<invalidation_source> {
    return std::make_shared<backplane_source>(std::move(ex), std::move(o));
}

auto make_redis_tracking_source(boost::asio::any_io_executor ex, redis_tracking_options o)
    -> std::shared_ptr<invalidation_source> {
    return std::make_shared<tracking_source>(std::move(ex), std::move(o));
}

auto redis_tracking_statistics(invalidation_source const& s) -> std::optional<redis_tracking_stats> {
    if (auto const* t = dynamic_cast<tracking_source const*>(&s)) {
        return t->stats();
    }
    if (auto const* b = dynamic_cast<backplane_source const*>(&s)) {
        return b->stats();
    }
    return std::nullopt;
}

}  // namespace asiocache::backends
