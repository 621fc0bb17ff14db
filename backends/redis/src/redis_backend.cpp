// SPDX-License-Identifier: MIT
#include "asiocache/backends/redis.hpp"

#include "asiocache/errors.hpp"
#include "redis_connection.hpp"
#include "redis_ops.hpp"
#include "resp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <atomic>

namespace asiocache::backends {
namespace {

namespace asio = boost::asio;
using redis_detail::connection;
using redis_detail::exec_result;
using redis_detail::format_command;

/// One server: every command goes to the next connection of the pool.
class redis_backend final : public redis_detail::redis_ops {
public:
    redis_backend(asio::any_io_executor ex, redis_options const& o)
        : redis_ops(redis_detail::value_limit(o)) {
        auto s = std::make_shared<redis_detail::connection_settings>();
        static_cast<redis_options&>(*s) = o;
        if (!o.unix_path.empty()) {
            s->label = fmt::format("redis unix:{}", o.unix_path);
        } else if (o.host.find(':') != std::string::npos) {
            s->label = fmt::format("redis [{}]:{}", o.host, o.port);
        } else {
            s->label = fmt::format("redis {}:{}", o.host, o.port);
        }
        for (std::size_t i = 0; i < o.pool_size; ++i) {
            conns_.push_back(std::make_shared<connection>(ex, s));
        }
    }

    ~redis_backend() override {
        for (auto& c : conns_) {
            c->shutdown();
        }
    }

    redis_backend(redis_backend const&) = delete;
    auto operator=(redis_backend const&) -> redis_backend& = delete;

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override {
        // The defaults say the rest: "ns:key", TTL and namespace clear supported, 1 ms
        // granularity, no key length limit.
        static backend_traits const t{.name = "redis", .enforces_deadlines = true};
        return t;
    }

    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        if (ns.empty()) {
            throw_error(errc::invalid_argument,
                        "redis clear: an empty namespace would match every key; use clear_all");
        }
        co_return co_await redis_detail::scan_unlink(pick(), ns, false, dl);
    }

    auto clear_all(deadline dl) -> task<void> override {
        auto cmd = format_command({"FLUSHDB"});
        auto res = co_await route(std::string_view{}, std::move(cmd), 1, dl);
        redis_detail::expect_ok(redis_detail::check(std::move(res), "FLUSHDB", ""), "FLUSHDB", "");
    }

    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        redis_detail::check_raw(argv);
        std::vector<std::string_view> views(argv.begin(), argv.end());
        std::string cmd;
        redis_detail::append_command(cmd, views);
        auto res = co_await route(std::string_view{}, std::move(cmd), 1, dl);
        // Error replies are data here: they come back as raw_reply::kind::error.
        co_return redis_detail::check(std::move(res), argv.front(), "");
    }

    auto close() -> task<void> override {
        for (auto& c : conns_) {
            co_await c->async_close(asio::as_tuple(asio::use_awaitable));
        }
    }

    [[nodiscard]] auto stats() const -> redis_stats {
        redis_stats out;
        for (auto const& c : conns_) {
            auto const& s = c->stats();
            out.requests += s.requests.load(std::memory_order_relaxed);
            out.writes += s.writes.load(std::memory_order_relaxed);
            out.connects += s.connects.load(std::memory_order_relaxed);
            out.timeouts += s.timeouts.load(std::memory_order_relaxed);
            out.connect_attempts += s.connect_attempts.load(std::memory_order_relaxed);
            out.health_drops += s.health_drops.load(std::memory_order_relaxed);
        }
        return out;
    }

protected:
    // Not a coroutine: the awaitable comes straight from the connection's async_exec.
    auto route(std::string_view /*key*/, std::string cmd, std::size_t replies, deadline dl)
        -> task<exec_result> override {
        return redis_detail::exec_on(pick(), std::move(cmd), replies, dl);
    }

private:
    auto pick() -> connection& {
        if (conns_.size() == 1) {
            return *conns_.front();
        }
        return *conns_[next_.fetch_add(1, std::memory_order_relaxed) % conns_.size()];
    }

    std::vector<std::shared_ptr<connection>> conns_;
    std::atomic<std::size_t> next_{0};
};

[[noreturn]] void bad_config(std::string const& what) { throw_error(errc::invalid_config, what); }

}  // namespace

