// SPDX-License-Identifier: MIT
#include "asiocache/backends/redis.hpp"

#include "asiocache/errors.hpp"
#include "redis_connection.hpp"
#include "redis_ops.hpp"
#include "redis_wake.hpp"
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
        : redis_ops(redis_detail::value_limit(o)), wake_(ex, o, *this) {
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
        static backend_traits const t{
            .name = "redis", .enforces_deadlines = true, .plain_keys = true};
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
        wake_.stop();
        for (auto& c : conns_) {
            co_await c->async_close(asio::as_tuple(asio::use_awaitable));
        }
    }

    auto wakeups() noexcept -> wake_channel* override { return &wake_; }

    [[nodiscard]] auto wake_counters() const -> redis_wake_stats { return wake_.stats(); }

    [[nodiscard]] auto stats() const -> redis_stats {
        redis_stats out;
        for (auto const& c : conns_) {
            redis_detail::add_counters(out, *c);
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
    redis_detail::redis_wake wake_;  // its subscriber starts on the first lease wait
};

[[noreturn]] void bad_config(std::string const& what) { throw_error(errc::invalid_config, what); }

}  // namespace

auto redis_statistics(backend const& b) -> std::optional<redis_stats> {
    if (auto const* r = dynamic_cast<redis_backend const*>(&b)) {
        return r->stats();
    }
    return std::nullopt;
}

auto redis_wake_statistics(backend const& b) -> std::optional<redis_wake_stats> {
    if (auto const* r = dynamic_cast<redis_backend const*>(&b)) {
        return r->wake_counters();
    }
    return std::nullopt;
}

auto make_redis_backend(asio::any_io_executor ex, redis_options opts) -> std::shared_ptr<backend> {
    redis_detail::check_connection_options(opts, "redis");
    if (opts.db < 0) {
        bad_config(fmt::format("redis: db {} is negative", opts.db));
    }
    if (opts.unix_path.empty() && opts.host.empty()) {
        bad_config("redis: no host and no unix socket path");
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
    redis_detail::take_connection_params(cfg, o, "redis");
    cfg.reject_unknown();
    return make_redis_backend(std::move(ex), std::move(o));
}

}  // namespace asiocache::backends
