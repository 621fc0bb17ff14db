// SPDX-License-Identifier: MIT
#include <fmt/format.h>
#include <libmemcached/memcached.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <charconv>
#include <exception>
#include <limits>
#include <type_traits>
#include <unordered_map>

#include "asiocache/backends/memcached.hpp"
#include "asiocache/errors.hpp"
#include "memcached_keys.hpp"
#include "asiocache_net/batch.hpp"
#include "meta_connection.hpp"

namespace asiocache::backends {
namespace {

namespace asio = boost::asio;
using meta::reply;
using kind = meta::reply::kind;
using replies = std::vector<meta::reply>;
using net::run_all;

constexpr std::uint16_t default_port = 11211;
constexpr std::size_t default_item_size_max = 1024 * 1024;
// Bytes of item header that count against the item size limit besides key and value
// (memcached's item struct, CAS, flags, "\r\n"), rounded up generously: a value that might not
// fit is refused here, because memcached drops the old value when it refuses a too-large `set`.
constexpr std::size_t item_overhead = 128;
constexpr auto awaitable_tuple = asio::as_tuple(asio::use_awaitable);

auto unix_now() -> std::int64_t {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A number as memcached and the serializers write it: an optional '-' (for signed `T`), digits,
// and the trailing spaces memcached leaves after a `decr` shortens a value in place.
template <class T>
auto parse_number(std::string_view v) -> std::optional<T> {
    while (!v.empty() && v.back() == ' ') {
        v.remove_suffix(1);
    }
    T out = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) {
        return std::nullopt;
    }
    return out;
}
constexpr auto parse_counter = parse_number<std::int64_t>;
constexpr auto parse_unsigned = parse_number<std::uint64_t>;

auto kind_name(kind k) -> std::string_view {
    switch (k) {
        case kind::value:
            return "VA";
        case kind::stored:
            return "HD";
        case kind::miss:
            return "EN";
        case kind::not_found:
            return "NF";
        case kind::not_stored:
            return "NS";
        case kind::exists:
            return "EX";
        case kind::noop:
            return "MN";
        case kind::client_error:
            return "CLIENT_ERROR";
        case kind::server_error:
            return "SERVER_ERROR";
        case kind::error:
            return "ERROR";
        case kind::stat:
            return "STAT";
        case kind::end:
            return "END";
        case kind::version:
            return "VERSION";
        case kind::ok:
            return "OK";
        case kind::item:
            return "VALUE";
    }
    return "?";
}

// The error for a reply the operation did not expect: the server's own errors keep their
// message; anything else means client and server are out of step.
auto error_for(reply const& r) -> errc {
    switch (r.type) {
        case kind::client_error:
            return r.data.find("non-numeric") != std::string::npos ? errc::not_a_number
                                                                   : errc::backend_error;
        case kind::server_error:
            return r.data.find("too large") != std::string::npos ? errc::value_too_large
                                                                 : errc::backend_error;
        default:
            return errc::protocol_error;
    }
}

[[noreturn]] void unexpected(reply const& r, std::string_view server, std::string_view op,
                             std::string_view key) {
    throw_error(error_for(r),
                fmt::format("memcached {} {} '{}': {}{}{}", server, op, key, kind_name(r.type),
                            r.data.empty() ? "" : " ", r.data.substr(0, 200)));
}

auto single(replies&& rs) -> reply {
    if (rs.empty()) {
        throw_error(errc::protocol_error, "memcached: an empty reply");
    }
    return std::move(rs.front());
}

// The opaque index of a quiet-batch reply, checked against the batch.
auto opaque_index(reply const& r, std::size_t n) -> std::optional<std::size_t> {
    auto o = r.flag_int('O');
    if (!o || *o < 0 || static_cast<std::uint64_t>(*o) >= n) {
        return std::nullopt;
    }
    return static_cast<std::size_t>(*o);
}

auto ttl_flag(std::int64_t exptime) -> std::string { return fmt::format("T{}", exptime); }


// --- Placement ---------------------------------------------------------------------------

struct memcached_deleter {
    void operator()(memcached_st* mc) const noexcept { memcached_free(mc); }
};

// Which server owns a key, decided by libmemcached itself: an unconnected handle configured as
// the former client's handles were (weighted ketama, MD5 points), so every libmemcached user
// with the same server list agrees. `memcached_generate_hash` only reads the continuum (it
// rebuilds nothing without auto-eject), so one handle serves every thread.
class placement {
public:
    explicit placement(std::vector<endpoint> const& servers) : count_(servers.size()) {
        if (count_ < 2) {
            return;
        }
        mc_.reset(memcached_create(nullptr));
        if (!mc_) {
            throw std::bad_alloc();
        }
        auto* mc = mc_.get();
        if (memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1) !=
            MEMCACHED_SUCCESS) {
            throw_error(errc::invalid_config, "memcached: cannot configure ketama placement");
        }
        for (auto const& s : servers) {
            auto rc =
                s.host.starts_with('/')
                    ? memcached_server_add_unix_socket(mc, s.host.c_str())
                    : memcached_server_add(mc, s.host.c_str(), s.port == 0 ? default_port : s.port);
            if (rc != MEMCACHED_SUCCESS) {
                throw_error(errc::invalid_config,
                            fmt::format("memcached: cannot add server {}:{}: {}", s.host, s.port,
                                        memcached_strerror(mc, rc)));
            }
        }
    }

