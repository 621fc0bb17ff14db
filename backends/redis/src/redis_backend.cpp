// SPDX-License-Identifier: MIT
#include "asiocache/backends/redis.hpp"

#include "asiocache/errors.hpp"
#include "redis_connection.hpp"
#include "resp.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <tuple>

namespace asiocache::backends {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using redis_detail::connection;
using redis_detail::format_command;
using redis_detail::throw_unexpected;

// Redis's default proto-max-bulk-len: a larger value would make the server drop the
// connection, so it is refused before it is sent.
constexpr std::size_t max_value_size = 512ULL * 1024 * 1024;
constexpr std::size_t scan_batch = 1000;

/// A Lua script run with EVALSHA, falling back to EVAL (which caches it) on NOSCRIPT.
struct script {
    std::string_view text;
    std::string sha;
};

auto make_script(std::string_view text) -> script { return {text, redis_detail::sha1_hex(text)}; }

// gets/cas tokens are the first 64 bits of SHA-1 of the stored value, computed by the server.
// cas therefore succeeds when the value is (hash-)equal to the one read: a value-compare CAS.
// A value changed and changed back is accepted (ABA), as with any value-compare CAS; there is
// no hidden version key, so the layout stays exactly aiocache's.
auto gets_script() -> script const& {
    static script const s = make_script(R"lua(local v = redis.call('GET', KEYS[1])
if not v then return false end
return {v, string.sub(redis.sha1hex(v), 1, 16)})lua");
    return s;
}

auto cas_script() -> script const& {
    static script const s = make_script(R"lua(local v = redis.call('GET', KEYS[1])
if not v or string.sub(redis.sha1hex(v), 1, 16) ~= ARGV[2] then return 0 end
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[1])
else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
return 1)lua");
    return s;
}

auto remove_if_equal_script() -> script const& {
    static script const s = make_script(R"lua(if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0)lua");
    return s;
}

auto expire_if_equal_script() -> script const& {
    static script const s = make_script(R"lua(if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '0' then
    redis.call('PERSIST', KEYS[1])
    return 1
  end
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0)lua");
    return s;
}

auto ms_text(expiry ttl) -> std::string { return std::to_string(ttl.duration().count()); }