auto redis_statistics(backend const& b) -> std::optional<redis_stats> {
    if (auto const* r = dynamic_cast<redis_backend const*>(&b)) {
        return r->stats();
    }
    return std::nullopt;
}

auto make_redis_backend(asio::any_io_executor ex, redis_options opts) -> std::shared_ptr<backend> {
    if (opts.pool_size == 0 || opts.pool_size > 256) {
        bad_config(fmt::format("redis: pool_size {} is not in 1..256", opts.pool_size));
    }
    if (opts.max_in_flight == 0) {
        bad_config("redis: max_in_flight must be at least 1");
    }
    if (opts.db < 0) {
        bad_config(fmt::format("redis: db {} is negative", opts.db));
    }
    if (opts.username && !opts.username->empty() && !opts.password) {
        bad_config("redis: a username needs a password");
    }
    if (opts.username && opts.username->empty()) {
        opts.username.reset();
    }
    if (opts.unix_path.empty() && opts.host.empty()) {
        bad_config("redis: no host and no unix socket path");
    }
    if (opts.max_reply_bytes < 64 * 1024) {
        bad_config(fmt::format("redis: max_reply_bytes {} is under 64 KiB", opts.max_reply_bytes));
    }
    if (opts.health_check_interval.count() < 0) {
        bad_config("redis: health_check must not be negative");
    }
    if (opts.connect_timeout.count() <= 0 || opts.reconnect_min.count() <= 0 ||
        opts.reconnect_max < opts.reconnect_min) {
        bad_config(
            "redis: connect_timeout and reconnect_min must be positive, and "
            "reconnect_max at least reconnect_min");
    }
    return std::make_shared<redis_backend>(std::move(ex), opts);
}

auto redis_backend_from_config(asio::any_io_executor ex, backend_config cfg)
    -> std::shared_ptr<backend> {
    redis_options o;
    if (cfg.scheme == "redis") {
        if (cfg.endpoints.size() > 1) {
            bad_config("redis: one host expected; for Redis Cluster use redis-cluster://h1:p1,h2:p2");
        }
        if (!cfg.path.empty()) {
            bad_config("redis: a socket path needs the redis+unix scheme");
        }
        if (!cfg.endpoints.empty()) {
            o.host = cfg.endpoints.front().host;
            o.port = cfg.endpoints.front().port != 0 ? cfg.endpoints.front().port : 6379;
        }
    } else if (cfg.scheme == "redis+unix") {
        if (cfg.path.empty()) {
            bad_config("redis+unix: the socket path is missing");
        }
        if (!cfg.endpoints.empty()) {
            bad_config("redis+unix: takes a socket path, not a host");
        }
        o.unix_path = cfg.path;
    } else {
        bad_config(fmt::format("redis: cannot handle scheme '{}'", cfg.scheme));
    }
    o.username = cfg.username;
    o.password = cfg.password;
    if (auto db = cfg.take_size("db")) {
        if (cfg.db) {
            bad_config("redis: db given both in the path and as a parameter");
        }
        if (*db > 1'000'000) {
            bad_config(fmt::format("redis: db {} is out of range", *db));
        }
        o.db = static_cast<int>(*db);
    } else {
        o.db = cfg.db.value_or(0);
    }
    if (auto v = cfg.take_duration("connect_timeout")) {
        o.connect_timeout = *v;
    }
    if (auto v = cfg.take_size("max_in_flight")) {
        o.max_in_flight = static_cast<std::size_t>(*v);
    }
    auto pool = cfg.take_size("pool_size");
    if (auto alias = cfg.take_size("pool")) {
        if (pool) {
            bad_config("redis: give pool_size or pool, not both");
        }
        pool = alias;
    }
    if (pool) {
        o.pool_size = static_cast<std::size_t>(*pool);
    }
    if (auto v = cfg.take_duration("reconnect_min")) {
        o.reconnect_min = *v;
    }
    if (auto v = cfg.take_duration("reconnect_max")) {
        o.reconnect_max = *v;
    }
    if (auto v = cfg.take_duration("health_check")) {
        o.health_check_interval = *v;
    }
    if (auto v = cfg.take_size("max_reply_bytes")) {
        o.max_reply_bytes = static_cast<std::size_t>(*v);
    }
    cfg.reject_unknown();
    return make_redis_backend(std::move(ex), std::move(o));
}

}  // namespace asiocache::backends