    [[nodiscard]] auto server_for(std::string_view key) const -> std::size_t {
        if (count_ < 2) {
            return 0;
        }
        auto i = memcached_generate_hash(mc_.get(), key.data(), key.size());
        return std::min<std::size_t>(i, count_ - 1);
    }

private:
    std::size_t count_;
    std::unique_ptr<memcached_st, memcached_deleter> mc_;
};

// --- The backend -------------------------------------------------------------------------

struct server {
    std::string name;  // "host:port", in diagnostics and raw replies
    std::vector<std::shared_ptr<meta::connection>> conns;
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> item_limit{0};  // 0: not known yet
};

class memcached_backend final : public backend {
public:
    memcached_backend(asio::any_io_executor ex, memcached_options opts)
        : opts_(std::move(opts)), placement_(check(opts_).servers) {
        traits_.name = "memcached";
        traits_.namespace_separator = "";
        traits_.enforces_deadlines = true;
        traits_.supports_ttl = true;
        traits_.supports_clear_namespace = opts_.namespace_generations;
        traits_.ttl_granularity = std::chrono::seconds(1);
        traits_.max_key_size = detail::max_key_size;
        for (auto const& e : opts_.servers) {
            auto s = std::make_shared<meta::connection_settings>();
            auto srv = std::make_unique<server>();
            if (e.host.starts_with('/')) {
                s->unix_path = e.host;
                srv->name = e.host;
            } else {
                s->host = e.host;
                s->port = e.port == 0 ? default_port : e.port;
                srv->name = e.host.find(':') != std::string::npos
                                ? fmt::format("[{}]:{}", e.host, s->port)
                                : fmt::format("{}:{}", e.host, s->port);
            }
            s->label = fmt::format("memcached {}", srv->name);
            s->connect_timeout = opts_.connect_timeout;
            s->reconnect_min = opts_.reconnect_min;
            s->reconnect_max = opts_.reconnect_max;
            s->health_check_interval = opts_.health_check_interval;
            s->max_in_flight = opts_.max_in_flight;
            if (opts_.item_size_max != 0) {
                s->max_value = opts_.item_size_max + 4096;
            }
            for (std::size_t i = 0; i < opts_.connections_per_server; ++i) {
                srv->conns.push_back(std::make_shared<meta::connection>(ex, s));
            }
            servers_.push_back(std::move(srv));
        }
    }

    ~memcached_backend() override {
        for (auto& s : servers_) {
            for (auto& c : s->conns) {
                c->shutdown();
            }
        }
    }

    memcached_backend(memcached_backend const&) = delete;
    auto operator=(memcached_backend const&) -> memcached_backend& = delete;

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override { return traits_; }