auto iequals(std::string_view a, std::string_view b) -> bool {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// Commands that block the connection until something happens on the server. On the shared
// pipeline every request behind one would wait too, so they are refused.
auto blocking_raw(std::vector<std::string> const& argv) -> bool {
    static constexpr std::string_view names[] = {
        "BLPOP",   "BRPOP",    "BRPOPLPUSH", "BLMOVE", "BLMPOP",
        "BZPOPMIN", "BZPOPMAX", "BZMPOP",     "WAIT",   "WAITAOF"};
    auto const& name = argv.front();
    if (iequals(name, "XREAD") || iequals(name, "XREADGROUP")) {
        return std::any_of(argv.begin() + 1, argv.end(),
                           [](std::string const& a) { return iequals(a, "BLOCK"); });
    }
    return std::any_of(std::begin(names), std::end(names),
                       [&](std::string_view n) { return iequals(name, n); });
}

// Commands that would change the shared connection's state for every request pipelined on
// it, or break the one-reply-per-command rule the pipeline relies on.
auto forbidden_raw(std::vector<std::string> const& argv) -> bool {
    static constexpr std::string_view names[] = {
        "SUBSCRIBE",    "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
        "SUNSUBSCRIBE", "MONITOR",    "SELECT",     "MULTI",       "EXEC",
        "DISCARD",      "WATCH",      "UNWATCH",    "AUTH",        "HELLO",
        "RESET",        "QUIT",       "SYNC",       "PSYNC",       "REPLCONF"};
    auto const& name = argv.front();
    if (iequals(name, "CLIENT") && argv.size() > 1 && iequals(argv[1], "REPLY")) {
        return true;
    }
    return std::any_of(std::begin(names), std::end(names),
                       [&](std::string_view n) { return iequals(name, n); });
}

// A reply carries a value plus at most a few dozen bytes of framing and one node.
constexpr std::size_t reply_overhead = 4096;

auto value_limit(redis_options const& o) -> std::size_t {
    auto readable = o.max_reply_bytes > reply_overhead ? o.max_reply_bytes - reply_overhead : 0;
    return std::min(max_value_size, readable);
}

auto token_of(raw_reply const& hex, std::string_view key) -> std::uint64_t {
    std::uint64_t token = 0;
    auto const* end = hex.str.data() + hex.str.size();
    auto [p, ec] = std::from_chars(hex.str.data(), end, token, 16);
    if (hex.type != raw_reply::kind::string || ec != std::errc{} || p != end) {
        throw_unexpected(hex, "gets", key);
    }
    return token;
}

class redis_backend final : public backend {
public:
    redis_backend(asio::any_io_executor ex, redis_options const& o) : value_limit_(value_limit(o)) {
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

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override {
        auto cmd = format_command({"GET", key});
        auto res = co_await send(std::move(cmd), 1, dl);
        auto r = check(std::move(res), "GET", key);
        co_return redis_detail::to_bytes(std::move(r), "GET", key);
    }

    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override {
        std::vector<std::optional<std::string>> out;
        if (keys.empty()) {
            co_return out;
        }
        std::vector<std::string_view> argv{"MGET"};
        argv.insert(argv.end(), keys.begin(), keys.end());
        std::string cmd;
        redis_detail::append_command(cmd, argv);
        auto res = co_await send(std::move(cmd), 1, dl);
        auto r = check(std::move(res), "MGET", keys.front());
        redis_detail::expect_array(r, keys.size(), "MGET", keys.front());
        out.reserve(keys.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            out.push_back(redis_detail::to_bytes(std::move(r.elements[i]), "MGET", keys[i]));
        }
        co_return out;
    }

    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        check_value(key, value);
        std::string cmd;
        if (ttl.is_never()) {
            cmd = format_command({"SET", key, value});
        } else {
            cmd = format_command({"SET", key, value, "PX", ms_text(ttl)});
        }
        auto res = co_await send(std::move(cmd), 1, dl);
        redis_detail::expect_ok(check(std::move(res), "SET", key), "SET", key);
    }

    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl, deadline dl)
        -> task<void> override {
        if (items.empty()) {
            co_return;
        }
        for (auto const& [k, v] : items) {
            check_value(k, v);
        }
        std::string const& first = items.front().first;
        std::string cmd;
        if (ttl.is_never()) {
            std::vector<std::string_view> argv{"MSET"};
            for (auto const& [k, v] : items) {
                argv.push_back(k);
                argv.push_back(v);
            }
            redis_detail::append_command(cmd, argv);
            auto res = co_await send(std::move(cmd), 1, dl);
            redis_detail::expect_ok(check(std::move(res), "MSET", first), "MSET", first);
            co_return;
        }
        // MSET takes no TTL: one transaction of SET PX, still a single round trip.
        auto ms = ms_text(ttl);
        redis_detail::append_command(cmd, {"MULTI"});
        for (auto const& [k, v] : items) {
            redis_detail::append_command(cmd, {"SET", k, v, "PX", ms});
        }
        redis_detail::append_command(cmd, {"EXEC"});
        auto res = co_await send(std::move(cmd), items.size() + 2, dl);
        auto r = check(std::move(res), "MULTI/SET PX", first);
        redis_detail::expect_array(r, items.size(), "MULTI/SET PX", first);
        for (std::size_t i = 0; i < items.size(); ++i) {
            redis_detail::expect_ok(r.elements[i], "SET", items[i].first);
        }
    }

    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        check_value(key, value);
        std::string cmd;
        if (ttl.is_never()) {
            cmd = format_command({"SET", key, value, "NX"});
        } else {
            cmd = format_command({"SET", key, value, "NX", "PX", ms_text(ttl)});
        }
        auto res = co_await send(std::move(cmd), 1, dl);
        auto r = check(std::move(res), "SET NX", key);
        if (r.type == raw_reply::kind::nil) {
            throw_error(errc::key_exists,
                        fmt::format("redis: key {} already exists", redis_detail::shorten(key)));
        }
        redis_detail::expect_ok(r, "SET NX", key);
    }

    auto remove(std::string key, deadline dl) -> task<std::size_t> override {
        auto cmd = format_command({"UNLINK", key});
        auto res = co_await send(std::move(cmd), 1, dl);
        auto n = redis_detail::to_integer(check(std::move(res), "UNLINK", key), "UNLINK", key);
        co_return static_cast<std::size_t>(n);
    }

    auto exists(std::string key, deadline dl) -> task<bool> override {
        auto cmd = format_command({"EXISTS", key});
        auto res = co_await send(std::move(cmd), 1, dl);
        co_return redis_detail::to_integer(check(std::move(res), "EXISTS", key), "EXISTS", key) > 0;
    }

    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override {
        auto cmd = format_command({"INCRBY", key, std::to_string(delta)});
        auto res = co_await send(std::move(cmd), 1, dl);
        co_return redis_detail::to_integer(check(std::move(res), "INCRBY", key), "INCRBY", key);
    }

    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override {
        if (!ttl.is_never()) {
            auto cmd = format_command({"PEXPIRE", key, ms_text(ttl)});
            auto res = co_await send(std::move(cmd), 1, dl);
            co_return redis_detail::to_integer(check(std::move(res), "PEXPIRE", key), "PEXPIRE",
                                               key) == 1;
        }
        // PERSIST answers 0 for a key without a TTL as for a missing one; EXISTS in the same
        // transaction tells them apart.
        std::string cmd;
        redis_detail::append_command(cmd, {"MULTI"});
        redis_detail::append_command(cmd, {"PERSIST", key});
        redis_detail::append_command(cmd, {"EXISTS", key});
        redis_detail::append_command(cmd, {"EXEC"});
        auto res = co_await send(std::move(cmd), 4, dl);
        auto r = check(std::move(res), "PERSIST", key);
        redis_detail::expect_array(r, 2, "PERSIST", key);
        co_return redis_detail::to_integer(r.elements[1], "PERSIST", key) == 1;
    }

    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override {
        auto cmd = format_command({"PTTL", key});
        auto res = co_await send(std::move(cmd), 1, dl);
        co_return redis_detail::to_ttl(check(std::move(res), "PTTL", key), "PTTL", key);
    }

    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        if (ns.empty()) {
            throw_error(errc::invalid_argument,
                        "redis clear: an empty namespace would match every key; use clear_all");
        }
        // SCAN MATCH over the namespace's keys, UNLINK page by page: never KEYS, never FLUSHDB.
        auto pattern = redis_detail::glob_escape(ns) + ":*";
        auto count = std::to_string(scan_batch);
        std::string cursor = "0";
        std::size_t removed = 0;
        do {
            auto scan = format_command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
            auto res = co_await send(std::move(scan), 1, dl);
            auto page = check(std::move(res), "SCAN", pattern);
            redis_detail::expect_array(page, 2, "SCAN", pattern);
            auto& keys = page.elements[1];
            redis_detail::expect_array(keys, std::string_view::npos, "SCAN", pattern);
            if (page.elements[0].type != raw_reply::kind::string) {
                throw_unexpected(page.elements[0], "SCAN", pattern);
            }
            cursor = std::move(page.elements[0].str);
            if (keys.elements.empty()) {
                continue;
            }
            std::vector<std::string_view> argv{"UNLINK"};
            for (auto const& k : keys.elements) {
                if (k.type != raw_reply::kind::string) {
                    throw_unexpected(k, "SCAN", pattern);
                }
                argv.push_back(k.str);
            }
            std::string cmd;
            redis_detail::append_command(cmd, argv);
            auto unlinked = co_await send(std::move(cmd), 1, dl);
            removed += static_cast<std::size_t>(redis_detail::to_integer(
                check(std::move(unlinked), "UNLINK", pattern), "UNLINK", pattern));
        } while (cursor != "0");
        co_return removed;
    }

    auto clear_all(deadline dl) -> task<void> override {
        auto cmd = format_command({"FLUSHDB"});
        auto res = co_await send(std::move(cmd), 1, dl);
        redis_detail::expect_ok(check(std::move(res), "FLUSHDB", ""), "FLUSHDB", "");
    }

    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override {
        std::vector<std::string> args;
        auto r = co_await eval(gets_script(), key, std::move(args), dl);
        if (r.type == raw_reply::kind::nil) {
            co_return std::nullopt;
        }
        redis_detail::expect_array(r, 2, "gets", key);
        auto token = token_of(r.elements[1], key);
        auto value = redis_detail::to_bytes(std::move(r.elements[0]), "gets", key);
        if (!value) {
            throw_unexpected(r, "gets", key);
        }
        co_return versioned_bytes{std::move(*value), token};
    }

    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override {
        check_value(key, value);
        std::vector<std::string> args{std::move(value), fmt::format("{:016x}", token),
                                      ttl.is_never() ? std::string("0") : ms_text(ttl)};
        auto r = co_await eval(cas_script(), key, std::move(args), dl);
        co_return redis_detail::to_integer(r, "cas", key) == 1;
    }

    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override {
        std::vector<std::string> args{std::move(expected)};
        auto r = co_await eval(remove_if_equal_script(), key, std::move(args), dl);
        co_return redis_detail::to_integer(r, "remove_if_equal", key) == 1;
    }

    auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool> override {
        std::vector<std::string> args{std::move(expected),
                                      ttl.is_never() ? std::string("0") : ms_text(ttl)};
        auto r = co_await eval(expire_if_equal_script(), key, std::move(args), dl);
        co_return redis_detail::to_integer(r, "expire_if_equal", key) == 1;
    }

    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        if (argv.empty()) {
            throw_error(errc::invalid_argument, "redis raw: empty command");
        }
        if (blocking_raw(argv)) {
            throw_error(errc::invalid_argument,
                        fmt::format("redis raw: {} blocks its connection, and every request "
                                    "pipelined behind it; use a dedicated client for it",
                                    argv.front()));
        }
        if (forbidden_raw(argv)) {
            throw_error(errc::invalid_argument,
                        fmt::format("redis raw: {} would break the shared, pipelined connection",
                                    argv.front()));
        }
        std::vector<std::string_view> views(argv.begin(), argv.end());
        std::string cmd;
        redis_detail::append_command(cmd, views);
        auto res = co_await send(std::move(cmd), 1, dl);
        // Error replies are data here: they come back as raw_reply::kind::error.
        co_return check(std::move(res), argv.front(), "");
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

