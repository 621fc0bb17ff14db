// SPDX-License-Identifier: MIT
#include "redis_ops.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "asiocache/errors.hpp"

namespace asiocache::backends::redis_detail {
namespace {

namespace asio = boost::asio;

// Redis's default proto-max-bulk-len: a larger value would make the server drop the
// connection, so it is refused before it is sent.
constexpr std::size_t max_value_size = 512ULL * 1024 * 1024;
constexpr std::size_t scan_batch = 1000;

auto make_script(std::string_view text) -> script { return {text, sha1_hex(text)}; }

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

auto token_of(raw_reply const& hex, std::string_view key) -> std::uint64_t {
    std::uint64_t token = 0;
    auto const* end = hex.str.data() + hex.str.size();
    auto [p, ec] = std::from_chars(hex.str.data(), end, token, 16);
    if (hex.type != raw_reply::kind::string || ec != std::errc{} || p != end) {
        throw_unexpected(hex, "gets", key);
    }
    return token;
}

}  // namespace

auto redis_ops::needs_follow(exec_result const& res) const noexcept -> bool {
    if (!follows_) {
        return false;
    }
    auto const& [ec, reply] = res;
    if (ec) {
        return ec == errc::backend_unavailable;
    }
    if (reply.type != raw_reply::kind::error) {
        return false;
    }
    std::string_view const text = reply.str;
    return text.starts_with("MOVED ") || text.starts_with("ASK ") ||
           text.starts_with("TRYAGAIN") || text.starts_with("CLUSTERDOWN");
}

auto redis_ops::follow(std::string_view /*key*/, std::string /*cmd*/, std::size_t /*replies*/,
                       deadline /*dl*/, exec_result first) -> task<exec_result> {
    co_return first;
}

auto value_limit(redis_options const& o) -> std::size_t {
    auto readable = o.max_reply_bytes > reply_overhead ? o.max_reply_bytes - reply_overhead : 0;
    return std::min(max_value_size, readable);
}

auto iequals(std::string_view a, std::string_view b) -> bool {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

void add_counters(redis_stats& out, connection const& c) {
    auto const& s = c.stats();
    out.requests += s.requests.load(std::memory_order_relaxed);
    out.writes += s.writes.load(std::memory_order_relaxed);
    out.connects += s.connects.load(std::memory_order_relaxed);
    out.timeouts += s.timeouts.load(std::memory_order_relaxed);
    out.connect_attempts += s.connect_attempts.load(std::memory_order_relaxed);
    out.health_drops += s.health_drops.load(std::memory_order_relaxed);
}

void check_connection_options(redis_options& o, std::string_view who) {
    auto bad = [&](std::string const& what) {
        throw_error(errc::invalid_config, fmt::format("{}: {}", who, what));
    };
    if (o.pool_size == 0 || o.pool_size > 256) {
        bad(fmt::format("pool_size {} is not in 1..256", o.pool_size));
    }
    if (o.max_in_flight == 0) {
        bad("max_in_flight must be at least 1");
    }
    if (o.username && !o.username->empty() && !o.password) {
        bad("a username needs a password");
    }
    if (o.username && o.username->empty()) {
        o.username.reset();
    }
    if (o.max_reply_bytes < 64 * 1024) {
        bad(fmt::format("max_reply_bytes {} is under 64 KiB", o.max_reply_bytes));
    }
    if (o.health_check_interval.count() < 0) {
        bad("health_check must not be negative");
    }
    if (o.connect_timeout.count() <= 0 || o.reconnect_min.count() <= 0 ||
        o.reconnect_max < o.reconnect_min) {
        bad("connect_timeout and reconnect_min must be positive, and reconnect_max at least "
            "reconnect_min");
    }
}

void take_connection_params(backend_config& cfg, redis_options& o, std::string_view who) {
    o.username = cfg.username;
    o.password = cfg.password;
    if (auto v = cfg.take_duration("connect_timeout")) {
        o.connect_timeout = *v;
    }
    if (auto v = cfg.take_size("max_in_flight")) {
        o.max_in_flight = static_cast<std::size_t>(*v);
    }
    auto pool = cfg.take_size("pool_size");
    if (auto alias = cfg.take_size("pool")) {
        if (pool) {
            throw_error(errc::invalid_config,
                        fmt::format("{}: give pool_size or pool, not both", who));
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
}

void check_raw(std::vector<std::string> const& argv) {
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
}

auto check(exec_result&& res, std::string_view cmd, std::string_view key) -> raw_reply {
    auto& [ec, reply] = res;
    if (!ec) {
        return std::move(reply);
    }
    auto what = key.empty() ? fmt::format("{} ({})", reply.str, cmd)
                            : fmt::format("{} ({} {})", reply.str, cmd, shorten(key));
    throw boost::system::system_error(ec, what);
}

// Not a coroutine: the awaitable comes straight from the connection's async_exec.
auto exec_on(connection& c, std::string cmd, std::size_t replies, deadline dl)
    -> task<exec_result> {
    return c.async_exec(std::move(cmd), replies, dl, asio::as_tuple(asio::use_awaitable));
}

auto scan_unlink(connection& c, std::string const& ns, bool per_key, deadline dl)
    -> task<std::size_t> {
    // SCAN MATCH over the namespace's keys, UNLINK page by page: never KEYS, never FLUSHDB.
    auto pattern = glob_escape(ns) + ":*";
    auto count = std::to_string(scan_batch);
    std::string cursor = "0";
    std::size_t removed = 0;
    do {
        auto scan = format_command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
        auto page = check(co_await exec_on(c, std::move(scan), 1, dl), "SCAN", pattern);
        expect_array(page, 2, "SCAN", pattern);
        auto& keys = page.elements[1];
        expect_array(keys, std::string_view::npos, "SCAN", pattern);
        if (page.elements[0].type != raw_reply::kind::string) {
            throw_unexpected(page.elements[0], "SCAN", pattern);
        }
        cursor = std::move(page.elements[0].str);
        if (keys.elements.empty()) {
            continue;
        }
        for (auto const& k : keys.elements) {
            if (k.type != raw_reply::kind::string) {
                throw_unexpected(k, "SCAN", pattern);
            }
        }
        std::string cmd;
        if (!per_key) {
            std::vector<std::string_view> argv{"UNLINK"};
            for (auto const& k : keys.elements) {
                argv.push_back(k.str);
            }
            append_command(cmd, argv);
            auto unlinked = check(co_await exec_on(c, std::move(cmd), 1, dl), "UNLINK", pattern);
            removed += static_cast<std::size_t>(to_integer(unlinked, "UNLINK", pattern));
            continue;
        }
        for (auto const& k : keys.elements) {
            append_command(cmd, {"UNLINK", k.str});
        }
        auto n = keys.elements.size();
        auto all = check(co_await exec_on(c, std::move(cmd), n | resp_protocol::gather, dl),
                         "UNLINK", pattern);
        for (auto const& one : all.elements) {
            removed += static_cast<std::size_t>(to_integer(one, "UNLINK", pattern));
        }
    } while (cursor != "0");
    co_return removed;
}

auto redis_ops::get(std::string key, deadline dl) -> task<std::optional<std::string>> {
    auto cmd = format_command({"GET", key});
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    auto r = check(std::move(res), "GET", key);
    co_return to_bytes(std::move(r), "GET", key);
}

auto redis_ops::multi_get(std::vector<std::string> keys, deadline dl)
    -> task<std::vector<std::optional<std::string>>> {
    std::vector<std::optional<std::string>> out;
    if (keys.empty()) {
        co_return out;
    }
    std::vector<std::string_view> argv{"MGET"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    std::string cmd;
    append_command(cmd, argv);
    auto res = co_await route(keys.front(), pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(keys.front(), std::move(cmd), 1, dl, std::move(res));
    }
    auto r = check(std::move(res), "MGET", keys.front());
    expect_array(r, keys.size(), "MGET", keys.front());
    out.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        out.push_back(to_bytes(std::move(r.elements[i]), "MGET", keys[i]));
    }
    co_return out;
}

auto redis_ops::set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> {
    check_value(key, value);
    std::string cmd;
    if (ttl.is_never()) {
        cmd = format_command({"SET", key, value});
    } else {
        cmd = format_command({"SET", key, value, "PX", ms_text(ttl)});
    }
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    expect_ok(check(std::move(res), "SET", key), "SET", key);
}

auto redis_ops::multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                         deadline dl) -> task<void> {
    if (items.empty()) {
        co_return;
    }
    for (auto const& [k, v] : items) {
        check_value(k, v);
    }
    co_await set_batch(items, ttl, dl);
}

auto redis_ops::set_batch(std::vector<std::pair<std::string, std::string>> const& items,
                          expiry ttl, deadline dl) -> task<void> {
    std::string const& first = items.front().first;
    std::string cmd;
    if (ttl.is_never()) {
        std::vector<std::string_view> argv{"MSET"};
        for (auto const& [k, v] : items) {
            argv.push_back(k);
            argv.push_back(v);
        }
        append_command(cmd, argv);
        auto res = co_await route(first, pass(cmd), 1, dl);
        if (needs_follow(res)) {
            res = co_await follow(first, std::move(cmd), 1, dl, std::move(res));
        }
        expect_ok(check(std::move(res), "MSET", first), "MSET", first);
        co_return;
    }
    // MSET takes no TTL: one transaction of SET PX, still a single round trip.
    auto ms = ms_text(ttl);
    append_command(cmd, {"MULTI"});
    for (auto const& [k, v] : items) {
        append_command(cmd, {"SET", k, v, "PX", ms});
    }
    append_command(cmd, {"EXEC"});
    auto res = co_await route(first, pass(cmd), items.size() + 2, dl);
    if (needs_follow(res)) {
        res = co_await follow(first, std::move(cmd), items.size() + 2, dl, std::move(res));
    }
    auto r = check(std::move(res), "MULTI/SET PX", first);
    expect_array(r, items.size(), "MULTI/SET PX", first);
    for (std::size_t i = 0; i < items.size(); ++i) {
        expect_ok(r.elements[i], "SET", items[i].first);
    }
}

auto redis_ops::add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> {
    check_value(key, value);
    std::string cmd;
    if (ttl.is_never()) {
        cmd = format_command({"SET", key, value, "NX"});
    } else {
        cmd = format_command({"SET", key, value, "NX", "PX", ms_text(ttl)});
    }
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    auto r = check(std::move(res), "SET NX", key);
    if (r.type == raw_reply::kind::nil) {
        throw_error(errc::key_exists,
                    fmt::format("redis: key {} already exists", shorten(key)));
    }
    expect_ok(r, "SET NX", key);
}

auto redis_ops::remove(std::string key, deadline dl) -> task<std::size_t> {
    auto cmd = format_command({"UNLINK", key});
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    auto n = to_integer(check(std::move(res), "UNLINK", key), "UNLINK", key);
    co_return static_cast<std::size_t>(n);
}

auto redis_ops::exists(std::string key, deadline dl) -> task<bool> {
    auto cmd = format_command({"EXISTS", key});
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    co_return to_integer(check(std::move(res), "EXISTS", key), "EXISTS", key) > 0;
}

auto redis_ops::increment(std::string key, std::int64_t delta, deadline dl)
    -> task<std::int64_t> {
    auto cmd = format_command({"INCRBY", key, std::to_string(delta)});
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    co_return to_integer(check(std::move(res), "INCRBY", key), "INCRBY", key);
}

auto redis_ops::expire(std::string key, expiry ttl, deadline dl) -> task<bool> {
    if (!ttl.is_never()) {
        auto cmd = format_command({"PEXPIRE", key, ms_text(ttl)});
        auto res = co_await route(key, pass(cmd), 1, dl);
        if (needs_follow(res)) {
            res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
        }
        co_return to_integer(check(std::move(res), "PEXPIRE", key), "PEXPIRE",
                                           key) == 1;
    }
    // PERSIST answers 0 for a key without a TTL as for a missing one; EXISTS in the same
    // transaction tells them apart.
    std::string cmd;
    append_command(cmd, {"MULTI"});
    append_command(cmd, {"PERSIST", key});
    append_command(cmd, {"EXISTS", key});
    append_command(cmd, {"EXEC"});
    auto res = co_await route(key, pass(cmd), 4, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 4, dl, std::move(res));
    }
    auto r = check(std::move(res), "PERSIST", key);
    expect_array(r, 2, "PERSIST", key);
    co_return to_integer(r.elements[1], "PERSIST", key) == 1;
}

auto redis_ops::ttl(std::string key, deadline dl) -> task<std::optional<expiry>> {
    auto cmd = format_command({"PTTL", key});
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    co_return to_ttl(check(std::move(res), "PTTL", key), "PTTL", key);
}

auto redis_ops::gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> {
    std::vector<std::string> args;
    auto r = co_await eval(gets_script(), key, std::move(args), dl);
    if (r.type == raw_reply::kind::nil) {
        co_return std::nullopt;
    }
    expect_array(r, 2, "gets", key);
    auto token = token_of(r.elements[1], key);
    auto value = to_bytes(std::move(r.elements[0]), "gets", key);
    if (!value) {
        throw_unexpected(r, "gets", key);
    }
    co_return versioned_bytes{std::move(*value), token};
}

auto redis_ops::cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
    -> task<bool> {
    check_value(key, value);
    std::vector<std::string> args{std::move(value), fmt::format("{:016x}", token),
                                  ttl.is_never() ? std::string("0") : ms_text(ttl)};
    auto r = co_await eval(cas_script(), key, std::move(args), dl);
    co_return to_integer(r, "cas", key) == 1;
}

auto redis_ops::remove_if_equal(std::string key, std::string expected, deadline dl)
    -> task<bool> {
    std::vector<std::string> args{std::move(expected)};
    auto r = co_await eval(remove_if_equal_script(), key, std::move(args), dl);
    co_return to_integer(r, "remove_if_equal", key) == 1;
}

auto redis_ops::expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
    -> task<bool> {
    std::vector<std::string> args{std::move(expected),
                                  ttl.is_never() ? std::string("0") : ms_text(ttl)};
    auto r = co_await eval(expire_if_equal_script(), key, std::move(args), dl);
    co_return to_integer(r, "expire_if_equal", key) == 1;
}


void redis_ops::check_value(std::string const& key, std::string const& value) const {
    if (value.size() > value_limit_) {
        throw_error(errc::value_too_large,
                    fmt::format("redis: value for {} is {} bytes, over the {}-byte limit (the "
                                "server's 512 MiB, or max_reply_bytes less framing)",
                                shorten(key), value.size(), value_limit_));
    }
}

auto redis_ops::eval(script const& sc, std::string key, std::vector<std::string> args, deadline dl)
    -> task<raw_reply> {
    std::vector<std::string_view> argv{"EVALSHA", sc.sha, "1", key};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string cmd;
    append_command(cmd, argv);
    auto res = co_await route(key, pass(cmd), 1, dl);
    if (needs_follow(res)) {
        res = co_await follow(key, std::move(cmd), 1, dl, std::move(res));
    }
    auto r = check(std::move(res), "EVALSHA", key);
    if (is_noscript(r)) {
        argv[0] = "EVAL";
        argv[1] = sc.text;
        std::string again;
        append_command(again, argv);
        auto res2 = co_await route(key, pass(again), 1, dl);
        if (needs_follow(res2)) {
            res2 = co_await follow(key, std::move(again), 1, dl, std::move(res2));
        }
        r = check(std::move(res2), "EVAL", key);
    }
    if (r.type == raw_reply::kind::error) {
        throw_unexpected(r, "EVAL", key);
    }
    co_return r;
}

}  // namespace asiocache::backends::redis_detail