    [[nodiscard]] auto build_key(std::string_view ns, std::string_view key) const
        -> std::string override {
        return detail::build_key(ns, key, opts_.namespace_generations);
    }

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        auto r = single(co_await one(meta::append_get, k, "v", dl));
        if (r.type == kind::value) {
            co_return std::move(r.data);
        }
        if (r.type == kind::miss) {
            co_return std::nullopt;
        }
        unexpected(r, name(s), "get", k);
    }

    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override {
        std::vector<std::optional<std::string>> out(keys.size());
        if (keys.empty()) {
            co_return out;
        }
        auto resolved = co_await resolve_all(std::move(keys), dl);
        auto groups = group(resolved);
        std::vector<task<void>> work;
        std::vector<std::size_t> group_server;
        for (std::size_t s = 0; s < groups.size(); ++s) {
            if (!groups[s].empty()) {
                work.push_back(fetch(s, resolved, groups[s], out, dl));
                group_server.push_back(s);
            }
        }
        if (work.size() == 1) {
            co_await std::move(work.front());  // one server: its error is the error
            co_return out;
        }
        auto errors = co_await run_all(std::move(work));
        net::batch_failures failed;
        for (std::size_t j = 0; j < errors.size(); ++j) {
            if (errors[j]) {
                failed.emplace_back(group_server[j], errors[j]);
            }
        }
        raise(std::move(failed), group_server.size(), groups, "multi_get", resolved, &out);
        co_return out;
    }

    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        co_await store(store_mode::set, std::move(key), std::move(value), ttl, 0, dl);
    }

    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl, deadline dl)
        -> task<void> override {
        if (items.empty()) {
            co_return;
        }
        auto const exptime = memcached_expiration(ttl, unix_now());
        std::vector<std::string> keys;
        keys.reserve(items.size());
        for (auto& [k, v] : items) {
            keys.push_back(std::move(k));
        }
        auto resolved = co_await resolve_all(std::move(keys), dl);
        auto groups = group(resolved);
        std::vector<std::size_t> live;  // the servers this batch writes to
        for (std::size_t s = 0; s < groups.size(); ++s) {
            if (!groups[s].empty()) {
                live.push_back(s);
            }
        }
        net::batch_failures failed;
        // The item size limits, asked of the servers concurrently where they are not configured:
        // a server that cannot be asked fails its own items only.
        std::vector<std::size_t> limits(servers_.size(), opts_.item_size_max);
        if (opts_.item_size_max == 0) {
            std::vector<task<void>> asks;
            for (auto s : live) {
                asks.push_back(fetch_limit(s, limits[s], dl));
            }
            auto errors = co_await run_all(std::move(asks));
            for (std::size_t j = 0; j < live.size(); ++j) {
                if (errors[j]) {
                    failed.emplace_back(live[j], errors[j]);
                }
            }
        }
        auto reachable = [&](std::size_t s) {
            return std::none_of(failed.begin(), failed.end(),
                                [s](auto const& f) { return f.first == s; });
        };
        // Every size is checked before the first write, so a refused item stores none.
        for (auto s : live) {
            if (reachable(s)) {
                for (auto i : groups[s]) {
                    check_fits(limits[s], resolved[i], items[i].second);
                }
            }
        }
        std::vector<task<void>> work;
        std::vector<std::size_t> writing;
        auto const flags_base = ttl_flag(exptime);
        for (auto s : live) {
            if (!reachable(s)) {
                continue;
            }
            std::string cmd;
            for (auto i : groups[s]) {
                meta::append_set(cmd, resolved[i], items[i].second,
                                 fmt::format("{} q O{}", flags_base, i));
            }
            meta::append_noop(cmd);
            work.push_back(store_batch(s, std::move(cmd), items.size(), dl));
            writing.push_back(s);
        }
        if (!work.empty()) {
            auto errors = co_await run_all(std::move(work));
            for (std::size_t j = 0; j < writing.size(); ++j) {
                if (errors[j]) {
                    failed.emplace_back(writing[j], errors[j]);
                }
            }
        }
        raise(std::move(failed), live.size(), groups, "multi_set", resolved, nullptr);
    }

    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        co_await store(store_mode::add, std::move(key), std::move(value), ttl, 0, dl);
    }

    auto remove(std::string key, deadline dl) -> task<std::size_t> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        auto r = single(co_await one(meta::append_delete, k, "", dl));
        if (r.type == kind::stored) {
            co_return 1;
        }
        if (r.type == kind::not_found) {
            co_return 0;
        }
        unexpected(r, name(s), "delete", k);
    }

    auto exists(std::string key, deadline dl) -> task<bool> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        auto r = single(co_await one(meta::append_get, k, "", dl));
        if (r.type == kind::stored || r.type == kind::miss) {
            co_return r.type == kind::stored;
        }
        unexpected(r, name(s), "exists", k);
    }

    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        co_return co_await add_to_counter(k, delta, dl);
    }

    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override {
        auto const exptime = memcached_expiration(ttl, unix_now());
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        auto r = single(co_await one(meta::append_get, k, ttl_flag(exptime), dl));
        if (r.type == kind::stored || r.type == kind::miss) {
            co_return r.type == kind::stored;
        }
        unexpected(r, name(s), "touch", k);
    }

    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        auto r = single(co_await one(meta::append_get, k, "t", dl));
        if (r.type == kind::miss) {
            co_return std::nullopt;
        }
        auto t = r.flag_int('t');
        if (r.type != kind::stored || !t || *t < -1) {
            unexpected(r, name(s), "ttl", k);
        }
        if (*t == -1) {
            co_return expiry::never();
        }
        // memcached counts whole seconds; an item in its last second still has up to one.
        co_return expiry(std::chrono::seconds(std::max<std::int64_t>(*t, 1)));
    }

    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        if (!opts_.namespace_generations) {
            throw_error(errc::not_supported,
                        fmt::format("memcached clear '{}': memcached cannot list a namespace's "
                                    "keys; enable namespace_generations (nothing was flushed)",
                                    ns));
        }
        if (ns.empty()) {
            throw_error(errc::invalid_argument, "memcached clear: empty namespace");
        }
        auto built = build_key(ns, "");
        auto split = detail::split_namespaced(built);
        co_await bump_generation(std::string(split->ns), dl);
        co_return 0;  // memcached cannot count the keys left behind
    }

    auto clear_all(deadline dl) -> task<void> override {
        std::vector<task<void>> work;
        for (std::size_t s = 0; s < servers_.size(); ++s) {
            work.push_back(flush(s, dl));
        }
        for (auto& e : co_await run_all(std::move(work))) {
            if (e) {
                std::rethrow_exception(e);
            }
        }
    }

    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        co_return co_await gets_resolved(k, dl);
    }

    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override {
        co_return co_await store(store_mode::cas, std::move(key), std::move(value), ttl, token, dl);
    }

    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        auto s = owner(k);
        // gets, compare, then a delete guarded by the CAS token: atomic, and retried only when
        // another writer changed the value in between.
        for (;;) {
            auto current = co_await gets_resolved(k, dl);
            if (!current || current->value != expected) {
                co_return false;
            }
            auto r = single(
                co_await one(meta::append_delete, k, fmt::format("C{}", current->token), dl));
            if (r.type == kind::stored) {
                co_return true;
            }
            if (r.type == kind::not_found) {
                co_return false;
            }
            if (r.type != kind::exists) {
                unexpected(r, name(s), "remove_if_equal", k);
            }
        }
    }

    auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool> override {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        // Memcached has no conditional touch: gets, compare, then the same value written back
        // with the new TTL under the CAS token; retried only when another writer got between.
        for (;;) {
            auto current = co_await gets_resolved(k, dl);
            if (!current || current->value != expected) {
                co_return false;
            }
            if (co_await store_resolved(store_mode::cas, k, std::move(current->value), ttl,
                                        current->token, dl)) {
                co_return true;
            }
        }
    }

    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        auto const& cmd = argv.front();
        if (!((cmd == "stats" && argv.size() <= 2) || (cmd == "version" && argv.size() == 1) ||
              (cmd == "flush_all" && argv.size() == 1))) {
            throw_error(errc::not_supported,
                        fmt::format("memcached raw '{}': only 'stats [group]', 'version' and "
                                    "'flush_all' pass through",
                                    cmd));
        }
        if (cmd == "flush_all") {
            co_await clear_all(dl);
            co_return raw_reply{.type = raw_reply::kind::status, .str = "OK"};
        }
        if (argv.size() == 2 && !meta::is_text_key(argv[1])) {
            throw_error(errc::invalid_argument,
                        fmt::format("memcached raw stats: invalid group '{}'", argv[1]));
        }
        std::string line = argv.size() == 2   ? fmt::format("stats {}\r\n", argv[1])
                           : cmd == "version" ? std::string("version\r\n")
                                              : std::string("stats\r\n");
        auto const expect = cmd == "version" ? std::size_t{1} : meta::until::end;
        std::vector<raw_reply> per_server(servers_.size());
        std::vector<task<void>> work;
        for (std::size_t s = 0; s < servers_.size(); ++s) {
            work.push_back(raw_one(s, line, expect, per_server[s], dl));
        }
        for (auto& e : co_await run_all(std::move(work))) {
            if (e) {
                std::rethrow_exception(e);
            }
        }
        co_return raw_reply{.type = raw_reply::kind::array, .elements = std::move(per_server)};
    }

    auto close() -> task<void> override {
        for (auto& s : servers_) {
            for (auto& c : s->conns) {
                co_await c->async_close(awaitable_tuple);
            }
        }
    }