private:
    using result = std::tuple<error_code, raw_reply>;

    void check_value(std::string const& key, std::string const& value) const {
        if (value.size() > value_limit_) {
            throw_error(errc::value_too_large,
                        fmt::format("redis: value for {} is {} bytes, over the {}-byte limit (the "
                                    "server's 512 MiB, or max_reply_bytes less framing)",
                                    redis_detail::shorten(key), value.size(), value_limit_));
        }
    }

    auto pick() -> connection& {
        if (conns_.size() == 1) {
            return *conns_.front();
        }
        return *conns_[next_.fetch_add(1, std::memory_order_relaxed) % conns_.size()];
    }

    // Not a coroutine: the awaitable comes straight from the connection's async_exec.
    auto send(std::string cmd, std::size_t replies, deadline dl) -> task<result> {
        return pick().async_exec(std::move(cmd), replies, dl, asio::as_tuple(asio::use_awaitable));
    }

    /// The reply, or a throw for a transport failure (timeout, connection lost, cancelled).
    static auto check(result&& res, std::string_view cmd, std::string_view key) -> raw_reply {
        auto& [ec, reply] = res;
        if (!ec) {
            return std::move(reply);
        }
        auto what = key.empty()
                        ? fmt::format("{} ({})", reply.str, cmd)
                        : fmt::format("{} ({} {})", reply.str, cmd, redis_detail::shorten(key));
        throw boost::system::system_error(ec, what);
    }

    /// EVALSHA, then EVAL when the server does not have the script cached. Server errors
    /// other than NOSCRIPT are thrown.
    auto eval(script const& sc, std::string key, std::vector<std::string> args, deadline dl)
        -> task<raw_reply> {
        std::vector<std::string_view> argv{"EVALSHA", sc.sha, "1", key};
        argv.insert(argv.end(), args.begin(), args.end());
        std::string cmd;
        redis_detail::append_command(cmd, argv);
        auto res = co_await send(std::move(cmd), 1, dl);
        auto r = check(std::move(res), "EVALSHA", key);
        if (redis_detail::is_noscript(r)) {
            argv[0] = "EVAL";
            argv[1] = sc.text;
            std::string again;
            redis_detail::append_command(again, argv);
            auto res2 = co_await send(std::move(again), 1, dl);
            r = check(std::move(res2), "EVAL", key);
        }
        if (r.type == raw_reply::kind::error) {
            throw_unexpected(r, "EVAL", key);
        }
        co_return r;
    }

    std::size_t value_limit_;
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
            bad_config("redis: one host expected (Redis Cluster is not supported)");
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