private:
    enum class store_mode { set, add, cas };

    static auto check(memcached_options const& o) -> memcached_options const& {
        if (o.servers.empty()) {
            throw_error(errc::invalid_config, "memcached: no servers");
        }
        for (auto const& s : o.servers) {
            if (s.host.empty()) {
                throw_error(errc::invalid_config, "memcached: empty server host");
            }
        }
        if (o.connections_per_server == 0 || o.max_in_flight == 0) {
            throw_error(errc::invalid_config,
                        "memcached: connections_per_server and max_in_flight must be positive");
        }
        return o;
    }

    [[nodiscard]] auto owner(std::string_view key) const -> std::size_t {
        return placement_.server_for(key);
    }
    [[nodiscard]] auto name(std::size_t s) const -> std::string_view { return servers_[s]->name; }

    // Sends `cmd` to server `s` and returns the replies. With several connections per server,
    // a request about one key always takes the same connection (`key`), so the requests of one
    // key stay in order even when one timed out and was retried; batches take them in turn.
    auto exec(std::size_t s, std::string cmd, std::size_t expect, deadline dl,
              std::string_view key = {}) -> task<replies> {
        auto& srv = *servers_[s];
        auto const n = srv.conns.size();
        auto const pick = [&]() -> std::size_t {
            if (n == 1) {
                return 0;
            }
            if (!key.empty()) {
                return std::hash<std::string_view>{}(key) % n;
            }
            return srv.next.fetch_add(1, std::memory_order_relaxed) % n;
        };
        auto const& conn = srv.conns[pick()];
        auto [ec, rs] = co_await conn->async_exec(std::move(cmd), expect, dl, awaitable_tuple);
        if (ec) {
            throw boost::system::system_error(ec, rs.empty() ? ec.message() : rs.front().data);
        }
        co_return std::move(rs);
    }

    // One meta command about key `k` (mg, md or ma with `flags`), answered by one reply, on
    // the key's server.
    // Not a coroutine itself: `k` must outlive the awaited task.
    auto one(void (*append)(std::string&, std::string_view, std::string_view), std::string const& k,
             std::string_view flags, deadline dl) -> task<replies> {
        std::string cmd;
        append(cmd, k, flags);
        return exec(owner(k), std::move(cmd), 1, dl, k);
    }

    // The key as stored: checked as it is, or, for a namespaced key in generation mode, laid
    // out with the namespace's current generation (one more round trip) and checked again.
    using generation_cache = std::unordered_map<std::string, std::string>;
    // True when `key` needs no generation: it is then checked and used as it is, without a
    // coroutine (the common case).
    [[nodiscard]] auto plain(std::string const& key) const -> bool {
        if (opts_.namespace_generations && detail::split_namespaced(key)) {
            return false;
        }
        detail::check_plain_key(key, opts_.namespace_generations);
        return true;
    }

    auto resolve(std::string built, deadline dl, generation_cache* known = nullptr)
        -> task<std::string> {
        auto split = detail::split_namespaced(built);
        if (!split) {
            detail::check_plain_key(built, opts_.namespace_generations);
            co_return std::move(built);
        }
        if (!opts_.namespace_generations) {
            throw_error(errc::invalid_key,
                        "memcached: a generation-form key reached a backend "
                        "without namespace_generations");
        }
        std::string gen;
        std::string ns(split->ns);
        if (known != nullptr) {
            if (auto it = known->find(ns); it != known->end()) {
                gen = it->second;
            }
        }
        if (gen.empty()) {
            gen = co_await generation(ns, dl);
            if (known != nullptr) {
                known->emplace(ns, gen);
            }
        }
        auto key = detail::generation_key_for(*split, gen);
        if (auto problem = detail::key_problem(key); !problem.empty()) {
            throw_error(
                errc::invalid_key,
                fmt::format("memcached: namespaced key is invalid once laid out ({})", problem));
        }
        co_return key;
    }

    auto resolve_all(std::vector<std::string> keys, deadline dl) -> task<std::vector<std::string>> {
        std::vector<std::string> out;
        out.reserve(keys.size());
        generation_cache known;
        for (auto& k : keys) {
            if (plain(k)) {
                out.push_back(std::move(k));
            } else {
                out.push_back(co_await resolve(std::move(k), dl, &known));
            }
        }
        co_return out;
    }

    // Key indices per owning server.
    auto group(std::vector<std::string> const& keys) const
        -> std::vector<std::vector<std::size_t>> {
        std::vector<std::vector<std::size_t>> groups(servers_.size());
        for (std::size_t i = 0; i < keys.size(); ++i) {
            groups[owner(keys[i])].push_back(i);
        }
        return groups;
    }

    // One server's share of a multi_get: one classic `get k1 k2 ...`, which memcached answers
    // in one pass with a VALUE per hit, in the order asked, and END. A duplicate key is asked
    // again and answered again. Each VALUE is matched by a scan forward from the last match
    // (the keys in between were misses); a VALUE out of that order (a proxy that merges
    // servers' answers) is matched by a search of every key asked, and one for no key asked is
    // a protocol error.
    auto fetch(std::size_t s, std::vector<std::string> const& keys,
               std::vector<std::size_t> const& idx, std::vector<std::optional<std::string>>& out,
               deadline dl) -> task<void> {
        std::vector<std::string_view> asked;
        asked.reserve(idx.size());
        std::size_t bytes = 8;
        for (auto i : idx) {
            asked.emplace_back(keys[i]);
            bytes += keys[i].size() + 1;
        }
        std::string cmd;
        cmd.reserve(bytes);
        meta::append_multi_get(cmd, asked);
        auto rs = co_await exec(s, std::move(cmd), meta::until::end, dl);
        std::size_t next = 0;
        for (auto& r : rs) {
            if (r.type == kind::end) {
                break;
            }
            if (r.type != kind::item) {
                unexpected(r, name(s), "multi_get", keys[idx.front()]);
            }
            auto j = next;
            while (j < asked.size() && asked[j] != r.flags) {
                ++j;
            }
            if (j < asked.size()) {
                out[idx[j]] = std::move(r.data);
                next = j + 1;
                continue;
            }
            bool found = false;
            for (std::size_t k = 0; k < asked.size(); ++k) {
                if (asked[k] == r.flags) {
                    out[idx[k]] = r.data;
                    found = true;
                }
            }
            if (!found) {
                unexpected(r, name(s), "multi_get", keys[idx.front()]);
            }
        }
    }

    // One server's share of a multi_set: a quiet batch whose only answers are failures.
    auto store_batch(std::size_t s, std::string cmd, std::size_t n, deadline dl) -> task<void> {
        auto rs = co_await exec(s, std::move(cmd), meta::until::noop, dl);
        for (auto const& r : rs) {
            if (r.type != kind::noop) {
                unexpected(r, name(s), "multi_set", opaque_index(r, n) ? "(batch item)" : "");
            }
        }
    }

    // Reports a batch's failed servers (see net::raise_batch_failures).
    void raise(net::batch_failures failed, std::size_t servers,
               std::vector<std::vector<std::size_t>> const& groups, std::string_view op,
               std::vector<std::string> const& keys,
               std::vector<std::optional<std::string>>* values) const {
        net::raise_batch_failures(
            std::move(failed), servers, keys.size(), fmt::format("memcached {}", op),
            [&](std::size_t s) -> std::vector<std::size_t> const& { return groups[s]; },
            [&](std::size_t s) { return std::string(name(s)); }, values);
    }

    auto store(store_mode mode, std::string key, std::string value, expiry ttl, std::uint64_t token,
               deadline dl) -> task<bool> {
        auto k = std::move(key);
        if (!plain(k)) {
            k = co_await resolve(std::move(k), dl);
        }
        co_return co_await store_resolved(mode, std::move(k), std::move(value), ttl, token, dl);
    }

    // `store` on a key already resolved (its generation form replaced by the stored key).
    auto store_resolved(store_mode mode, std::string k, std::string value, expiry ttl,
                        std::uint64_t token, deadline dl) -> task<bool> {
        auto const exptime = memcached_expiration(ttl, unix_now());
        auto s = owner(k);
        co_await check_size(s, k, value, dl);
        std::string flags = ttl_flag(exptime);
        if (mode == store_mode::add) {
            flags += " ME";
        } else if (mode == store_mode::cas) {
            fmt::format_to(std::back_inserter(flags), " C{}", token);
        }
        std::string cmd;
        cmd.reserve(k.size() + value.size() + flags.size() + 32);
        meta::append_set(cmd, k, value, flags);
        auto r = single(co_await exec(s, std::move(cmd), 1, dl, k));
        if (r.type == kind::stored) {
            co_return true;
        }
        if (mode == store_mode::add && r.type == kind::not_stored) {
            throw_error(errc::key_exists, fmt::format("memcached add '{}': key exists", k));
        }
        if (mode == store_mode::cas && (r.type == kind::exists || r.type == kind::not_found)) {
            co_return false;
        }
        unexpected(r, name(s),
                   mode == store_mode::set   ? "set"
                   : mode == store_mode::add ? "add"
                                             : "cas",
                   k);
    }

    // The server's item size limit: configured, or asked once per server (`stats settings`).
    // A server or proxy that answers without it gets memcached's default, and is not asked
    // again (one round trip per server, not one per write).
    auto item_limit(std::size_t s, deadline dl) -> task<std::size_t> {
        if (opts_.item_size_max != 0) {
            co_return opts_.item_size_max;
        }
        auto& srv = *servers_[s];
        if (auto known = srv.item_limit.load(std::memory_order_relaxed); known != 0) {
            co_return known;
        }
        auto rs = co_await exec(s, "stats settings\r\n", meta::until::end, dl);
        std::size_t limit = 0;
        for (auto const& r : rs) {
            if (r.type == kind::stat && r.data.starts_with("item_size_max ")) {
                limit = parse_unsigned(std::string_view(r.data).substr(14)).value_or(0);
            }
        }
        if (limit == 0) {
            limit = default_item_size_max;
        }
        srv.item_limit.store(limit, std::memory_order_relaxed);
        co_return limit;
    }

    auto fetch_limit(std::size_t s, std::size_t& out, deadline dl) -> task<void> {
        out = co_await item_limit(s, dl);
    }

    auto check_size(std::size_t s, std::string const& key, std::string const& value, deadline dl)
        -> task<void> {
        check_fits(co_await item_limit(s, dl), key, value);
    }

    static void check_fits(std::size_t limit, std::string const& key, std::string const& value) {
        if (value.size() + key.size() + item_overhead > limit) {
            throw_error(errc::value_too_large,
                        fmt::format("memcached set '{}': a value of {} bytes does not fit the "
                                    "server's item size limit of {} bytes",
                                    key, value.size(), limit));
        }
    }

    auto gets_resolved(std::string const& k, deadline dl) -> task<std::optional<versioned_bytes>> {
        auto s = owner(k);
        auto r = single(co_await one(meta::append_get, k, "v c", dl));
        if (r.type == kind::miss) {
            co_return std::nullopt;
        }
        auto token = r.flag('c');
        std::uint64_t cas = 0;
        if (r.type != kind::value || !token ||
            std::from_chars(token->data(), token->data() + token->size(), cas).ec != std::errc{}) {
            unexpected(r, name(s), "gets", k);
        }
        co_return versioned_bytes{std::move(r.data), cas};
    }

    // `ma` with auto-create when it is exact (a non-negative delta on a non-negative counter),
    // else a gets/cas loop that keeps the item's TTL.
    auto add_to_counter(std::string const& key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> {
        constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        auto s = owner(key);
        if (delta >= 0) {
            auto r = single(co_await one(meta::append_arithmetic, key,
                                         fmt::format("N0 J{0} D{0} v", delta), dl));
            if (r.type == kind::value) {
                auto value = parse_unsigned(r.data);
                auto const offset = static_cast<std::uint64_t>(delta);
                if (!value) {
                    unexpected(r, name(s), "increment", key);
                }
                if (*value <= max && *value >= offset) {
                    co_return static_cast<std::int64_t>(*value);
                }
                co_await overflowed(s, key, offset, *value, dl);
            }
            // A negative counter (or not a number at all): memcached's incr refuses it;
            // gets/cas tells them apart.
            if (r.type != kind::client_error) {
                unexpected(r, name(s), "increment", key);
            }
        }
        for (;;) {
            auto r = single(co_await one(meta::append_get, key, "v c t", dl));
            if (r.type == kind::miss) {
                std::string add;
                meta::append_set(add, key, std::to_string(delta), "T0 ME");
                auto created = single(co_await exec(s, std::move(add), 1, dl, key));
                if (created.type == kind::stored) {
                    co_return delta;
                }
                if (created.type != kind::not_stored) {
                    unexpected(created, name(s), "increment", key);
                }
                continue;  // created meanwhile by another writer
            }
            auto token = r.flag_int('c');
            auto left = r.flag_int('t');
            if (r.type != kind::value || !token || !left) {
                unexpected(r, name(s), "increment", key);
            }
            auto old = parse_counter(r.data);
            if (!old) {
                throw_error(errc::not_a_number,
                            fmt::format("memcached increment '{}': the value is not a 64-bit "
                                        "integer",
                                        key));
            }
            std::int64_t result = 0;
            if (__builtin_add_overflow(*old, delta, &result)) {
                throw_error(errc::invalid_argument,
                            fmt::format("memcached increment '{}': {} + {} overflows a 64-bit "
                                        "integer; the value is unchanged",
                                        key, *old, delta));
            }
            // The remaining TTL, to the second (-1: none).
            auto const exptime =
                *left < 0 ? std::int64_t{0}
                          : memcached_expiration(
                                expiry(std::chrono::seconds(std::max<std::int64_t>(*left, 1))),
                                unix_now());
            std::string store_cmd;
            meta::append_set(store_cmd, key, std::to_string(result),
                             fmt::format("T{} C{}", exptime, static_cast<std::uint64_t>(*token)));
            auto w = single(co_await exec(s, std::move(store_cmd), 1, dl, key));
            if (w.type == kind::stored) {
                co_return result;
            }
            if (w.type != kind::exists && w.type != kind::not_found) {
                unexpected(w, name(s), "increment", key);
            }
        }
    }

    // An increment went past INT64_MAX (or wrapped past 2^64): undo it where that is exact,
    // and fail.
    auto overflowed(std::size_t s, std::string const& key, std::uint64_t offset,
                    std::uint64_t value, deadline dl) -> task<void> {
        if (value >= offset) {
            std::string cmd;
            meta::append_arithmetic(cmd, key, fmt::format("MD D{}", offset));
            (void)co_await exec(s, std::move(cmd), 1, dl, key);
            throw_error(errc::invalid_argument,
                        fmt::format("memcached increment '{}': the result overflows a 64-bit "
                                    "integer; the value was restored",
                                    key));
        }
        throw_error(errc::not_a_number,
                    fmt::format("memcached increment '{}': the stored value is beyond the "
                                "64-bit integer range; memcached wrapped it to {}",
                                key, value));
    }

    // The namespace's current generation, created on first use.
    auto generation(std::string const& ns, deadline dl) -> task<std::string> {
        auto counter = detail::generation_counter_key(ns);
        auto s = owner(counter);
        for (;;) {
            auto r = single(co_await one(meta::append_get, counter, "v", dl));
            if (r.type == kind::value) {
                auto trimmed = std::string_view(r.data);
                while (!trimmed.empty() && trimmed.back() == ' ') {
                    trimmed.remove_suffix(1);
                }
                if (trimmed.empty() || trimmed.size() > detail::max_generation_digits ||
                    !std::all_of(trimmed.begin(), trimmed.end(),
                                 [](char c) { return c >= '0' && c <= '9'; })) {
                    throw_error(errc::backend_error,
                                fmt::format("memcached: generation key '{}' holds '{}', not a "
                                            "number",
                                            counter, r.data.substr(0, 40)));
                }
                co_return std::string(trimmed);
            }
            if (r.type != kind::miss) {
                unexpected(r, name(s), "generation", counter);
            }
            auto initial = first_generation();
            if (co_await create(s, counter, initial, dl)) {
                co_return initial;
            }
        }
    }

    auto bump_generation(std::string const& ns, deadline dl) -> task<void> {
        auto counter = detail::generation_counter_key(ns);
        auto s = owner(counter);
        for (;;) {
            auto r = single(co_await one(meta::append_arithmetic, counter, "", dl));
            if (r.type == kind::stored) {
                co_return;
            }
            if (r.type != kind::not_found) {
                unexpected(r, name(s), "clear", counter);
            }
            // No generation yet: a fresh one differs from every earlier one.
            if (co_await create(s, counter, first_generation(), dl)) {
                co_return;
            }
        }
    }

    // `add` without TTL; false if the key exists.
    auto create(std::size_t s, std::string const& key, std::string const& value, deadline dl)
        -> task<bool> {
        std::string cmd;
        meta::append_set(cmd, key, value, "T0 ME");
        auto r = single(co_await exec(s, std::move(cmd), 1, dl, key));
        if (r.type == kind::stored || r.type == kind::not_stored) {
            co_return r.type == kind::stored;
        }
        unexpected(r, name(s), "add", key);
    }

    // Microseconds since the epoch: larger than any generation a namespace had before its
    // counter was evicted, unless it was cleared a million times a second.
    static auto first_generation() -> std::string {
        return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    }

    auto flush(std::size_t s, deadline dl) -> task<void> {
        auto r = single(co_await exec(s, "flush_all\r\n", 1, dl));
        if (r.type != kind::ok) {
            unexpected(r, name(s), "flush_all", "");
        }
    }

    auto raw_one(std::size_t s, std::string line, std::size_t expect, raw_reply& out, deadline dl)
        -> task<void> {
        auto rs = co_await exec(s, std::move(line), expect, dl);
        out.type = raw_reply::kind::array;
        out.elements.push_back({.type = raw_reply::kind::string, .str = std::string(name(s))});
        for (auto& r : rs) {
            if (r.type == kind::version) {
                out.elements.push_back({.type = raw_reply::kind::string, .str = r.data});
            } else if (r.type == kind::stat) {
                auto sp = r.data.find(' ');
                out.elements.push_back(
                    {.type = raw_reply::kind::string, .str = r.data.substr(0, sp)});
                out.elements.push_back(
                    {.type = raw_reply::kind::string,
                     .str = sp == std::string::npos ? std::string() : r.data.substr(sp + 1)});
            } else if (r.type != kind::end) {
                unexpected(r, name(s), "raw", "");
            }
        }
    }

    memcached_options opts_;
    placement placement_;
    backend_traits traits_;
    std::vector<std::unique_ptr<server>> servers_;
};

}  // namespace

auto make_memcached_backend(asio::any_io_executor ex, memcached_options opts)
    -> std::shared_ptr<backend> {
    return std::make_shared<memcached_backend>(std::move(ex), std::move(opts));
}

auto memcached_backend_from_config(asio::any_io_executor ex, backend_config config)
    -> std::shared_ptr<backend> {
    memcached_options o;
    if (!config.endpoints.empty()) {
        o.servers = config.endpoints;
    }
    if (config.username || config.password) {
        throw_error(errc::invalid_config, "memcached: SASL authentication is not supported");
    }
    if (!config.path.empty() || config.db) {
        throw_error(errc::invalid_config,
                    "memcached: URL path not supported: " + config.redacted());
    }
    if (auto binary = config.take_bool("binary"); binary && *binary) {
        throw_error(errc::invalid_config,
                    "memcached: binary=true is not supported: asiocache speaks memcached's meta "
                    "text protocol (memcached 1.6 or later)");
    }
    // Parameters of the former libmemcached worker pool, named with what replaces them.
    for (auto [param, instead] :
         {std::pair{"threads", "connections"}, std::pair{"max_queue", "max_in_flight"},
          std::pair{"io_timeout", "the cache's timeout"},
          std::pair{"worker_spin_us", "nothing (no worker threads)"}}) {
        if (config.take(param)) {
            throw_error(errc::invalid_config,
                        fmt::format("memcached: '{}' belonged to the former worker-thread "
                                    "client; use {}",
                                    param, instead));
        }
    }
    auto connections = config.take_size("connections");
    if (auto pool = config.take_size("pool_size")) {
        if (connections && *connections != *pool) {
            throw_error(errc::invalid_config, "memcached: connections and pool_size disagree");
        }
        connections = pool;
    }
    auto take = [](auto& field, auto value) {
        if (value) {
            field = static_cast<std::remove_reference_t<decltype(field)>>(*value);
        }
    };
    take(o.connections_per_server, connections);
    take(o.max_in_flight, config.take_size("max_in_flight"));
    take(o.connect_timeout, config.take_duration("connect_timeout"));
    take(o.reconnect_min, config.take_duration("reconnect_min"));
    auto reconnect_max = config.take_duration("reconnect_max");
    if (auto retry = config.take_duration("retry_timeout")) {
        if (reconnect_max && *reconnect_max != *retry) {
            throw_error(errc::invalid_config,
                        "memcached: reconnect_max and retry_timeout disagree");
        }
        reconnect_max = retry;
    }
    take(o.reconnect_max, reconnect_max);
    take(o.health_check_interval, config.take_duration("health_check"));
    take(o.namespace_generations, config.take_bool("namespace_generations"));
    take(o.item_size_max, config.take_size("item_size_max"));
    config.reject_unknown();
    return make_memcached_backend(std::move(ex), std::move(o));
}

}  // namespace asiocache::backends
